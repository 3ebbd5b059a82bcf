"""Kaldi data-dir layer: table round trips, C sort order, and the whole-directory operations."""

import os
import time

import pytest

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.datadir import (
    DataDir,
    read_kv,
    read_spk2utt,
    read_utt2num_frames,
    read_utt2spk,
    spk2utt_to_utt2spk,
    utt2spk_to_spk2utt,
    write_kv,
    write_spk2utt,
)
from bccmt_tools.io.datadir_ops import (
    balanced_cuts,
    combine_data_dirs,
    filter_data_dir,
    fix_data_dir,
    select_utterances,
    split_data_dir,
    subset_data_dir,
)
from bccmt_tools.io.datadir_validate import entry_problem, validate_data_dir


def make_data_dir(path, spk_utts, wav_dir=None, frames=None, extra=None):
    """A small data dir: ``spk_utts`` maps speaker -> number of utterances (ids ``<spk>-uNN``).

    wav.scp entries point at empty files under ``wav_dir`` (created) so entry checks pass.
    """
    utt2spk = {f"{spk}-u{i:02d}": spk for spk, count in spk_utts.items() for i in range(count)}
    wav_dir = wav_dir or path.parent / f"{path.name}_wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    wav_scp = {}
    for utt in utt2spk:
        (wav_dir / f"{utt}.wav").write_bytes(b"RIFF")
        wav_scp[utt] = str(wav_dir / f"{utt}.wav")
    files = {"wav_scp": wav_scp, "utt2spk": utt2spk}
    if frames is not None:
        files["utt2num_frames"] = {utt: frames(i) for i, utt in enumerate(sorted(utt2spk))}
    files.update(extra or {})
    return DataDir.write(path, **files)


# ------------------------------------------------------------------ tables


def test_write_then_read_round_trip_in_c_order(tmp_path):
    # C (byte) order: '-' (0x2d) < digits < uppercase < '_' < lowercase.
    table = {"b": "x", "B": "y", "a1": "z", "a-1": "w", "a_1": "v", "A": "u"}
    write_kv(tmp_path / "t", table)
    keys = [line.split()[0] for line in (tmp_path / "t").read_text().splitlines()]
    assert keys == ["A", "B", "a-1", "a1", "a_1", "b"]
    assert keys == sorted(keys, key=lambda k: k.encode("utf-8"))
    assert read_kv(tmp_path / "t") == table


def test_non_ascii_keys_sort_as_utf8_bytes(tmp_path):
    table = {"\u00e9": "1", "z": "2", "\u4e2d": "3", "Z": "4"}
    write_kv(tmp_path / "t", table)
    keys = [line.split()[0] for line in (tmp_path / "t").read_text(encoding="utf-8").splitlines()]
    assert keys == sorted(table, key=lambda k: k.encode("utf-8"))


def test_values_keep_inner_spaces_and_lists_are_joined(tmp_path):
    write_kv(tmp_path / "wav.scp", {"u1": "sox a.wav -t wav - |", "u2": ["a", "b", 3]})
    assert read_kv(tmp_path / "wav.scp") == {"u1": "sox a.wav -t wav - |", "u2": "a b 3"}


def test_duplicate_key_names_file_line_and_key(tmp_path):
    (tmp_path / "utt2spk").write_text("a-1 a\na-2 a\na-1 a\n")
    with pytest.raises(BccmtError, match=r"utt2spk:3: key 'a-1': duplicate key \(first on line 1\)"):
        read_kv(tmp_path / "utt2spk")


def test_missing_value_and_missing_file_are_errors(tmp_path):
    (tmp_path / "utt2spk").write_text("a-1 a\na-2\n")
    with pytest.raises(BccmtError, match=r"utt2spk:2: key 'a-2': no value"):
        read_utt2spk(tmp_path / "utt2spk")
    with pytest.raises(BccmtError, match="nothere: no such file"):
        read_kv(tmp_path / "nothere")


def test_write_rejects_keys_with_spaces(tmp_path):
    with pytest.raises(BccmtError, match="invalid key 'a b'"):
        write_kv(tmp_path / "t", {"a b": "x"})
    assert not (tmp_path / "t").exists()


