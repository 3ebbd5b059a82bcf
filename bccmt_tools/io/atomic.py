"""Write-then-rename, so that a killed run never leaves a complete-looking partial file.

Temporaries are named ``.NAME.PID-RANDOM.tmp`` beside the output ``NAME`` (PID: the writing
process). A run killed before its rename leaves one behind; the next successful write of the same
output removes it (:func:`remove_stale_temporaries`), but never one whose process still runs: two
tools writing the same output at once do not delete each other's work. :func:`check_writable`
lets a tool refuse an output folder it cannot write to before it does any work.
"""

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from bccmt_tools.errors import BccmtError

# mkstemp/mkdtemp add 8 characters from this alphabet between prefix and suffix (any length is
# accepted as theirs); before them, the writer's PID and a dash (older versions wrote no PID).
_RANDOM_PART = "[a-z0-9_]+"


#: Longest output name (in bytes) used whole in its temporaries' names; longer names are shortened
#: with a hash, so a temporary never exceeds the 255 bytes a file name may have.
_MAX_STEM_BYTES = 200


def _temp_stem(name):
    """``name``, or for a long one its first bytes and a hash of the whole (names stay < 255 bytes).

    >>> _temp_stem("feats.ark"), len(_temp_stem("x" * 250).encode())
    ('feats.ark', 189)
    """
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= _MAX_STEM_BYTES:
        return name
    import zlib

    head = encoded[:180].decode("utf-8", "ignore")
    return f"{head}~{zlib.crc32(encoded):08x}"


def _temp_prefix(path):
    return f".{_temp_stem(path.name)}.{os.getpid()}-"


def _process_alive(pid):
    """True when process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def temp_name_for(path):
    """A unique temporary name beside ``path`` (same folder, so ``os.replace`` is atomic)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=str(path.parent or "."))
    except OSError as exc:
        raise BccmtError(f"{path}: cannot write here: {exc.strerror or exc} in {path.parent or '.'}") from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; final files get the usual mode
    return tmp


def remove_stale_temporaries(path, keep=None):
    """Delete the temporaries (files ``.NAME.PID-RANDOM.tmp``, folders ``.NAME.PID-RANDOM``) that
    killed earlier writes of ``path`` left beside it; ``keep``, and those of processes still
    running (a concurrent writer's), are spared. Returns the names removed.

    >>> remove_stale_temporaries("/tmp/bccmt-doctest-nothing-here.txt")
    []
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(_temp_stem(path.name))}\.(?:(?P<pid>\d+)-)?{_RANDOM_PART}(\.tmp)?$")
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or (keep is not None and Path(keep).name == entry.name):
            continue
        if match["pid"] and _process_alive(int(match["pid"])):
            continue  # a live writer's (this process's too: another thread or an open writer)
        if entry.is_dir() and not entry.is_symlink():
            if entry.name.endswith(".tmp"):
                continue
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        else:
            continue
        removed.append(entry.name)
    return sorted(removed)


def check_writable(path, what="output"):
    """Raise a one-line :class:`BccmtError` unless ``path`` can be written: its folder (or the
    nearest existing folder above it, which would be created) is writable and ``path`` is not a
    folder. Call it before the work, so a bad output path fails at once.

    >>> check_writable("/etc/passwd/out.txt")
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: /etc/passwd/out.txt: cannot write the output: /etc/passwd is not a folder
    """
    path = Path(path)
    name_bytes = len(path.name.encode("utf-8", "surrogateescape"))
    if name_bytes > 255:
        raise BccmtError(f"{str(path)[:80]}...: cannot write the {what}: its name is {name_bytes} bytes "
                         "(a file name may have 255)")
    if path.is_dir():
        raise BccmtError(f"{path}: cannot write the {what}: it is a folder")
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise BccmtError(f"{path}: cannot write the {what}: {folder} is not a folder")
    try:  # a real attempt: permission bits do not stop root, read-only mounts stop everybody
        fd, probe = tempfile.mkstemp(prefix=".bccmt-write-check.", dir=str(folder))
    except OSError as exc:
        raise BccmtError(f"{path}: cannot write the {what}: {folder} is not writable "
                         f"({exc.strerror or exc}; choose another path)") from None
    os.close(fd)
    os.unlink(probe)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8"):
    """Open a temporary file beside ``path``; on success rename it to ``path``, on error delete it.

    >>> with atomic_write("/tmp/bccmt-doctest.txt") as f:
    ...     _ = f.write("utt1 spk1\\n")
    """
    path = Path(path)
    _make_folder(path)
    tmp = temp_name_for(path)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    remove_stale_temporaries(path)


def _make_folder(path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BccmtError(f"{path}: cannot create its folder: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_directory(path):
    """Build a folder under a temporary name beside ``path``; on success it replaces ``path``
    (an older folder there is removed), on error it is deleted and ``path`` is left as it was.

    >>> with atomic_directory("/tmp/bccmt-doctest-dir") as work:
    ...     _ = (work / "utt2spk").write_text("u1 s1\\n")
    """
    path = Path(path)
    _make_folder(path)
    try:
        work = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
    except OSError as exc:
        raise BccmtError(f"{path}: cannot write here: {exc.strerror or exc} in {path.parent}") from None
    try:
        yield work
        if path.exists():
            shutil.rmtree(path)
        os.replace(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    remove_stale_temporaries(path)
