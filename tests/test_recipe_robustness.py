"""Robustness of the recipe as a whole, on tiny synthetic data in copies of egs/voxceleb.

A run killed (SIGKILL, no chance to clean up) during training or during embedding extraction and
then re-run with the same command ends with the same results as an uninterrupted run; a corrupt
audio file stops stage 4 naming its key (or is skipped and reported with --skip-bad true); run.sh
refuses unknown options.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bccmt_tools.io.kaldi_table import read_table_dict
from conftest import write_wav
from test_dataset import make_feats_dir
from test_extract import make_exp
from test_recipe_stages_1_4 import recipe_copy, run_recipe

REPO = Path(__file__).resolve().parents[1]
VENV_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

TINY_TRAIN_CONFIG = """\
model: bccmt
model_conf: {size: tiny}
data: {crop_frames: 32, batch_size: 8, num_workers: 0}
optim: {lr: 5.0e-3}
scheduler: {warmup_epochs: 0.5}
loss: {margin_warmup: {start_epoch: 0, end_epoch: 2}}
trainer: {epochs: 3, log_interval: 1, keep_checkpoints: 0, seed: 7}
"""


def start_killable(args, cwd):
    """Start ``args`` in its own process group (so a kill reaches every job it started)."""
    env = dict(os.environ, PATH=VENV_PATH, OMP_NUM_THREADS="1")
    return subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kill_when(process, condition, timeout=60.0):
    """SIGKILL ``process``'s whole group as soon as ``condition()`` holds; True if it was still running."""
    deadline = time.time() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read()
            pytest.fail(f"the process ended (status {process.returncode}) before it could be killed:\n{output[-3000:]}")
        if time.time() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail("the kill condition never held")
        time.sleep(0.005)
    still_running = process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return still_running


def run_checked(args, cwd, timeout=120):
    env = dict(os.environ, PATH=VENV_PATH, OMP_NUM_THREADS="1")
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


# ---- (a) training killed mid-run, then the same command again ------------------------------------

def test_recipe_killed_during_training_resumes_to_the_same_weights(tmp_path):
    work = recipe_copy(tmp_path)
    # 12 steps per epoch: epochs 2-3 leave a window of a second or more for the kill.
    make_feats_dir(work / "data" / "train", num_speakers=4, utts_per_speaker=24)
    (work / "tiny.yaml").write_text(TINY_TRAIN_CONFIG)

    def stage_5(exp):  # (stage 6, averaging, only reads the checkpoints compared below)
        return ["bash", "./run.sh", "--stage", 5, "--stop-stage", 5, "--teacher-config", "tiny.yaml",
                "--teacher-exp", exp, "--train-device", "cpu", "--train-threads", 1, "--train-opts", "--no-progress"]

    run_checked(stage_5("exp/straight"), work)
    killed = work / "exp" / "killed"
    process = start_killable(stage_5("exp/killed"), work)
    first_epoch = killed / "checkpoints" / "epoch_0001.pt"
    assert kill_when(process, first_epoch.exists), "training finished before the kill"
    assert not (killed / "checkpoints" / "epoch_0003.pt").exists()
    # As if the kill had hit the save of epoch 3: its temporary must not outlive the re-run.
    (killed / "checkpoints" / ".epoch_0003.pt.k1ll3d.tmp").write_bytes(b"partial")

    again = run_checked(stage_5("exp/killed"), work)
    assert "resumed from" in (killed / "log" / "train.log").read_text(), again.stdout[-2000:]
    straight = torch.load(work / "exp" / "straight" / "checkpoints" / "epoch_0003.pt", weights_only=False)
    resumed = torch.load(killed / "checkpoints" / "epoch_0003.pt", weights_only=False)
    assert resumed["step"] == straight["step"] == 36
    for part in ("model", "classifier"):
        assert straight[part].keys() == resumed[part].keys()
        for key, value in straight[part].items():
            assert torch.allclose(value.double(), resumed[part][key].double(), atol=1e-6, rtol=0), (part, key)
    assert not list(killed.rglob("*.tmp")), "temporary files of the killed run were left behind"


# ---- (b) embedding extraction killed mid-run, then the same command again ------------------------