def test_utt2spk_spk2utt_conversions(tmp_path):
    utt2spk = {"b-2": "b", "a-1": "a", "b-1": "b"}
    spk2utt = utt2spk_to_spk2utt(utt2spk)
    assert spk2utt == {"a": ["a-1"], "b": ["b-1", "b-2"]} and list(spk2utt) == ["a", "b"]
    assert spk2utt_to_utt2spk(spk2utt) == utt2spk
    write_spk2utt(tmp_path / "spk2utt", {"b": ["b-2", "b-1"], "a": ["a-1"]})
    assert (tmp_path / "spk2utt").read_text() == "a a-1\nb b-1 b-2\n"
    assert read_spk2utt(tmp_path / "spk2utt") == spk2utt
    with pytest.raises(BccmtError, match="'x-1' is also listed under 'x'"):
        spk2utt_to_utt2spk({"x": ["x-1"], "y": ["x-1"]})


def test_utt2num_frames_must_be_integers(tmp_path):
    (tmp_path / "utt2num_frames").write_text("a 10\nb 2.5\n")
    with pytest.raises(BccmtError, match="utt2num_frames: key 'b': frame count must be an integer"):
        read_utt2num_frames(tmp_path / "utt2num_frames")
    (tmp_path / "utt2num_frames").write_text("a 10\nb 7\n")
    assert read_utt2num_frames(tmp_path / "utt2num_frames") == {"a": 10, "b": 7}


def test_data_dir_properties_are_lazy_and_none_when_absent(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 2}, frames=lambda i: 100 + i)
    assert data.feats_scp is None and data.utt2dur is None
    assert data.utt2num_frames == {"s1-u00": 100, "s1-u01": 101}
    assert data.spk2utt == {"s1": ["s1-u00", "s1-u01"]}
    assert data.utts == ["s1-u00", "s1-u01"] and data.spks == ["s1"]
    assert data.present_files() == ["wav.scp", "utt2spk", "utt2num_frames", "spk2utt"]
    with pytest.raises(BccmtError, match="not a data directory"):
        DataDir(tmp_path / "nope")


# ------------------------------------------------------------------ validation


def messages(report):
    return "\n".join(problem.message for problem in report.errors)


def test_valid_dir_passes(tmp_path):
    make_data_dir(tmp_path / "d", {"s1": 2, "s2": 3}, frames=lambda i: 100)
    report = validate_data_dir(tmp_path / "d")
    assert report.ok, messages(report)
    assert (report.num_utts, report.num_spks) == (5, 2)


def test_validation_reports_every_problem_with_file_and_key(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 3, "s2": 2})
    d = data.path
    wav = read_kv(d / "wav.scp")
    # unsorted + duplicate in wav.scp, one wav path that does not exist
    lines = [f"{k} {v}" for k, v in sorted(wav.items())]
    lines[0], lines[1] = lines[1], lines[0]
    lines.append(lines[-1])
    lines[2] = "s1-u02 /no/such/file.wav"
    (d / "wav.scp").write_text("\n".join(lines) + "\n")
    # spk2utt disagrees with utt2spk; utt2num_frames lacks a key, has an extra one and a bad value
    (d / "spk2utt").write_text("s1 s1-u00 s1-u01\ns2 s1-u02 s2-u00 s2-u01\n")
    (d / "utt2num_frames").write_text("s1-u00 100\ns1-u01 0\ns1-u02 x\ns2-u00 5\nzz-u 4\n")
    # feats.scp pointing at a missing ark and past the end of a real one
    (tmp_path / "real.ark").write_bytes(b"0123456789")
    (d / "feats.scp").write_text(
        "s1-u00 /no/such.ark:12\ns1-u01 {0}:5\ns1-u02 {0}:50\ns2-u00 {0}:1\ns2-u01 {0}:2\n".format(tmp_path / "real.ark")
    )
    report = validate_data_dir(d)
    text = messages(report)
    expected = [
        r"wav.scp:2: key 's1-u00': not sorted",
        r"wav.scp:6: key 's2-u01': duplicate key \(first on line 5\)",
        r"wav.scp: key 's1-u02': file not found: /no/such/file.wav",
        r"spk2utt: key 's2': utterance 's1-u02' belongs to 's1' in utt2spk",
        r"utt2num_frames: key 's2-u01': missing \(listed in utt2spk\)",
        r"utt2num_frames: key 'zz-u': not in utt2spk",
        r"utt2num_frames: key 's1-u01': expected a positive integer, got '0'",
        r"utt2num_frames: key 's1-u02': expected a positive integer, got 'x'",
        r"feats.scp: key 's1-u00': archive not found: /no/such.ark",
        r"feats.scp: key 's1-u02': offset 50 is past the end",
    ]
    for pattern in expected:
        assert any(__import__("re").search(pattern, p.message) for p in report.errors), (pattern, text)
    assert len(report.errors) == len(expected)
    assert not report.ok


