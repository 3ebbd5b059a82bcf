"""Trial lists read in large chunks with vectorised parsing, for lists of millions of trials (or
larger than memory).

:func:`trial_chunks` yields :class:`TrialChunk` objects: the enrolment and test keys of up to
``chunk_bytes`` of the file as integer ids into a shared :class:`KeyVocabulary` (one entry per
distinct key, so a million trials over a hundred utterances hold a hundred strings), and the labels
as an int8 array (None for plain lists). Each chunk is split once in C (``str.split``); its lines
are checked for the right number of fields with numpy on the raw bytes, and its label column by
set membership. The result is exactly what :func:`bccmt_tools.io.trials.read_trials_with_format`
reads, which it defers to whenever the fast checks see anything unusual (a malformed line,
mixed formats, a file whose every line fits two formats, non-ASCII text, lone carriage returns):
that reader then raises its precise ``file:line`` error, or, when the file is fine after all, its
trials come back as one chunk.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "trials")
>>> _ = open(path, "w").write("a b target\\na c nontarget\\nb c target\\n")
>>> vocabulary = KeyVocabulary()
>>> [(c.format, c.enroll.tolist(), c.test.tolist(), c.labels.tolist()) for c in trial_chunks(path, vocabulary)]
[('kaldi', [0, 0, 1], [1, 2, 2], [1, 0, 1])]
>>> vocabulary.keys
['a', 'b', 'c']
"""

from collections import namedtuple

import numpy as np

from bccmt_tools.errors import BccmtError

DEFAULT_CHUNK_BYTES = 8 << 20
_LABELS = {"voxceleb": {"1": 1, "0": 0}, "kaldi": {"target": 1, "nontarget": 0}}
# str.split() whitespace that bytes.split() does not know, and line ends that text files split on.
_EXOTIC = bytes([0x1c, 0x1d, 0x1e, 0x1f, 0x85]) + b"\r"
_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[[9, 10, 11, 12, 13, 32]] = True

TrialChunk = namedtuple("TrialChunk", "enroll test labels format first_line")
TrialChunk.__doc__ = ("Trials of one chunk: enrolment and test key ids (int64 arrays into the vocabulary), "
                      "labels (int8 array or None), the file's format and the chunk's first line number.")


class KeyVocabulary(dict):
    """``key -> id`` for every key seen, ids in order of first appearance (``keys[id]``)."""

    def __init__(self, map_voxceleb_paths=False):
        super().__init__()
        self.keys = []
        self.map_voxceleb_paths = map_voxceleb_paths

    def __missing__(self, token):
        key = token
        if self.map_voxceleb_paths:
            from bccmt_tools.io.trials import voxceleb_path_to_utt

            key = voxceleb_path_to_utt(token)
        self.keys.append(key)
        index = self[token] = len(self.keys) - 1
        return index

    def ids(self, tokens):
        return np.fromiter(map(self.__getitem__, tokens), dtype=np.int64, count=len(tokens))


def _fields_per_line(data):
    """Number of whitespace-separated fields on each non-blank line of an ASCII chunk (``\n`` ends)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    space = _SPACE_BYTES[buffer]
    starts = ~space
    starts[1:] &= space[:-1]
    line_starts = np.flatnonzero(buffer[:-1] == 10) + 1
    counts = np.add.reduceat(starts, np.concatenate(([0], line_starts)), dtype=np.int32)
    return counts[counts > 0]


def _chunk_formats(tokens, counts, fmt):
    """Formats every line of a checked chunk fits (as the line-by-line reader decides them); once
    the file's format is known (``fmt``), only that one is checked."""
    if counts[0] == 2:
        return {"plain"}
    fits = set()
    if fmt in (None, "voxceleb") and set(tokens[0::3]) <= _LABELS["voxceleb"].keys():
        fits.add("voxceleb")
    if fmt in (None, "kaldi") and set(tokens[2::3]) <= _LABELS["kaldi"].keys():
        fits.add("kaldi")
    return fits


