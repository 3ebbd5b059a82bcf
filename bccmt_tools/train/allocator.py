"""Keep freed memory in the process while training on a CPU, so large tensors are not new pages
each step.

PyTorch takes CPU tensor memory from the C library's ``malloc``. glibc serves a block above its
mmap threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it on ``free``, so each large
activation of each training step is memory the kernel must fault in and zero page by page: for
BC-CMT-Base at batch 64 x 2 s, more time in the kernel than in the arithmetic. With
``M_MMAP_MAX = 0`` glibc serves those blocks from its heap, and with a high ``M_TRIM_THRESHOLD``
it keeps freed heap memory for the next step. Nothing else changes: the same tensors, the same
kernels, the same numbers. Measured by ``bench/bench_train.py --malloc both`` (docs/recipe.md).

Memory kept that way is not given back by itself: blocks of many sizes (validation embeds whole
utterances) leave free holes in the heap, and a conventional Tiny's training grew from 5 to 13 GB
in 12 epochs. :func:`release_free_memory`, called by the trainer after each epoch, returns the
free pages to the system (``malloc_trim``: 13.4 -> 2.7 GB on that run); the next steps take them
back once.

A user's own settings win: nothing is changed when ``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_``
or ``GLIBC_TUNABLES`` is in the environment, nor outside glibc (macOS, Windows, musl).

>>> retain_freed_memory(environ={"MALLOC_MMAP_MAX_": "65536"})
False
"""

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # the largest value mallopt takes (an int): keep up to 2 GB of freed memory
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


_retaining_libc = None  # glibc's handle once retain_freed_memory has applied its settings in this process


def _glibc():
    """The C library's handle when it is glibc (on Linux), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def retain_freed_memory(environ=None) -> bool:
    """Set glibc's ``M_MMAP_MAX`` to 0 and ``M_TRIM_THRESHOLD`` to 2 GB for this process (and the
    data-loading workers it forks); True when done, False when left to the user or not glibc."""
    global _retaining_libc
    environ = os.environ if environ is None else environ
    libc = _glibc()
    if any(name in environ for name in USER_SETTINGS) or libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1:
        _retaining_libc = libc
    return _retaining_libc is not None


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim(0)``) when
    :func:`retain_freed_memory` is in effect; True when pages were returned."""
    if _retaining_libc is None:
        return False
    trim = _retaining_libc.malloc_trim
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return trim(0) == 1
