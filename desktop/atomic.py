"""Atomic file writes: a reader (or a crash) never sees a half-written output.

Everything is first written to a temporary file in the *target's own folder* (so the final
``os.replace`` is a rename within one filesystem, which is atomic on POSIX and Windows),
flushed to disk, then renamed over the target. On any exception the temporary file is
removed and the previous target, if any, is left untouched.

The temporary name is ``.NAME.tmp-<pid>-<random>SUFFIX`` (e.g.
``.photo_labels.png.tmp-4242-1a2b3c4d.png``): hidden, recognisably ours, naming the process
that writes it, and keeping the target's suffix so libraries that pick a format from the
file name (Pillow's ``Image.save``) still choose the right one. When NAME is so long that
the temporary name would pass the file-name limit (255 bytes), NAME is shortened in it.

A process killed mid-write (SIGKILL, power cut) cannot remove its temporary file. The
first write into a folder by a later process removes the leftovers there
(:func:`clean_stale_temporaries`): only files of exactly our naming, and only stale ones
-- written by a process of this machine that no longer exists and untouched for a minute,
or untouched for ten minutes whoever wrote them (a file on a network share may belong to
a live process of another machine; a writer touches its file continuously, so ten minutes
of silence means it is gone). Temporary files of a run in progress are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale_temporaries",
    "clean_stale_temporaries_once",
    "is_our_temporary",
    "shorten_name",
    "temp_path_for",
]

TEMP_MARKER = ".tmp-"
#: Longest file name, in bytes, on the filesystems we write to (ext4, NTFS, APFS: 255).
NAME_MAX = 255
#: A temporary file untouched this long is a leftover, whoever wrote it.
STALE_AFTER_SECONDS = 600.0
#: A temporary file of a process of this machine that has ended is a leftover once untouched this long.
ORPHAN_AFTER_SECONDS = 60.0

# .NAME.tmp-PID-TOKEN[SUFFIX]; versions before the PID was added wrote .NAME.tmp-TOKEN[SUFFIX].
# The command line's write test is .m2fp-write-test-PID-RANDOM.
_TEMP_NAME = re.compile(r"^\..+\.tmp-(?:(?P<pid>\d{1,10})-)?[0-9a-f]{8}(?:\.[A-Za-z0-9]{1,10})?$", re.DOTALL)
_WRITE_TEST_NAME = re.compile(r"^\.m2fp-write-test-(?:(?P<pid>\d{1,10})-)?[A-Za-z0-9_]{4,16}$")


def shorten_name(name: str, budget: int) -> str:
    """``name`` cut (by whole characters) so that its file-system encoding fits ``budget`` bytes."""
    if len(os.fsencode(name)) <= budget:
        return name
    lo, hi = 0, len(name)
    while lo < hi:  # longest prefix that fits
        mid = (lo + hi + 1) // 2
        if len(os.fsencode(name[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return name[:lo]


def temp_path_for(path: Path) -> Path:
    """A fresh temporary path beside ``path`` that keeps its suffix and fits the name limit."""
    tail = f"{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"
    budget = NAME_MAX - 1 - len(os.fsencode(tail))
    return path.with_name(f".{shorten_name(path.name, budget)}{tail}")


def is_our_temporary(name: str) -> tuple[bool, int | None]:
    """Whether a file name is one of our temporary names, and the writer's process id if recorded."""
    match = _TEMP_NAME.match(name) or _WRITE_TEST_NAME.match(name)
    if match is None:
        return False, None
    pid = match.group("pid")
    return True, int(pid) if pid else None


def _process_exists(pid: int) -> bool | None:
    """True/False when this machine can tell, ``None`` when it cannot (Windows: ``os.kill``
    there would *terminate* the process, so it is never called)."""
    if os.name != "posix" or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return None
    return True


def clean_stale_temporaries(folder: str | os.PathLike[str], *, now: float | None = None) -> list[Path]:
    """Remove our stale temporary files directly in ``folder`` (see the module docstring);
    return what was removed. Never raises: cleaning is a courtesy, not a step that can fail."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    own_pid = os.getpid()
    try:
        with os.scandir(folder) as it:
            candidates = [e for e in it if TEMP_MARKER in e.name or e.name.startswith(".m2fp-write-test-")]
    except OSError:
        return removed
    for entry in candidates:
        ours, pid = is_our_temporary(entry.name)
        if not ours or pid == own_pid:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # never a link, folder or anything we did not write
        idle = now - st.st_mtime
        stale = idle > STALE_AFTER_SECONDS or (
            pid is not None and idle > ORPHAN_AFTER_SECONDS and _process_exists(pid) is False)
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


_cleaned_folders: set[str] = set()
_cleaned_lock = threading.Lock()


def clean_stale_temporaries_once(folder: str | os.PathLike[str]) -> None:
    """:func:`clean_stale_temporaries` the first time this process writes into (or asks about)
    ``folder``; later calls cost one set lookup."""
    key = os.path.normcase(os.path.abspath(folder))
    with _cleaned_lock:
        if key in _cleaned_folders:
            return
        _cleaned_folders.add(key)
    clean_stale_temporaries(folder)


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
    clean_stale_temporaries_once(target.parent)
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
