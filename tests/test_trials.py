"""Trial lists: the three formats, conversion, VoxCeleb path mapping, malformed input, drawn lists (texts)."""

import pytest
from click.testing import CliRunner

from bccmt_tools.bin.convert_trials import cli as convert_trials
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.trials import (Trial, make_trials, read_trials, read_trials_with_format, voxceleb_path_to_utt,
                                 write_trials)
from tests.conftest import corpus_counts

TRIALS = [Trial("id1-v1-00001", "id1-v2-00001", 1), Trial("id1-v1-00001", "id2-v9-00003", 0)]


@pytest.mark.parametrize(
    "fmt, text",
    [
        ("voxceleb", "1 id1-v1-00001 id1-v2-00001\n0 id1-v1-00001 id2-v9-00003\n"),
        ("kaldi", "id1-v1-00001 id1-v2-00001 target\nid1-v1-00001 id2-v9-00003 nontarget\n"),
        ("plain", "id1-v1-00001 id1-v2-00001\nid1-v1-00001 id2-v9-00003\n"),
    ],
)
def test_each_format_reads_writes_and_round_trips(tmp_path, fmt, text):
    path = tmp_path / "trials"
    path.write_text(text)
    trials, detected = read_trials_with_format(path)
    assert detected == fmt
    expected = TRIALS if fmt != "plain" else [t._replace(label=None) for t in TRIALS]
    assert trials == expected
    write_trials(tmp_path / "out", trials, fmt)
    assert (tmp_path / "out").read_text() == text


def test_conversion_round_trip_keeps_labels(tmp_path):
    write_trials(tmp_path / "vox", TRIALS, "voxceleb")
    write_trials(tmp_path / "kaldi", read_trials(tmp_path / "vox"), "kaldi")
    write_trials(tmp_path / "vox2", read_trials(tmp_path / "kaldi"), "voxceleb")
    assert (tmp_path / "vox2").read_text() == (tmp_path / "vox").read_text()
    assert read_trials(tmp_path / "kaldi") == TRIALS


def test_blank_lines_and_extra_spaces_are_tolerated(tmp_path):
    (tmp_path / "t").write_text("\n  1\tid1-v1-00001   id1-v2-00001 \n\n0 id1-v1-00001 id2-v9-00003\n")
    assert read_trials(tmp_path / "t") == TRIALS


@pytest.mark.parametrize(
    "path, utt",
    [
        ("id10270/5r0dWxy17C8/00001.wav", "id10270-5r0dWxy17C8-00001"),
        ("id10270/-5r0dWxy17C/00002.wav", "id10270--5r0dWxy17C-00002"),
        ("id10270/_5r0dWxy17C/00003.wav", "id10270-_5r0dWxy17C-00003"),
        ("dev/aac/id00012/21Uxsk56VDQ/00001.m4a", "id00012-21Uxsk56VDQ-00001"),
        ("/data/voxceleb1/wav/id10001/1zcIwhmdeo4/00001.wav", "id10001-1zcIwhmdeo4-00001"),
        ("id10001/a.b-c/00001", "id10001-a.b-c-00001"),
    ],
)
def test_voxceleb_path_to_utt(path, utt):
    assert voxceleb_path_to_utt(path) == utt


def test_voxceleb_path_needs_three_parts():
    with pytest.raises(BccmtError, match="needs three parts"):
        voxceleb_path_to_utt("00001.wav")


