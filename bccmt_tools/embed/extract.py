"""Batched embedding extraction that equals one-by-one extraction.

Utterances are read in windows of ``sort_window``; inside a window they are sorted by length and
cut into batches of similar lengths, padded with zeros, with their true ``lengths`` passed to the
model (whose masks make padding invisible). Each utterance is mean-normalised over its full length
first (``cmn``, as in training). An utterance longer than ``max_chunk_frames`` is cut into
``ceil(T / max_chunk_frames)`` chunks of near-equal length (they differ by at most one frame, so no
tiny last chunk); its embedding is the average of the chunk embeddings weighted by chunk length
in frames. Results come out in input order. Long recordings may come as streamed objects
(:class:`bccmt_tools.embed.long_audio.StreamedRecording`) instead of feature matrices: they are
embedded the same way without ever holding all their frames (:mod:`bccmt_tools.embed.long_audio`).
With chunking off (``max_chunk_frames`` 0) an utterance longer than :data:`MAX_UNCHUNKED_FRAMES`
is an error, not a run out of memory.
"""

import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from bccmt_tools.errors import BccmtError, skip_or_raise
from bccmt_tools.features.frontend import METADATA_KEYS, fbank_function, features_from_metadata

# Longest utterance embedded in one piece when chunking is off (--max-chunk-frames 0): 2 minutes.
MAX_UNCHUNKED_FRAMES = 12000


@dataclass
class ExtractionOptions:
    batch_size: int = 16
    max_chunk_frames: int = 3000   # 30 s at a 10 ms shift; 0 = never chunk
    sort_window: int = 512          # utterances read ahead and sorted by length
    cmn: bool = True

    def __post_init__(self):
        if self.batch_size < 1:
            raise BccmtError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_chunk_frames < 0:
            raise BccmtError(f"--max-chunk-frames must be >= 0, got {self.max_chunk_frames}")
        if self.sort_window < 1:
            raise BccmtError(f"sort window must be at least 1, got {self.sort_window}")


def chunk_bounds(num_frames, max_frames):
    """``[(start, stop), ...]``: ``num_frames`` cut into near-equal chunks of at most ``max_frames``.

    >>> chunk_bounds(10, 4)
    [(0, 3), (3, 7), (7, 10)]
    >>> chunk_bounds(5, 0)
    [(0, 5)]
    """
    if max_frames <= 0 or num_frames <= max_frames:
        return [(0, num_frames)]
    pieces = math.ceil(num_frames / max_frames)
    edges = [round(i * num_frames / pieces) for i in range(pieces + 1)]
    return list(zip(edges[:-1], edges[1:]))


class TorchEmbedder:
    """Calls a torch embedding model on numpy batches: ``(feats [B,T,F], lengths [B]) -> [B, D]``."""

    def __init__(self, model, device="cpu"):
        import torch

        self.torch = torch
        self.model = model.to(device).eval()
        self.device = device
        self.embedding_dim = int(model.embedding_dim)

    def __call__(self, feats, lengths):
        torch = self.torch
        with torch.inference_mode():
            output = self.model(torch.from_numpy(feats).to(self.device),
                                torch.from_numpy(lengths).to(self.device))
        return output.float().cpu().numpy()


