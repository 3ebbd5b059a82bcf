"""bccmt_tools.train.allocator: on glibc, large blocks come from the heap and stay there after free
(no fresh mmap each training step); a user's own malloc settings are left alone."""

import platform
import subprocess
import sys

import pytest

from bccmt_tools.train.allocator import retain_freed_memory

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's mallopt only")

# Prints: applied?, mmapped blocks added while a 64 MB block is held, heap bytes kept after it is freed.
PROBE = """
import ctypes, sys
from bccmt_tools.train.allocator import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else False
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblks
block = libc.malloc(64 << 20)
held = libc.mallinfo2().hblks - before
libc.free(block)
print(applied, held, libc.mallinfo2().arena >= 64 << 20)
"""


def probe(arm, env=None):
    result = subprocess.run([sys.executable, "-c", PROBE, arm], capture_output=True, text=True, timeout=60,
                            env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_large_block_comes_from_the_heap_and_stays_after_free():
    assert probe("default") == ["False", "1", "False"]  # glibc's default: its own mmap, unmapped on free
    assert probe("retain") == ["True", "0", "True"]


# Retains a touched 64 MB block after free, then releases it: prints the resident MB given back.
RELEASE = """
import ctypes, os
from bccmt_tools.train.allocator import release_free_memory, retain_freed_memory
assert retain_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
block = libc.malloc(64 << 20)
ctypes.memset(block, 1, 64 << 20)
after_block = libc.malloc(1 << 10)  # above it in the heap: nothing below the top to trim by itself
libc.free(block)
kept = resident_mb()
print(release_free_memory(), round(kept - resident_mb()))
"""


def test_free_heap_pages_go_back_after_an_epoch():
    result = subprocess.run([sys.executable, "-c", RELEASE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    released, given_back_mb = result.stdout.split()
    assert released == "True" and int(given_back_mb) >= 60


def test_the_users_own_settings_win():
    assert retain_freed_memory(environ={"GLIBC_TUNABLES": "glibc.malloc.mmap_max=5"}) is False
    assert probe("retain", env={"PATH": "/usr/bin", "MALLOC_TRIM_THRESHOLD_": "1000"}) == ["False", "1", "False"]
