"""Fbank features, their config, mean normalisation and the compute-fbank tool."""

import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi
from click.testing import CliRunner

from bccmt_tools.bin.compute_fbank import cli as compute_fbank_cli
from bccmt_tools.errors import BccmtError
from bccmt_tools.features import FbankConfig, compute_fbank, load_fbank_config, mean_normalize
from bccmt_tools.io.audio import read_audio
from tests.conftest import write_wav

REPO = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)


def test_one_second_gives_98_frames(make_wav):
    feats = compute_fbank(read_audio(str(make_wav("a.wav"))), FbankConfig())
    assert feats.shape == (98, 80) and feats.dtype == np.float32
    assert np.isfinite(feats).all()


def test_too_short_audio_gives_no_frames():
    assert compute_fbank(np.zeros(399, dtype=np.float32)).shape == (0, 80)


def test_equals_direct_torchaudio_call(make_wav):
    samples = read_audio(str(make_wav("a.wav", seconds=1.3)))
    ours = compute_fbank(samples, load_fbank_config(REPO / "egs" / "voxceleb" / "conf" / "fbank.yaml"))
    direct = kaldi.fbank(torch.from_numpy(samples).unsqueeze(0) * 32768, num_mel_bins=80, frame_length=25.0,
                         frame_shift=10.0, dither=0.0, window_type="hamming", sample_frequency=16000.0,
                         energy_floor=0.0)
    np.testing.assert_array_equal(ours, direct.numpy())


def test_dither_is_reproducible_with_a_seeded_generator(make_wav):
    samples = read_audio(str(make_wav("a.wav")))
    config = FbankConfig(dither=1.0)
    state = torch.get_rng_state()
    first = compute_fbank(samples, config, generator=torch.Generator().manual_seed(7))
    again = compute_fbank(samples, config, generator=torch.Generator().manual_seed(7))
    other = compute_fbank(samples, config, generator=torch.Generator().manual_seed(8))
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, compute_fbank(samples, FbankConfig()))


def test_config_file_equals_defaults_and_unknown_keys_fail(tmp_path):
    assert load_fbank_config(REPO / "egs" / "voxceleb" / "conf" / "fbank.yaml") == FbankConfig()
    bad = tmp_path / "fbank.yaml"
    bad.write_text("num_mel_bins: 40\nnum_mel_bin: 40\n")
    with pytest.raises(BccmtError) as excinfo:
        load_fbank_config(str(bad))
    message = excinfo.value.message
    assert message.startswith(f"{bad}: unknown key(s) num_mel_bin; valid keys: sample_rate, num_mel_bins")
    with pytest.raises(BccmtError, match="num_mel_bins must be int"):
        load_fbank_config({"num_mel_bins": "80"})
    with pytest.raises(BccmtError, match="window_type"):
        load_fbank_config({"window_type": "hann"})


def test_mean_normalize_numpy_and_torch():
    feats = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32) + 5
    normed = mean_normalize(feats)
    assert np.abs(normed.mean(axis=0)).max() < 1e-5 and normed.dtype == np.float32
    np.testing.assert_allclose(mean_normalize(torch.from_numpy(feats)).numpy(), normed, atol=1e-6)
    batch = torch.from_numpy(np.stack([feats, feats]))
    batch[1, 6:] = 100.0  # padding must not leak into the mean
    out = mean_normalize(batch, lengths=torch.tensor([10, 6]))
    np.testing.assert_allclose(out[1, :6].numpy(), mean_normalize(feats[:6]), atol=1e-5)
    assert torch.all(out[1, 6:] == 0)
    np.testing.assert_allclose(mean_normalize(batch.numpy(), lengths=[10, 6]), out.numpy(), atol=1e-5)


# ---- the compute-fbank tool ------------------------------------------------------------------

@pytest.fixture
def wav_scp(make_wav, tmp_path):
    """wav.scp with a plain wav, a pipe and a 1.5 s wav."""
    a, b, c = make_wav("a.wav"), make_wav("b.wav", freq=440.0), make_wav("c.wav", seconds=1.5)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt-a {a}\nutt-b cat {b} |\nutt-c {c}\n")
    return scp


def run_tool(*args):
    result = CliRunner().invoke(compute_fbank_cli, [str(arg) for arg in args])
    return result.exit_code, result.output


