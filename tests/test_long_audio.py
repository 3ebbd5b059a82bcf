"""Long recordings: blockwise fbank equals whole-recording fbank, streamed embeddings equal the
whole-recording ones (CMN, chunks, speech check, VAD trimming), memory stays bounded, and
`--max-chunk-frames 0` refuses what would not fit."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bccmt_tools.embed.extract import (MAX_UNCHUNKED_FRAMES, ExtractionOptions, extract_embeddings,
                                         fbank_function)
from bccmt_tools.embed.long_audio import StreamedRecording, speech_items
from bccmt_tools.embed.speech import speech_features
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank import FbankConfig
from bccmt_tools.features.streaming import fbank_segments
from bccmt_tools.io.audio_stream import ArrayStream, open_stream
from tests.conftest import write_wav

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {
    "default": FbankConfig(),
    "reflect-energy": FbankConfig(window_type="povey", num_mel_bins=40, snip_edges=False, use_energy=True),
    "odd-geometry": FbankConfig(round_to_power_of_two=False, frame_length=20.0, frame_shift=12.5, use_power=False),
}


def _speech(seconds, seed=0, silence=()):
    """Pitched, syllable-modulated noise; ``silence`` lists (start, stop) seconds of digital silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    phase = 2 * np.pi * np.cumsum(130 + 40 * np.sin(2 * np.pi * 0.7 * t)) / 16000
    samples = 0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) * np.sin(phase) + 0.02 * rng.standard_normal(t.size)
    for start, stop in silence:
        samples[int(start * 16000):int(stop * 16000)] = 0.0
    return samples.astype(np.float32)