def _raw_chunks(handle, chunk_bytes):
    """Byte chunks that end at a line end (the last one may not)."""
    carry = b""
    while True:
        block = handle.read(chunk_bytes)
        if not block:
            if carry:
                yield carry
            return
        block = carry + block
        cut = block.rfind(b"\n")
        if cut < 0:
            carry = block
            continue
        carry = block[cut + 1:]
        yield block[:cut + 1]


class _Unusual(Exception):
    """The fast path cannot vouch for this file: read it line by line instead."""


def trial_chunks(path, vocabulary, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Yield :class:`TrialChunk` for the trial list ``path`` (see the module docstring); the keys
    are ids into ``vocabulary`` (a :class:`KeyVocabulary`, which maps VoxCeleb paths when asked).
    Problems are the same BccmtErrors as :func:`~bccmt_tools.io.trials.read_trials_with_format`."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise BccmtError(f"{path}: no such file") from None
    except OSError as exc:
        raise BccmtError(f"{path}: cannot read: {exc.strerror or exc}") from None
    emitted = False
    try:
        with handle:
            fmt, line = None, 1
            for data in _raw_chunks(handle, chunk_bytes):
                try:
                    chunk, fmt = _parse(data, vocabulary, fmt, line)
                except _Unusual:
                    if not emitted:
                        yield _line_by_line(path, vocabulary)
                        return
                    # Trials already handed out: the whole file through the line reader raises its
                    # error if there is one; else this chunk is unusual but valid (non-ASCII keys, say).
                    _line_by_line(path, KeyVocabulary())
                    chunk = _chunk_line_by_line(data, vocabulary, fmt, line) if data.strip() else None
                line += data.count(b"\n")
                if chunk is not None:
                    emitted = True
                    yield chunk
    except UnicodeDecodeError as exc:
        raise BccmtError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not emitted:
        raise BccmtError(f"{path}: empty trial list")


def _parse(data, vocabulary, fmt, first_line):
    """``(TrialChunk or None for a blank chunk, format)`` of one byte chunk, or _Unusual."""
    if any(byte in data for byte in _EXOTIC) or not data.isascii():
        raise _Unusual()
    counts = _fields_per_line(data)
    if counts.size == 0:
        return None, fmt
    if counts[0] not in (2, 3) or np.any(counts != counts[0]):
        raise _Unusual()
    tokens = data.decode("ascii").split()
    fits = _chunk_formats(tokens, counts, fmt)
    if fmt is not None:
        fits &= {fmt}
    if len(fits) != 1:  # malformed, mixed, or every line fits two formats: the line reader decides
        raise _Unusual()
    fmt = fits.pop()
    if fmt == "voxceleb":
        labels, enroll, test = tokens[0::3], tokens[1::3], tokens[2::3]
    elif fmt == "kaldi":
        enroll, test, labels = tokens[0::3], tokens[1::3], tokens[2::3]
    else:
        enroll, test, labels = tokens[0::2], tokens[1::2], None
    if labels is not None:
        words = _LABELS[fmt]
        labels = np.fromiter(map(words.__getitem__, labels), dtype=np.int8, count=len(labels))
    return TrialChunk(vocabulary.ids(enroll), vocabulary.ids(test), labels, fmt, first_line), fmt


def _line_by_line(path, vocabulary):
    """The whole file through the line-by-line reader, as one chunk (or its error)."""
    from bccmt_tools.io.trials import read_trials_with_format

    trials, fmt = read_trials_with_format(path)
    enroll = vocabulary.ids([trial.enroll for trial in trials])
    test = vocabulary.ids([trial.test for trial in trials])
    labels = None if fmt == "plain" else np.array([trial.label for trial in trials], dtype=np.int8)
    return TrialChunk(enroll, test, labels, fmt, 1)


def _chunk_line_by_line(data, vocabulary, fmt, first_line):
    """One chunk of a file known to be valid, through the line reader (via a temporary file)."""
    import os
    import tempfile

    fd, name = tempfile.mkstemp(prefix="bccmt-trials-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        chunk = _line_by_line(name, vocabulary)
    finally:
        os.unlink(name)
    if chunk.format != fmt:
        raise BccmtError(f"line {first_line} on: trials in {chunk.format} format after {fmt} ones (mixed formats)")
    return TrialChunk(chunk.enroll, chunk.test, chunk.labels, fmt, first_line)
