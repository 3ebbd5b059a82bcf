"""utils/make_fbank.sh end to end on a tiny synthetic data dir (2 jobs through utils/run.sh)."""

import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np

from bccmt_tools.features import compute_fbank
from bccmt_tools.io.audio import read_audio

UTILS = Path(__file__).resolve().parent.parent / "utils"


def make_data_dir(tmp_path, make_wav):
    """5 utterances, 2 speakers; one entry is a pipe. Files sorted as Kaldi wants."""
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    utts = {"spk1-a": 1.0, "spk1-b": 1.2, "spk1-c": 0.8, "spk2-a": 1.0, "spk2-b": 1.5}
    lines = []
    for number, (utt, seconds) in enumerate(sorted(utts.items())):
        path = make_wav(f"wav/{utt}.wav", seconds=seconds, freq=150.0 + 50 * number)
        lines.append(f"{utt} cat {path} |" if utt == "spk2-a" else f"{utt} {path}")
    (data / "wav.scp").write_text("\n".join(lines) + "\n")
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in sorted(utts)))
    (data / "spk2utt").write_text("spk1 spk1-a spk1-b spk1-c\nspk2 spk2-a spk2-b\n")
    return data, utts


def make_fbank(*args, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(UTILS / "make_fbank.sh"), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)


def test_make_fbank_two_jobs_then_skip(tmp_path, make_wav):
    data, utts = make_data_dir(tmp_path, make_wav)
    result = make_fbank("--nj", 2, "--compress", "false", "data/tiny", "exp/make_fbank/tiny", "fbank", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    feats_scp = (data / "feats.scp").read_text().splitlines()
    assert [line.split()[0] for line in feats_scp] == sorted(utts)
    ark_paths = {line.split()[1].rsplit(":", 1)[0] for line in feats_scp}
    assert ark_paths == {str(tmp_path / f"fbank/raw_fbank_tiny.{j}.ark") for j in (1, 2)}  # absolute paths
    frames = dict(line.split() for line in (data / "utt2num_frames").read_text().splitlines())
    expected_frames = {utt: str(1 + (int(seconds * 16000) - 400) // 160) for utt, seconds in utts.items()}
    assert frames == expected_frames
    feats = dict(kaldiio.load_scp(str(data / "feats.scp")))
    np.testing.assert_array_equal(feats["spk2-b"], compute_fbank(read_audio(str(tmp_path / "wav/spk2-b.wav"))))
    for job in (1, 2):
        log = (tmp_path / f"exp/make_fbank/tiny/make_fbank.{job}.log").read_text()
        assert f"split2/{job}/wav.scp" in log.splitlines()[0] and "# Ended (code 0)" in log

    again = make_fbank("--nj", 2, "data/tiny", "exp/make_fbank/tiny", "fbank", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_make_fbank_failure_names_log_and_leaves_no_feats(tmp_path, make_wav):
    data, _ = make_data_dir(tmp_path, make_wav)
    (tmp_path / "wav/spk2-b.wav").write_bytes(b"corrupt")
    result = make_fbank("--nj", 1, "data/tiny", "exp/log", "fbank", cwd=tmp_path)
    assert result.returncode != 0
    assert "1/1 jobs failed; see exp/log/make_fbank.1.log" in result.stderr
    assert "key 'spk2-b'" in (tmp_path / "exp/log/make_fbank.1.log").read_text()
    assert not (data / "feats.scp").exists() and not (data / "utt2num_frames").exists()
