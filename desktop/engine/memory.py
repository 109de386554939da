"""Giving freed memory back to the operating system.

glibc's allocator keeps freed heap memory for reuse instead of returning it, so after a
large temporary (the PyTorch network read only to convert it, a 1920x1080 photo's
post-processing buffers) the process stays at its peak size while the app sits idle.
``malloc_trim`` returns it. Elsewhere (Windows, macOS, musl) this does nothing: those
allocators return large blocks by themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # no glibc
        return None


def release_unused_memory() -> None:
    """Return the allocator's free memory to the OS (a few milliseconds; safe to call any time)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
