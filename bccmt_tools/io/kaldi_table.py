"""Kaldi tables: read rspecifiers and write wspecifiers through kaldiio.

Readers name the offending file and key when an entry cannot be read. Writers to regular files
write to temporary names and rename on success, so an interrupted tool never leaves an ark/scp
pair that looks complete; pipes (``ark:-``, ``ark:| cmd``) are written directly.

>>> import numpy as np
>>> with TableWriter("ark,scp:/tmp/bccmt-doc.ark,/tmp/bccmt-doc.scp") as writer:
...     writer["utt1"] = np.zeros((3, 2), dtype=np.float32)
>>> [(key, value.shape) for key, value in read_table("scp:/tmp/bccmt-doc.scp")]
[('utt1', (3, 2))]
"""

import contextlib
import os

import kaldiio
from kaldiio.matio import save_ark
from kaldiio.utils import open_like_kaldi, parse_specifier

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.atomic import remove_stale_temporaries, temp_name_for
from bccmt_tools.io.pipes import check_pipe_allowed


def _is_stream(name):
    name = name.strip()
    return name == "-" or name.startswith("|") or name.endswith("|")


def parse_rspecifier(rspecifier):
    """Return ``(kind, path, options)`` with kind ``"ark"`` or ``"scp"``; errors name the spec.

    Every rspecifier a tool opens goes through here: a command (``ark:cmd |``, ``scp:cmd |``) is
    refused when pipes are turned off (:func:`~bccmt_tools.io.pipes.check_pipe_allowed`).
    """
    try:
        spec = parse_specifier(rspecifier)
    except ValueError as exc:
        raise BccmtError(f"bad rspecifier {rspecifier!r}: {exc}") from None
    if spec["ark"] is not None and spec["scp"] is not None:
        raise BccmtError(f"bad rspecifier {rspecifier!r}: give ark or scp, not both")
    kind = "scp" if spec["scp"] is not None else "ark"
    check_pipe_allowed(spec[kind], f"rspecifier {rspecifier!r}")
    return kind, spec[kind], spec


def load_value(value, where, fd_dict=None):
    """The matrix, vector or ``(rate, samples)`` wav entry a table value points at (``x.ark:12``,
    ``x.ark:12[0:99]``, ``cmd |``), through kaldiio. Every table value a tool reads goes through
    here: one that would run a command is refused when pipes are turned off (also ``cmd |:12``,
    which kaldiio opens through /bin/sh too); a read error is a BccmtError naming ``where``."""
    check_pipe_allowed(value, where)
    try:
        return kaldiio.load_mat(value, fd_dict=fd_dict)
    except BccmtError:
        raise
    except Exception as exc:  # kaldiio raises many types for bad arks
        reason = str(exc) or type(exc).__name__
        raise BccmtError(f"{where}: cannot read {value!r}: {reason}") from None


def read_scp_lines(path):
    """Yield ``(key, value, line_number)`` of a Kaldi scp (``key rest-of-line``)."""
    with open_like_kaldi(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise BccmtError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start}); keys and "
                                 "paths must be UTF-8") from None
            if not line:
                continue
            parts = line.split(None, 1)
            if len(parts) != 2:
                raise BccmtError(f"{path}:{number}: expected 'key value', got {line!r}")
            yield parts[0], parts[1], number


def read_table(rspecifier):
    """Iterate ``(key, array)`` over a Kaldi rspecifier (``scp:x.scp``, ``ark:x.ark``, ``ark:-``).

    Values are numpy arrays (matrices or vectors); wav entries in arks come back as
    ``(rate, samples)`` as kaldiio returns them.
    """
    kind, path, _ = parse_rspecifier(rspecifier)
    if kind == "scp":
        fds = {}
        try:
            for key, value, _number in read_scp_lines(path):
                yield key, load_value(value, f"{path}: key {key!r}", fd_dict=fds)
        finally:
            for fd in fds.values():
                with contextlib.suppress(Exception):
                    fd.close()
        return
    try:
        handle = open_like_kaldi(path, "rb")
    except OSError as exc:
        raise BccmtError(f"cannot open {path!r}: {exc}") from None
    key = None
    try:
        with handle:
            reader = kaldiio.load_ark(handle)
            while True:
                try:
                    key, value = next(reader)
                except StopIteration:
                    break
                yield key, value
    except BccmtError:
        raise
    except Exception as exc:
        where = f"after key {key!r}" if key is not None else "at its start"
        reason = str(exc) or type(exc).__name__
        raise BccmtError(f"{path}: corrupt or unreadable archive {where}: {reason}") from None