class OnnxEmbedder:
    """Runs an exported ONNX model with onnxruntime; inputs ``feats`` [B,T,F] float32 and
    ``lengths`` [B] int64, output ``embeddings`` [B, D]. ``metadata`` holds the file's
    ``metadata_props`` (see :data:`METADATA_KEYS`; empty for files exported without them)."""

    INPUTS = ("feats", "lengths")

    def __init__(self, path, device="cpu", num_threads=None):
        try:
            import onnxruntime
        except ImportError:
            raise BccmtError("--onnx needs onnxruntime: pip install 'bccmt-tools[onnx]'") from None
        providers = ["CPUExecutionProvider"]
        wants_gpu = device == "auto" or device.startswith("cuda")
        if wants_gpu and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = _cached_session(onnxruntime, str(path), tuple(providers), int(num_threads or 0))
        # Rows per session run: one on CPUs (see __call__), the whole batch on a GPU.
        self.rows_per_run = None if self.session.get_providers()[0] != "CPUExecutionProvider" else 1
        names = [item.name for item in self.session.get_inputs()]
        if sorted(names) != sorted(self.INPUTS):
            raise BccmtError(f"{path}: ONNX inputs are {names}; expected {list(self.INPUTS)} "
                             "(feats [B,T,80] float32, lengths [B] int64), as written by bccmt export")
        self.input_types = {item.name: item.type for item in self.session.get_inputs()}
        outputs = self.session.get_outputs()
        self.output_name = next((o.name for o in outputs if o.name == "embeddings"), outputs[0].name)
        shape = next(o.shape for o in outputs if o.name == self.output_name)
        if len(shape) != 2:
            raise BccmtError(f"{path}: ONNX output {self.output_name!r} has shape {shape}; an embedding model's is "
                             "[B, D] (one vector per utterance), as written by bccmt export")
        feats_shape = next(item.shape for item in self.session.get_inputs() if item.name == "feats")
        self.input_dim = feats_shape[-1] if len(feats_shape) == 3 and isinstance(feats_shape[-1], int) else None
        self.path = str(path)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.embedding_dim = shape[-1] if isinstance(shape[-1], int) else None
        if self.embedding_dim is None and self.metadata.get(METADATA_KEYS["embedding_dim"], "").isdigit():
            self.embedding_dim = int(self.metadata[METADATA_KEYS["embedding_dim"]])

    def feature_settings(self):
        """``(FbankConfig, cmn)`` stored in the file by ``bccmt export``, or None without metadata;
        metadata that disagree with the model's input size are an error naming the file."""
        settings = features_from_metadata(self.metadata, self.path)
        if settings is not None and self.input_dim is not None and settings[0].feature_dim != self.input_dim:
            raise BccmtError(f"{self.path}: its metadata give {settings[0].feature_dim}-dim features, but the model "
                             f"takes {self.input_dim}: the metadata were edited or belong to another model; "
                             "re-export it with bccmt export")
        return settings

    def __call__(self, feats, lengths):
        lengths_type = np.int32 if "int32" in self.input_types["lengths"] else np.int64
        lengths = np.asarray(lengths, dtype=lengths_type)
        if self.rows_per_run is None or feats.shape[0] <= self.rows_per_run:
            return self._run(feats, lengths)
        # On CPUs one utterance per run, cut to its length, is faster than a padded batch (measured
        # with BC-CMT Tiny, 10 s utterances: 31 ms per utterance alone, 48 ms in batches of 16: the
        # batch's activations no longer fit in cache) and skips the padding's work.
        outputs = [self._run(feats[row:row + 1, :max(1, int(lengths[row]))], lengths[row:row + 1])
                   for row in range(feats.shape[0])]
        return np.concatenate(outputs, axis=0)

    def _run(self, feats, lengths):
        if self.input_dim is not None and feats.shape[-1] != self.input_dim:
            raise BccmtError(f"{self.path}: the model takes {self.input_dim}-dim features, got {feats.shape[-1]}-dim "
                             "ones (features computed with other fbank options)")
        (output,) = self.session.run([self.output_name], {"feats": np.ascontiguousarray(feats, dtype=np.float32),
                                                          "lengths": lengths})
        output = np.asarray(output, dtype=np.float32)
        if output.ndim != 2 or output.shape[0] != feats.shape[0]:
            raise BccmtError(f"{self.path}: the model returned shape {output.shape} for {feats.shape[0]} utterance(s); "
                             "expected [B, D]")
        return output


_SESSIONS = {}
MAX_CACHED_SESSIONS = 4