def test_validation_missing_files_and_prefix_warning(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_kv(d / "utt2spk", {"u1": "spk1"})
    report = validate_data_dir(d)
    text = messages(report)
    assert "spk2utt: no such file" in text and "needs wav.scp or feats.scp" in text
    assert any("key 'u1': utterance id does not start with its speaker id 'spk1'" in w.message
               for w in report.warnings)


def test_validation_utt_missing_from_spk2utt_and_blank_lines(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 2})
    (data.path / "spk2utt").write_text("s1 s1-u00\n\n")
    text = messages(validate_data_dir(data.path))
    assert "spk2utt: key 's1': does not list utterance 's1-u01'" in text
    assert "spk2utt:2: blank line" in text


def test_entry_checks_for_pipes_and_ark_references(tmp_path):
    audio = tmp_path / "a.flac"
    audio.write_bytes(b"x")
    assert entry_problem(f"ffmpeg -i {audio} -f wav - |") is None
    assert entry_problem(f"ffmpeg -i {tmp_path}/missing.m4a -f wav - |") == f"pipe input not found: {tmp_path}/missing.m4a"
    assert entry_problem("some-generator --seed 3 |") is None
    assert entry_problem(str(audio)) is None
    assert entry_problem(f"{audio}:0") is None
    assert entry_problem(f"{audio}:0[0:10]") is None
    assert entry_problem(f"{tmp_path}/x.wav") == f"file not found: {tmp_path}/x.wav"


def test_no_check_entries_skips_file_checks(tmp_path):
    data = DataDir.write(tmp_path / "d", wav_scp={"s-1": "/no/such.wav"}, utt2spk={"s-1": "s"})
    assert not validate_data_dir(data.path).ok
    assert validate_data_dir(data.path, check_entries=False).ok


# ------------------------------------------------------------------ fix


def test_fix_drops_inconsistent_keys_and_says_why(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 3, "s2": 2, "s3": 1}, frames=lambda i: 100)
    d = data.path
    wav = read_kv(d / "wav.scp")
    del wav["s2-u01"]
    (d / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in reversed(list(wav.items()))))  # unsorted
    (d / "utt2num_frames").write_text("s1-u00 100\ns1-u01 0\ns1-u02 100\ns2-u00 100\ns2-u01 100\ns3-u00 5\n"
                                      "s3-u00 6\nextra-u 9\n")
    (d / "spk2utt").write_text("s9 s9-u1\n")
    original = (d / "utt2num_frames").read_text()
    report = fix_data_dir(d)
    assert report.dropped == {
        "duplicate key with different values in utt2num_frames": 1,  # s3-u00
        "missing from utt2spk": 1,  # extra-u
        "missing from wav.scp": 2,  # s2-u01, extra-u
        "not a positive integer in utt2num_frames": 1,  # s1-u01
    }
    assert report.num_dropped_utts == 4 and report.kept_utts == 3
    assert report.num_dropped_spks == 2  # s3 (no utterances left) and s9 (only in spk2utt)
    fixed = DataDir(d)
    assert set(fixed.utt2spk) == set(fixed.wav_scp) == set(fixed.utt2num_frames) == {"s1-u00", "s1-u02", "s2-u00"}
    assert fixed.spk2utt == {"s1": ["s1-u00", "s1-u02"], "s2": ["s2-u00"]}
    assert validate_data_dir(d).ok
    assert (d / ".backup" / "utt2num_frames").read_text() == original
    assert "2 speakers" in "\n".join(report.lines())


def test_fix_makes_utt2spk_from_spk2utt(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "spk2utt").write_text("b b-1\na a-2 a-1\n")
    (d / "wav.scp").write_text("a-1 x\na-2 x\nb-1 x\n")
    fix_data_dir(d)
    assert read_utt2spk(d / "utt2spk") == {"a-1": "a", "a-2": "a", "b-1": "b"}
    assert (d / "spk2utt").read_text() == "a a-1 a-2\nb b-1\n"


