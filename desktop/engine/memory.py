"""Giving freed memory back to the operating system (freed heap, and mapped file pages).

glibc's allocator keeps freed heap memory for reuse instead of returning it, so after a
large temporary (the PyTorch network read only to convert it, a 1920x1080 photo's
post-processing buffers) the process stays at its peak size while the app sits idle.
``malloc_trim`` returns it. Elsewhere (Windows, macOS, musl) this does nothing: those
allocators return large blocks by themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache
from pathlib import Path


@cache
def _libc_function(name: str):
    """glibc's function ``name`` on Linux; None elsewhere or where the C library lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # no glibc
        return None


def release_unused_memory() -> None:
    """Return the allocator's free memory to the OS (a few milliseconds; safe to call any time)."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)


MADV_DONTNEED = 4  # Linux


@cache
def _madvise():
    fn = _libc_function("madvise")
    if fn is not None:
        fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        fn.restype = ctypes.c_int
    return fn


def drop_file_pages(path: str | Path) -> int:
    """Drop this process's resident pages of the read-only shared memory maps of ``path``;
    bytes of mapped address range advised (0 where this does nothing: not Linux, not mapped).

    Why: OpenVINO memory-maps the converted model's weights (``model.bin``, 230 MB for M2FP)
    and reads all of them once while compiling, where it packs them into its own layout; the
    mapped pages stay resident (and counted in the process's memory) although inference
    reads few or none of them again. Dropping them frees that memory; a page still needed is
    read back from the page cache on its next use. Only read-only shared mappings are
    touched: their pages are the file's own pages in the page cache, so dropping them from
    this process cannot change what it reads.
    """
    madvise = _madvise()
    if madvise is None:
        return 0
    target = os.path.realpath(path)
    advised = 0
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.readlines()
    except OSError:
        return 0
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or parts[1] != "r--s" or parts[5].rstrip("\n") != target:
            continue
        start, end = (int(v, 16) for v in parts[0].split("-"))
        if madvise(start, end - start, MADV_DONTNEED) == 0:
            advised += end - start
    return advised