def session_options(onnxruntime, num_threads=0):
    """Session settings for batch-1 latency and throughput on CPUs: every graph optimisation
    (NCHWc conv layouts included: measured fastest, 1 and 10 s inputs), ``num_threads`` intra-op
    threads (0: onnxruntime's default, one per core), one inter-op thread (the models are chains,
    nothing runs in parallel), sequential execution, and no spin-waiting of idle worker threads
    (on a shared machine it takes CPU from the other jobs)."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _cached_session(onnxruntime, path, providers, num_threads):
    """One onnxruntime session per (file, version on disk, providers, threads) and process:
    building one optimises the graph (tens of ms), so tools and API calls that load the same model
    again reuse it."""
    try:
        stat = os.stat(path)
    except OSError:
        raise BccmtError(f"{path}: ONNX model not found") from None
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size, providers, num_threads)
    session = _SESSIONS.get(key)
    if session is None:
        try:
            session = onnxruntime.InferenceSession(path, sess_options=session_options(onnxruntime, num_threads),
                                                   providers=list(providers))
        except Exception as exc:
            raise BccmtError(f"{path}: cannot load ONNX model: {exc}") from None
        while len(_SESSIONS) >= MAX_CACHED_SESSIONS:
            _SESSIONS.pop(next(iter(_SESSIONS)))
        _SESSIONS[key] = session
    return session


def _windows(items, size):
    window = []
    for item in items:
        window.append(item)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def check_unchunked_length(num_frames, options, where):
    """With ``max_chunk_frames`` 0 (never chunk), an utterance longer than
    :data:`MAX_UNCHUNKED_FRAMES` is an error: attention memory grows with the square of the length
    (a 10-minute recording in one piece took 19 GB with BC-CMT Tiny)."""
    if options.max_chunk_frames == 0 and num_frames > MAX_UNCHUNKED_FRAMES:
        raise BccmtError(f"{where}: {num_frames} frames ({num_frames / 100:.0f} s at a 10 ms shift) in one piece "
                         f"(--max-chunk-frames 0) would need many GB (attention grows with the square of the "
                         f"length); at most {MAX_UNCHUNKED_FRAMES} frames go in one piece: use "
                         f"--max-chunk-frames {ExtractionOptions.max_chunk_frames} (the default)")


def _prepare(key, feats, feature_dim, cmn, where, options=None):
    if getattr(feats, "streamed", False):  # a long recording, embedded by streaming (embed.long_audio)
        return feats
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise BccmtError(f"{where}: key {key!r}: expected a non-empty [frames, {feature_dim}] feature "
                         f"matrix, got shape {feats.shape}")
    if feature_dim is not None and feats.shape[1] != feature_dim:
        raise BccmtError(f"{where}: key {key!r}: features have {feats.shape[1]} dims, the model expects {feature_dim}")
    if not np.all(np.isfinite(feats)):
        raise BccmtError(f"{where}: key {key!r}: features contain NaN or infinite values")
    if options is not None:
        check_unchunked_length(feats.shape[0], options, f"{where}: key {key!r}")
    if cmn:
        feats = feats - feats.mean(axis=0, keepdims=True)
    return feats


def _embed_window(window, embedder, options):
    """Embeddings (float32) of a list of ``(key, feats)`` already validated, in window order."""
    if not window:
        return []
    pieces = []  # (utterance position, chunk)
    for position, (_key, feats) in enumerate(window):
        for start, stop in chunk_bounds(feats.shape[0], options.max_chunk_frames):
            pieces.append((position, feats[start:stop]))
    order = sorted(range(len(pieces)), key=lambda i: -pieces[i][1].shape[0])
    sums = [None] * len(window)
    weights = np.zeros(len(window))
    for start in range(0, len(order), options.batch_size):
        batch = [pieces[i] for i in order[start:start + options.batch_size]]
        lengths = np.array([chunk.shape[0] for _, chunk in batch], dtype=np.int64)
        padded = np.zeros((len(batch), int(lengths.max()), batch[0][1].shape[1]), dtype=np.float32)
        for row, (_, chunk) in enumerate(batch):
            padded[row, :chunk.shape[0]] = chunk
        embeddings = embedder(padded, lengths).astype(np.float64)
        for row, (position, _chunk) in enumerate(batch):
            weighted = embeddings[row] * lengths[row]
            sums[position] = weighted if sums[position] is None else sums[position] + weighted
            weights[position] += lengths[row]
    return [(sums[i] / weights[i]).astype(np.float32) for i in range(len(window))]


def extract_embeddings(items, embedder, options=None, feature_dim=None, where="input", on_error=None,
                       progress=None):
    """Yield ``(key, embedding float32 [D])`` for each ``(key, feats [T, F])`` of ``items``.

    A bad entry (empty, wrong dimension, NaN) raises BccmtError naming ``where`` and the key,
    or, with ``on_error(key, error)``, is reported there and skipped. ``progress(n)`` is called
    after every window with the number of utterances done in it.
    """
    options = options or ExtractionOptions()

    def checked():
        for key, feats in items:
            try:
                yield key, _prepare(key, feats, feature_dim, options.cmn, where, options)
            except BccmtError as error:
                skip_or_raise(key, error, on_error)

    for window in _windows(checked(), options.sort_window):
        embeddings = _embed_window([item for item in window if not getattr(item[1], "streamed", False)],
                                   embedder, options)
        embeddings.reverse()
        for key, feats in window:
            if getattr(feats, "streamed", False):  # long recording: streamed in bounded memory
                try:
                    embedding = feats.embed(embedder, options, feature_dim)
                except BccmtError as error:
                    skip_or_raise(key, error, on_error)
                    continue
            else:
                embedding = embeddings.pop()
            if not np.all(np.isfinite(embedding)):
                skip_or_raise(key, BccmtError(f"{where}: key {key!r}: the model produced a NaN or infinite embedding"),
                              on_error)
                continue
            yield key, embedding
        if progress is not None:
            progress(len(window))


def features_from_audio(audio_items, fbank_config, where="wav.scp", on_error=None, frontend="torchaudio"):
    """``(key, samples)`` -> ``(key, fbank)`` with the experiment's fbank config (dither forced to 0:
    extraction must be deterministic), computed by ``frontend``
    (see :func:`~bccmt_tools.features.frontend.fbank_function`).
    Audio too short for one frame is an error naming the key."""
    import dataclasses

    compute = fbank_function(frontend)
    config = dataclasses.replace(fbank_config, dither=0.0)
    for key, samples in audio_items:
        feats = compute(samples, config)
        if feats.shape[0] == 0:
            skip_or_raise(key, BccmtError(f"{where}: key {key!r}: audio too short for one frame "
                                          f"({len(samples)} samples)"), on_error)
            continue
        yield key, feats


class Progress:
    """tqdm on stderr (disabled when stderr is not a terminal, e.g. job logs, unless forced)."""

    def __init__(self, description, total=None, force=False):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="utt", desc=description, file=sys.stderr,
                        disable=not (force or sys.stderr.isatty()), dynamic_ncols=True)

    def __call__(self, count):
        self.bar.update(count)

    def close(self):
        self.bar.close()
