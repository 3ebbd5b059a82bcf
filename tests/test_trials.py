"""Trial lists: the three formats, conversion, VoxCeleb path mapping, malformed input."""

import pytest
from click.testing import CliRunner

from bccmt_tools.bin.convert_trials import cli as convert_trials
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.trials import Trial, read_trials, read_trials_with_format, voxceleb_path_to_utt, write_trials
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
