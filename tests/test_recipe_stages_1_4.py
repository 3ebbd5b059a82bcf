"""egs/voxceleb/run.sh stages 1-4 on the mini corpus ($BCCMT_DATA), in a copy of the recipe."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import corpus_counts, is_tinyvox

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "voxceleb"


def recipe_copy(tmp_path):
    """The recipe's own files copied to tmp_path (outputs land there); conf/ and utils/ linked."""
    work = tmp_path / "voxceleb"
    work.mkdir()
    for name in ("run.sh", "run_compare.sh", "path.sh", "cmd.sh"):
        shutil.copy2(RECIPE / name, work / name)
    for name in ("local", "compare"):
        shutil.copytree(RECIPE / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "conf").symlink_to(RECIPE / "conf")
    (work / "utils").symlink_to(REPO / "utils")
    return work


def run_recipe(work, *args, timeout=600):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "./run.sh", *map(str, args)], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


def line_count(path):
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def test_recipe_refuses_unknown_options_and_bad_values(tmp_path):
    work = recipe_copy(tmp_path)
    result = run_recipe(work, "--no-such-option", "1")
    assert result.returncode == 1 and "unknown option --no-such-option" in result.stderr
    result = run_recipe(work, "--preset", "huge")
    assert result.returncode == 1 and "unknown preset 'huge'" in result.stderr
    result = run_recipe(work, "--train-set", "vox3")
    assert result.returncode == 1 and "--train-set must be" in result.stderr
    result = run_recipe(work, "--help")
    assert result.returncode == 0 and "--data-root" in result.stdout and "--preset" in result.stdout
    assert not (work / "data").exists()


