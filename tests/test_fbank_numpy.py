"""The numpy fbank front end: equals torchaudio's Kaldi fbank, framing, dither, bad configs, no torch."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import FbankConfig, _torchaudio_options, compute_fbank
from bccmt_tools.features.fbank_numpy import compute_fbank_numpy, mel_banks
from bccmt_tools.io.audio import read_audio

REPO = Path(__file__).resolve().parent.parent
# torchaudio computes in float32. On all 2274 minivox voxceleb1 wavs (default config) we differ from
# it by 1.8e-4 (median of per-file maxima); 41 files exceed 1e-3 (up to 1.3e-2), all in near-silent
# bins where torchaudio in float32 differs from torchaudio in float64 just as much. Against float64
# torchaudio the largest difference on every file is 3.4e-4.
TOLERANCE = 1e-3
TOLERANCE_FLOAT64 = 5e-4

torch.set_num_threads(1)

CONFIGS = {
    "default": FbankConfig(),
    "povey-reflect-energy": FbankConfig(window_type="povey", num_mel_bins=40, snip_edges=False, use_energy=True,
                                        low_freq=50.0, high_freq=-400.0),
    "blackman-unrounded-magnitude": FbankConfig(window_type="blackman", round_to_power_of_two=False,
                                                frame_length=20.0, frame_shift=12.5, use_power=False,
                                                use_energy=True, raw_energy=False, energy_floor=1.0),
    "hanning-8k-no-preemphasis": FbankConfig(sample_rate=8000, window_type="hanning", num_mel_bins=30,
                                             preemphasis_coefficient=0.0, remove_dc_offset=False),
    "rectangular-linear": FbankConfig(window_type="rectangular", num_mel_bins=64, use_log_fbank=False),
}


def _speech_like(rng, seconds=3.0, sample_rate=16000):
    """Harmonics of a wandering pitch under a syllable-rate envelope, plus a little noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.1 * envelope * voiced + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _assert_matches_torchaudio(samples, config):
    ours = compute_fbank_numpy(samples, config)
    reference = compute_fbank(samples, config)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    if config.use_log_fbank:
        np.testing.assert_allclose(ours, reference, atol=TOLERANCE, rtol=0)
    else:  # linear energies: compare relatively (values reach 1e9)
        np.testing.assert_allclose(ours, reference, rtol=TOLERANCE, atol=1e-3)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_matches_torchaudio_on_synthetic_audio(name, rng):
    config = CONFIGS[name]
    _assert_matches_torchaudio(_speech_like(rng, sample_rate=config.sample_rate), config)


def _torchaudio_float64(samples, config):
    waveform = torch.from_numpy(samples.astype(np.float64)).unsqueeze(0) * 32768.0
    return kaldi.fbank(waveform, **_torchaudio_options(config)).numpy()


