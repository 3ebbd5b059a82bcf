"""The bccmt data-dir tools, run through click: output, exit status, files written."""

import pytest
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.io.datadir import DataDir, read_kv, utt2spk_to_spk2utt
from bccmt_tools.io.trials import voxceleb_path_to_utt


def bccmt(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def data_dir(tmp_path):
    """Three speakers, 2/3/4 utterances, real (tiny) wav files, frame counts 100..."""
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    utt2spk = {f"{spk}-u{i}": spk for spk, n in (("spkA", 2), ("spkB", 3), ("spkC", 4)) for i in range(n)}
    wav_scp = {}
    for utt in utt2spk:
        (wavs / f"{utt}.wav").write_bytes(b"RIFF")
        wav_scp[utt] = str(wavs / f"{utt}.wav")
    frames = {utt: 100 + 50 * i for i, utt in enumerate(sorted(utt2spk))}
    return DataDir.write(tmp_path / "data", wav_scp=wav_scp, utt2spk=utt2spk, utt2num_frames=frames).path


def test_validate_ok(data_dir):
    result = bccmt("validate-data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{data_dir}: OK (9 utterances, 3 speakers)"


def test_validate_lists_every_problem_and_exits_1(data_dir):
    (data_dir / "utt2num_frames").write_text("spkA-u1 100\nspkA-u0 100\n")  # unsorted, 7 keys missing
    (data_dir / "wav.scp").write_text("".join(f"{k} /gone/{k}.wav\n" for k in sorted(read_kv(data_dir / "utt2spk"))))
    result = bccmt("validate-data-dir", "--max-shown", 3, data_dir)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "error: " + str(data_dir / "utt2num_frames") + ":2: key 'spkA-u0': not sorted" in lines[0]
    assert sum("missing (listed in utt2spk)" in line for line in lines) == 3
    assert any("... and 4 more 'missing key'" in line for line in lines)
    assert any("... and 6 more 'unreadable entry'" in line for line in lines)
    assert lines[-1] == f"Error: {data_dir}: 17 problem(s) in 2 file(s)"
    assert bccmt("validate-data-dir", "--no-check-entries", data_dir).output.splitlines()[-1].endswith(
        "8 problem(s) in 1 file(s)")


def test_fix_reports_and_repairs(data_dir):
    (data_dir / "utt2num_frames").write_text("spkB-u0 100\nspkA-u0 100\nspkA-u1 100\nspkC-u0 1\n")
    result = bccmt("fix-data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert f"{data_dir}: kept 4 of 9 utterances, 3 of 3 speakers" in result.output
    assert "5 missing from utt2num_frames" in result.output
    assert bccmt("validate-data-dir", data_dir).exit_code == 0
    assert (data_dir / ".backup" / "utt2num_frames").read_text().startswith("spkB-u0")


def test_subset_tool(data_dir, tmp_path):
    (tmp_path / "spks").write_text("spkB\nnobody\n")
    result = bccmt("subset-data-dir", "--spk-list", tmp_path / "spks", data_dir, tmp_path / "sub")
    assert result.exit_code == 0, result.output
    assert "1 listed id(s) are not in" in result.output and "3 of 9 utterances, 1 speakers" in result.output
    assert DataDir(tmp_path / "sub").spks == ["spkB"]
    result = bccmt("subset-data-dir", "--random", 5, "--seed", 1, data_dir, tmp_path / "rnd")
    again = bccmt("subset-data-dir", "--random", 5, "--seed", 1, data_dir, tmp_path / "rnd2")
    assert result.exit_code == again.exit_code == 0
    assert DataDir(tmp_path / "rnd").utts == DataDir(tmp_path / "rnd2").utts and len(DataDir(tmp_path / "rnd").utts) == 5
    assert bccmt("subset-data-dir", "--per-spk", 1, data_dir, tmp_path / "one").exit_code == 0
    assert DataDir(tmp_path / "one").utts == ["spkA-u0", "spkB-u0", "spkC-u0"]
    assert bccmt("subset-data-dir", "--first", 2, "--per-spk", 1, data_dir, tmp_path / "x").exit_code == 1


def test_combine_tool(data_dir, tmp_path):
    other = DataDir.write(tmp_path / "other", wav_scp={"spkZ-u0": str(data_dir / "wav.scp")}, utt2spk={"spkZ-u0": "spkZ"})
    result = bccmt("combine-data-dirs", tmp_path / "all", data_dir, other.path)
    assert result.exit_code == 0, result.output
    assert f"left out utt2num_frames (missing in {other.path})" in result.output
    assert "10 utterances, 4 speakers from 2 data dirs" in result.output
    result = bccmt("combine-data-dirs", tmp_path / "dup", data_dir, tmp_path / "all")
    assert result.exit_code == 1 and f"in both {data_dir} and {tmp_path / 'all'}" in result.output


@pytest.mark.parametrize("tool", [["combine-data-dirs", "{out}", "{other}"],
                                  ["subset-data-dir", "--per-spk", "1", "{other}", "{out}"],
                                  ["filter-data-dir", "--min-utts-per-spk", "1", "{other}", "{out}"]])
def test_writing_into_an_existing_data_dir_needs_overwrite(data_dir, tmp_path, tool):
    """Issue 23, case 4: combine-data-dirs data/train data/extra replaced data/train's lists."""
    other = DataDir.write(tmp_path / "extra", wav_scp={"spkZ-u0": "/z.wav"}, utt2spk={"spkZ-u0": "spkZ"},
                          utt2num_frames={"spkZ-u0": 100})
    args = [arg.format(out=data_dir, other=other.path) for arg in tool]
    before = {path.name: path.read_bytes() for path in data_dir.iterdir()}
    result = bccmt(*args)
    assert result.exit_code == 1 and "already a data dir (9 utterances)" in result.output, result.output
    assert {path.name: path.read_bytes() for path in data_dir.iterdir()} == before
    result = bccmt(*args[:1], "--overwrite", *args[1:])
    assert result.exit_code == 0, result.output
    assert "spkZ-u0" in DataDir(data_dir).utt2spk
    backup = data_dir.parent / f"{data_dir.name}.backup"
    assert {path.name: path.read_bytes() for path in backup.iterdir() if path.is_file()} == before


def test_split_tool_by_utt_and_spk(data_dir):
    result = bccmt("split-data-dir", "--nj", 2, data_dir)
    assert result.exit_code == 0 and "wrote 2 parts" in result.output
    assert [len(DataDir(data_dir / "split2" / str(j)).utts) for j in (1, 2)] == [5, 4]
    assert "up to date, kept" in bccmt("split-data-dir", "--nj", 2, data_dir).output
    result = bccmt("split-data-dir", "--nj", 3, "--by", "spk", data_dir)
    assert result.exit_code == 0
    assert [DataDir(data_dir / "split3spk" / str(j)).spks for j in (1, 2, 3)] == [["spkA"], ["spkB"], ["spkC"]]
    result = bccmt("split-data-dir", "--nj", 4, "--by", "spk", data_dir)
    assert result.exit_code == 1 and "cannot split 3 speakers into 4" in result.output


def test_filter_tool(data_dir, tmp_path):
    # frames in sorted order: spkA 100 150, spkB 200 250 300, spkC 350 400 450 500
    result = bccmt("filter-data-dir", "--min-frames", 160, "--max-frames", 460, "--min-utts-per-spk", 3,
                   data_dir, tmp_path / "f")
    assert result.exit_code == 0, result.output
    assert "removed 2 utterances shorter than 160 frames" in result.output
    assert "removed 1 utterances longer than 460 frames" in result.output
    assert "removed 0 utterances from 0 speakers with fewer than 3 utterances" in result.output
    assert DataDir(tmp_path / "f").spks == ["spkB", "spkC"]
    assert bccmt("filter-data-dir", data_dir, tmp_path / "g").exit_code == 2  # no filter given


def test_tools_on_minivox(minivox, tmp_path):
    """A data dir of the real mini corpus validates, splits and subsets."""
    root = minivox / "voxceleb1" / "wav"
    speakers = sorted(path.name for path in root.iterdir())[:10]  # 10 speakers of either corpus
    wav_scp = {voxceleb_path_to_utt(p.relative_to(root)): str(p) for spk in speakers
               for p in sorted((root / spk).glob("*/*.wav"))}
    utt2spk = {utt: utt.split("-", 1)[0] for utt in wav_scp}
    data = DataDir.write(tmp_path / "vox", wav_scp=wav_scp, utt2spk=utt2spk)
    result = bccmt("validate-data-dir", data.path)
    assert result.exit_code == 0 and f"({len(wav_scp)} utterances, 10 speakers)" in result.output
    assert bccmt("split-data-dir", "--nj", 4, "--by", "spk", data.path).exit_code == 0
    parts = [set(DataDir(data.path / "split4spk" / str(j)).spks) for j in range(1, 5)]
    assert set().union(*parts) == set(utt2spk_to_spk2utt(utt2spk)) and sum(map(len, parts)) == 10
