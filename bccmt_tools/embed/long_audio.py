"""Long recordings embedded in memory that does not grow with their length.

A recording longer than ``long_seconds`` (60 s by default) is not read whole: it becomes a
:class:`StreamedRecording`, which :func:`~bccmt_tools.embed.extract.extract_embeddings` embeds
by streaming it from disk (:mod:`bccmt_tools.io.audio_stream`) through the blockwise fbank
(:mod:`bccmt_tools.features.streaming`), twice:

1. the first pass counts the frames and sums them (the per-utterance mean of CMN needs the whole
   recording), and collects the frame log energies of the speech check (energy VAD, as
   :mod:`bccmt_tools.embed.speech` applies it to short recordings); with ``vad_trim`` an
   energy-only pass comes first, since the mean is then taken over the voiced frames only;
2. the last pass computes the frames again, subtracts the mean, cuts them into the chunks of
   :func:`~bccmt_tools.embed.extract.chunk_bounds` (``max_chunk_frames``) and runs the model on
   them one at a time; the embedding is their frame-weighted average.

This is the whole-recording computation (frames, mean, chunks and weights are the same, up to
float rounding), in time linear in the length; memory holds a block of audio, a batch of chunks
and one float32 log energy per frame when the speech check is on (1.4 MB per hour).

Recordings that cannot be streamed from disk (pipes, archive entries, m4a) but are this long are
read whole and then streamed from memory: only their samples (4 bytes per sample) stay resident.
"""

import dataclasses

import numpy as np

from bccmt_tools.errors import BccmtError, skip_or_raise

LONG_AUDIO_SECONDS = 60.0
# Chunks per model call for a streamed recording: a 30 s chunk is already a large input, and
# batching 16 of them (the utterance batch size) took 1.5 GB with BC-CMT Tiny for no gain in speed.
STREAM_BATCH_CHUNKS = 1


class StreamedRecording:
    """A long recording to embed by streaming (see the module docstring); ``stream`` is an
    :class:`~bccmt_tools.io.audio_stream.AudioStream` or ``ArrayStream``."""

    streamed = True

    def __init__(self, key, stream, fbank_config, frontend="numpy", where="", min_speech=0.0, vad_trim=False):
        self.key = key
        self.stream = stream
        self.fbank_config = dataclasses.replace(fbank_config, dither=0.0)
        self.frontend = frontend
        self.where = where
        self.min_speech = min_speech or 0.0
        self.vad_trim = vad_trim

    @property
    def seconds(self):
        return self.stream.seconds

    def embed(self, embedder, options, feature_dim=None):
        """The float32 embedding ``[D]`` (CMN per ``options.cmn``, chunks of
        ``options.max_chunk_frames``, one chunk per model call)."""
        return embed_recording(self, embedder, options, feature_dim)


def _frontend(recording):
    from bccmt_tools.features.frontend import fbank_function

    return fbank_function(recording.frontend)


def _energy_compute(recording):
    """``compute(samples, config) -> [frames, 1]`` frame log energies (the VAD's), framed like the fbank."""
    from bccmt_tools.features.vad import frame_log_energy, vad_config_for

    vad = vad_config_for(recording.fbank_config)
    rate = recording.fbank_config.sample_rate

    def compute(samples, config):
        return frame_log_energy(samples, rate, dataclasses.replace(vad, snip_edges=bool(config.snip_edges)))[:, None]
    return compute


def _segments(recording, compute):
    from bccmt_tools.features.streaming import fbank_segments

    return fbank_segments(recording.stream.blocks(), recording.fbank_config, compute)


def _checked(recording, feats, feature_dim):
    if feature_dim is not None and feats.shape[1] != feature_dim:
        raise BccmtError(f"{recording.where}: features have {feats.shape[1]} dims, the model expects {feature_dim}")
    if not np.all(np.isfinite(feats)):
        raise BccmtError(f"{recording.where}: features contain NaN or infinite values")
    return feats


