"""Shared fixtures: the mini corpus (BCCMT_DATA) and small synthetic audio."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def minivox():
    """Root of the mini VoxCeleb-like corpus, from $BCCMT_DATA; tests using it skip without it."""
    root = os.environ.get("BCCMT_DATA")
    if not root:
        pytest.skip("BCCMT_DATA is not set (point it at ../shared/data/minivox to run corpus tests)")
    path = Path(root)
    if not (path / "voxceleb1").is_dir():
        pytest.skip(f"BCCMT_DATA={root} has no voxceleb1/ folder")
    return path


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
