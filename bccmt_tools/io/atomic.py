"""Write-then-rename, so that a killed run never leaves a complete-looking partial file."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def temp_name_for(path):
    """A unique temporary name beside ``path`` (same folder, so ``os.replace`` is atomic)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent or "."))
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; final files get the usual mode
    return tmp


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name_for(path)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path):
    """Build a folder under a temporary name beside ``path``; on success it replaces ``path``
    (an older folder there is removed), on error it is deleted and ``path`` is left as it was.

    >>> with atomic_directory("/tmp/bccmt-doctest-dir") as work:
    ...     _ = (work / "utt2spk").write_text("u1 s1\\n")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield work
        if path.exists():
            shutil.rmtree(path)
        os.replace(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
