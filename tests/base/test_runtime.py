"""Job environment helpers: the C allocator's handling of large freed blocks."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Allocates, touches and frees a 256 MiB block twice, then prints the minor page faults of the second round.
_PROBE = """
import ctypes, resource, sys
from helpers.base.runtime import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 256 << 20
def round_trip():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)  # touch every page
    libc.free(block)
round_trip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
round_trip()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True).stdout
    applied, faults = out.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_reuses_large_blocks_without_page_faults():
    applied, kept = _faults("keep")
    _, default = _faults("default")
    pages = (256 << 20) // 4096
    assert applied
    assert default > pages // 2  # glibc unmapped the block: touching it again faults every page in
    assert kept < pages // 20  # kept in the heap: the second round reuses the same pages
