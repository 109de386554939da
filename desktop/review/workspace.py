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
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from desktop.atomic import temp_path_for
from desktop.engine.result import ParsingResult
from desktop.i18n import _, ngettext, pgettext
from desktop.imageio import ImageEntry, list_images, sha256_file
from desktop.review import workspace_schema as schema
from desktop.review.maps import consistency_problems, person_map_of, result_from_maps
from desktop.review.model_key import ModelIdentity
from desktop.review.result_codec import (
    CODEC_VERSION,
    DecodeLimits,
    ResultDecodeError,
    decode_array,
    decode_labels,
    decode_result,
    encode_array,
    encode_result,
    result_summary,
)
from desktop.review.workspace_lock import LockHolder, WorkspaceLock, current_user
from desktop.userdirs import user_dir

log = logging.getLogger(__name__)

__all__ = [
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

SUFFIX = ".m2fpws"
DATA_ENV_VAR = "M2FP_DATA_DIR"
#: A workspace lists at most this many images (a hostile file cannot make the list unbounded).
MAX_IMAGES = 200_000
NOTE_PREVIEW = 200
MAX_NOTE = 100_000
MAX_JSON = 1_000_000
_CHECKPOINT_WAL_BYTES = 8 * 1024 * 1024


class Status(str, enum.Enum):
    """A review verdict. The value is what the database, reports and JSON hold."""

    NOT_REVIEWED = "not_reviewed"
    ACCEPTED = "accepted"
    NEEDS_FIX = "needs_fix"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        """For people (translatable as a whole)."""
        return {"not_reviewed": pgettext("review verdict", "Not reviewed"),
                "accepted": pgettext("review verdict", "Accepted"),
                "needs_fix": pgettext("review verdict", "Needs fix"),
                "rejected": pgettext("review verdict", "Rejected")}[self.value]


class WorkspaceError(Exception):
    """A workspace problem, told as one sentence a user can act on."""


class WorkspaceReadOnlyError(WorkspaceError):
    """A write on a workspace opened read-only (the message says why it is read-only)."""


# --------------------------------------------------------------------------- records

@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image as the list shows it (no result data: those load on demand).

    ``persons`` is the edited count when the image is edited, else the model's;
    ``model_key`` is the :attr:`ModelIdentity.key` of the stored result shown (compare with
    the loaded model's to tell "result of another model").
    """

    id: int
    name: str
    folder: Path
    rel: str
    status: Status
    note_preview: str
    has_note: bool
    reviewer: str | None
    reviewed_at: str | None
    changed_since_review: bool
    missing: bool
    error: str | None
    width: int | None
    height: int | None
    result_id: int | None
    model_key: str | None
    persons: int | None
    parse_seconds: float | None
    edited: bool
    doubt: float | None
    pixel_accuracy: float | None
    miou: float | None

    @property
    def path(self) -> Path:
        """Where the image file is expected now (its root folder as found on opening)."""
        return self.folder.joinpath(*self.rel.split("/"))

    @property
    def has_result(self) -> bool:
        return self.result_id is not None


@dataclass(frozen=True)
class FileCheck:
    """What :meth:`Workspace.check_files` found, as image ids."""

    unchanged: list[int] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)  # modification time changed, same content
    changed: list[int] = field(default_factory=list)  # new content: needs parsing
    flagged: list[int] = field(default_factory=list)  # changed and had a verdict or edit
    missing: list[int] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class EncodedResult:
    """A result encoded for storage (:meth:`Workspace.encode`, safe in any thread)."""

    data: bytes
    width: int
    height: int
    persons: int
    parts: int
    parse_seconds: float | None


@dataclass(frozen=True)
class EditedMaps:
    """The reviewer's maps of one image and where they came from."""

    labels: np.ndarray  # (H, W) uint8
    persons: np.ndarray  # (H, W) uint16
    base_result_id: int | None  # the model result they were edited from
    editor: str | None
    edited_at: str
    pixels_changed: int
    changes: dict  # JSON-ready statistics (see desktop.review.edit_stats)


@dataclass(frozen=True)
class Comparison:
    """Agreement of the model (or the edit) with an existing annotation of one image."""

    source: str
    pixel_accuracy: float | None
    miou: float | None
    confusion: np.ndarray | None
    details: dict | None
    computed_at: str


@dataclass(frozen=True)
class RootInfo:
    id: int
    path: Path
    found: bool
    images: int


# --------------------------------------------------------------------------- helpers

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _norm(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


def _rel_or_none(target: Path, start: Path) -> str | None:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return None


def _json_or(text: Any, default: Any) -> Any:
    if not isinstance(text, str) or len(text) > MAX_JSON:
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return default


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

_LIST_SQL = f"""
SELECT i.id, i.root_id, substr(i.rel_path, 1, 4096), i.status, substr(i.note, 1, {NOTE_PREVIEW}),
       length(i.note) > 0, i.reviewer, i.reviewed_at, i.changed_since_review, i.missing,
       substr(i.error, 1, 2000), i.width, i.height, i.result_id, m.key,
       coalesce(e.persons, r.persons), r.parse_seconds, e.image_id IS NOT NULL, r.doubt_score,
       c.pixel_accuracy, c.miou
FROM images i
LEFT JOIN results r ON r.id = i.result_id
LEFT JOIN models m ON m.id = r.model_id
LEFT JOIN edits e ON e.image_id = i.id
LEFT JOIN comparisons c ON c.image_id = i.id
"""


def _float_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


class Workspace:
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

    # ------------------------------------------------------------------ roots

    def _load_roots(self, update: bool) -> None:
        """Find each root folder: relative to the workspace file first, then absolute."""
        rows = self._query("SELECT id, abs_path, rel_path FROM roots")
        base = self.path.parent
        fixes = []
        for rid, abs_path, rel_path in rows:
            candidates = []
            if isinstance(rel_path, str):
                candidates.append(Path(os.path.normpath(base / rel_path)))
            if isinstance(abs_path, str):
                candidates.append(Path(abs_path))
            found = next((c for c in candidates if os.path.isdir(c)), None)
            chosen = found or (candidates[-1] if candidates else base)
            self._roots[rid] = chosen
            self._root_found[rid] = found is not None
            if found is None:
                count = self._one("SELECT count(*) FROM images WHERE root_id = ?", (rid,))[0]
                self.notices.append(ngettext(
                    'The folder "{folder}" of this workspace is missing: its {n} image is listed with its verdict '
                    "but cannot be shown until the folder is found again.",
                    'The folder "{folder}" of this workspace is missing: its {n} images are listed with their '
                    "verdicts but cannot be shown until it is found again.", count).format(folder=chosen, n=count))
            elif update:
                rel = _rel_or_none(found, base)
                if str(found) != abs_path or rel != rel_path:
                    fixes.append((str(found), rel, rid))
        if fixes and not self.read_only:
            with self._write() as conn:
                conn.executemany("UPDATE roots SET abs_path = ?, rel_path = ? WHERE id = ?", fixes)

    def roots(self) -> list[RootInfo]:
        counts = dict(self._query("SELECT root_id, count(*) FROM images GROUP BY root_id"))
        return [RootInfo(rid, p, self._root_found.get(rid, False), int(counts.get(rid, 0)))
                for rid, p in sorted(self._roots.items())]

    def relink_root(self, root_id: int, folder: str | os.PathLike[str]) -> None:
        """The user found a moved root folder: its images are looked for there from now on."""
        folder = Path(os.path.abspath(folder))
        with self._write() as conn:
            conn.execute("UPDATE roots SET abs_path = ?, rel_path = ? WHERE id = ?",
                         (str(folder), _rel_or_none(folder, self.path.parent), root_id))
        self._roots[root_id] = folder
        self._root_found[root_id] = os.path.isdir(folder)

    def _root_for(self, conn: sqlite3.Connection, path: str, entry_root: Path) -> tuple[int, str]:
        """The root holding ``path`` (the outermost known one), else a new root ``entry_root``."""
        best: tuple[int, int, str] | None = None
        for rid, folder in self._roots.items():
            f = _norm(folder)
            if path.startswith(f.rstrip(os.sep) + os.sep):
                if best is None or len(f) < best[1]:
                    best = (rid, len(f), str(folder))
        if best is None:
            folder = Path(os.path.abspath(entry_root))
            cur = conn.execute("INSERT INTO roots (abs_path, rel_path) VALUES (?, ?)",
                               (str(folder), _rel_or_none(folder, self.path.parent)))
            rid = int(cur.lastrowid)
            self._roots[rid] = folder
            self._root_found[rid] = True
            best = (rid, 0, str(folder))
        return best[0], Path(os.path.relpath(path, best[2])).as_posix()

    # ------------------------------------------------------------------ images

    def _path_index(self) -> dict[str, int]:
        rows = self._query("SELECT id, root_id, rel_path FROM images LIMIT ?", (MAX_IMAGES,))
        out = {}
        for iid, rid, rel in rows:
            folder = self._roots.get(rid)
            if folder is not None and isinstance(rel, str):
                out[_norm(folder.joinpath(*rel.split("/")))] = iid
        return out

    def add_images(self, entries: Iterable[ImageEntry]) -> list[int]:
        """Add images found by :func:`desktop.imageio.list_images` (entries with an error are
        skipped); returns their ids in order, existing ones included (nothing is duplicated)."""
        entries = list(entries)
        index = self._path_index()
        ids: list[int] = []
        now = _now()
        new: dict[str, tuple[ImageEntry, int | None, int | None]] = {}
        for entry in entries:  # file system first: the transaction only writes
            key = _norm(entry.path)
            if entry.ok and key not in index and key not in new:
                try:
                    st = os.stat(entry.path)
                    new[key] = (entry, st.st_size, st.st_mtime_ns)
                except OSError:
                    new[key] = (entry, None, None)
        if len(index) + len(new) > MAX_IMAGES:
            raise WorkspaceError(_("A workspace holds at most {limit} images.").format(limit=f"{MAX_IMAGES:,}"))
        with self._write() as conn:
            for entry in entries:
                if not entry.ok:
                    continue
                key = _norm(entry.path)
                if key in index:
                    ids.append(index[key])
                    continue
                _entry, size, mtime = new[key]
                root_id, rel = self._root_for(conn, key, entry.root)
                cur = conn.execute("INSERT INTO images (root_id, rel_path, size, mtime_ns, added_at) "
                                   "VALUES (?, ?, ?, ?, ?)", (root_id, rel, size, mtime, now))
                iid = int(cur.lastrowid)
                index[key] = iid
                ids.append(iid)
        return ids

    def add_paths(self, paths: Iterable[str | os.PathLike[str]], recursive: bool = False
                  ) -> tuple[list[int], list[ImageEntry]]:
        """Files and folders as the user gave them: (ids of the images, entries that failed)."""
        entries = list_images(paths, recursive=recursive)
        return self.add_images(entries), [e for e in entries if not e.ok]

    def file_state(self, image_id: int) -> tuple[str | None, int | None, int | None]:
        """(SHA-256, size, mtime in ns) of the image file as last seen (None: not known yet)."""
        row = self._one("SELECT sha256, size, mtime_ns FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise KeyError(image_id)
        return _str_or_none(row[0]), _int_or_none(row[1]), _int_or_none(row[2])

    def find_image(self, path: str | os.PathLike[str]) -> int | None:
        """The id of the image at ``path``, if the workspace has it."""
        return self._path_index().get(_norm(path))

    def _record(self, row: tuple, multi_root: bool) -> ImageRecord:
        (iid, rid, rel, status, note, has_note, reviewer, reviewed_at, changed, missing, error, w, h, result_id,
         model_key, persons, seconds, edited, doubt, acc, miou) = row
        folder = self._roots.get(rid, self.path.parent)
        rel = rel if isinstance(rel, str) else ""
        try:
            st = Status(status)
        except ValueError:
            st = Status.NOT_REVIEWED
        return ImageRecord(
            id=int(iid), name=f"{folder.name}/{rel}" if multi_root else rel, folder=folder, rel=rel, status=st,
            note_preview=note if isinstance(note, str) else "", has_note=bool(has_note),
            reviewer=_str_or_none(reviewer), reviewed_at=_str_or_none(reviewed_at),
            changed_since_review=bool(changed), missing=bool(missing), error=_str_or_none(error),
            width=_int_or_none(w), height=_int_or_none(h), result_id=_int_or_none(result_id),
            model_key=_str_or_none(model_key), persons=_int_or_none(persons), parse_seconds=_float_or_none(seconds),
            edited=bool(edited), doubt=_float_or_none(doubt), pixel_accuracy=_float_or_none(acc),
            miou=_float_or_none(miou))

    def records(self) -> list[ImageRecord]:
        """Every image, in the order added (sort and filter with :mod:`desktop.review.listing`).
        One query over small tables: 10,000 images in a few tens of milliseconds."""
        rows = self._query(_LIST_SQL + " ORDER BY i.id LIMIT ?", (MAX_IMAGES,))
        multi = len(self._roots) > 1
        return [self._record(r, multi) for r in rows]

    def record(self, image_id: int) -> ImageRecord:
        rows = self._query(_LIST_SQL + " WHERE i.id = ?", (image_id,))
        if not rows:
            raise KeyError(image_id)
        return self._record(rows[0], len(self._roots) > 1)

    def counts(self) -> dict[str, int]:
        """Images per status value, plus ``"total"``, ``"changed"`` and ``"edited"`` (status bar)."""
        out = {s.value: 0 for s in Status}
        for status, n in self._query("SELECT status, count(*) FROM images GROUP BY status"):
            if status in out:
                out[status] = int(n)
        out["total"] = sum(out[s.value] for s in Status)
        out["changed"] = int(self._one("SELECT count(*) FROM images WHERE changed_since_review")[0])
        out["edited"] = int(self._one("SELECT count(*) FROM edits")[0])
        return out

    def note(self, image_id: int) -> str:
        """The full note (the list holds only its start)."""
        row = self._one("SELECT substr(note, 1, ?) FROM images WHERE id = ?", (MAX_NOTE, image_id))
        return row[0] if row and isinstance(row[0], str) else ""

    # ------------------------------------------------------------------ verdicts

    def set_verdict(self, image_id: int, status: Status | str, note: str | None = None) -> ImageRecord:
        """Record a verdict (and optionally the note) by :attr:`reviewer`, now. A new verdict
        clears "changed since review". One tiny transaction: meant for the GUI thread."""
        status = Status(status)
        now = _now()
        with self._write() as conn:
            cur = conn.execute("UPDATE images SET status = ?, reviewer = ?, reviewed_at = ?, changed_since_review = 0 "
                               "WHERE id = ?", (status.value, self.reviewer, now, image_id))
            if cur.rowcount != 1:
                raise KeyError(image_id)
            if note is not None:
                conn.execute("UPDATE images SET note = ?, note_at = ? WHERE id = ?", (note[:MAX_NOTE], now, image_id))
        return self.record(image_id)

    def set_status(self, image_id: int, status: Status | str) -> ImageRecord:
        return self.set_verdict(image_id, status)

    def set_note(self, image_id: int, note: str) -> ImageRecord:
        """Replace the note (the verdict is untouched). Tiny transaction, GUI thread."""
        with self._write() as conn:
            cur = conn.execute("UPDATE images SET note = ?, note_at = ? WHERE id = ?",
                               (str(note)[:MAX_NOTE], _now(), image_id))
            if cur.rowcount != 1:
                raise KeyError(image_id)
        return self.record(image_id)

    def record_failure(self, image_id: int, message: str | None) -> None:
        """Remember why an image could not be read or parsed (None clears it)."""
        with self._write() as conn:
            conn.execute("UPDATE images SET error = ? WHERE id = ?",
                         (None if message is None else str(message)[:2000], image_id))

    # ------------------------------------------------------------------ files on disk

    def check_files(self, image_ids: Iterable[int] | None = None, *, hash_unknown: bool = False,
                    should_stop: Callable[[], bool] | None = None) -> FileCheck:
        """Compare images with their files: size and modification time, then the SHA-256
        when those changed (``hash_unknown``: also hash images never hashed). Updates the
        rows (see the module docstring on staleness). Reads files: call from a worker."""
        wanted = None if image_ids is None else set(image_ids)
        rows = self._query("SELECT i.id, i.root_id, i.rel_path, i.size, i.mtime_ns, i.sha256, i.status, "
                           "e.image_id IS NOT NULL, i.missing FROM images i LEFT JOIN edits e ON e.image_id = i.id "
                           "LIMIT ?", (MAX_IMAGES,))
        check = FileCheck()
        updates: list[tuple] = []
        for iid, rid, rel, size, mtime, sha, status, edited, was_missing in rows:
            if wanted is not None and iid not in wanted:
                continue
            if should_stop is not None and should_stop():
                break
            path = self._roots.get(rid, self.path.parent).joinpath(*str(rel).split("/"))
            try:
                st = os.stat(path)
            except OSError:
                check.missing.append(iid)
                if not was_missing:
                    updates.append(("missing", iid))
                continue
            same_stat = st.st_size == size and st.st_mtime_ns == mtime
            if same_stat and (sha is not None or not hash_unknown):
                check.unchanged.append(iid)
                if was_missing:
                    updates.append(("found", iid))
                continue
            if sha is None and not hash_unknown:
                updates.append(("stat", iid, st.st_size, st.st_mtime_ns))
                check.unchanged.append(iid)
                continue
            try:
                digest = sha256_file(path)
            except OSError as exc:
                check.unreadable.append((iid, _('"{path}" cannot be read: {reason}.').format(
                        path=path, reason=exc.strerror or exc)))
                continue
            if digest == sha or sha is None:
                (check.touched if sha is not None else check.unchanged).append(iid)
                updates.append(("same", iid, st.st_size, st.st_mtime_ns, digest))
            else:
                check.changed.append(iid)
                flag = status != Status.NOT_REVIEWED.value or bool(edited)
                if flag:
                    check.flagged.append(iid)
                updates.append(("changed", iid, st.st_size, st.st_mtime_ns, digest, flag))
        if updates and not self.read_only:
            with self._write() as conn:
                for u in updates:
                    if u[0] == "missing":
                        conn.execute("UPDATE images SET missing = 1 WHERE id = ?", (u[1],))
                    elif u[0] == "found":
                        conn.execute("UPDATE images SET missing = 0 WHERE id = ?", (u[1],))
                    elif u[0] == "stat":
                        conn.execute("UPDATE images SET size = ?, mtime_ns = ?, missing = 0 WHERE id = ?",
                                     (u[2], u[3], u[1]))
                    elif u[0] == "same":
                        conn.execute("UPDATE images SET size = ?, mtime_ns = ?, sha256 = ?, missing = 0 WHERE id = ?",
                                     (u[2], u[3], u[4], u[1]))
                        conn.execute("UPDATE images SET result_id = (SELECT id FROM results WHERE sha256 = ? "
                                     "ORDER BY created_at DESC LIMIT 1) WHERE id = ? AND result_id IS NULL",
                                     (u[4], u[1]))
                    else:
                        _kind, iid, size, mtime, digest, flag = u
                        conn.execute(
                            "UPDATE images SET size = ?, mtime_ns = ?, sha256 = ?, missing = 0, error = NULL, "
                            "width = NULL, height = NULL, changed_since_review = changed_since_review OR ?, "
                            "result_id = (SELECT id FROM results WHERE sha256 = ? ORDER BY created_at DESC LIMIT 1) "
                            "WHERE id = ?", (size, mtime, digest, int(flag), digest, iid))
        return check

    # ------------------------------------------------------------------ results

    @staticmethod
    def encode(result: ParsingResult) -> EncodedResult:
        """Encode a result for :meth:`store_result` (pure; do it in the worker thread)."""
        s = result_summary(result)
        return EncodedResult(encode_result(result), s["width"], s["height"], s["persons"], s["parts"],
                             s["parse_seconds"])

    def _model_id(self, conn: sqlite3.Connection, model: ModelIdentity) -> int:
        row = conn.execute("SELECT id FROM models WHERE key = ?", (model.key,)).fetchone()
        if row:
            return int(row[0])
        cur = conn.execute("INSERT INTO models (key, weights_sha256, runtime, precision, name) VALUES (?, ?, ?, ?, ?)",
                           (model.key, model.weights_sha256, model.runtime, model.precision, model.name))
        return int(cur.lastrowid)

    def store_result(self, image_id: int, result: ParsingResult | EncodedResult, model: ModelIdentity, *,
                     sha256: str, size: int | None = None, mtime_ns: int | None = None) -> int:
        """Keep ``result`` of the image whose content has ``sha256`` (and, when given, the
        file's size and mtime at parsing time), made by ``model``. Replaces a result of the same
        content and model; the image then shows this result. Returns the result id.

        Encodes outside the transaction (pass an :class:`EncodedResult` to do it earlier):
        call from a worker thread.
        """
        enc = result if isinstance(result, EncodedResult) else self.encode(result)
        now = _now()
        with self._write() as conn:
            model_id = self._model_id(conn, model)
            conn.execute(
                "INSERT INTO results (sha256, model_id, width, height, persons, parts, parse_seconds, codec, bytes, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256, model_id) DO UPDATE SET "
                "width = excluded.width, height = excluded.height, persons = excluded.persons, parts = excluded.parts, "
                "parse_seconds = excluded.parse_seconds, codec = excluded.codec, bytes = excluded.bytes, "
                "created_at = excluded.created_at, doubt_score = NULL, doubt_reasons = NULL",
                (sha256, model_id, enc.width, enc.height, enc.persons, enc.parts, enc.parse_seconds, CODEC_VERSION,
                 len(enc.data), now))
            rid = int(conn.execute("SELECT id FROM results WHERE sha256 = ? AND model_id = ?",
                                   (sha256, model_id)).fetchone()[0])
            conn.execute("INSERT INTO result_blobs (result_id, data) VALUES (?, ?) "
                         "ON CONFLICT (result_id) DO UPDATE SET data = excluded.data", (rid, enc.data))
            old = conn.execute("SELECT i.sha256, i.status, e.image_id IS NOT NULL FROM images i LEFT JOIN edits e "
                               "ON e.image_id = i.id WHERE i.id = ?", (image_id,)).fetchone()
            if old is None:
                raise KeyError(image_id)
            flag = old[0] is not None and old[0] != sha256 and (old[1] != Status.NOT_REVIEWED.value or bool(old[2]))
            sets = "sha256 = ?, width = ?, height = ?, result_id = ?, error = NULL, missing = 0"
            params: list[Any] = [sha256, enc.width, enc.height, rid]
            if size is not None and mtime_ns is not None:
                sets += ", size = ?, mtime_ns = ?"
                params += [size, mtime_ns]
            if flag:
                sets += ", changed_since_review = 1"
            conn.execute(f"UPDATE images SET {sets} WHERE id = ?", (*params, image_id))
        self._maybe_checkpoint()
        return rid

    def result_id_for(self, image_id: int, model: ModelIdentity | None = None) -> int | None:
        """The stored result for the image's current content: of ``model`` when given, else
        the one the image shows (None when it needs parsing)."""
        if model is None:
            row = self._one("SELECT result_id FROM images WHERE id = ?", (image_id,))
        else:
            row = self._one("SELECT r.id FROM images i JOIN results r ON r.sha256 = i.sha256 "
                            "JOIN models m ON m.id = r.model_id WHERE i.id = ? AND m.key = ?", (image_id, model.key))
        return _int_or_none(row[0]) if row else None

    def use_result(self, image_id: int, result_id: int) -> None:
        """Show this stored result for the image (e.g. another model's, when the user asks)."""
        with self._write() as conn:
            conn.execute("UPDATE images SET result_id = ? WHERE id = ? AND sha256 = "
                         "(SELECT sha256 FROM results WHERE id = ?)", (result_id, image_id, result_id))

    def load_result(self, image_id: int, model: ModelIdentity | None = None) -> ParsingResult | None:
        """The stored model result (see :meth:`result_id_for`), decoded; None when there is
        none or it cannot be read (logged; the image is then simply parsed again).
        About 50-100 ms for a 1920x1080 result: fine on the GUI thread for the image shown,
        better in a worker for prefetching."""
        rid = self.result_id_for(image_id, model)
        return None if rid is None else self.load_result_by_id(rid)

    def load_result_by_id(self, result_id: int) -> ParsingResult | None:
        try:
            row = self._one("SELECT data FROM result_blobs WHERE result_id = ?", (result_id,))
        except WorkspaceError as exc:
            log.warning("Stored result %s cannot be read: %s", result_id, exc)
            return None
        if row is None or not isinstance(row[0], bytes):
            return None
        try:
            return decode_result(row[0], self.limits)
        except ResultDecodeError as exc:
            log.warning("Stored result %s of %s cannot be used: %s", result_id, self.path, exc)
            return None

    def load_labels(self, image_id: int) -> np.ndarray | None:
        """Only the label map the image shows: the edited one when edited, else the model's
        (tens of milliseconds: draw the overlay with it, then load the whole result)."""
        edits = self.edited_maps(image_id)
        if edits is not None:
            return edits.labels
        rid = self.result_id_for(image_id)
        if rid is None:
            return None
        try:
            row = self._one("SELECT data FROM result_blobs WHERE result_id = ?", (rid,))
            return None if row is None else decode_labels(row[0], self.limits)
        except (WorkspaceError, ResultDecodeError, TypeError) as exc:
            log.warning("Stored labels of image %s cannot be read: %s", image_id, exc)
            return None

    def result_model(self, result_id: int) -> ModelIdentity | None:
        row = self._one("SELECT m.weights_sha256, m.runtime, m.precision, m.name FROM results r "
                        "JOIN models m ON m.id = r.model_id WHERE r.id = ?", (result_id,))
        return ModelIdentity(*(str(v) for v in row)) if row else None

    def models(self) -> dict[str, ModelIdentity]:
        """Every model that made a stored result, by key."""
        rows = self._query("SELECT key, weights_sha256, runtime, precision, name FROM models")
        return {str(k): ModelIdentity(str(w), str(r), str(p), str(n)) for k, w, r, p, n in rows}

    # ------------------------------------------------------------------ edits (issue 15)

    def save_edits(self, image_id: int, labels: np.ndarray, persons: np.ndarray, *,
                   changes: dict | None = None, base_result_id: int | None = None) -> bool:
        """Store the reviewer's maps of an image (replacing earlier ones), by :attr:`reviewer`, now.

        ``labels`` (H, W) uint8 and ``persons`` (H, W) uint16 must be consistent
        (:func:`desktop.review.maps.consistency_problems`; ValueError otherwise). ``changes``
        is the provenance: :meth:`ChangeStatistics.as_dict` of ``desktop.review.edit_stats``;
        computed here against the base result when not given. Maps identical to the model's
        remove the edit (the image is no longer edited). Returns whether the image is edited.
        Encodes (and may decode the base) outside the transaction: call from a worker.
        """
        problems = consistency_problems(labels, persons)
        if problems:
            raise ValueError("The edited maps are inconsistent: " + "; ".join(problems))
        if base_result_id is None:
            base_result_id = self.result_id_for(image_id)
        if changes is None:
            changes = self._changes(base_result_id, labels, persons)
        pixels = changes.get("changed_pixels")
        if not isinstance(pixels, int) or pixels < 0:
            raise ValueError("changes must say how many pixels changed (changed_pixels)")
        if pixels == 0:
            self.discard_edits(image_id)
            return False
        lab = encode_array(np.ascontiguousarray(labels, dtype=np.uint8))
        per = encode_array(np.ascontiguousarray(persons, dtype=np.uint16))
        n_persons = int(np.unique(persons[persons != 0]).size) if persons.any() else 0
        h, w = labels.shape
        with self._write() as conn:
            conn.execute(
                "INSERT INTO edits (image_id, base_result_id, width, height, persons, pixels_changed, changes, editor, "
                "edited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
                "base_result_id = excluded.base_result_id, width = excluded.width, height = excluded.height, "
                "persons = excluded.persons, pixels_changed = excluded.pixels_changed, changes = excluded.changes, "
                "editor = excluded.editor, edited_at = excluded.edited_at",
                (image_id, base_result_id, w, h, n_persons, pixels, json.dumps(changes), self.reviewer, _now()))
            conn.execute("INSERT INTO edit_blobs (image_id, labels, persons) VALUES (?, ?, ?) ON CONFLICT (image_id) "
                         "DO UPDATE SET labels = excluded.labels, persons = excluded.persons", (image_id, lab, per))
        self._maybe_checkpoint()
        return True

    def _changes(self, base_result_id: int | None, labels: np.ndarray, persons: np.ndarray) -> dict:
        from desktop.review.edit_stats import change_statistics  # the editing module's own measure

        base = None if base_result_id is None else self.load_result_by_id(base_result_id)
        if base is not None and base.labels.shape == labels.shape:
            base_labels, base_persons, names = base.labels, person_map_of(base), base.class_names
        else:
            from desktop.resources import default_class_names

            base_labels = np.zeros_like(labels, dtype=np.uint8)
            base_persons = np.zeros_like(persons, dtype=np.uint16)
            names = default_class_names()
        return change_statistics(base_labels, base_persons, labels, persons).as_dict(names)

    def edited_maps(self, image_id: int) -> EditedMaps | None:
        """The reviewer's maps, or None when the image is not edited (or they cannot be read)."""
        row = self._one("SELECT e.base_result_id, e.width, e.height, e.pixels_changed, e.changes, e.editor, "
                        "e.edited_at, b.labels, b.persons FROM edits e JOIN edit_blobs b ON b.image_id = e.image_id "
                        "WHERE e.image_id = ?", (image_id,))
        if row is None:
            return None
        base, w, h, pixels, changes, editor, at, lab, per = row
        try:
            if not (isinstance(w, int) and isinstance(h, int) and 0 < w and 0 < h
                    and w * h <= self.limits.max_pixels):
                raise ResultDecodeError(f"the edited maps declare an invalid size {w} x {h}")
            labels = decode_array(lab, "uint8", (h, w))
            persons = decode_array(per, "uint16", (h, w))
        except (ResultDecodeError, TypeError) as exc:
            log.warning("Edited maps of image %s cannot be read: %s", image_id, exc)
            return None
        return EditedMaps(labels, persons, _int_or_none(base), _str_or_none(editor), str(at),
                          int(pixels) if isinstance(pixels, int) else 0, _json_or(changes, {}))

    def discard_edits(self, image_id: int) -> None:
        """Back to the model's result ("Revert to the model's result")."""
        with self._write() as conn:
            conn.execute("DELETE FROM edit_blobs WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM edits WHERE image_id = ?", (image_id,))

    def effective_result(self, image_id: int) -> tuple[ParsingResult, bool] | None:
        """What exports write: (the result rebuilt from the edited maps, True) when edited,
        else (the stored model result, False); None when the image has neither."""
        edits = self.edited_maps(image_id)
        if edits is not None:
            base = None
            if edits.base_result_id is not None:
                base = self.load_result_by_id(edits.base_result_id)
            if base is None:
                base = self.load_result(image_id)
            if base is not None and base.labels.shape != edits.labels.shape:
                base = None
            return result_from_maps(edits.labels, edits.persons, base), True
        result = self.load_result(image_id)
        return None if result is None else (result, False)

    def review_info(self, image_id: int) -> dict:
        """The image's review for exported JSON (the ``review`` section of the schema)."""
        row = self._one("SELECT status, substr(note, 1, ?), reviewer, reviewed_at, changed_since_review "
                        "FROM images WHERE id = ?", (MAX_NOTE, image_id))
        if row is None:
            raise KeyError(image_id)
        status, note, reviewer, at, changed = row
        info: dict[str, Any] = {"status": Status(status).value if status in {s.value for s in Status} else
                                Status.NOT_REVIEWED.value,
                                "note": note or "", "reviewer": _str_or_none(reviewer),
                                "reviewed_at": _str_or_none(at), "changed_since_review": bool(changed), "edited": None}
        edit = self._one("SELECT editor, edited_at, pixels_changed, changes FROM edits WHERE image_id = ?", (image_id,))
        if edit is not None:
            info["edited"] = {"reviewer": _str_or_none(edit[0]), "time": str(edit[1]),
                              "pixels_changed": int(edit[2]), "changes": _json_or(edit[3], {})}
        return info

    # ------------------------------------------------------------------ doubt (issue 16)

    def set_doubt(self, image_id: int, score: float | None, reasons: list[dict] | None = None) -> None:
        """Attach a doubt score (higher: look first) and its reasons (JSON-able dicts, e.g.
        ``{"code": "two-faces", "message": "Person 2 has two face regions", "person": 2,
        "class": "Face"}``) to the model result the image shows. A new parse of the image
        clears them."""
        text = json.dumps(reasons or [])
        if len(text) > MAX_JSON:
            raise ValueError("too many doubt reasons to store")
        with self._write() as conn:
            cur = conn.execute("UPDATE results SET doubt_score = ?, doubt_reasons = ? WHERE id = "
                               "(SELECT result_id FROM images WHERE id = ?)",
                               (None if score is None else float(score), text, image_id))
            if cur.rowcount != 1:
                raise ValueError(f"image {image_id} has no stored result to attach a doubt score to")

    def doubt(self, image_id: int) -> tuple[float | None, list[dict]]:
        row = self._one("SELECT r.doubt_score, r.doubt_reasons FROM images i JOIN results r ON r.id = i.result_id "
                        "WHERE i.id = ?", (image_id,))
        if row is None:
            return None, []
        reasons = _json_or(row[1], [])
        return _float_or_none(row[0]), reasons if isinstance(reasons, list) else []

    def set_comparison(self, image_id: int, source: str, pixel_accuracy: float | None, miou: float | None,
                       confusion: np.ndarray | None = None, details: dict | None = None) -> None:
        """Figures of agreement with an existing annotation (``source``: where it came from)."""
        blob = None
        if confusion is not None:
            c = np.asarray(confusion)
            if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] > 256:
                raise ValueError("a confusion matrix is square, at most 256 x 256")
            blob = json.dumps({"n": int(c.shape[0])}).encode() + b"\n" + encode_array(c.astype(np.int64))
        with self._write() as conn:
            conn.execute("INSERT INTO comparisons (image_id, source, pixel_accuracy, miou, confusion, details, "
                         "computed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
                         "source = excluded.source, pixel_accuracy = excluded.pixel_accuracy, miou = excluded.miou, "
                         "confusion = excluded.confusion, details = excluded.details, "
                         "computed_at = excluded.computed_at",
                         (image_id, str(source), pixel_accuracy, miou, blob,
                          None if details is None else json.dumps(details), _now()))

    def comparison(self, image_id: int) -> Comparison | None:
        row = self._one("SELECT source, pixel_accuracy, miou, confusion, details, computed_at FROM comparisons "
                        "WHERE image_id = ?", (image_id,))
        if row is None:
            return None
        confusion = None
        if isinstance(row[3], bytes) and b"\n" in row[3]:
            head, _newline, data = row[3].partition(b"\n")
            n = _json_or(head.decode("utf-8", "replace"), {}).get("n")
            if isinstance(n, int) and 0 < n <= 256:
                with contextlib.suppress(ResultDecodeError):
                    confusion = decode_array(data, "int64", (n, n))
        details = _json_or(row[4], None)
        return Comparison(str(row[0]), _float_or_none(row[1]), _float_or_none(row[2]), confusion,
                          details if isinstance(details, dict) else None, str(row[5]))

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
