"""Read audio named by ``wav.scp`` entries: wav/flac paths, Kaldi pipes and wav-ark references.

Every reader returns float32 mono samples in [-1, 1] (16-bit PCM scaled by 1/32768, as Kaldi
does before it multiplies back), and every failure is a one-line :class:`BccmtError` that names
``where`` (e.g. ``"data/test/wav.scp: key 'utt1'"``) and the file or command.

Entry forms (the value column of ``wav.scp``):

* ``/data/a.wav`` or ``/data/a.flac`` - read with soundfile;
* ``/data/a.m4a`` (also aac, mp3, ogg, opus, ...) - decoded in-process by PyAV
  (:mod:`bccmt_tools.io.compressed`), no ``ffmpeg`` binary needed;
* ``ffmpeg -nostdin -loglevel error -i a.m4a -f wav -ar 16000 -ac 1 - |`` - a shell command whose
  stdout is a wav file (its exit status is checked); it runs through ``/bin/sh``, so a ``wav.scp``
  from elsewhere can run any command: ``BCCMT_NO_PIPES=1`` (``--no-pipes``) refuses pipes
  (:mod:`bccmt_tools.io.pipes`);
* ``/data/wav.ark:1234`` or ``ark:/data/wav.ark:1234`` - a wav entry inside a Kaldi archive.

Samples are checked once here, for every tool: NaN, infinite or absurdly large values (beyond
``MAX_SAMPLE_MAGNITUDE``, far outside [-1, 1]) are an error naming the key, and a wav file shorter
than its header announces (cut off in a copy or download) is read with a warning.

>>> samples = read_audio("/data/a.wav", where="data/x/wav.scp: key 'a'")  # doctest: +SKIP
>>> for key, samples in iter_wav_scp("scp:data/x/wav.scp"):  # doctest: +SKIP
...     print(key, samples.shape)
"""

import io
import os
import re
import subprocess

import numpy as np

from bccmt_tools.errors import BccmtError, skip_or_raise, warn
from bccmt_tools.io.compressed import decode_compressed, is_compressed
from bccmt_tools.io.pipes import check_pipe_allowed

INT16_SCALE = 32768.0
#: Larger sample magnitudes are corrupt data, not audio: [-1, 1] is full scale, and even a float
#: file holding int16-scaled values stays below 32768.
MAX_SAMPLE_MAGNITUDE = 65536.0
#: Rates --resample converts from: telephone 4 kHz to studio 384 kHz. A header outside says nothing
#: true about the audio (1 Hz would turn one second of samples into 4.4 hours at 16 kHz).
MIN_RESAMPLE_RATE, MAX_RESAMPLE_RATE = 4000, 384000
# libsndfile's log line for a wav data chunk longer than the file: "data : 32000 (should be 15978)"
_SHORT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)

# "path:offset" with an optional "[slice]" (kaldiio's syntax), e.g. "/x/wav.ark:1234".
_ARK_REFERENCE = re.compile(r"^(?:ark:)?(?P<path>.+):(?P<offset>\d+)(?P<slice>\[[^\]]*\])?$")


def _prefix(where):
    return f"{where}: " if where else ""


def is_pipe(entry):
    """True for a Kaldi read pipe such as ``"sox a.wav -t wav - |"``."""
    return entry.rstrip().endswith("|")


def read_audio(entry, sample_rate=16000, resample=False, where="", channel=None):
    """Load one ``wav.scp`` value as float32 mono samples in [-1, 1].

    ``sample_rate`` is the rate the caller expects: another rate is an error unless ``resample``
    is true. Multi-channel audio is an error unless ``channel`` (0-based) picks one.

    >>> read_audio("missing.wav", where="wav.scp: key 'u1'")
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: wav.scp: key 'u1': file not found: missing.wav
    """
    entry = entry.strip()
    if not entry:
        raise BccmtError(f"{_prefix(where)}empty wav.scp entry")
    check_pipe_allowed(entry, where)  # also 'cmd |:offset', which kaldiio would run
    if is_pipe(entry):
        samples, rate, source = _read_pipe(entry, where)
    elif os.path.isfile(entry):
        samples, rate, source = _read_file(entry, where)
    elif _ARK_REFERENCE.match(entry) and os.path.isfile(_ARK_REFERENCE.match(entry)["path"]):
        samples, rate, source = _read_ark_reference(entry, where)
    else:
        raise BccmtError(f"{_prefix(where)}file not found: {entry}")
    return _finish(samples, rate, source, sample_rate, resample, where, channel)


