"""Let the parsing use every core while the window stays responsive.

The app used to leave one core idle for the window (1 thread on a 2-core machine: half
the speed). Instead, the parse worker lowers its own scheduling priority before it loads
the model, and every thread it then starts (PyTorch's OpenMP pool, OpenVINO's TBB workers)
inherits the lower priority, so the window's thread wins the CPU whenever it has work.
``bench/bench_gui_latency.py`` measures the result.

- Linux: a thread is a task with its own nice value, inherited by the threads it creates;
  ``setpriority(PRIO_PROCESS, native thread id)`` changes only the calling thread.
- macOS: the thread's QoS class is set to "utility" (inherited by threads it creates).
- Windows: threads do not inherit priority, so the worker is set below normal and the
  window's thread above normal.

Nothing here imports tkinter.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

NICE_STEP = 10  # nice 0 -> 10: the window's thread gets ~10x the CPU weight of each worker


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask where known, e.g. in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def lower_this_thread() -> str:
    """Lower the calling thread's priority (and its future children's); say what was done.

    Never raises: a priority that cannot be changed costs responsiveness, not correctness.
    """
    try:
        if sys.platform.startswith("linux"):
            return _lower_linux()
        if sys.platform == "darwin":
            return _lower_macos()
        if sys.platform == "win32":
            return _lower_windows()
    except Exception as exc:  # noqa: BLE001 - OSError, ctypes errors: keep parsing at normal priority
        log.warning("Could not lower the parsing thread's priority: %s", exc)
        return f"normal (could not lower it: {exc})"
    return "normal (not supported on this system)"


def thread_nice(native_id: int | None = None) -> int | None:
    """The nice value of a thread (Linux; the calling thread by default), else None."""
    if not sys.platform.startswith("linux"):
        return None
    return os.getpriority(os.PRIO_PROCESS, native_id if native_id is not None else threading.get_native_id())


def _lower_linux() -> str:
    tid = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, tid)
    target = min(19, current + NICE_STEP)
    os.setpriority(os.PRIO_PROCESS, tid, target)
    return f"lowered (nice {target})"


def _lower_macos() -> str:
    import ctypes

    qos_class_utility = 0x11
    libc = ctypes.CDLL("/usr/lib/libSystem.dylib")
    if libc.pthread_set_qos_class_self_np(qos_class_utility, 0) != 0:
        raise OSError("pthread_set_qos_class_self_np failed")
    return "lowered (utility QoS)"


def _lower_windows() -> str:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    # Handles are pointer-sized: without these declarations ctypes would pass 32-bit ints.
    kernel32.GetCurrentThread.restype = wintypes.HANDLE
    kernel32.OpenThread.restype = wintypes.HANDLE
    kernel32.OpenThread.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.SetThreadPriority.argtypes = (wintypes.HANDLE, ctypes.c_int)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    below_normal, above_normal, thread_set_information = -1, 1, 0x0020
    if not kernel32.SetThreadPriority(kernel32.GetCurrentThread(), below_normal):
        raise OSError("SetThreadPriority failed")
    main = kernel32.OpenThread(thread_set_information, False, threading.main_thread().native_id)
    if main:
        try:
            kernel32.SetThreadPriority(main, above_normal)
        finally:
            kernel32.CloseHandle(main)
    return "lowered (below normal; window above normal)"
