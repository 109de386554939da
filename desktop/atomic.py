"""Atomic file writes: a reader (or a crash) never sees a half-written output.

Everything is first written to a temporary file in the *target's own folder* (so the final
``os.replace`` is a rename within one filesystem, which is atomic on POSIX and Windows),
flushed to disk, then renamed over the target. On any exception the temporary file is
removed and the previous target, if any, is left untouched.

The temporary name is ``.NAME.tmp-<random>SUFFIX`` (e.g. ``.photo_labels.png.tmp-1a2b3c.png``):
hidden, recognisably ours, and it keeps the target's suffix so libraries that pick a format
from the file name (Pillow's ``Image.save``) still choose the right one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "temp_path_for"]

TEMP_MARKER = ".tmp-"


def temp_path_for(path: Path) -> Path:
    """A fresh temporary path beside ``path`` that keeps its suffix."""
    token = secrets.token_hex(4)
    return path.with_name(f".{path.name}{TEMP_MARKER}{token}{path.suffix}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX only; directories cannot be opened on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The caller writes the whole file to the yielded path (by any means: ``open``,
    ``Image.save``, ``np.save``...). When the ``with`` block exits normally the file is
    fsynced and renamed onto ``path``; when it raises (including ``KeyboardInterrupt``)
    the temporary file is deleted and the exception propagates.
    """
    target = Path(path)
    tmp = temp_path_for(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"Nothing was written for {target} (temporary file {tmp.name} is missing).")
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or all of ``data``."""
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Text flavour of :func:`atomic_write_bytes` (no newline translation: what you pass is written)."""
    atomic_write_bytes(path, text.encode(encoding))