def test_reading_with_path_mapping(tmp_path):
    (tmp_path / "veri").write_text("1 id10270/-abcdefghij/00001.wav id10270/_abcdefghij/00002.wav\n")
    assert read_trials(tmp_path / "veri", map_voxceleb_paths=True) == [
        Trial("id10270--abcdefghij-00001", "id10270-_abcdefghij-00002", 1)
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 a b\n2 a c\n", r"trials:2: malformed trial '2 a c'"),
        ("a b target\na c maybe\n", r"trials:2: malformed trial"),
        ("a b c d\n", r"trials:1: malformed trial"),
        ("a\n", r"trials:1: malformed trial 'a'"),
        ("1 a b\na b target\n", r"trials:2: trial in kaldi format, but line 1 is in voxceleb format"),
        ("a b\n1 a b\n", r"trials:2: .*mixed formats"),
        ("", r"trials: empty trial list"),
        ("\n\n", r"trials: empty trial list"),
    ],
)
def test_malformed_or_mixed_lines_name_file_and_line(tmp_path, text, message):
    (tmp_path / "trials").write_text(text)
    with pytest.raises(BccmtError, match=message):
        read_trials(tmp_path / "trials")


def test_ambiguous_lines_follow_the_rest_of_the_file(tmp_path):
    # "1 x target" fits both labelled formats; the other line decides.
    (tmp_path / "t").write_text("1 x target\na b nontarget\n")
    assert read_trials_with_format(tmp_path / "t")[1] == "kaldi"


def test_labelled_formats_need_labels(tmp_path):
    with pytest.raises(BccmtError, match="has no label"):
        write_trials(tmp_path / "out", [Trial("a", "b", None)], "kaldi")
    assert not (tmp_path / "out").exists()
    with pytest.raises(BccmtError, match="unknown trial format"):
        write_trials(tmp_path / "out", TRIALS, "csv")


