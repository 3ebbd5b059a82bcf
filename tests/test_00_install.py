"""The install itself: every module imports and torchaudio's compiled extension loads with this torch.

Named to run first, so that a mismatched torch/torchaudio pair (e.g. torchaudio 2.11.1 beside torch
2.11.0) fails here with the fix spelled out instead of as collection errors further on.
"""

import importlib
import pkgutil

import pytest

import bccmt_tools

FIX = "reinstall from the lock file: rm -rf .venv && make test (or pip install -c requirements/lock.txt -e .)"


def all_modules():
    return sorted(info.name for info in pkgutil.walk_packages(bccmt_tools.__path__, "bccmt_tools."))


def test_torch_and_torchaudio_are_a_matching_pair():
    torch = pytest.importorskip("torch")
    try:
        import torchaudio
        import torchaudio.compliance.kaldi as kaldi

        features = kaldi.fbank(torch.zeros(1, 1600), num_mel_bins=80, dither=0.0)
    except (ImportError, OSError, RuntimeError) as exc:
        pytest.fail(f"torchaudio does not load with torch {torch.__version__}: {exc}; {FIX}", pytrace=False)
    assert features.shape == (8, 80)
    assert torchaudio.__version__.split("+")[0] == torch.__version__.split("+")[0], FIX


@pytest.mark.parametrize("name", all_modules())
def test_every_module_imports(name):
    importlib.import_module(name)


def test_the_package_has_its_modules():
    names = all_modules()
    assert "bccmt_tools.io.compressed" in names and "bccmt_tools.models.bccmt" in names and len(names) > 60