# ------------------------------------------------------------------ subset, combine, split, filter


def test_subset_options(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 3, "s2": 2, "s3": 4}, extra={"spk2gender": {"s1": "m", "s2": "f", "s3": "f"}})
    assert select_utterances(data, first=2) == (["s1-u00", "s1-u01"], 0)
    assert select_utterances(data, per_spk=2)[0] == ["s1-u00", "s1-u01", "s2-u00", "s2-u01", "s3-u00", "s3-u01"]
    assert select_utterances(data, spk_list=["s2", "nobody"]) == (["s2-u00", "s2-u01"], 1)
    assert select_utterances(data, utt_list=["s3-u03", "s1-u00"]) == (["s1-u00", "s3-u03"], 0)
    first_draw = select_utterances(data, random=4, seed=7)[0]
    assert len(first_draw) == 4 and first_draw == select_utterances(data, random=4, seed=7)[0]
    with pytest.raises(BccmtError, match="asked for 10 utterances, the data dir has 9"):
        select_utterances(data, first=10)
    with pytest.raises(BccmtError, match="exactly one"):
        select_utterances(data, first=1, per_spk=1)
    subset, _ = subset_data_dir(data, tmp_path / "sub", ["s2-u01", "s3-u00"])
    assert subset.spk2utt == {"s2": ["s2-u01"], "s3": ["s3-u00"]}
    assert set(subset.wav_scp) == {"s2-u01", "s3-u00"}
    assert subset.read("spk2gender") == {"s2": "f", "s3": "f"}
    assert validate_data_dir(subset.path).ok
    with pytest.raises(BccmtError, match="must differ from the input"):
        subset_data_dir(data, data.path, ["s1-u00"])


def test_subset_removes_stale_files_in_output(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 2})
    out = tmp_path / "out"
    out.mkdir()
    (out / "feats.scp").write_text("old x\n")
    _, removed = subset_data_dir(data, out, ["s1-u00"])
    assert removed == ["feats.scp"] and not (out / "feats.scp").exists()


def test_combine_merges_and_names_dropped_files(tmp_path):
    a = make_data_dir(tmp_path / "a", {"s1": 2}, frames=lambda i: 10)
    b = make_data_dir(tmp_path / "b", {"s2": 1, "s1x": 1})
    combined, left_out = combine_data_dirs(tmp_path / "c", [a.path, b.path])
    assert left_out == {"utt2num_frames": [str(b.path)]}
    assert combined.utts == ["s1-u00", "s1-u01", "s1x-u00", "s2-u00"]
    assert combined.utt2num_frames is None
    assert validate_data_dir(combined.path).ok


def test_combine_duplicate_utterance_names_both_dirs(tmp_path):
    a = make_data_dir(tmp_path / "a", {"s1": 2})
    b = make_data_dir(tmp_path / "b", {"s1": 1})
    with pytest.raises(BccmtError, match=rf"utt2spk: key 's1-u00': in both {a.path} and {b.path}"):
        combine_data_dirs(tmp_path / "c", [a.path, b.path])
    assert not (tmp_path / "c" / "utt2spk").exists()


def test_balanced_cuts():
    assert balanced_cuts([1] * 10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert balanced_cuts([1, 1, 1, 1, 10], 2) == [(0, 4), (4, 5)]
    assert balanced_cuts([10, 1, 1], 3) == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(ValueError):
        balanced_cuts([1, 2], 3)


def test_split_by_utterance_is_balanced_contiguous_and_complete(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 5, "s2": 3, "s3": 3}, frames=lambda i: 100)
    job_dirs, reused = split_data_dir(data.path, 3)
    assert not reused and [p.name for p in job_dirs] == ["1", "2", "3"]
    assert all(p.parent == data.path / "split3" for p in job_dirs)
    parts = [DataDir(p).utts for p in job_dirs]
    assert [len(part) for part in parts] == [4, 3, 4]
    assert sum(parts, []) == data.utts  # contiguous sorted chunks, union = original
    for job in job_dirs:
        assert validate_data_dir(job).ok


