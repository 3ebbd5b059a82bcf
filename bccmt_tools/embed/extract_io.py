"""Glue for the extraction tools: choose the device, build the embedder, read features or audio."""

import os

from bccmt_tools.embed.extract import OnnxEmbedder, TorchEmbedder
from bccmt_tools.errors import BccmtError
from bccmt_tools.features.settings import parse_features
from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH
from bccmt_tools.io import expdir
from bccmt_tools.io.yaml_io import read_yaml_mapping

INPUT_TYPES = ("feats", "wav")


def resolve_device(device):
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BccmtError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    return device


def load_embedder(exp_dir=None, checkpoint=None, device="cpu", onnx_path=None, fbank_config_path=None,
                  require_features=False, num_threads=None):
    """``(embedder, fbank_config, cmn)`` from an experiment dir (torch) or an ONNX file.

    For ``onnx_path`` (no torch needed) the features config comes from, in order:
    ``fbank_config_path`` (see :func:`read_features_file`), the file's metadata (written by
    ``bccmt export``), ``exp_dir/config.yaml``; without any of them it is an error when
    ``require_features``, else the default fbank config with CMN (the training default).
    ``device`` ``auto`` uses onnxruntime's CUDA provider when it has one.
    """
    if onnx_path:
        embedder = OnnxEmbedder(onnx_path, device, num_threads=num_threads)
        stored = embedder.feature_settings()
        if fbank_config_path:
            fbank, cmn = read_features_file(fbank_config_path)
        elif stored is not None:
            fbank, cmn = stored
        elif exp_dir:
            fbank, cmn = parse_features(expdir.read_config(exp_dir).get("features"), str(expdir.config_path(exp_dir)))
        elif require_features:
            raise BccmtError(f"{onnx_path}: no features config in the model's metadata (exported by an older "
                             "bccmt export?); give --fbank-config (or --exp)")
        else:
            from bccmt_tools.features.fbank import load_fbank_config

            fbank, cmn = load_fbank_config(None), True
        return embedder, fbank, cmn
    if not exp_dir:
        raise BccmtError("give --exp (a trained experiment directory) or --onnx")
    if fbank_config_path:
        raise BccmtError("--fbank-config goes with --onnx; with --exp the features come from EXP/config.yaml")
    from bccmt_tools.models.experiment import load_model_from_exp

    model, config = load_model_from_exp(exp_dir, checkpoint, device=device)
    fbank, cmn = parse_features(config.get("features"), str(expdir.config_path(exp_dir)))
    return TorchEmbedder(model, device), fbank, cmn


def read_features_file(path):
    """``(FbankConfig, cmn)`` from a YAML file of fbank options (as ``egs/voxceleb/conf/fbank.yaml``) that may
    also hold ``cmn: true|false`` (default true)."""
    return parse_features(read_yaml_mapping(path, what="fbank options"), str(path))


def scp_path(rspecifier):
    """The file behind ``scp:path`` (or a bare path), else None (archives, pipes)."""
    if ":" not in rspecifier:
        return rspecifier
    options, path = rspecifier.split(":", 1)
    return path if "scp" in options.split(",") else None


def count_entries(rspecifier):
    """Number of lines of an scp rspecifier (for a progress total), None for archives."""
    path = scp_path(rspecifier)
    if path is None or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        return sum(1 for line in handle if line.strip())


def read_inputs(rspecifier, input_type, fbank, on_error=None, frontend="torchaudio", min_speech=DEFAULT_MIN_SPEECH,
                vad_trim=False, resample=False, channel=None):
    """``(key, feats)`` from a feature table, or from audio (wav.scp / wav ark) through fbank
    computed by ``frontend`` (``torchaudio`` or ``numpy``).

    Audio must hold ``min_speech`` seconds of speech (0: no check) and may be cut to its voiced
    frames (``vad_trim``), see :mod:`bccmt_tools.embed.speech`; ``resample`` and ``channel`` as
    in :func:`~bccmt_tools.io.audio.read_audio`. A feature table that is really a ``wav.scp``
    is an error saying so."""
    if input_type == "feats":
        _refuse_audio_table(rspecifier)
        check_feats_record(rspecifier, fbank)
        return _read_feats(rspecifier, on_error)
    from bccmt_tools.embed.speech import speech_features
    from bccmt_tools.io.audio import iter_audio_table

    if ":" not in rspecifier:
        rspecifier = f"scp:{rspecifier}"
    audio = iter_audio_table(rspecifier, fbank.sample_rate, resample=resample, channel=channel, on_error=on_error)
    return speech_features(audio, fbank, where=rspecifier, on_error=on_error, frontend=frontend,
                           min_speech=min_speech, vad_trim=vad_trim)


def check_feats_record(rspecifier, fbank):
    """Refuse a ``DATA/feats.scp`` whose fbank record (``DATA/conf/fbank.yaml``) differs from the
    model's features ``fbank``; tables without a record (older data dirs, archives) pass."""
    from bccmt_tools.features.record import check_fbank, read_fbank_record

    path = scp_path(rspecifier)
    record = read_fbank_record(os.path.dirname(path) or ".") if path and os.path.isfile(path) else None
    if record is not None:
        check_fbank(fbank, record, f"{rspecifier}: the model's features",
                    "extract from features computed as the model's (or with --input-type wav)")


def looks_like_audio(value):
    """True for a ``wav.scp`` value (an audio file or a pipe), False for a feature reference
    (``feats.ark:123``).

    >>> looks_like_audio("/data/a.wav"), looks_like_audio("sox a.wav -t wav - |"), looks_like_audio("fbank/x.ark:12")
    (True, True, False)
    """
    from bccmt_tools.io.compressed import COMPRESSED_EXTENSIONS
    from bccmt_tools.io.pipes import is_pipe

    value = value.strip()
    return is_pipe(value) or value.lower().endswith((".wav", ".flac") + COMPRESSED_EXTENSIONS)


def _refuse_audio_table(rspecifier):
    """An error when the scp behind ``rspecifier`` starts with an audio entry (a wav.scp)."""
    from bccmt_tools.io.kaldi_table import read_scp_lines

    path = scp_path(rspecifier)
    if path is None or not os.path.isfile(path):
        return
    for key, value, _number in read_scp_lines(path):
        if looks_like_audio(value):
            raise BccmtError(f"{path}: key {key!r}: {value!r} is audio, not a feature matrix: this looks like a "
                             f"wav.scp; add --input-type wav to embed audio")
        return


def _read_feats(rspecifier, on_error):
    """Feature matrices; with ``on_error``, an unreadable scp entry is reported and skipped."""
    from bccmt_tools.io.kaldi_table import load_value, parse_rspecifier, read_scp_lines, read_table

    kind, path, _ = parse_rspecifier(rspecifier)
    if kind != "scp" or on_error is None:
        yield from read_table(rspecifier)
        return
    for key, value, _number in read_scp_lines(path):
        try:
            feats = load_value(value, f"{path}: key {key!r}")
        except BccmtError as error:
            on_error(key, error)
            continue
        yield key, feats
