"""Audio loading for wav.scp entries: files, pipes, ark references, and one-line errors."""

import subprocess

import numpy as np
import pytest
import soundfile

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.audio import iter_audio_table, iter_wav_scp, read_audio
from bccmt_tools.io.kaldi_table import TableWriter
from tests.conftest import write_wav


def int16_of(path):
    data, _ = soundfile.read(str(path), dtype="int16")
    return data


def one_line_error(excinfo):
    message = excinfo.value.message
    assert "\n" not in message
    return message


def test_wav_is_float32_int16_scaled(make_wav):
    path = make_wav("a.wav")
    samples = read_audio(str(path))
    assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) == 16000
    np.testing.assert_array_equal(samples, int16_of(path) / np.float32(32768))


def test_flac_equals_wav(make_wav, tmp_path):
    wav = make_wav("a.wav")
    flac = tmp_path / "a.flac"
    soundfile.write(str(flac), int16_of(wav), 16000, subtype="PCM_16", format="FLAC")
    np.testing.assert_array_equal(read_audio(str(flac)), read_audio(str(wav)))


def test_pipe_entry_reads_command_output(make_wav):
    wav = make_wav("a.wav")
    np.testing.assert_array_equal(read_audio(f"cat {wav} |"), read_audio(str(wav)))


def test_failing_pipe_names_status_and_last_stderr_line():
    with pytest.raises(BccmtError) as excinfo:
        read_audio("sh -c 'echo early line >&2; echo no such input >&2; exit 3' |", where="wav.scp: key 'u1'")
    message = one_line_error(excinfo)
    assert message.startswith("wav.scp: key 'u1': command failed (exit 3)")
    assert message.endswith("3'\": no such input")  # the command, then stderr's last line only


def test_ark_offset_reference(make_wav, tmp_path):
    wav = make_wav("a.wav")
    ark, scp = tmp_path / "wav.ark", tmp_path / "wav.scp"
    with TableWriter(f"ark,scp:{ark},{scp}") as writer:
        writer["other"] = (16000, np.zeros(800, dtype=np.int16))
        writer["u1"] = (16000, int16_of(wav))
    reference = scp.read_text().splitlines()[1].split()[1]
    assert reference.startswith(str(ark) + ":")
    expected = read_audio(str(wav))
    np.testing.assert_array_equal(read_audio(reference), expected)
    np.testing.assert_array_equal(read_audio("ark:" + reference), expected)
    # The same archive read as a table (as compute-fbank does with ark:wav.ark).
    table = dict(iter_audio_table(f"ark:{ark}"))
    np.testing.assert_array_equal(table["u1"], expected)


def test_m4a_through_ffmpeg_pipe(make_wav, tmp_path, ffmpeg_exe):
    wav = make_wav("a.wav", seconds=1.0)
    m4a = tmp_path / "a.m4a"
    subprocess.run([ffmpeg_exe, "-nostdin", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "64k", str(m4a)],
                   check=True)
    samples = read_audio(f"{ffmpeg_exe} -nostdin -loglevel error -i {m4a} -f wav -ar 16000 -ac 1 - |")
    # AAC adds encoder priming/padding: about the same length, similar level.
    assert 15000 < len(samples) < 18000
    assert abs(np.std(samples) - np.std(read_audio(str(wav)))) < 0.05


def test_missing_file_names_key_and_path():
    with pytest.raises(BccmtError) as excinfo:
        read_audio("/nonexistent/x.wav", where="data/t/wav.scp: key 'u9'")
    assert one_line_error(excinfo) == "data/t/wav.scp: key 'u9': file not found: /nonexistent/x.wav"


def test_empty_audio_is_an_error(tmp_path):
    path = write_wav(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(BccmtError) as excinfo:
        read_audio(str(path), where="wav.scp: key 'e'")
    message = one_line_error(excinfo)
    assert "key 'e'" in message and "empty audio" in message and str(path) in message


def test_corrupt_audio_is_an_error(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(200)))
    with pytest.raises(BccmtError) as excinfo:
        read_audio(str(path), where="wav.scp: key 'c'")
    message = one_line_error(excinfo)
    assert "key 'c'" in message and "cannot read audio" in message and str(path) in message


