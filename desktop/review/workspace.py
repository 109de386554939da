"""The review workspace: one SQLite file that keeps every parse, verdict, note and edit.

What a workspace holds, per image: its path relative to a root folder, size, modification
time and SHA-256; the parsing result (lossless, :mod:`desktop.review.result_codec`) keyed by
the image content and the model identity (:mod:`desktop.review.model_key`); the review
status, note, reviewer and times; the reviewer's edited label and person maps with their
provenance; a doubt score with reasons; figures of comparison with an existing annotation.

Design points (why it looks like this):

- **Nothing a user did is lost.** Every write is one small SQLite transaction in WAL mode
  with ``synchronous=NORMAL``: a commit is in the write-ahead log before the call returns,
  so killing the process at any moment loses nothing committed and never corrupts the file
  (only a power cut can lose the last transactions, never the file's consistency).
- **Threads.** Each thread gets its own connection (created on first use, closed by
  :meth:`Workspace.close`), so readers never wait in WAL mode; writers of one process take
  turns on one lock (each transaction ``BEGIN IMMEDIATE``), so a write waits at most for
  the transaction in progress. Verdicts and notes are tiny transactions
  meant for the GUI thread (well under 5 ms); :meth:`Workspace.store_result`,
  :meth:`Workspace.save_edits` and :meth:`Workspace.check_files` encode, hash or decode
  outside their transaction but still take tens of milliseconds: call them from a worker.
  Checkpoints (copying the log into the file) run only after those heavy writes and on
  close, never inside a verdict.
- **One writer process.** A lock file beside the workspace (:mod:`.workspace_lock`) makes a
  second process open it read-only and tells its user who holds it. A read-only file or
  folder opens read-only too. Writes on a read-only workspace raise
  :class:`WorkspaceReadOnlyError`.
- **A damaged or hostile file never crashes the app.** A file that is not a database, is cut
  short, has a newer format, or holds objects we never create (triggers, views) is set
  aside (renamed ``NAME.m2fpws.damaged-TIME``) and a new workspace is started, with a
  notice saying so; only files named ``*.m2fpws`` are ever renamed (a photo opened by
  mistake is refused, not moved). Stored results are decoded within bounded memory.
- **Relative paths.** Each root folder is stored both as an absolute path and relative to
  the workspace file's folder; on opening, the relative one is tried first, so a workspace
  saved inside (or beside) its photo folder keeps working when both are moved or handed on.
- **Staleness.** An image whose size or modification time changed is hashed again; if its
  content changed, results of the old content no longer apply (it needs parsing) and, if it
  had a verdict or an edit, it is flagged "changed since review" with its verdict kept.

The class is assembled from parts, one idea each: opening, connections and copies here;
roots, images, verdicts and files on disk in :mod:`.workspace_images`; results, edits,
doubt and comparisons in :mod:`.workspace_results`; the records and limits in
:mod:`.workspace_records`. Import everything from this module.
"""


from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop.atomic import temp_path_for
from desktop.i18n import _
from desktop.review import workspace_schema as schema
from desktop.review.result_codec import DecodeLimits
from desktop.review.workspace_images import WorkspaceImages
from desktop.review.workspace_lock import LockHolder, WorkspaceLock, current_user
from desktop.review.workspace_records import (
    DATA_ENV_VAR,
    MAX_IMAGES,
    MAX_JSON,
    MAX_NOTE,
    NOTE_PREVIEW,
    SUFFIX,
    Comparison,
    EditedMaps,
    EncodedResult,
    FileCheck,
    ImageRecord,
    RootInfo,
    Status,
    WorkspaceError,
    WorkspaceReadOnlyError,
    _json_or,
    _norm,
    _rel_or_none,
)
from desktop.review.workspace_results import WorkspaceResults
from desktop.userdirs import user_dir

log = logging.getLogger(__name__)

__all__ = [
    "DATA_ENV_VAR",
    "MAX_IMAGES",
    "MAX_JSON",
    "MAX_NOTE",
    "NOTE_PREVIEW",
    "SUFFIX",
    "Comparison",
    "EditedMaps",
    "EncodedResult",
    "FileCheck",
    "ImageRecord",
    "RootInfo",
    "Status",
    "Workspace",
    "WorkspaceError",
    "WorkspaceReadOnlyError",
    "default_workspace_path",
    "find_workspace",
    "workspaces_dir",
]

