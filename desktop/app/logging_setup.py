"""Log to a file the user can send us, and survive windowed builds that have no console.

A double-clicked PyInstaller executable built with ``--windowed`` starts with
``sys.stdout`` and ``sys.stderr`` set to ``None``: any ``print`` or library warning would
then raise. :func:`ensure_std_streams` points them somewhere harmless first. Every error
the user sees is also written to ``m2fp-desktop.log`` in the user's log folder
(``M2FP_LOG_DIR`` overrides it, for tests and portable installs).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from desktop.userdirs import user_dir

LOG_FILE_NAME = "m2fp-desktop.log"
_HANDLER_NAME = "m2fp-desktop-file"


def log_dir() -> Path:
    """Folder of the log file: ``M2FP_LOG_DIR`` if set, else platformdirs' user log folder."""
    return user_dir("log", "M2FP_LOG_DIR")


def log_file() -> Path:
    """Path of the current log file (it may not exist yet)."""
    return log_dir() / LOG_FILE_NAME


def ensure_std_streams() -> None:
    """Give ``sys.stdout``/``sys.stderr`` a real file when the process has no console.

    Without this, a windowed build dies on the first ``print`` or warning from a library.
    Output goes to ``console.log`` beside the log file, or to ``os.devnull`` when that
    folder cannot be created.
    """
    if sys.stdout is not None and sys.stderr is not None:
        return
    stream = None
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stream = open(folder / "console.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send the root logger to a rotating file in :func:`log_dir`; return the file or ``None``.

    Safe to call more than once (the handler is only added once). When the log folder is
    not writable we keep going without a file rather than refusing to start.
    """
    root = logging.getLogger()
    root.setLevel(min(root.level or level, level) if root.handlers else level)
    for handler in root.handlers:
        if getattr(handler, "name", None) == _HANDLER_NAME:
            return Path(handler.baseFilename)  # type: ignore[attr-defined]
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("Cannot write the log file %s: %s", path, exc)
        return None
    handler.name = _HANDLER_NAME
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"))
    root.addHandler(handler)
    logging.captureWarnings(True)
    _log_uncaught_exceptions()
    return path


def _log_uncaught_exceptions() -> None:
    """Send exceptions nobody caught (main thread or any worker thread) to the log file too."""
    import threading

    previous_sys, previous_thread = sys.excepthook, threading.excepthook

    def sys_hook(exc_type, exc, tb):
        logging.getLogger("desktop").critical("Uncaught exception", exc_info=(exc_type, exc, tb))
        previous_sys(exc_type, exc, tb)

    def thread_hook(args):
        if args.exc_type is not SystemExit:
            name = args.thread.name if args.thread else "?"
            logging.getLogger("desktop").critical("Uncaught exception in thread %s", name,
                                                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        previous_thread(args)

    if getattr(sys.excepthook, "_m2fp", False):
        return
    sys_hook._m2fp = True  # type: ignore[attr-defined]
    sys.excepthook = sys_hook
    threading.excepthook = thread_hook