@pytest.mark.parametrize("name", ["default", "povey-reflect-energy", "blackman-unrounded-magnitude"])
def test_matches_torchaudio_on_real_speech(name, minivox):
    wavs = sorted((minivox / "voxceleb1" / "wav").glob("*/*/*.wav"))
    wavs = wavs[::max(1, min(300, len(wavs) // 4))][:4]  # every 300th of the mini corpus's 2,274
    assert len(wavs) == 4
    for wav in wavs:
        samples = read_audio(str(wav))
        _assert_matches_torchaudio(samples, CONFIGS[name])
        np.testing.assert_allclose(compute_fbank_numpy(samples, CONFIGS[name]),
                                   _torchaudio_float64(samples, CONFIGS[name]), atol=TOLERANCE_FLOAT64)


@pytest.mark.parametrize("name", ["default", "povey-reflect-energy", "hanning-8k-no-preemphasis"])
def test_matches_float64_torchaudio_closely(name, rng):
    config = CONFIGS[name]
    samples = _speech_like(rng, sample_rate=config.sample_rate)
    np.testing.assert_allclose(compute_fbank_numpy(samples, config), _torchaudio_float64(samples, config),
                               atol=TOLERANCE_FLOAT64)


def test_mel_banks_equal_kaldi():
    ours = mel_banks(80, 512, 16000.0, 20.0, -300.0)
    reference, _ = kaldi.get_mel_banks(80, 512, 16000.0, 20.0, -300.0, 100.0, -500.0, 1.0)
    assert ours.shape == (80, 256)
    np.testing.assert_allclose(ours, reference.numpy(), atol=3e-5)


@pytest.mark.parametrize("snip_edges", [True, False])
@pytest.mark.parametrize("num_samples", [400, 401, 559, 560, 1000, 16079, 16080, 41000])
def test_frame_counts_equal_torchaudio(num_samples, snip_edges, rng):
    config = FbankConfig(snip_edges=snip_edges)
    samples = (0.1 * rng.standard_normal(num_samples)).astype(np.float32)
    _assert_matches_torchaudio(samples, config)


def test_short_audio_gives_no_frames_or_reflected_frames():
    assert compute_fbank_numpy(np.zeros(399, dtype=np.float32)).shape == (0, 80)
    # Kaldi reflects at both ends without snip_edges: 250 samples give round(250 / 160) = 2 frames.
    short = np.linspace(-0.1, 0.1, 250, dtype=np.float32)
    feats = compute_fbank_numpy(short, FbankConfig(snip_edges=False))
    assert feats.shape == (2, 80) and np.isfinite(feats).all()


def test_dither_is_reproducible_with_a_seeded_generator(rng):
    samples = _speech_like(rng)
    config = FbankConfig(dither=1.0)
    first = compute_fbank_numpy(samples, config, rng=np.random.default_rng(7))
    again = compute_fbank_numpy(samples, config, rng=np.random.default_rng(7))
    other = compute_fbank_numpy(samples, config, rng=np.random.default_rng(8))
    clean = compute_fbank_numpy(samples, FbankConfig())
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # dither of 1 (int16 units) on speech at ~3000 int16 RMS barely moves the log energies
    assert 0 < np.abs(first - clean).mean() < 0.05


def test_blocks_of_frames_do_not_change_the_result(rng, monkeypatch):
    import bccmt_tools.features.fbank_numpy as fbank_numpy

    samples = _speech_like(rng, seconds=4.0)
    config = FbankConfig(dither=1.0, use_energy=True)
    blocked = compute_fbank_numpy(samples, config, rng=np.random.default_rng(3))
    monkeypatch.setattr(fbank_numpy, "BLOCK_FRAMES", 10 ** 9)
    whole = compute_fbank_numpy(samples, config, rng=np.random.default_rng(3))
    assert blocked.shape[0] > 2 * 128
    np.testing.assert_array_equal(blocked, whole)


def test_digital_silence_is_floored_like_torchaudio():
    samples = np.zeros(4000, dtype=np.float32)
    np.testing.assert_allclose(compute_fbank_numpy(samples), compute_fbank(samples), atol=TOLERANCE)


@pytest.mark.parametrize("config, message", [
    (FbankConfig(round_to_power_of_two=False, frame_length=25.0625), "FFT size 401 is odd"),
    (FbankConfig(num_mel_bins=3), "num_mel_bins must be at least 4"),
])
def test_bad_configs_are_one_line_errors(config, message):
    with pytest.raises(BccmtError, match=message):
        compute_fbank_numpy(np.zeros(16000, dtype=np.float32), config)


def test_stereo_input_is_an_error():
    with pytest.raises(BccmtError, match="expected 1-D mono samples"):
        compute_fbank_numpy(np.zeros((2, 16000), dtype=np.float32))


def test_imports_and_runs_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['torchaudio'] = None\n"
            "import numpy as np\n"
            "from bccmt_tools.features import FbankConfig, load_fbank_config, mean_normalize\n"
            "from bccmt_tools.features.fbank_numpy import compute_fbank_numpy\n"
            "config = load_fbank_config('egs/voxceleb/conf/fbank.yaml')\n"
            "feats = compute_fbank_numpy(np.full(16000, 0.01, np.float32), config)\n"
            "print(mean_normalize(feats).shape)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(98, 80)"
