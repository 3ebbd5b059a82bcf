"""Shared fixtures: the corpus of the corpus tests (BCCMT_DATA, else tinyvox) and small synthetic audio."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: The tiny real-speech corpus inside the repository (egs/voxceleb/make_tinyvox.py made it).
TINYVOX = REPO / "egs" / "voxceleb" / "tinyvox"
#: The mini corpus's counts, as its README documents them (asserted whenever BCCMT_DATA is it).
MINI_COUNTS = {"voxceleb1_test": 1018, "voxceleb1_dev": 1256, "voxceleb2_dev": 3124, "vox1_O": 3500,
               "vox1_O_target": 1750, "vox1_E": 8000, "rirs": 120}


@pytest.fixture(scope="session")
def minivox():
    """Root of the VoxCeleb-like corpus of the corpus tests: $BCCMT_DATA (the mini corpus,
    ../shared/data/minivox on this project's machines; CI sets it), else the tiny corpus inside the
    repository (egs/voxceleb/tinyvox), so that a fresh clone runs these tests too."""
    root = os.environ.get("BCCMT_DATA")
    path = Path(root) if root else TINYVOX
    if not (path / "voxceleb1").is_dir():
        where = f"BCCMT_DATA={root}" if root else f"{TINYVOX} (part of the repository)"
        pytest.fail(f"{where} has no voxceleb1/ folder")
    return path


def is_tinyvox(root):
    """True when ``root`` is the repository's tinyvox (not the mini corpus)."""
    return Path(root).resolve() == TINYVOX.resolve()


def corpus_counts(root):
    """Utterances per part (speakers.tsv), trials per list and RIRs (rir_list) of a mini-corpus-like
    ``root``, so that tests check the recipe against the corpus it ran on. For the mini corpus
    these are its documented counts (MINI_COUNTS), checked here.
    """
    root = Path(root)
    utts = {"voxceleb1-test": 0, "voxceleb1-dev": 0, "voxceleb2-dev": 0}
    lines = (root / "speakers.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        utts[row["part"]] += int(row["utterances"])

    def trials(name):
        path = root / "voxceleb1" / name
        return [line.split() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []

    counts = {"voxceleb1_test": utts["voxceleb1-test"], "voxceleb1_dev": utts["voxceleb1-dev"],
              "voxceleb2_dev": utts["voxceleb2-dev"], "vox1_O": len(trials("veri_test2.txt")),
              "vox1_O_target": sum(fields[0] == "1" for fields in trials("veri_test2.txt")),
              "vox1_E": len(trials("list_test_all2.txt")),
              "rirs": sum(len([line for line in path.read_text().splitlines() if line.strip()])
                          for path in (root / "RIRS_NOISES" / "simulated_rirs").glob("*/rir_list"))}
    if not is_tinyvox(root):
        assert counts == MINI_COUNTS, f"{root} is neither tinyvox nor the mini corpus: {counts}"
    return counts


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def write_wav(path, samples, sample_rate=16000):
    """Write float samples in [-1, 1] as 16-bit PCM wav (test helper)."""
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), sample_rate, subtype="PCM_16")
    return path


@pytest.fixture
def make_wav(tmp_path, rng):
    """Factory: make_wav(name, seconds=1.0, sample_rate=16000) -> path of a noisy-tone wav."""

    def factory(name, seconds=1.0, sample_rate=16000, freq=220.0):
        n = int(round(seconds * sample_rate))
        t = np.arange(n) / sample_rate
        samples = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(n)
        return write_wav(tmp_path / name, samples, sample_rate)

    return factory


@pytest.fixture(scope="session")
def ffmpeg_exe():
    """An ffmpeg binary: the one on PATH, else the static build of the imageio-ffmpeg test extra.

    Only the tests use a binary (to make m4a files and to check our in-process decoding against
    ffmpeg's); the toolkit itself decodes with PyAV and needs none.
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        pytest.skip("no ffmpeg on PATH and imageio-ffmpeg (test extra) is not installed")
    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture
def one_torch_thread():
    """torch on one CPU thread for the test (restored after): small models train faster that way."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load_script(path, name):
    """The Python script at ``path`` (a recipe helper, not a package module) imported as module ``name``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
