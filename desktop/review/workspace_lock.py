"""One writer per workspace: a lock file beside it that says who holds it.

SQLite lets several processes write one database in turn, which is not what a reviewer
wants: two windows on one workspace would overwrite each other's verdicts without either
reviewer knowing. The first process to open a workspace for writing holds an operating-system
lock on ``NAME.lock`` (``flock`` on POSIX, ``msvcrt.locking`` on Windows) and writes into it
who it is (user, host, process id, since when). A second process finds the lock taken, reads
that record, and opens the workspace read-only, telling its user who holds it.

The operating system releases the lock when the holder's process ends in any way (SIGKILL,
power loss of a network client aside), so a crash never leaves a workspace locked: the stale
record is simply overwritten by the next holder. On POSIX the file is removed on release;
an opener that locked a file which was removed meanwhile notices (the path no longer leads to
the file it locked) and tries again.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from desktop.i18n import _

__all__ = ["LockHolder", "WorkspaceLock", "lock_path_for"]

#: On Windows, locked bytes cannot be read by others: the record lives before this offset
#: and the lock is taken on one byte after it.
_LOCK_OFFSET = 1 << 16
_MAX_RECORD = 4096


def lock_path_for(workspace: Path) -> Path:
    return workspace.with_name(workspace.name + ".lock")


def current_user() -> str:
    """The operating system's name for the user (never raises)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no login name in containers, services...
        return "unknown"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a workspace: enough for a sentence a user can act on."""

    user: str
    host: str
    pid: int
    since: str  # ISO 8601, local time with offset

    def describe(self) -> str:
        try:
            since = datetime.fromisoformat(self.since).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            since = self.since or _("an unknown time")
        return _("{user} on {host} (process {pid}, since {since})").format(
            user=self.user, host=self.host, pid=self.pid, since=since)

    @classmethod
    def me(cls) -> LockHolder:
        return cls(current_user(), socket.gethostname() or "this computer", os.getpid(),
                   datetime.now().astimezone().isoformat(timespec="seconds"))

    @classmethod
    def from_record(cls, raw: bytes) -> LockHolder:
        """Parse what a holder wrote; an unreadable record gives an "unknown" holder."""
        try:
            data = json.loads(raw[:_MAX_RECORD].decode("utf-8"))
            return cls(str(data["user"])[:200], str(data["host"])[:200], int(data["pid"]), str(data["since"])[:64])
        except (ValueError, KeyError, TypeError):
            return cls("an unknown user", "an unknown computer", 0, "")


def _try_lock(fd: int) -> bool:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # a filesystem without locks: behave as if we held it
        if exc.errno in (getattr(os, "ENOLCK", -1), getattr(os, "ENOTSUP", -1), getattr(os, "EOPNOTSUPP", -1)):
            return True
        raise
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if os.name == "nt":
            import msvcrt

            os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_record(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(_MAX_RECORD)
    except OSError:
        return b""


class WorkspaceLock:
    """The writer's lock on one workspace; :meth:`acquire` returns None or who holds it."""

    def __init__(self, workspace: Path):
        self.path = lock_path_for(workspace)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> LockHolder | None:
        """Take the lock: None on success, else the current holder (the lock stays with it).

        Raises OSError when the lock file cannot be created (a read-only folder).
        """
        for _attempt in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _try_lock(fd):
                    # Give a holder that is just starting a moment to write its record.
                    raw = b""
                    for _wait in range(5):
                        raw = _read_record(self.path)
                        if raw.strip():
                            break
                        time.sleep(0.02)
                    os.close(fd)
                    return LockHolder.from_record(raw)
                if os.name != "nt" and not _same_file(fd, self.path):
                    _unlock(fd)
                    os.close(fd)
                    continue  # the previous holder removed the file as we opened it: again
                record = json.dumps(LockHolder.me().__dict__).encode("utf-8")
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, record)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            self._fd = fd
            return None
        raise OSError(f"the lock file {self.path} keeps changing")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if os.name != "nt" and _same_file(fd, self.path):
            with contextlib.suppress(OSError):
                self.path.unlink()  # before unlocking: a waiting opener then sees a new file
        _unlock(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