def test_convert_trials_tool(tmp_path):
    (tmp_path / "veri_test2.txt").write_text(
        "1 id10270/5r0dWxy17C8/00001.wav id10270/-r0dWxy17C8/00002.wav\n"
        "0 id10270/5r0dWxy17C8/00001.wav id10300/_bcdefghijk/00001.wav\n"
    )
    runner = CliRunner()
    result = runner.invoke(convert_trials, ["--to", "kaldi", "--map-voxceleb-paths",
                                            str(tmp_path / "veri_test2.txt"), str(tmp_path / "vox1_O")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "vox1_O").read_text() == (
        "id10270-5r0dWxy17C8-00001 id10270--r0dWxy17C8-00002 target\n"
        "id10270-5r0dWxy17C8-00001 id10300-_bcdefghijk-00001 nontarget\n"
    )
    result = runner.invoke(convert_trials, ["--to", "plain", str(tmp_path / "vox1_O"), "-"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "id10270-5r0dWxy17C8-00001 id10270--r0dWxy17C8-00002"


def test_convert_trials_tool_reports_bad_input_in_one_line(tmp_path):
    (tmp_path / "bad").write_text("1 a b\nfoo\n")
    result = CliRunner().invoke(convert_trials, ["--to", "kaldi", str(tmp_path / "bad"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'bad'}:2: malformed trial 'foo'" in result.output
    assert not (tmp_path / "out").exists()


def test_minivox_trial_list(minivox):
    counts = corpus_counts(minivox)  # the mini corpus: 3,500 trials, 1,750 of them target
    trials = read_trials(minivox / "voxceleb1" / "veri_test2.txt", map_voxceleb_paths=True)
    assert len(trials) == counts["vox1_O"] and sum(t.label for t in trials) == counts["vox1_O_target"]
    assert 2 * counts["vox1_O_target"] == counts["vox1_O"]  # cleaned lists: half target
    assert all(t.enroll.split("-", 1)[0].startswith("id1") for t in trials)


# ---- make_trials with transcripts (no target trial reads one text twice) -------------------------

def _read_twice_corpus():
    """Three speakers, four utterances each; s0 reads text A twice, s1 reads B three times."""
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in range(3) for u in range(4)}
    utt2text = {utt: f"TEXT {utt}" for utt in utt2spk}
    utt2text["s0-u1"] = utt2text["s0-u0"] = "A"
    utt2text["s1-u0"] = utt2text["s1-u2"] = utt2text["s1-u3"] = "B"
    utt2text["s2-u0"] = "A"  # the same text by another speaker: a fine non-target pair
    return utt2spk, utt2text


def test_make_trials_with_texts_draws_no_same_text_target():
    utt2spk, utt2text = _read_twice_corpus()
    # different-text pairs: s0 6 - 1, s1 6 - 3, s2 6: 14 in all
    for seed in range(5):
        trials = make_trials(utt2spk, 14, 20, seed=seed, utt2text=utt2text)
        targets = [t for t in trials if t.label == 1]
        assert len(targets) == 14 and len(trials) == 34 and trials == sorted(trials)
        assert all((utt2spk[t.enroll] == utt2spk[t.test]) == (t.label == 1) for t in trials)
        assert not any(utt2text[t.enroll] == utt2text[t.test] for t in targets)
        assert len({(t.enroll, t.test) for t in trials}) == 34
    assert make_trials(utt2spk, 14, 20, seed=3, utt2text=utt2text) == make_trials(utt2spk, 14, 20, seed=3,
                                                                                   utt2text=utt2text)
    # Without texts the same-text pairs are drawn too: all 18 same-speaker pairs exist.
    assert len(make_trials(utt2spk, 18, 1, seed=0)) == 19


def test_make_trials_with_texts_refuses_more_targets_than_different_texts_allow():
    utt2spk, utt2text = _read_twice_corpus()
    with pytest.raises(BccmtError, match=r"^asked for 15 target trials; the speakers' utterances allow 14 "
                                         r"\(with different texts\)$"):
        make_trials(utt2spk, 15, 1, utt2text=utt2text)
    make_trials(utt2spk, 15, 1)  # 18 without texts


def test_make_trials_names_an_utterance_without_text():
    utt2spk, utt2text = _read_twice_corpus()
    del utt2text["s2-u3"]
    with pytest.raises(BccmtError, match=r"^utterance 's2-u3' has no text \(1 without one\)$"):
        make_trials(utt2spk, 1, 1, utt2text=utt2text)


def _trials_data_dir(tmp_path, utt2spk, utt2text):
    data = tmp_path / "data"
    data.mkdir()
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())))
    (data / "text").write_text("".join(f"{u} {t}\n" for u, t in sorted(utt2text.items())))
    return data


def test_make_trials_tool_with_text(tmp_path):
    from bccmt_tools.cli import main

    utt2spk, utt2text = _read_twice_corpus()
    utt2text["s2-u1"], utt2text["s2-u2"] = "C  D", "C D"  # one text, spaced differently
    data = _trials_data_dir(tmp_path, utt2spk, utt2text)
    runner = CliRunner()
    base = ["make-trials", "--num-nontarget", "5", "--text", str(data / "text"), str(data)]
    result = runner.invoke(main, base + ["--num-target", "13", "--seed", "2", str(tmp_path / "trials")])
    assert result.exit_code == 0, result.output
    trials, fmt = read_trials_with_format(tmp_path / "trials")
    assert fmt == "kaldi" and sum(t.label for t in trials) == 13 and len(trials) == 18
    texts = {u: " ".join(t.split()) for u, t in utt2text.items()}
    assert not any(texts[t.enroll] == texts[t.test] for t in trials if t.label)

    result = runner.invoke(main, base + ["--num-target", "14", str(tmp_path / "too_many")])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        "Error: asked for 14 target trials; the speakers' utterances allow 13 (with different texts)"]
    assert not (tmp_path / "too_many").exists()

    (data / "text").write_text("".join(f"{u} {t}\n" for u, t in sorted(utt2text.items()) if u != "s1-u1"))
    result = runner.invoke(main, base + ["--num-target", "1", str(tmp_path / "no_text")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"Error: {data / 'text'}: key 's1-u1': no text") and str(data / "utt2spk") in lines[0]
    assert not (tmp_path / "no_text").exists()