def samples_from_kaldi_wav(value, sample_rate=16000, resample=False, where="", channel=None):
    """Convert a ``(rate, int16 array)`` pair, as kaldiio returns wav entries, to float32 mono."""
    if not (isinstance(value, tuple) and len(value) == 2):
        raise BccmtError(f"{_prefix(where)}not a wav entry (got a feature matrix or vector)")
    rate, data = value
    return _finish(_int_to_float(np.asarray(data)), int(rate), "wav ark entry", sample_rate, resample, where, channel)


def _read_file(path, where):
    import soundfile

    if is_compressed(path):
        try:
            samples, rate = decode_compressed(path)
        except BccmtError as error:
            raise BccmtError(f"{_prefix(where)}{error.message}") from None
        return samples, rate, path

    try:
        with soundfile.SoundFile(path) as handle:
            samples = handle.read(dtype="float32", always_2d=True)
            rate, log = handle.samplerate, handle.extra_info
    except Exception as exc:  # libsndfile errors, truncated headers, unknown formats
        raise BccmtError(f"{_prefix(where)}cannot read audio {path}: {_one_line(exc)}") from None
    _warn_if_truncated(log, samples.shape, rate, path, where)
    return samples, rate, path


def _warn_if_truncated(log, shape, rate, path, where):
    """Warn when libsndfile found a wav data chunk longer than the file (a cut-off copy)."""
    found = _SHORT_DATA_CHUNK.search(log or "")
    if not found or not shape[0]:
        return
    announced, present = int(found.group(1)), int(found.group(2))
    if announced <= present:
        return
    expected = int(round(shape[0] * announced / max(present, 1)))
    warn(f"{_prefix(where)}{path} is truncated: its header announces about {expected} frames "
         f"({expected / rate:.2f} s), the file holds {shape[0]} ({shape[0] / rate:.2f} s); "
         f"using what is there (copy the file again to get all of it)")


def _read_pipe(entry, where):
    import soundfile

    command = entry.rstrip()[:-1].strip()
    result = subprocess.run(command, shell=True, stdin=subprocess.DEVNULL, capture_output=True)
    if result.returncode == 127:  # the shell could not find the program
        program = command.split()[0] if command.split() else command
        raise BccmtError(f"{_prefix(where)}command not found: {program!r} in {command!r} "
                         f"(install it, or list the audio file itself: wav, flac and m4a/mp3/ogg decode in-process)")
    if result.returncode != 0:
        reason = _last_line(result.stderr) or "no message on stderr"
        raise BccmtError(f"{_prefix(where)}command failed (exit {result.returncode}): {command!r}: {reason}")
    if not result.stdout:
        raise BccmtError(f"{_prefix(where)}command wrote no audio: {command!r}")
    try:
        # A wav written to a pipe has unknown sizes in its header; libsndfile reads to the end.
        samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    except Exception as exc:
        raise BccmtError(f"{_prefix(where)}cannot decode the output of {command!r}: {_one_line(exc)}") from None
    return samples, rate, command


def _read_ark_reference(entry, where):
    from bccmt_tools.io.kaldi_table import load_value

    reference = entry[len("ark:"):] if entry.startswith("ark:") else entry
    value = load_value(reference, where or reference)
    if not (isinstance(value, tuple) and len(value) == 2):
        raise BccmtError(f"{_prefix(where)}{reference}: not a wav entry (a feature matrix or vector)")
    rate, data = value
    return _int_to_float(np.asarray(data)), int(rate), reference


def _int_to_float(data):
    if data.dtype == np.int16:
        samples = data.astype(np.float32) / INT16_SCALE
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    else:
        samples = data.astype(np.float32)
    return samples[:, None] if samples.ndim == 1 else samples


def _finish(samples, rate, source, sample_rate, resample, where, channel):
    """Pick the channel, check emptiness, the samples (:func:`check_samples`) and the rate,
    resample when asked; returns 1-D float32."""
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.shape[0] == 0:
        raise BccmtError(f"{_prefix(where)}empty audio: {source}")
    channels = samples.shape[1]
    if channel is None:
        if channels != 1:
            raise BccmtError(f"{_prefix(where)}{source} has {channels} channels; pick one with --channel N "
                             f"(0-based)")
        channel = 0
    elif not 0 <= channel < channels:
        raise BccmtError(f"{_prefix(where)}{source} has {channels} channel(s); there is no channel {channel}")
    mono = np.ascontiguousarray(samples[:, channel], dtype=np.float32)
    check_samples(mono, rate, source, where)
    if rate != sample_rate:
        if not resample:
            raise BccmtError(
                f"{_prefix(where)}{source} has sample rate {rate} Hz, expected {sample_rate} Hz (convert it with "
                f"--resample)"
            )
        if not MIN_RESAMPLE_RATE <= rate <= MAX_RESAMPLE_RATE:
            raise BccmtError(f"{_prefix(where)}{source} says its sample rate is {rate} Hz: not a rate to resample "
                             f"from ({MIN_RESAMPLE_RATE:,}-{MAX_RESAMPLE_RATE:,} Hz; a corrupt header?)")
        mono = resample_audio(mono, rate, sample_rate)
    return mono