def _voiced(recording, energies):
    """Voiced-frame mask (or None when neither the speech check nor trimming is on), after the
    speech check."""
    from bccmt_tools.features.vad import speech_error, vad_config_for, voiced_frames

    if not (recording.min_speech > 0 or recording.vad_trim):
        return None
    vad = vad_config_for(recording.fbank_config)
    voiced = voiced_frames(np.concatenate(energies) if energies else np.zeros(0), vad)
    found = float(voiced.sum()) * vad.frame_shift * 0.001
    error = speech_error(found, recording.seconds, recording.min_speech, recording.where)
    if error is None and recording.vad_trim and not voiced.any():
        error = BccmtError(f"{recording.where}: no voiced frames to keep (--vad-trim)")
    if error is not None:
        raise error
    return voiced


def embed_recording(recording, embedder, options, feature_dim=None):
    """Embedding of a :class:`StreamedRecording` (see the module docstring)."""
    from bccmt_tools.embed.extract import chunk_bounds, check_unchunked_length

    voiced = None
    if recording.vad_trim:  # the mean is over voiced frames: find them first
        energies = [e[:, 0].astype(np.float32) for e, _ in _segments(recording, _energy_compute(recording))]
        voiced = _voiced(recording, energies)
    count, total, energies = _statistics_pass(recording, feature_dim, voiced)
    if voiced is None:
        _voiced(recording, energies)  # the speech check (raises when there is too little speech)
    if count == 0:
        raise BccmtError(f"{recording.where}: audio too short for one frame ({recording.stream.num_samples} samples)")
    check_unchunked_length(count, options, recording.where)
    mean = (total / count).astype(np.float32) if options.cmn else None
    bounds = chunk_bounds(count, options.max_chunk_frames)
    return _embed_chunks(recording, embedder, options, feature_dim, voiced, mean, bounds)


def _statistics_pass(recording, feature_dim, voiced):
    """``(frames, feature sum float64, energies)`` of one fbank pass (only voiced frames count when
    ``voiced`` is given); the frame log energies are collected when the speech check needs them."""
    compute = _frontend(recording)
    energy = _energy_compute(recording) if voiced is None and recording.min_speech > 0 else None
    snipped = dataclasses.replace(recording.fbank_config, snip_edges=True)
    total, count, energies, position = np.zeros(0), 0, [], 0
    for feats, samples in _segments(recording, compute):
        feats = _checked(recording, feats, feature_dim)
        if energy is not None:
            energies.append(energy(samples, snipped)[:, 0].astype(np.float32))
        if voiced is not None:
            keep = voiced[position:position + feats.shape[0]]
            position += feats.shape[0]
            feats = feats[keep]
        block_sum = feats.sum(axis=0, dtype=np.float64)
        total = block_sum if total.size == 0 else total + block_sum
        count += feats.shape[0]
    return count, total, energies


def _embed_chunks(recording, embedder, options, feature_dim, voiced, mean, bounds):
    """Second pass: frames -> (mean removed) -> chunks of ``bounds`` -> batches -> weighted mean."""
    compute = _frontend(recording)
    weighted, weight = None, 0.0
    chunk_index, filled, position = 0, 0, 0
    buffer = None
    ready = []  # completed chunks waiting for a batch

    def run(chunks):
        nonlocal weighted, weight
        lengths = np.array([chunk.shape[0] for chunk in chunks], dtype=np.int64)
        padded = np.zeros((len(chunks), int(lengths.max()), chunks[0].shape[1]), dtype=np.float32)
        for row, chunk in enumerate(chunks):
            padded[row, :chunk.shape[0]] = chunk
        embeddings = embedder(padded, lengths).astype(np.float64)
        batch_sum = (embeddings * lengths[:, None]).sum(axis=0)
        weighted = batch_sum if weighted is None else weighted + batch_sum
        weight += float(lengths.sum())

    for feats, _samples in _segments(recording, compute):
        feats = _checked(recording, feats, feature_dim)
        if voiced is not None:
            keep = voiced[position:position + feats.shape[0]]
            position += feats.shape[0]
            feats = feats[keep]
        if mean is not None:
            feats = feats - mean
        while feats.shape[0] and chunk_index < len(bounds):
            start, stop = bounds[chunk_index]
            if buffer is None:
                buffer = np.empty((stop - start, feats.shape[1]), dtype=np.float32)
            take = min(stop - start - filled, feats.shape[0])
            buffer[filled:filled + take] = feats[:take]
            filled += take
            feats = feats[take:]
            if filled == stop - start:
                ready.append(buffer)
                buffer, filled, chunk_index = None, 0, chunk_index + 1
                if len(ready) == STREAM_BATCH_CHUNKS:
                    run(ready)
                    ready = []
    if ready:
        run(ready)
    if chunk_index != len(bounds) or weight == 0:
        raise BccmtError(f"{recording.where}: the recording changed while it was read (fewer frames on the "
                         "second pass)")
    return (weighted / weight).astype(np.float32)


