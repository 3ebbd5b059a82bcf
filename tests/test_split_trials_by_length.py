"""egs/voxceleb/local/split_trials_by_length.py: a trial list split at its median trial length."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "egs" / "voxceleb" / "local" / "split_trials_by_length.py"


@pytest.fixture(scope="module")
def split_module():
    return load_script(SCRIPT, "split_trials_by_length")


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def study(tmp_path):
    """Data dir ``a`` with utt2dur (a1 1 s, a2 5 s, a3 2 s, a4 4 s), data dir ``b`` with only
    utt2num_frames (b1 300 frames = 3 s), and a Kaldi trial list over both."""
    write(tmp_path / "a" / "utt2dur", ["a1 1.0", "a2 5.0", "a3 2.0", "a4 4.0"])
    write(tmp_path / "b" / "utt2num_frames", ["b1 300"])
    trials = write(tmp_path / "trials" / "so762_test", [
        "a1 a2 target",      # shorter side 1 s (the longer, 5 s, would make it long)
        "a2 a4 nontarget",   # 4 s
        "a3 a4 target",      # 2 s
        "a4 b1 nontarget",   # 3 s (b1 from utt2num_frames)
        "a2 b1 target",      # 3 s
    ])
    return tmp_path, trials


def test_median_split_by_the_shorter_utterance(study, split_module, capsys):
    tmp_path, trials = study
    split_module.main([str(trials), str(tmp_path / "a"), str(tmp_path / "b")])
    # lengths 1, 4, 2, 3, 3: median 3; at or below -> short
    assert (tmp_path / "trials" / "so762_test.short").read_text() == (
        "a1 a2 target\na3 a4 target\na4 b1 nontarget\na2 b1 target\n")
    assert (tmp_path / "trials" / "so762_test.long").read_text() == "a2 a4 nontarget\n"
    out = capsys.readouterr().out
    assert "median trial length 3.00 s" in out and "4 trials at or below it" in out and "1 above" in out


def test_print_median_writes_nothing_and_prefix(study, split_module, capsys):
    tmp_path, trials = study
    split_module.main(["--print-median", str(trials), str(tmp_path / "a"), str(tmp_path / "b")])
    assert capsys.readouterr().out == "3.00\n"
    assert not list((tmp_path / "trials").glob("*.short"))
    split_module.main(["--out-prefix", str(tmp_path / "x"), str(trials), str(tmp_path / "a"), str(tmp_path / "b")])
    assert (tmp_path / "x.short").is_file() and (tmp_path / "x.long").is_file()


def test_utt2num_frames_fallback(tmp_path, split_module):
    """A data dir with both files uses utt2dur; one with only utt2num_frames uses frames / 100."""
    write(tmp_path / "d" / "utt2dur", ["u1 9.0", "u2 1.0"])
    write(tmp_path / "d" / "utt2num_frames", ["u1 100", "u2 900"])
    write(tmp_path / "f" / "utt2num_frames", ["v1 250"])
    assert split_module.read_durations([tmp_path / "d", tmp_path / "f"]) == {"u1": 9.0, "u2": 1.0, "v1": 2.5}


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_missing_duration_is_a_one_line_error(study):
    tmp_path, trials = study
    result = run_script(trials, tmp_path / "a")  # b1 is in b only
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"split_trials_by_length.py: error: {trials}: utterance 'b1' has no duration in "
                             f"utt2dur or utt2num_frames of {tmp_path / 'a'}\n")
    result = run_script(trials, tmp_path / "a", tmp_path / "trials")
    assert result.stderr.count("\n") == 1 and "neither utt2dur nor utt2num_frames" in result.stderr
    assert not (tmp_path / "trials" / "so762_test.short").exists()


def test_help_and_doctests(split_module):
    import doctest

    result = run_script("--help")
    assert result.returncode == 0 and "LIST.short and LIST.long" in result.stdout
    doctests = doctest.testmod(split_module)
    assert doctests.attempted >= 3 and doctests.failed == 0
