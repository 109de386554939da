"""Quitting while background threads are still working (a photo being parsed, an export).

Why this exists: the parse worker can be deep inside PyTorch or OpenVINO (a parse of a
large photo takes seconds) when the user quits. If the interpreter then finalizes while that
thread is still in native code, the thread is torn down under the C++ runtime and the
process aborts ("terminate called without an active exception", exit code 134), which the
user sees as a crash. So the window, once every thread has been told to stop, waits a
bounded time for them (a parse in flight normally finishes and its result is saved in the
workspace: nothing is thrown away), then closes the workspace as always.

If a thread is still busy after the wait, :func:`exit_now` ends the process without
finalizing the interpreter (``os._exit``): only called after the workspace is closed (every
transaction committed; SQLite's WAL keeps it sound even if it were not) and the log is
flushed, so the work in flight is all that is lost, exactly as for a parse cancelled by
hand. Nothing in this module imports tkinter.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import NoReturn

log = logging.getLogger(__name__)

#: How long quitting waits for background threads (a parse in flight) to finish, in seconds.
#: Long enough for a typical parse to end and be saved; short enough that quitting never
#: feels hung (the window is already hidden meanwhile). ``$M2FP_QUIT_WAIT_SECONDS`` overrides it
#: (the tests use it to reach the "too long to wait for" path quickly).
QUIT_WAIT_SECONDS = float(os.environ.get("M2FP_QUIT_WAIT_SECONDS", "") or 8.0)


def wait_for_threads(threads: Iterable[threading.Thread | None], timeout: float) -> list[threading.Thread]:
    """Join each (started) thread within one shared ``timeout``; return those still running."""
    deadline = time.monotonic() + timeout
    alive = []
    for thread in threads:
        if thread is None or thread is threading.current_thread() or thread.ident is None:
            continue  # never started (or ourselves): nothing to wait for
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            alive.append(thread)
    return alive


def exit_now(code: int, stuck: Iterable[threading.Thread]) -> NoReturn:
    """End the process at once, without finalizing the interpreter under a busy native thread.

    Call only once everything the user did is saved (the workspace closed): this skips
    ``atexit`` handlers and the finalization of objects, and it is what keeps a thread still
    inside the inference runtime from aborting the process.
    """
    names = ", ".join(t.name for t in stuck) or "none"
    log.warning("Threads still busy when quitting (%s): ending the process without waiting for them", names)
    logging.shutdown()  # flush and close the log file
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed, or none (a windowed executable)
            pass
    os._exit(code)


__all__ = ["QUIT_WAIT_SECONDS", "exit_now", "wait_for_threads"]