def speech_items(entries, fbank, where, on_error=None, frontend="torchaudio", min_speech=None, vad_trim=False,
                 resample=False, channel=None, durations=None, long_seconds=LONG_AUDIO_SECONDS):
    """``(key, feats)`` for ``(key, wav.scp value)`` entries, in order, as
    :func:`~bccmt_tools.embed.speech.speech_features` gives them, except that recordings longer
    than ``long_seconds`` come as ``(key, StreamedRecording)`` (None: never). Unreadable audio
    raises, or goes to ``on_error(key, error)``; ``durations`` (a dict) receives each key's
    length in seconds."""
    from bccmt_tools.embed.speech import speech_features
    from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH
    from bccmt_tools.io.audio import read_audio
    from bccmt_tools.io.audio_stream import ArrayStream, open_stream

    min_speech = DEFAULT_MIN_SPEECH if min_speech is None else min_speech
    rate = fbank.sample_rate
    for key, value in entries:
        label = f"{where}: key {key!r}"
        stream = open_stream(value, rate, label, channel) if long_seconds is not None else None
        if stream is not None and stream.seconds > long_seconds:
            if durations is not None:
                durations[key] = stream.seconds
            yield key, StreamedRecording(key, stream, fbank, frontend, label, min_speech, vad_trim)
            continue
        try:
            samples = read_audio(value, rate, resample=resample, where=label, channel=channel)
        except BccmtError as error:
            skip_or_raise(key, error, on_error)
            continue
        if durations is not None:
            durations[key] = len(samples) / rate
        if long_seconds is not None and len(samples) > long_seconds * rate:
            yield key, StreamedRecording(key, ArrayStream(samples, rate, label), fbank, frontend, label,
                                         min_speech, vad_trim)
            continue
        yield from speech_features([(key, samples)], fbank, where, on_error=on_error, frontend=frontend,
                                   min_speech=min_speech, vad_trim=vad_trim)


def wav_scp_items(rspecifier, fbank, on_error=None, frontend="torchaudio", min_speech=None, vad_trim=False,
                  resample=False, channel=None, long_seconds=LONG_AUDIO_SECONDS):
    """:func:`speech_items` over the entries of a ``wav.scp`` rspecifier (``scp:path`` or a bare
    path); None for other rspecifiers (wav archives, whose entries are in memory anyway)."""
    import os

    from bccmt_tools.io.kaldi_table import parse_rspecifier, read_scp_lines

    if ":" not in rspecifier:
        rspecifier = f"scp:{rspecifier}"
    kind, path, _ = parse_rspecifier(rspecifier)
    if kind != "scp":
        return None
    if not os.path.isfile(path):
        raise BccmtError(f"{path}: no such wav.scp")
    entries = ((key, value) for key, value, _number in read_scp_lines(path))
    return speech_items(entries, fbank, path, on_error=on_error, frontend=frontend, min_speech=min_speech,
                        vad_trim=vad_trim, resample=resample, channel=channel, long_seconds=long_seconds)