def test_compute_fbank_in_a_pipe(wav_scp):
    bccmt = Path(sys.executable).parent / "bccmt"
    reader = "import kaldiio,sys; [print(k, *v.shape) for k, v in kaldiio.load_ark(sys.stdin.buffer)]"
    result = subprocess.run(f"{bccmt} compute-fbank scp:{wav_scp} ark:- | {sys.executable} -c '{reader}'",
                            shell=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["utt-a 98 80", "utt-b 98 80", "utt-c 148 80"]
    assert "3 utterances done, 0 skipped" in result.stderr


def test_scp_output_num_frames_and_compression(wav_scp, tmp_path):
    ark, scp, u2nf = tmp_path / "f.ark", tmp_path / "f.scp", tmp_path / "utt2num_frames"
    code, output = run_tool("--write-num-frames", f"ark,t:{u2nf}", f"scp:{wav_scp}", f"ark,scp:{ark},{scp}")
    assert code == 0, output
    feats = dict(kaldiio.load_scp(str(scp)))
    assert u2nf.read_text() == "utt-a 98\nutt-b 98\nutt-c 148\n"
    np.testing.assert_array_equal(feats["utt-c"], compute_fbank(read_audio(str(tmp_path / "c.wav"))))
    # Compressed (Kaldi method 2): smaller archive, values close to the exact ones.
    carks, cscp = tmp_path / "c.ark", tmp_path / "c.scp"
    code, output = run_tool("--compress", "--write-num-frames", tmp_path / "plain_u2nf", f"scp:{wav_scp}",
                            f"ark,scp:{carks},{cscp}")
    assert code == 0, output
    assert carks.stat().st_size < ark.stat().st_size / 2
    compressed = dict(kaldiio.load_scp(str(cscp)))
    assert np.abs(compressed["utt-a"] - feats["utt-a"]).max() < 0.2
    assert (tmp_path / "plain_u2nf").read_text() == u2nf.read_text()


def test_wav_archive_input(wav_scp, tmp_path):
    wav_ark = tmp_path / "wav.ark"
    from bccmt_tools.io.kaldi_table import TableWriter
    import soundfile

    with TableWriter(f"ark:{wav_ark}") as writer:
        writer["utt-a"] = (16000, soundfile.read(str(tmp_path / "a.wav"), dtype="int16")[0])
    code, output = run_tool(f"ark:{wav_ark}", f"ark:{tmp_path / 'out.ark'}")
    assert code == 0, output
    (key, feats), = kaldiio.load_ark(str(tmp_path / "out.ark"))
    assert key == "utt-a" and feats.shape == (98, 80)


def test_bad_audio_stops_with_key_and_leaves_no_output(wav_scp, tmp_path):
    with open(wav_scp, "a") as handle:
        handle.write(f"utt-d {tmp_path}/missing.wav\n")
    ark, scp, u2nf = tmp_path / "f.ark", tmp_path / "f.scp", tmp_path / "u2nf"
    code, output = run_tool("--write-num-frames", f"ark,t:{u2nf}", f"scp:{wav_scp}", f"ark,scp:{ark},{scp}")
    assert code == 1
    assert output.strip() == f"Error: {wav_scp}: key 'utt-d': file not found: {tmp_path}/missing.wav"
    assert not scp.exists() and not ark.exists() and not u2nf.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_skip_bad_skips_and_reports(wav_scp, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"not audio at all" * 10)
    rate8k = write_wav(tmp_path / "r8k.wav", np.zeros(8000), sample_rate=8000)
    with open(wav_scp, "a") as handle:
        handle.write(f"utt-d {corrupt}\nutt-e {rate8k}\n")
    ark, scp, u2nf = tmp_path / "f.ark", tmp_path / "f.scp", tmp_path / "u2nf"
    code, output = run_tool("--skip-bad", "--write-num-frames", u2nf, f"scp:{wav_scp}", f"ark,scp:{ark},{scp}")
    assert code == 0, output
    assert "3 utterances done, 2 skipped" in output
    assert "skipped utt-d:" in output and "skipped utt-e:" in output and "8000 Hz" in output
    assert [line.split()[0] for line in scp.read_text().splitlines()] == ["utt-a", "utt-b", "utt-c"]
    assert len(u2nf.read_text().splitlines()) == 3


def test_resample_option(tmp_path):
    path = write_wav(tmp_path / "a8k.wav", 0.1 * np.sin(np.arange(8000) * 0.3), sample_rate=8000)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u {path}\n")
    code, output = run_tool(f"scp:{scp}", f"ark:{tmp_path / 'x.ark'}")
    assert code == 1 and "key 'u'" in output and "8000 Hz, expected 16000 Hz" in output
    code, output = run_tool("--resample", f"scp:{scp}", f"ark:{tmp_path / 'x.ark'}")
    assert code == 0, output
    assert next(kaldiio.load_ark(str(tmp_path / "x.ark")))[1].shape == (98, 80)


def test_unknown_config_key_is_a_one_line_error(wav_scp, tmp_path):
    config = tmp_path / "fbank.yaml"
    config.write_text("num_bins: 80\n")
    code, output = run_tool("--config", config, f"scp:{wav_scp}", f"ark:{tmp_path / 'x.ark'}")
    assert code == 1 and output.count("\n") == 1 and "unknown key(s) num_bins" in output