def test_extraction_killed_midway_reruns_to_identical_embeddings(tmp_path):
    torch.set_num_threads(1)
    exp = make_exp(tmp_path / "exp")
    data = make_feats_dir(tmp_path / "data", num_speakers=6, utts_per_speaker=6, frames=(100, 300))
    # One job at a time, so the kill surely lands after job 1 and before job 2 ends.
    runner = f"{REPO / 'utils' / 'run.sh'} --max-jobs-run 1"

    def extract(out):
        return [REPO / "utils" / "extract_embeddings.sh", "--nj", 2, "--cmd", runner, exp, data, out]

    straight, killed = tmp_path / "emb_straight", tmp_path / "emb_killed"
    run_checked(extract(straight), tmp_path)
    process = start_killable(extract(killed), tmp_path)
    assert kill_when(process, (killed / "xvector.1.scp").exists), "extraction finished before the kill"
    assert len(read_table_dict(f"scp:{killed}/xvector.1.scp")) == 18  # job 1 complete
    assert not (killed / "xvector.2.scp").exists() and not (killed / "xvector.scp").exists()
    # What a kill during job 2's writing or during the merge leaves (it may not have got that far).
    (killed / ".xvector.2.ark.k1ll3d.tmp").write_bytes(b"partial")
    (killed / ".xvector.scp.k1ll3d").write_text("utt1 partial\n")

    run_checked(extract(killed), tmp_path)
    lines = {name: (out / "xvector.scp").read_text().replace(str(out), "OUT").splitlines()
             for name, out in (("straight", straight), ("killed", killed))}
    assert lines["killed"] == lines["straight"] and len(lines["straight"]) == 36
    expected, got = read_table_dict(f"scp:{straight}/xvector.scp"), read_table_dict(f"scp:{killed}/xvector.scp")
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    assert not list(killed.glob(".xvector*")), "temporary files of the killed run were left behind"


# ---- (c) a corrupt audio file in stage 4 ---------------------------------------------------------

SPEAKERS = ("id10001", "id10002", "id10003", "id10004", "id10270", "id10271")


@pytest.fixture
def tiny_corpus(tmp_path):
    """VoxCeleb1 layout: 6 speakers x 4 one-second utterances (a tone per speaker), a tiny O list."""
    rng = np.random.default_rng(0)
    root = tmp_path / "corpus"
    t = np.arange(16000) / 16000
    for index, spk in enumerate(SPEAKERS):
        for n in range(1, 5):
            video = "vidA" if n <= 2 else "vidB"
            tone = 0.3 * np.sin(2 * np.pi * (150 + 60 * index) * n ** 0.1 * t)
            write_wav(root / "voxceleb1" / "wav" / spk / video / f"0000{n}.wav",
                      tone + 0.02 * rng.standard_normal(t.size))
    (root / "voxceleb1" / "veri_test2.txt").write_text(
        "1 id10270/vidA/00001.wav id10270/vidB/00003.wav\n"
        "0 id10270/vidA/00001.wav id10271/vidB/00004.wav\n"
        "1 id10271/vidA/00002.wav id10271/vidB/00003.wav\n")
    return root


def corrupt_wav(path):
    """Keep the RIFF layout (stage 1 reads the duration from it) but make the sample format unknown."""
    raw = bytearray(path.read_bytes())
    raw[20:22] = (0x7A7A).to_bytes(2, "little")  # fmt chunk: audio format code
    path.write_bytes(bytes(raw))


def test_corrupt_audio_stops_stage_4_naming_its_key_or_is_skipped_and_reported(tmp_path, tiny_corpus):
    corrupt_wav(tiny_corpus / "voxceleb1" / "wav" / "id10002" / "vidB" / "00003.wav")
    work = recipe_copy(tmp_path)
    common = ("--data-root", tiny_corpus, "--preset", "mini", "--train-set", "vox1", "--nj", 1)

    result = run_recipe(work, *common, "--stage", 1, "--stop-stage", 4)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "id10002-vidB-00003" in result.stderr and "stage 4" in result.stderr, output[-3000:]
    assert "--skip-bad true" in result.stderr
    assert not (work / "data" / "voxceleb1_dev" / "feats.scp").exists()
    assert not (work / "data" / "train").exists()

    result = run_recipe(work, *common, "--stage", 4, "--stop-stage", 4, "--skip-bad", "true")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "id10002-vidB-00003" in output, output[-3000:]
    train_utts = (work / "data" / "train" / "utt2spk").read_text()
    assert "id10002-vidB-00003" not in train_utts and len(train_utts.splitlines()) == 15
    assert "id10002-vidB-00003" not in (work / "data" / "voxceleb1_dev" / "feats.scp").read_text()


# ---- (d) options -----------------------------------------------------------------------------------

def test_run_sh_refuses_unknown_options_and_has_help(tmp_path):
    work = recipe_copy(tmp_path)
    for args, message in ((["--stage", 1, "--no-such-option", "x"], "unknown option --no-such-option"),
                          (["--skip-bad", "maybe"], "option --skip-bad expects true or false"),
                          (["--stage"], "option --stage needs a value"),
                          (["--stage", 1, "extra"], "unexpected argument 'extra'")):
        result = run_recipe(work, *args)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
    result = run_recipe(work, "--help")
    assert result.returncode == 0
    for option in ("--data-root", "--stage", "--skip-bad", "--download-url", "--download-sha256"):
        assert option in result.stdout, option
    assert not (work / "data").exists() and not (work / "exp").exists()