_CHECKPOINT_WAL_BYTES = 8 * 1024 * 1024


# --------------------------------------------------------------------------- where workspaces are

def workspaces_dir() -> Path:
    """Where workspaces live by default (``$M2FP_DATA_DIR/workspaces`` when set)."""
    return user_dir("data", DATA_ENV_VAR) / "workspaces"


def default_workspace_path(folder: str | os.PathLike[str]) -> Path:
    """The default workspace of a root folder: in the user data folder, named after the
    folder and a hash of its full path (so the same folder always finds it again)."""
    folder = Path(os.path.abspath(folder))
    key = hashlib.sha256(_norm(folder).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    name = re.sub(r"[^\w.-]+", "_", folder.name)[:60].strip("._") or "folder"
    return workspaces_dir() / f"{name}-{key}{SUFFIX}"


def find_workspace(folder: str | os.PathLike[str]) -> Path:
    """The workspace to open for ``folder``: one saved inside it (the most recently changed
    ``*.m2fpws`` there: a folder handed on with its workspace), else the default one."""
    inside: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.endswith(SUFFIX) and entry.is_file():
                inside.append((entry.stat().st_mtime, Path(entry.path)))
    if inside:
        return max(inside)[1]
    return default_workspace_path(folder)


def _set_aside(path: Path) -> Path:
    """Rename a damaged workspace (and its log files) out of the way; returns the new name."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 2
    while os.path.lexists(target):
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    for extra in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + extra)
        if os.path.lexists(side):
            with contextlib.suppress(OSError):
                os.replace(side, target.with_name(target.name + extra))
    return target



def _sqlite_message(exc: sqlite3.Error, path: Path) -> str:
    text = str(exc).lower()
    if "full" in text:
        return _('The workspace "{path}" cannot be saved: the disk is full. Free some space; nothing was '
                 "lost.").format(path=path)
    if "locked" in text or "busy" in text:
        return _('The workspace "{path}" is busy in another window or program; try again in a moment.').format(
                path=path)
    if "readonly" in text or "read-only" in text:
        return _('The workspace "{path}" cannot be written: its file or folder is read-only.').format(
                path=path)
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return _('The workspace "{path}" is damaged ({reason}). Close and reopen it: it will be set '
                 "aside.").format(path=path, reason=exc)
    if "too big" in text:
        return _('The workspace "{path}" holds a value too large to read; it was skipped.').format(
                path=path)
    return _('The workspace "{path}" cannot be used: {reason}.').format(path=path, reason=exc)


# --------------------------------------------------------------------------- the store

class Workspace(WorkspaceImages, WorkspaceResults):
    """An open workspace. Create with :meth:`open` (or :meth:`open_for_folder`); close with
    :meth:`close` (or use it as a context manager).

    Attributes for the window: ``path``; ``read_only`` and ``read_only_reason`` (a sentence,
    None when writable); ``holder`` (the :class:`LockHolder` of another process, when that is
    why it is read-only); ``notices`` (sentences to show once: a file set aside, a migration,
    a missing folder); ``reviewer`` (name written with verdicts and edits; the OS user by
    default, settable at any time).
    """

    def __init__(self, path: Path, *, read_only_reason: str | None, holder: LockHolder | None,
                 lock: WorkspaceLock | None, notices: list[str], reviewer: str | None,
                 limits: DecodeLimits, db_path: Path, immutable: bool, temp_dir: Path | None):
        self.path = path
        self.read_only = read_only_reason is not None
        self.read_only_reason = read_only_reason
        self.holder = holder
        self.notices = notices
        self.reviewer = reviewer or current_user()
        self.limits = limits
        self._lock = lock
        self._db_path = db_path
        self._immutable = immutable
        self._temp_dir = temp_dir
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        # Writers of this process queue here rather than in SQLite's busy handler, which
        # sleeps in growing steps (1, 2, 5, 10, 15, 20 ms...) and made a verdict wait 50 ms
        # behind a worker's result; here it waits just until that transaction ends.
        self._write_lock = threading.Lock()
        self._closed = False
        self._roots: dict[int, Path] = {}
        self._root_found: dict[int, bool] = {}
        self._query_only = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, read_only: bool = False, create: bool = True,
             reviewer: str | None = None, limits: DecodeLimits | None = None) -> Workspace:
        """Open (or create) the workspace at ``path``.

        Never raises for a damaged file named ``*.m2fpws`` opened for writing: it is set
        aside and a new workspace is started (see ``notices``). Raises :class:`WorkspaceError`
        when ``path`` is a folder, is another program's database or an unusable file of
        another name, does not exist (``create=False`` or ``read_only``), or is damaged and
        opened read-only.
        """
        path = Path(os.path.abspath(os.fspath(path)))
        limits = limits or DecodeLimits()
        if os.path.isdir(path):
            raise WorkspaceError(_('"{path}" is a folder, not a workspace file.').format(path=path))
        exists = os.path.exists(path)
        if not exists and (read_only or not create):
            raise WorkspaceError(_('The workspace "{path}" does not exist.').format(path=path))
        notices: list[str] = []
        if read_only:
            return cls._open_read_only(path, None, None, notices, reviewer, limits)

        if not exists:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(_('The workspace "{path}" cannot be created: {reason}.').format(
                        path=path, reason=exc.strerror or exc)) from None
        lock = WorkspaceLock(path)
        try:
            holder = lock.acquire()
        except OSError:
            if not exists:
                raise WorkspaceError(_('The workspace "{path}" cannot be created: its folder is '
                                       "read-only.").format(path=path)) from None
            reason = (_('The workspace "{path}" is in a folder that cannot be written, so it is opened '
                        "read-only: verdicts, notes and edits cannot be saved.").format(path=path))
            return cls._open_read_only(path, reason, None, notices, reviewer, limits)
        if holder is not None:
            reason = (_('The workspace "{path}" is open in another window: {holder}. It is opened '
                        "read-only here: verdicts, notes and edits cannot be saved until that window "
                        "closes it.").format(path=path, holder=holder.describe()))
            return cls._open_read_only(path, reason, holder, notices, reviewer, limits)
        if exists and not os.access(path, os.W_OK):
            lock.release()
            reason = (_('The workspace file "{path}" is read-only, so it is opened read-only: verdicts, '
                        "notes and edits cannot be saved.").format(path=path))
            return cls._open_read_only(path, reason, None, notices, reviewer, limits)

        try:
            conn = cls._checked_writable(path, notices)
        except BaseException:
            lock.release()
            raise
        ws = cls(path, read_only_reason=None, holder=None, lock=lock, notices=notices, reviewer=reviewer,
                 limits=limits, db_path=path, immutable=False, temp_dir=None)
        ws._adopt(conn)
        ws._load_roots(update=True)
        return ws

    @classmethod
    def open_for_folder(cls, folder: str | os.PathLike[str], **kwargs: Any) -> Workspace:
        """The workspace of a root folder (:func:`find_workspace`), created when new."""
        return cls.open(find_workspace(folder), **kwargs)

    @staticmethod
    def _checked_writable(path: Path, notices: list[str]) -> sqlite3.Connection:
        """A checked, migrated connection; a damaged ``*.m2fpws`` file is set aside first."""
        for attempt in range(2):
            conn = None
            try:
                schema.check_header(path)
                conn = schema.connect(path, read_only=False)
                version = schema.check_schema(conn)
                if path.stat().st_size < 32 * 1024 * 1024:
                    problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
                    if problems != ["ok"]:
                        raise schema.SchemaProblem("damaged", _("SQLite found damage in it: {problems}").format(
                            problems="; ".join(problems)))
                new = schema.create_or_migrate(conn, version)
                if 0 < version < new:
                    notices.append(_("The workspace \"{name}\" was updated to this version's format.").format(
                            name=path.name))
                return conn
            except sqlite3.OperationalError as exc:  # busy, cannot open: nothing says the file is bad
                if conn is not None:
                    conn.close()
                raise WorkspaceError(_sqlite_message(exc, path)) from None
            except (schema.SchemaProblem, sqlite3.DatabaseError) as exc:
                if conn is not None:
                    conn.close()
                problem = exc if isinstance(exc, schema.SchemaProblem) else schema.SchemaProblem("damaged", str(exc))
                if attempt or problem.kind == "foreign" or not path.name.endswith(SUFFIX):
                    raise WorkspaceError(_('"{path}" cannot be opened as a workspace: {problem}.').format(
                            path=path, problem=problem)) from None
                try:
                    aside = _set_aside(path)
                except OSError as err:
                    raise WorkspaceError(_('The workspace "{path}" is unusable ({problem}) and cannot be '
                                           "set aside: {reason}.").format(
                            path=path, problem=problem, reason=err.strerror or err)) from None
                log.warning("Workspace %s set aside as %s: %s", path, aside, problem)
                notices.append(_('The workspace "{name}" could not be used: {problem}. It was set aside '
                                 'as "{aside}" and a new, empty workspace was started. Your photos were '
                                 "not changed.").format(name=path.name, problem=problem, aside=aside.name))
        raise AssertionError("unreachable")

    @classmethod
    def _open_read_only(cls, path: Path, reason: str | None, holder: LockHolder | None, notices: list[str],
                        reviewer: str | None, limits: DecodeLimits) -> Workspace:
        reason = reason or _('The workspace "{path}" was opened read-only.').format(path=path)
        immutable = False
        query_only = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        try:
            schema.check_header(path)
            try:
                conn = schema.connect(path, read_only=True, query_only=query_only)
                version = schema.check_schema(conn)
            except sqlite3.OperationalError:
                # A write-ahead-log database in a read-only folder with no shared-memory file:
                # SQLite can only read it as unchanging (changes still in the log are not seen).
                immutable, query_only = True, False
                conn = schema.connect(path, read_only=True, immutable=True)
                version = schema.check_schema(conn)
        except schema.SchemaProblem as problem:
            raise WorkspaceError(_('"{path}" cannot be opened as a workspace: {problem}.').format(
                    path=path, problem=problem)) from None
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(_('"{path}" cannot be opened as a workspace: {reason}.').format(
                    path=path, reason=exc)) from None
        if version == 0:
            conn.close()
            raise WorkspaceError(_('"{path}" is an empty file, not a workspace yet.').format(path=path))
        db_path, temp_dir = path, None
        if version < schema.CURRENT_VERSION:
            # An older format cannot be migrated in place here: migrate a private copy.
            temp_dir = Path(tempfile.mkdtemp(prefix="m2fp-workspace-"))
            db_path = temp_dir / path.name
            try:
                copy = sqlite3.connect(db_path)
                conn.backup(copy)
                copy.close()
                conn.close()
                conn = schema.connect(db_path, read_only=False)
                schema.create_or_migrate(conn, version)
                conn.close()
                conn = schema.connect(db_path, read_only=True, query_only=True)
                query_only = True
            except (OSError, sqlite3.Error) as exc:
                shutil.rmtree(temp_dir, ignore_errors=True)
                raise WorkspaceError(_('The workspace "{path}" is in an older format and cannot be read '
                                       "here: {reason}.").format(path=path, reason=exc)) from None
            immutable = False
            notices.append(_('The workspace "{name}" is in an older format; it is shown as it is and '
                             "will be updated the next time it is opened where it can be saved.").format(
                    name=path.name))
        ws = cls(path, read_only_reason=reason, holder=holder, lock=None, notices=notices, reviewer=reviewer,
                 limits=limits, db_path=db_path, immutable=immutable, temp_dir=temp_dir)
        ws._query_only = query_only
        ws._adopt(conn)
        ws._load_roots(update=False)
        return ws

    def _adopt(self, conn: sqlite3.Connection) -> None:
        self._local.conn = conn
        self._all.append(conn)

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise WorkspaceError(_('The workspace "{path}" is closed.').format(path=self.path))
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = schema.connect(self._db_path, read_only=self.read_only, immutable=self._immutable,
                                      query_only=self._query_only)
            except sqlite3.Error as exc:
                raise WorkspaceError(_sqlite_message(exc, self.path)) from None
            with self._guard:
                self._all.append(conn)
            self._local.conn = conn
        return conn

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self._conn().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise WorkspaceError(_sqlite_message(exc, self.path)) from None

    def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    def _check_writable(self) -> None:
        if self.read_only:
            raise WorkspaceReadOnlyError(self.read_only_reason or _('The workspace "{path}" is read-only.').format(
                    path=self.path))

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all of it is saved, or none of it."""
        self._check_writable()
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise WorkspaceError(_sqlite_message(exc, self.path)) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise WorkspaceError(_sqlite_message(exc, self.path)) from None
                raise

    def _maybe_checkpoint(self) -> None:
        try:
            size = os.stat(str(self._db_path) + "-wal").st_size
        except OSError:
            return
        if size > _CHECKPOINT_WAL_BYTES:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file (keeps the log small). Never
        needed for safety; called after heavy writes and on close. Takes milliseconds to a
        second: call it from a worker thread, or when the window is idle."""
        if self.read_only or self._closed:
            return
        with contextlib.suppress(sqlite3.Error):
            self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Save the log into the file, close every thread's connection, release the lock.

        Stop the worker threads that use the workspace first.
        """
        if self._closed:
            return
        if not self.read_only:
            with contextlib.suppress(sqlite3.Error, WorkspaceError):
                self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._closed = True
        with self._guard:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self._lock is not None:
            self._lock.release()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        """SQLite's full structural check (reads the whole file: run it in a worker). Empty
        list when sound, else the problems found."""
        rows = self._query("PRAGMA quick_check(20)")
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    # ------------------------------------------------------------------ window state

    def ui_state(self) -> dict:
        """What the window restores (image shown, view, list width...): whatever it saved."""
        row = self._one("SELECT value FROM meta WHERE key = 'ui_state'")
        state = _json_or(row[0], {}) if row else {}
        return state if isinstance(state, dict) else {}

    def set_ui_state(self, state: dict) -> None:
        text = json.dumps(state)
        if len(text) > MAX_JSON:
            raise ValueError("the window state is too large to store")
        with self._write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('ui_state', ?) ON CONFLICT (key) DO UPDATE SET "
                         "value = excluded.value", (text,))

    # ------------------------------------------------------------------ save as

    def save_copy(self, dest: str | os.PathLike[str]) -> Path:
        """Write a copy of this workspace to ``dest`` (``.m2fpws`` added when missing), with its
        root folders relative to the new location, so the copy works when moved together with
        the photo folder. The copy is complete or absent (written aside, then renamed).
        This workspace stays open; open the copy with :meth:`open` to continue there."""
        dest = Path(os.path.abspath(dest))
        if not dest.name.endswith(SUFFIX):
            dest = dest.with_name(dest.name + SUFFIX)
        if _norm(dest) == _norm(self.path):
            return dest
        lock = WorkspaceLock(dest)
        try:
            holder = lock.acquire()
        except OSError as exc:
            raise WorkspaceError(_('The workspace cannot be saved as "{dest}": {reason}.').format(
                    dest=dest, reason=exc.strerror or exc)) from None
        if holder is not None:
            raise WorkspaceError(_('"{dest}" is open in another window ({holder}); choose another name.').format(
                    dest=dest, holder=holder.describe()))
        tmp = temp_path_for(dest)
        try:
            copy = sqlite3.connect(tmp, isolation_level=None)
            try:
                self._conn().backup(copy)
                base = dest.parent
                copy.execute("BEGIN")
                for rid, folder in self._roots.items():
                    copy.execute("UPDATE roots SET abs_path = ?, rel_path = ? WHERE id = ?",
                                 (str(folder), _rel_or_none(folder, base), rid))
                copy.execute("COMMIT")
                copy.execute("PRAGMA journal_mode = WAL")
            finally:
                copy.close()
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            for extra in ("-wal", "-shm", "-journal"):  # a stale log must never meet the new file
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(dest) + extra)
            os.replace(tmp, dest)
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise WorkspaceError(_('The workspace cannot be saved as "{dest}": {reason}.').format(
                    dest=dest, reason=exc)) from None
        finally:
            lock.release()
        return dest
