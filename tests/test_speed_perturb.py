"""Speed perturbation (bccmt_tools.data.speed) and the speed-perturb-data-dir tool."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

from bccmt_tools.cli import main
from bccmt_tools.data.speed import check_factor, check_speed_factors, speed_perturb, speed_prefix, speed_spk2id
from bccmt_tools.errors import BccmtError
from bccmt_tools.io.audio import read_audio
from bccmt_tools.io.datadir import read_kv, read_spk2utt

RATE = 16000


def dominant_frequency(samples, rate=RATE):
    """The frequency (Hz) of the largest FFT bin, refined by a parabola through its neighbours."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    left, centre, right = np.log(spectrum[peak - 1:peak + 2])
    shift = 0.5 * (left - right) / (left - 2 * centre + right)
    return (peak + shift) * rate / samples.size


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_a_sine_gets_shorter_and_higher_by_the_factor(factor):
    freq = 440.0
    sine = np.sin(2 * np.pi * freq * np.arange(RATE) / RATE).astype(np.float32)
    out = speed_perturb(sine, factor)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - RATE / factor) <= 1  # 1 s lasts 1/factor s
    assert dominant_frequency(sine) == pytest.approx(freq, abs=0.5)
    assert dominant_frequency(out) == pytest.approx(freq * factor, abs=1.0)  # 484 Hz or 396 Hz
    middle = out[1000:-1000]  # band-limited resampling keeps the level (edges aside)
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.02)


def test_factor_one_and_empty_input_are_returned_unchanged():
    samples = np.linspace(-1, 1, 100, dtype=np.float32)
    assert np.array_equal(speed_perturb(samples, 1.0), samples)
    assert speed_perturb(np.zeros(0, np.float32), 1.1).size == 0


@pytest.mark.parametrize("bad", [0, -1, 3, "abc", float("nan"), None, float("inf"), 0.5])
def test_check_factor_refuses_non_speeds(bad):
    with pytest.raises(BccmtError, match=r"must be a number in \(0.5, 2\]"):
        check_factor(bad)
    with pytest.raises(BccmtError):
        speed_perturb(np.zeros(10, np.float32), bad)


def test_check_factor_and_prefixes():
    assert check_factor("0.9") == 0.9 and check_factor(2) == 2.0
    assert speed_prefix(0.9) == "sp0.9-" and speed_prefix("1.10") == "sp1.1-" and speed_prefix(1) == ""


@pytest.mark.parametrize("factors, message", [
    ([0.9, 1.1], "must contain 1.0"),
    ([0.9, 1.0, 0.9], "has the factor 0.9 twice"),
    ([1, 1.0], "has the factor 1 twice"),
    ([1.0, 3], "speed factor 3: must be a number"),
    (0.9, "expected a list of speed factors"),
])
def test_check_speed_factors_refuses_bad_lists(factors, message):
    with pytest.raises(BccmtError, match=rf"^data.speed_perturb: .*{message}"):
        check_speed_factors(factors)


def test_speed_spk2id_adds_one_block_of_speakers_per_factor():
    assert check_speed_factors([]) == () and check_speed_factors([1.1, 1, 0.9]) == (1.1, 1.0, 0.9)
    spk2id = speed_spk2id({"a": 0, "b": 1, "c": 2}, (1.1, 1.0, 0.9))
    assert spk2id == {"a": 0, "b": 1, "c": 2, "sp1.1-a": 3, "sp1.1-b": 4, "sp1.1-c": 5,
                      "sp0.9-a": 6, "sp0.9-b": 7, "sp0.9-c": 8}
    with pytest.raises(BccmtError, match=r"speaker 'sp0.9-a' is in the data already"):
        speed_spk2id({"a": 0, "sp0.9-a": 1}, (0.9, 1.0))


def _data_dir(tmp_path, make_wav):
    data = tmp_path / "train"
    data.mkdir()
    utts = {"a-1": ("a", 0.30), "a-2": ("a", 0.45), "b-1": ("b", 0.50)}
    (data / "wav.scp").write_text("".join(f"{u} {make_wav(f'wav/{u}.wav', seconds=s, freq=300.0)}\n"
                                          for u, (_, s) in sorted(utts.items())))
    (data / "utt2spk").write_text("".join(f"{u} {spk}\n" for u, (spk, _) in sorted(utts.items())))
    return data, utts