def test_wrong_sample_rate_is_an_error_unless_resampling(make_wav):
    path = make_wav("a8k.wav", seconds=1.0, sample_rate=8000)
    with pytest.raises(BccmtError) as excinfo:
        read_audio(str(path), where="wav.scp: key 'r'")
    message = one_line_error(excinfo)
    assert "key 'r'" in message and "8000 Hz, expected 16000 Hz" in message
    resampled = read_audio(str(path), resample=True)
    assert resampled.dtype == np.float32 and len(resampled) == 16000


def test_multichannel_needs_a_channel(tmp_path):
    left = np.full(1600, 0.25, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), np.stack([left, -left], axis=1), 16000, subtype="PCM_16")
    with pytest.raises(BccmtError, match="2 channels"):
        read_audio(str(path))
    np.testing.assert_array_equal(read_audio(str(path), channel=1), -left)


def test_iter_wav_scp_accepts_path_and_rspecifier(make_wav, tmp_path):
    a, b = make_wav("a.wav"), make_wav("b.wav", seconds=0.5)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt-a {a}\nutt-b cat {b} |\n")
    for spec in (str(scp), f"scp:{scp}"):
        assert [(key, len(x)) for key, x in iter_wav_scp(spec)] == [("utt-a", 16000), ("utt-b", 8000)]


def test_iter_wav_scp_bad_entry_raises_or_is_skipped(make_wav, tmp_path):
    good = make_wav("good.wav")
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u1 {good}\nu2 {tmp_path}/gone.wav\nu3 {good}\n")
    with pytest.raises(BccmtError, match=rf"^{scp}: key 'u2': file not found"):
        list(iter_wav_scp(scp.as_posix()))
    skipped = []
    keys = [key for key, _ in iter_wav_scp(str(scp), on_error=lambda key, error: skipped.append(key))]
    assert keys == ["u1", "u3"] and skipped == ["u2"]


def test_minivox_wav_and_m4a_entries(minivox, ffmpeg_exe):
    wav = next((minivox / "voxceleb1" / "wav").rglob("*.wav"))
    m4a = next((minivox / "voxceleb2" / "dev" / "aac").rglob("*.m4a"))
    assert len(read_audio(str(wav))) == 16000
    decoded = read_audio(f"{ffmpeg_exe} -nostdin -loglevel error -i {m4a} -f wav -ar 16000 -ac 1 - |")
    assert decoded.dtype == np.float32 and len(decoded) > 16000 * 0.9 and np.abs(decoded).max() <= 1.0


def test_in_process_m4a_decoding_matches_ffmpeg(minivox, ffmpeg_exe):
    """PyAV (no binary) against ffmpeg's `-f wav -ar 16000 -ac 1` on every 10th mini-corpus m4a:
    same length and equal within one 16-bit step (ffmpeg's output is 16-bit, ours float)."""
    files = sorted((minivox / "voxceleb2" / "dev" / "aac").rglob("*.m4a"))
    files = files[::max(1, len(files) // 300)]  # the mini corpus: every 10th of 3,124; tinyvox: every 2nd
    assert len(files) > 100
    worst, length_mismatches = 0.0, 0
    for m4a in files:
        piped = read_audio(f"{ffmpeg_exe} -nostdin -loglevel error -i {m4a} -f wav -ar 16000 -ac 1 - |")
        ours = read_audio(str(m4a))
        assert ours.dtype == np.float32 and np.abs(ours).max() <= 1.0
        if len(ours) != len(piped):  # a few files: ffmpeg trims up to one AAC frame more at the end
            length_mismatches += 1
            assert 0 < len(ours) - len(piped) <= 1024, m4a
        count = min(len(ours), len(piped))
        worst = max(worst, float(np.abs(ours[:count] - piped[:count]).max()))
    assert worst <= 1.5 / 32768
    assert length_mismatches <= len(files) // 50


def test_missing_pipe_program_is_one_line(tmp_path):
    with pytest.raises(BccmtError, match=r"key 'u1': command not found: 'no-such-decoder-xyz'"):
        read_audio("no-such-decoder-xyz -i a.m4a - |", where="wav.scp: key 'u1'")


def test_corrupt_m4a_is_one_line(tmp_path):
    bad = tmp_path / "bad.m4a"
    bad.write_bytes(b"\x00not an mp4 container at all" * 10)
    with pytest.raises(BccmtError, match=r"key 'u1': cannot decode .*bad.m4a"):
        read_audio(str(bad), where="wav.scp: key 'u1'")