def read_table_dict(rspecifier):
    """Load a whole table into a dict; duplicated keys are an error naming the key."""
    table = {}
    for key, value in read_table(rspecifier):
        if key in table:
            raise BccmtError(f"{rspecifier}: duplicated key {key!r}")
        table[key] = value
    return table


class TableWriter:
    """Write ``key -> array`` (or ``(rate, int16 samples)`` for wav) to a Kaldi wspecifier.

    ``compression_method`` follows kaldiio/Kaldi (e.g. 2 = speech features), or None.
    Use as a context manager: on success temporary files are renamed into place; on error they
    are deleted.
    """

    def __init__(self, wspecifier, compression_method=None):
        try:
            spec = parse_specifier(wspecifier)
        except ValueError as exc:
            raise BccmtError(f"bad wspecifier {wspecifier!r}: {exc}") from None
        if spec["ark"] is None:
            raise BccmtError(f"bad wspecifier {wspecifier!r}: writing needs an ark (e.g. ark,scp:a.ark,a.scp)")
        self.wspecifier = wspecifier
        self.text = spec["t"]
        self.compression_method = compression_method
        self.ark_path = spec["ark"]
        self.scp_path = spec["scp"]
        self._streamed = _is_stream(self.ark_path)
        if self._streamed and self.scp_path is not None:
            raise BccmtError(f"bad wspecifier {wspecifier!r}: an scp needs a seekable ark file, not a pipe")
        self._ark_tmp = None if self._streamed else temp_name_for(self._ensure_dir(self.ark_path))
        self._scp_tmp = None
        if self.scp_path is not None:
            self._scp_tmp = temp_name_for(self._ensure_dir(self.scp_path))
        self._ark = open_like_kaldi(self.ark_path if self._streamed else self._ark_tmp, "wb")
        self._scp = open(self._scp_tmp, "w", encoding="utf-8") if self._scp_tmp else None
        self._keys = set()
        self.count = 0
        self._closed = False

    @staticmethod
    def _ensure_dir(path):
        directory = os.path.dirname(path)
        if directory:
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise BccmtError(f"{path}: cannot create its folder: {exc.strerror or exc}") from None
        return path

    def write(self, key, value):
        if not key or any(ch.isspace() for ch in key):
            raise BccmtError(f"{self.wspecifier}: invalid key {key!r} (keys may not be empty or contain spaces)")
        if key in self._keys:
            raise BccmtError(f"{self.wspecifier}: duplicated key {key!r}")
        self._keys.add(key)
        start = self._ark.tell() if not self._streamed else 0
        # Kaldi compresses matrices only; vectors and wav entries are written as they are.
        compress = self.compression_method if getattr(value, "ndim", 0) == 2 else None
        save_ark(self._ark, {key: value}, text=self.text, compression_method=compress)
        if self._scp is not None:
            offset = start + len(key.encode("utf-8")) + 1
            self._scp.write(f"{key} {self.ark_path}:{offset}\n")
        self.count += 1

    __setitem__ = write

    def close(self, success=True):
        """Finish: rename temporaries into place (``success``) or delete them."""
        if self._closed:
            return
        self._closed = True
        error = None
        for handle in (self._ark, self._scp):  # closing flushes: a full disk fails here
            if handle is None:
                continue
            try:
                handle.close()
            except OSError as exc:
                error, success = error or exc, False
        for tmp, final in ((self._ark_tmp, self.ark_path), (self._scp_tmp, self.scp_path)):
            if tmp is None:
                continue
            if success:
                os.replace(tmp, final)
                remove_stale_temporaries(final)  # left by killed earlier runs writing the same output
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        if error is not None:
            raise BccmtError(f"{self.ark_path}: cannot write: {error.strerror or error}; nothing was written") from None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(success=exc_type is None)
        return False