def check_samples(samples, rate, source="audio", where=""):
    """Raise a one-line :class:`BccmtError` when ``samples`` hold NaN or infinite values, or values
    beyond :data:`MAX_SAMPLE_MAGNITUDE` (features of such audio are NaN or meaningless).

    >>> check_samples(np.array([0.0, np.nan, 0.5], dtype=np.float32), 16000, "a.wav", "wav.scp: key 'u1'")
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: wav.scp: key 'u1': a.wav has 1 NaN or infinite sample(s), the first at 0.000 s (a corrupt file; its features would be NaN)
    """
    finite = np.isfinite(samples)
    if not finite.all():
        first = int(np.argmin(finite))
        raise BccmtError(f"{_prefix(where)}{source} has {int(samples.size - finite.sum())} NaN or infinite "
                         f"sample(s), the first at {first / rate:.3f} s (a corrupt file; its features would be NaN)")
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > MAX_SAMPLE_MAGNITUDE:
        first = int(np.argmax(np.abs(samples) > MAX_SAMPLE_MAGNITUDE))
        raise BccmtError(f"{_prefix(where)}{source} has samples up to {peak:.3g} (first at {first / rate:.3f} s), "
                         f"far outside the [-1, 1] of audio (a corrupt or mis-scaled float file)")


#: Longer inputs are resampled block by block in numpy (torchaudio's resample holds several copies
#: of the whole signal: 7.3 GB for 3 hours at 8 kHz).
MAX_WHOLE_RESAMPLE_SECONDS = 600.0


def resample_audio(samples, orig_rate, new_rate):
    """Band-limited resampling with ``torchaudio.functional.resample``; without torch (the
    torch-free ONNX path), or for inputs over :data:`MAX_WHOLE_RESAMPLE_SECONDS`, with
    :func:`bccmt_tools.io.resample.resample_numpy` (bounded memory; agrees to ~1e-3)."""
    if len(samples) <= MAX_WHOLE_RESAMPLE_SECONDS * orig_rate:
        try:
            import torch
            import torchaudio.functional
        except ImportError:
            pass
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
            return torchaudio.functional.resample(tensor, int(orig_rate), int(new_rate)).numpy()
    from bccmt_tools.io.resample import resample_numpy

    return resample_numpy(samples, orig_rate, new_rate)


def iter_wav_scp(path_or_rspecifier, sample_rate=16000, resample=False, channel=None, on_error=None):
    """Yield ``(key, samples)`` for every line of a ``wav.scp`` (a path or ``scp:path``).

    Bad entries raise :class:`BccmtError` naming the file and key; with ``on_error`` given, it is
    called as ``on_error(key, error)`` instead and the entry is skipped.
    """
    from bccmt_tools.io.kaldi_table import read_scp_lines

    path = path_or_rspecifier
    if path.startswith("scp:") or path.startswith("scp,"):
        path = path.split(":", 1)[1]
    if not os.path.isfile(path):
        raise BccmtError(f"{path}: no such wav.scp")
    entries = ((key, value, f"{path}: key {key!r}") for key, value, _number in read_scp_lines(path))
    yield from _readable(entries, lambda value, where: read_audio(value, sample_rate, resample, where=where,
                                                                 channel=channel), on_error)


def iter_audio_table(rspecifier, sample_rate=16000, resample=False, channel=None, on_error=None):
    """Yield ``(key, samples)`` from ``scp:wav.scp`` (wav.scp semantics) or a wav ark (``ark:-``).

    ``on_error`` as in :func:`iter_wav_scp`; an unreadable archive cannot be skipped past and
    always raises.
    """
    from bccmt_tools.io.kaldi_table import parse_rspecifier, read_table

    kind, path, _ = parse_rspecifier(rspecifier)
    if kind == "scp":
        yield from iter_wav_scp(path, sample_rate, resample, channel, on_error)
        return
    label = "stdin" if path.strip() == "-" else path
    entries = ((key, value, f"{label}: key {key!r}") for key, value in read_table(rspecifier))
    yield from _readable(entries, lambda value, where: samples_from_kaldi_wav(value, sample_rate, resample,
                                                                             where=where, channel=channel), on_error)


def _readable(entries, read, on_error):
    """``(key, samples)`` for each ``(key, value, where)``; a value that ``read(value, where)``
    cannot read raises, or goes to ``on_error(key, error)`` and is skipped."""
    for key, value, where in entries:
        try:
            samples = read(value, where)
        except BccmtError as error:
            skip_or_raise(key, error, on_error)
            continue
        yield key, samples


def _last_line(data):
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _one_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