class ChunkSensitiveEmbedder:
    """A cheap stand-in for a model whose output depends on how frames are cut into chunks and on
    padding being ignored: per utterance, nonlinear statistics of its valid frames."""

    embedding_dim = 4

    def __call__(self, feats, lengths):
        out = []
        for row, length in zip(feats, lengths):
            valid = row[:length].astype(np.float64)
            out.append([valid.mean(), (valid ** 2).mean(), np.tanh(valid[0]).mean(), np.log(length)])
        return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("frontend", ["numpy", "torchaudio"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_blockwise_fbank_equals_the_whole_recording(name, frontend):
    config = CONFIGS[name]
    compute = fbank_function(frontend)
    samples = _speech(3.3)
    for count in (401, 1600, 7919, samples.size):
        whole = compute(samples[:count], config)
        for block in (500, 4096):
            blocks = (samples[i:min(i + block, count)] for i in range(0, count, block))
            parts = [feats for feats, _ in fbank_segments(blocks, config, compute, segment_frames=37)]
            streamed = np.concatenate(parts)
            assert streamed.shape == whole.shape
            np.testing.assert_allclose(streamed, whole, atol=1e-5 if frontend == "torchaudio" else 0)


@pytest.mark.parametrize("vad_trim", [False, True])
def test_streamed_embedding_equals_whole_recording_embedding(vad_trim):
    fbank = FbankConfig()
    samples = _speech(9.0, silence=[(2.0, 3.5)])
    options = ExtractionOptions(max_chunk_frames=170, cmn=True)
    whole = speech_features([("a", samples)], fbank, "w", frontend="numpy", vad_trim=vad_trim)
    expected = dict(extract_embeddings(whole, ChunkSensitiveEmbedder(), options, 80))["a"]
    recording = StreamedRecording("a", ArrayStream(samples, 16000), fbank, "numpy", "w: key 'a'", 0.15, vad_trim)
    got = dict(extract_embeddings([("a", recording)], ChunkSensitiveEmbedder(), options, 80))["a"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    other = dataclasses.replace(options, max_chunk_frames=400)
    assert not np.allclose(dict(extract_embeddings([("a", recording)], ChunkSensitiveEmbedder(), other, 80))["a"],
                           got, rtol=1e-4)  # the chunking shows: the stand-in model notices it


def test_long_wav_files_are_streamed_in_order_with_the_speech_check(tmp_path):
    long_path = write_wav(tmp_path / "long.wav", _speech(6.0))
    short_path = write_wav(tmp_path / "short.wav", _speech(1.0, seed=1))
    silent_path = write_wav(tmp_path / "silent.wav", np.zeros(16000 * 5))
    entries = [("long", str(long_path)), ("short", str(short_path)), ("silent", str(silent_path))]
    durations, skipped = {}, []
    items = list(speech_items(entries, FbankConfig(), "wav.scp", on_error=lambda key, error: skipped.append(key),
                              frontend="numpy", durations=durations, long_seconds=4.0))
    assert [key for key, _ in items] == ["long", "short", "silent"]
    assert getattr(items[0][1], "streamed", False) and isinstance(items[1][1], np.ndarray)
    assert durations == {"long": 6.0, "short": 1.0, "silent": 5.0}
    embedded = list(extract_embeddings(items, ChunkSensitiveEmbedder(), ExtractionOptions(), 80,
                                       on_error=lambda key, error: skipped.append((key, error.message))))
    assert [key for key, _ in embedded] == ["long", "short"]
    assert skipped[0][0] == "silent" and "too little speech" in skipped[0][1]


def test_open_stream_reads_only_plain_files_at_the_right_rate(tmp_path):
    path = write_wav(tmp_path / "a.wav", _speech(2.0))
    stream = open_stream(str(path), 16000, "wav.scp: key 'a'")
    assert stream.num_samples == 32000
    np.testing.assert_array_equal(np.concatenate(list(stream.blocks(7000))), np.concatenate(list(stream.blocks())))
    assert open_stream(str(path), 8000) is None
    assert open_stream(f"cat {path} |", 16000) is None
    assert open_stream(str(tmp_path / "missing.wav"), 16000) is None
    stereo = tmp_path / "stereo.wav"
    import soundfile

    soundfile.write(str(stereo), np.zeros((1600, 2), dtype=np.int16), 16000)
    assert open_stream(str(stereo), 16000) is None and open_stream(str(stereo), 16000, channel=1) is not None


def test_unchunked_extraction_refuses_very_long_utterances():
    feats = np.zeros((MAX_UNCHUNKED_FRAMES + 1, 80), dtype=np.float32)
    with pytest.raises(BccmtError, match="--max-chunk-frames 0.*at most 12000 frames go in one piece"):
        list(extract_embeddings([("u", feats)], ChunkSensitiveEmbedder(), ExtractionOptions(max_chunk_frames=0), 80))
    short = np.ones((MAX_UNCHUNKED_FRAMES, 80), dtype=np.float32)
    assert len(list(extract_embeddings([("u", short)], ChunkSensitiveEmbedder(),
                                       ExtractionOptions(max_chunk_frames=0), 80))) == 1


MEMORY_SCRIPT = """
import resource, sys
import numpy as np
from bccmt_tools.embed.extract import ExtractionOptions, extract_embeddings
from bccmt_tools.embed.long_audio import speech_items
from bccmt_tools.features.fbank import FbankConfig
from tests.test_long_audio import ChunkSensitiveEmbedder
items = speech_items([("a", sys.argv[1])], FbankConfig(), "w", frontend="numpy", long_seconds=1.0)
list(extract_embeddings(items, ChunkSensitiveEmbedder(), ExtractionOptions(), 80))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_length(tmp_path):
    """Peak memory for 1 and 8 minutes of audio differs by far less than 8 minutes of samples."""
    import soundfile

    peaks = []
    for minutes in (1, 8):
        path = tmp_path / f"{minutes}.wav"
        with soundfile.SoundFile(str(path), "w", 16000, 1, "PCM_16") as handle:
            for _ in range(minutes * 6):
                handle.write(_speech(10.0))
        result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(path)], cwd=REPO, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        peaks.append(int(result.stdout.strip()) * 1024)
    whole_recording_growth = 7 * 60 * 16000 * (4 + 8 + 4)  # float32 samples, float64 copy, fbank input
    assert peaks[1] - peaks[0] < 0.1 * whole_recording_growth, peaks