def test_speed_perturb_data_dir_writes_prefixed_keys_and_readable_audio(tmp_path, make_wav):
    data, utts = _data_dir(tmp_path, make_wav)
    out = tmp_path / "train_sp0.9"
    result = CliRunner().invoke(main, ["speed-perturb-data-dir", "--factor", "0.9", str(data), str(out),
                                       str(tmp_path / "arks")])
    assert result.exit_code == 0, result.output
    assert "wrote 3 utterances at speed 0.9" in result.output
    utt2spk = read_kv(out / "utt2spk")
    assert utt2spk == {f"sp0.9-{u}": f"sp0.9-{spk}" for u, (spk, _) in utts.items()}
    assert read_spk2utt(out / "spk2utt") == {"sp0.9-a": ["sp0.9-a-1", "sp0.9-a-2"], "sp0.9-b": ["sp0.9-b-1"]}
    wav_scp, utt2dur = read_kv(out / "wav.scp"), read_kv(out / "utt2dur")
    assert list(wav_scp) == list(utt2dur) == sorted(utt2spk)
    for key, entry in wav_scp.items():
        assert entry.startswith(str((tmp_path / "arks" / "train_sp0.9.ark").resolve()) + ":")
        samples = read_audio(entry, RATE, where=f"wav.scp: key {key!r}")
        original = read_audio(str(tmp_path / "wav" / f"{key.removeprefix('sp0.9-')}.wav"), RATE)
        assert float(utt2dur[key]) == pytest.approx(samples.size / RATE, abs=1e-3)  # utt2dur matches
        assert abs(samples.size - original.size / 0.9) <= 1  # 0.9: slower, longer
        assert dominant_frequency(samples) == pytest.approx(0.9 * 300.0, abs=3.0)
    assert not list(tmp_path.glob(".train_sp0.9*"))  # no temporary folder left


def test_speed_perturb_data_dir_refuses_factor_one_and_bad_factors(tmp_path, make_wav):
    data, _ = _data_dir(tmp_path, make_wav)
    runner = CliRunner()
    for factor, message in (("1.0", "--factor 1.0 would copy the data dir unchanged"),
                            ("3", "speed factor 3.0: must be a number in (0.5, 2]")):
        result = runner.invoke(main, ["speed-perturb-data-dir", "--factor", factor, str(data), str(tmp_path / "out"),
                                      str(tmp_path / "arks")])
        assert result.exit_code == 1 and "Traceback" not in result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
        assert not (tmp_path / "out").exists()


def test_failed_speed_perturb_leaves_no_output_dir(tmp_path, make_wav):
    data, _ = _data_dir(tmp_path, make_wav)
    with open(data / "wav.scp", "a") as handle:
        handle.write(f"c-1 {tmp_path}/missing.wav\n")
    with open(data / "utt2spk", "a") as handle:
        handle.write("c-1 c\n")
    out = tmp_path / "train_sp1.1"
    result = CliRunner().invoke(main, ["speed-perturb-data-dir", "--factor", "1.1", str(data), str(out),
                                       str(tmp_path / "arks")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if "Error" in line]  # (tqdm's progress lines aside)
    assert len(errors) == 1 and result.output.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith(f"Error: {data / 'wav.scp'}: key 'c-1': file not found: {tmp_path}/missing.wav")
    assert not out.exists() and not list(tmp_path.glob(".train_sp1.1*"))

    (data / "utt2spk").write_text((data / "utt2spk").read_text() + "d-1 d\n")  # in utt2spk, not in wav.scp
    result = CliRunner().invoke(main, ["speed-perturb-data-dir", "--factor", "1.1", str(data), str(out),
                                       str(tmp_path / "arks")])
    assert result.exit_code == 1 and f"{data / 'wav.scp'}: key 'd-1': in utt2spk but not in wav.scp" in result.output
    assert not out.exists()


def test_durations_follow_the_factor():
    for factor in (0.9, 1.1, 1.5, 0.75):
        assert abs(speed_perturb(np.zeros(RATE, np.float32), factor).size - RATE / factor) <= 1, factor
    assert math.isclose(speed_perturb(np.ones(RATE, np.float32), 1.1)[100:-100].mean(), 1.0, rel_tol=1e-3)