@pytest.mark.slow  # ~30 s on 2 idle cores, most of it fbank of the 5,400 utterances
def test_stages_1_to_4_on_the_mini_corpus(tmp_path, minivox):
    """On $BCCMT_DATA (the mini corpus: its documented counts) or, without it, on tinyvox."""
    counts = corpus_counts(minivox)  # the mini corpus's are MINI_COUNTS (1,018 test utterances, ...)
    work = recipe_copy(tmp_path)
    started = time.time()
    result = run_recipe(work, "--data-root", minivox, "--preset", "mini", "--stage", 1, "--stop-stage", 4)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    first_run = time.time() - started
    data = work / "data"

    assert line_count(data / "trials" / "vox1_O") == line_count(minivox / "voxceleb1" / "veri_test2.txt") \
        == counts["vox1_O"]
    assert line_count(data / "trials" / "vox1_E") == counts["vox1_E"]
    assert not (data / "trials" / "vox1_H").exists()
    first_trial = (data / "trials" / "vox1_O").read_text().splitlines()[0].split()
    assert first_trial[2] in ("target", "nontarget") and first_trial[0].startswith("id1")

    assert line_count(data / "voxceleb1_test" / "utt2spk") == counts["voxceleb1_test"]
    assert line_count(data / "voxceleb1_dev" / "utt2spk") == counts["voxceleb1_dev"]
    assert line_count(data / "voxceleb2_dev" / "utt2spk") == counts["voxceleb2_dev"]
    assert (data / "voxceleb2_dev" / "wav.scp").read_text().splitlines()[0].endswith(".wav")  # mini converts
    assert line_count(data / "voxceleb2_dev" / "utt2dur") == counts["voxceleb2_dev"]
    assert not (data / "musan_music").exists() and "music" in result.stdout + result.stderr
    assert line_count(data / "rirs" / "wav.scp") == counts["rirs"]
    for kind in ("reverb", "noise", "babble"):
        assert line_count(data / f"voxceleb2_dev_{kind}" / "wav.scp") == 400
    assert not (data / "voxceleb2_dev_music").exists()

    train = data / "train"
    for name in ("feats.scp", "utt2spk", "spk2utt", "utt2num_frames"):
        assert (train / name).is_file(), name
    train_utts = [line.split()[0] for line in (train / "utt2spk").read_text().splitlines()]
    assert len(train_utts) <= counts["voxceleb2_dev"] + 1200
    if is_tinyvox(minivox):  # its training speakers all have >= 2 utterances of >= 1 s: none is dropped
        assert len(train_utts) == counts["voxceleb2_dev"] + 1200
    else:  # the mini corpus: 3,124 clean + 1,200 augmented, less the single-utterance speakers
        assert 4000 < len(train_utts)
    assert sum(utt.endswith("-reverb") for utt in train_utts) > 350
    frames = [int(line.split()[1]) for line in (train / "utt2num_frames").read_text().splitlines()]
    assert min(frames) >= 50
    for test_set in ("voxceleb1_test", "voxceleb1_dev"):
        assert line_count(data / test_set / "feats.scp") == line_count(data / test_set / "utt2spk")

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name in ("voxceleb1_test", "voxceleb1_dev", "voxceleb2_dev", "musan_noise", "musan_speech", "rirs",
                 "voxceleb2_dev_babble", "train"):
        check = subprocess.run(["bccmt", "validate-data-dir", str(data / name)], env=env, capture_output=True,
                               text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr

    # A second run finds every stage complete and redoes nothing.
    started = time.time()
    again = run_recipe(work, "--data-root", minivox, "--preset", "mini", "--stage", 1, "--stop-stage", 4)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "computing fbank" not in again.stdout and "augment-data-dir" not in again.stdout
    assert again.stdout.count("skipped") >= 10
    assert time.time() - started < max(20.0, first_run / 2)

    # Changed settings redo the work: VoxCeleb2 as m4a paths (decoded in-process), then as ffmpeg pipes.
    m4a = run_recipe(work, "--data-root", minivox, "--preset", "mini", "--stage", 1, "--stop-stage", 1,
                     "--m4a-to-wav", "false")
    assert m4a.returncode == 0, m4a.stderr[-3000:]
    first_entry = (data / "voxceleb2_dev" / "wav.scp").read_text().splitlines()[0]
    assert first_entry.split(None, 1)[1].endswith(".m4a") and os.path.isfile(first_entry.split(None, 1)[1])
    assert not (data / "voxceleb2_dev" / "utt2dur").exists()
    assert line_count(data / "voxceleb2_dev" / "utt2spk") == counts["voxceleb2_dev"]
    pipes = run_recipe(work, "--data-root", minivox, "--preset", "mini", "--stage", 1, "--stop-stage", 1,
                       "--m4a-to-wav", "false", "--ffmpeg-pipes", "true")
    assert pipes.returncode == 0, pipes.stderr[-3000:]
    first_entry = (data / "voxceleb2_dev" / "wav.scp").read_text().splitlines()[0]
    assert first_entry.split(None, 1)[1].startswith("ffmpeg -nostdin -loglevel error -i ")
    assert first_entry.endswith("-f wav -ar 16000 -ac 1 - |")


# ---- the local/ preparation scripts on tiny synthetic corpora -------------------------------------

def run_local(script, *args):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, str(RECIPE / "local" / script), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def tiny_vox1(tmp_path, make_wav):
    root = tmp_path / "voxceleb1"
    for spk in ("id10001", "id10002", "id10270", "id10271"):
        for video in ("-abcDEF_123", "Zz9"):
            for n in (1, 2):
                make_wav(f"voxceleb1/wav/{spk}/{video}/0000{n}.wav", seconds=0.25 * n)
    (root / "veri_test2.txt").write_text(
        "1 id10270/-abcDEF_123/00001.wav id10270/Zz9/00002.wav\n"
        "0 id10270/-abcDEF_123/00001.wav id10271/Zz9/00001.wav\n")
    (root / "list_test_all2.txt").write_text("1 id10001/Zz9/00001.wav id10001/Zz9/00002.wav\n")
    return root


def test_make_voxceleb1_splits_test_speakers_and_converts_trials(tiny_vox1, tmp_path):
    result = run_local("make_voxceleb1.py", tiny_vox1, tmp_path / "data")
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    test_utts = (data / "voxceleb1_test" / "utt2spk").read_text().split()[::2]
    assert test_utts[0] == "id10270--abcDEF_123-00001" and len(test_utts) == 8
    assert {u[:7] for u in (data / "voxceleb1_dev" / "utt2spk").read_text().split()[::2]} == {"id10001", "id10002"}
    assert (data / "trials" / "vox1_O").read_text().splitlines() == [
        "id10270--abcDEF_123-00001 id10270-Zz9-00002 target",
        "id10270--abcDEF_123-00001 id10271-Zz9-00001 nontarget"]
    assert (data / "voxceleb1_test" / "utt2dur").read_text().splitlines()[:2] == [
        "id10270--abcDEF_123-00001 0.250", "id10270--abcDEF_123-00002 0.500"]
    assert "vox1_H" in result.stderr and not (data / "trials" / "vox1_H").exists()


def test_make_voxceleb1_names_a_trial_utterance_that_is_missing(tiny_vox1, tmp_path):
    with open(tiny_vox1 / "veri_test2.txt", "a") as handle:
        handle.write("0 id10270/Zz9/00001.wav id10271/Zz9/00009.wav\n")
    result = run_local("make_voxceleb1.py", tiny_vox1, tmp_path / "data")
    assert result.returncode == 1
    assert "trial 3: utterance 'id10271-Zz9-00009' is not in data/voxceleb1_test" in result.stderr
    assert not (tmp_path / "data" / "trials" / "vox1_O").exists()


def test_make_musan_skips_absent_categories_and_make_rirs_reads_rir_lists(tmp_path, make_wav):
    make_wav("musan/noise/free-sound/noise-free-sound-0001.wav", seconds=0.2)
    make_wav("musan/speech/librivox/speech-librivox-0001.wav", seconds=0.2)
    result = run_local("make_musan.py", tmp_path / "musan", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "MUSAN music: absent" in result.stderr and not (tmp_path / "data" / "musan_music").exists()
    assert (tmp_path / "data" / "musan_noise" / "utt2spk").read_text() == "noise-free-sound-0001 noise-free-sound-0001\n"

    rir_root = tmp_path / "my_rirs"  # renamed from RIRS_NOISES: paths in rir_list still start with it
    make_wav("my_rirs/simulated_rirs/smallroom/Room001/Room001-00001.wav", seconds=0.1)
    (rir_root / "simulated_rirs" / "smallroom" / "rir_list").write_text(
        "--rir-id smallroom-Room001-00001 --room-id smallroom-Room001 "
        "RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav\n")
    result = run_local("make_rirs.py", rir_root, tmp_path / "data" / "rirs")
    assert result.returncode == 0, result.stderr
    wav_scp = (tmp_path / "data" / "rirs" / "wav.scp").read_text().split()
    assert wav_scp[0] == "smallroom-Room001-00001" and Path(wav_scp[1]).is_file()
    assert "mediumroom/rir_list: absent" in result.stderr