def test_split_by_speaker_never_splits_a_speaker(tmp_path):
    data = make_data_dir(tmp_path / "d", {"a": 6, "b": 1, "c": 2, "d": 3, "e": 1})
    job_dirs, _ = split_data_dir(data.path, 3, by="spk")
    assert job_dirs[0].parent.name == "split3spk"
    seen = {}
    for job in job_dirs:
        for spk in DataDir(job).spks:
            assert spk not in seen, f"speaker {spk} in two jobs"
            seen[spk] = job
    assert sorted(u for job in job_dirs for u in DataDir(job).utts) == data.utts
    with pytest.raises(BccmtError, match="cannot split 5 speakers into 6"):
        split_data_dir(data.path, 6, by="spk")


def test_split_is_reused_until_a_source_changes(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 4})
    split_data_dir(data.path, 2)
    assert split_data_dir(data.path, 2)[1] is True
    assert split_data_dir(data.path, 2, force=True)[1] is False
    future = time.time() + 10
    os.utime(data.path / "wav.scp", (future, future))
    assert split_data_dir(data.path, 2)[1] is True  # the same content: still current
    # Issue 23: a source restored with an older time stamp (cp -p) but other content is a change.
    stamp = (data.path / "wav.scp").stat()
    (data.path / "wav.scp").write_text((data.path / "wav.scp").read_text().replace(".wav", ".flac"))
    os.utime(data.path / "wav.scp", (stamp.st_atime - 1000, stamp.st_mtime - 1000))
    assert split_data_dir(data.path, 2)[1] is False
    assert ".flac" in (data.path / "split2" / "1" / "wav.scp").read_text()
    (data.path / "split2" / "2" / "wav.scp").unlink()
    assert split_data_dir(data.path, 2)[1] is False


def test_filter_thresholds(tmp_path):
    lengths = {"a": [50, 300, 300], "b": [300, 300, 900], "c": [300], "d": [199, 200, 201, 202]}
    utt2spk = {f"{spk}-u{i}": spk for spk, counts in lengths.items() for i in range(len(counts))}
    frames = {f"{spk}-u{i}": n for spk, counts in lengths.items() for i, n in enumerate(counts)}
    data = DataDir.write(tmp_path / "d", wav_scp={u: "x" for u in utt2spk}, utt2spk=utt2spk, utt2num_frames=frames)
    out, removed = filter_data_dir(data, tmp_path / "f", min_frames=200, max_frames=800, min_utts_per_spk=2)
    assert removed == {"shorter than 200 frames": 2, "longer than 800 frames": 1,
                       "from 1 speakers with fewer than 2 utterances": 1}
    assert out.utts == ["a-u1", "a-u2", "b-u0", "b-u1", "d-u1", "d-u2", "d-u3"]
    assert set(out.utt2num_frames) == set(out.utts) and "c" not in out.spk2utt


def test_filter_needs_utt2num_frames_for_frame_filters(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 3})
    with pytest.raises(BccmtError, match="utt2num_frames: no such file"):
        filter_data_dir(data, tmp_path / "f", min_frames=10)
    out, removed = filter_data_dir(data, tmp_path / "f", min_utts_per_spk=3)
    assert removed == {"from 0 speakers with fewer than 3 utterances": 0} and len(out.utts) == 3
    with pytest.raises(BccmtError, match="no utterance is left"):
        filter_data_dir(data, tmp_path / "g", min_utts_per_spk=4)


def test_cut_short_write_leaves_a_dir_that_fails_validation(tmp_path):
    from bccmt_tools.io.datadir_ops import write_data_dir

    data = make_data_dir(tmp_path / "d", {"s1": 2})
    assert (data.path / "spk2utt").exists()
    with pytest.raises(BccmtError, match="invalid key"):
        write_data_dir(data.path, {"utt2spk": {"s1-u00": "s1"}, "wav.scp": {"bad key": "x"}})
    assert not (data.path / "spk2utt").exists()
    assert not validate_data_dir(data.path).ok


def test_only_kaldi_style_names_count_as_data_files(tmp_path):
    data = make_data_dir(tmp_path / "d", {"s1": 1}, extra={"utt2lang": {"s1-u00": "en"}})
    (data.path / "utt2spk.orig").write_text("junk\n")
    (data.path / "notes.txt").write_text("junk\n")
    assert data.present_files() == ["wav.scp", "utt2spk", "utt2lang", "spk2utt"]
    sub, _ = subset_data_dir(data, tmp_path / "sub", ["s1-u00"])
    assert sub.read("utt2lang") == {"s1-u00": "en"}
