"""The workspace database's schema, its migrations, and how a file is opened safely.

A workspace comes from anyone (a colleague, a download), so opening one must not run code
or read unbounded data:

- connections use SQLite's defensive settings: ``trusted_schema`` off (functions and virtual
  tables in the schema are not trusted), extension loading off, cell size checks on,
  no memory mapping, a cap on the size of any string or blob, and on Python 3.12+ the
  ``SQLITE_DBCONFIG_DEFENSIVE`` flag;
- before anything else is read, the file's schema (every table, index, trigger and view in
  ``sqlite_master``) is compared with what this module creates for the file's version: a
  trigger, a view or any object we did not create makes the file refused;
- the file header is checked before SQLite touches the file: the magic string, and that the
  file is at least as long as its header says (a truncated copy is caught here, not halfway
  through a query).

Versions: ``PRAGMA user_version`` holds the schema version, ``PRAGMA application_id`` marks
the file as ours. :data:`MIGRATIONS` maps each version to the statements that build it from
the previous one; a new version appends a step, never edits an old one (files in the field
were made by the old steps). What each version's schema must look like is computed by
running the steps on an in-memory database, so the check can never drift from the DDL.

- version 1: roots, images (path, size, mtime, SHA-256, verdict, note, reviewer, times),
  models, results (summary) and result blobs (the encoded ParsingResult);
- version 2: room for editing and doubt: edits (summary and provenance) and edit blobs (the
  edited label and person maps), comparisons with existing annotations, and a doubt score
  with its reasons on each result.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import struct
from pathlib import Path
from urllib.parse import quote

from desktop.i18n import _

__all__ = [
    "APPLICATION_ID",
    "CURRENT_VERSION",
    "MAX_VALUE_BYTES",
    "MIGRATIONS",
    "SchemaProblem",
    "check_header",
    "check_schema",
    "connect",
    "create_or_migrate",
]

APPLICATION_ID = 0x4D324657  # "M2FW"
#: The largest string or blob any connection reads or writes (a hostile row cannot make us
#: allocate more; the largest real value, an edited map of an 80-megapixel photo, is far below).
MAX_VALUE_BYTES = 256 * 1024 * 1024
BUSY_TIMEOUT_MS = 5000

_V1 = [
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        abs_path TEXT NOT NULL,
        rel_path TEXT
    )""",
    """CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        weights_sha256 TEXT NOT NULL,
        runtime TEXT NOT NULL,
        precision TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        persons INTEGER NOT NULL,
        parts INTEGER NOT NULL,
        parse_seconds REAL,
        codec INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (sha256, model_id)
    )""",
    """CREATE TABLE result_blobs (
        result_id INTEGER PRIMARY KEY REFERENCES results(id) ON DELETE CASCADE,
        data BLOB NOT NULL
    )""",
    """CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        root_id INTEGER NOT NULL REFERENCES roots(id),
        rel_path TEXT NOT NULL,
        size INTEGER,
        mtime_ns INTEGER,
        sha256 TEXT,
        width INTEGER,
        height INTEGER,
        status TEXT NOT NULL DEFAULT 'not_reviewed'
            CHECK (status IN ('not_reviewed', 'accepted', 'needs_fix', 'rejected')),
        note TEXT NOT NULL DEFAULT '',
        reviewer TEXT,
        reviewed_at TEXT,
        note_at TEXT,
        changed_since_review INTEGER NOT NULL DEFAULT 0,
        missing INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        result_id INTEGER REFERENCES results(id) ON DELETE SET NULL,
        added_at TEXT NOT NULL,
        UNIQUE (root_id, rel_path)
    )""",
    "CREATE INDEX images_by_sha256 ON images(sha256)",
]

_V2 = [
    "ALTER TABLE results ADD COLUMN doubt_score REAL",
    "ALTER TABLE results ADD COLUMN doubt_reasons TEXT",
    """CREATE TABLE edits (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        base_result_id INTEGER REFERENCES results(id) ON DELETE SET NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        persons INTEGER NOT NULL,
        pixels_changed INTEGER NOT NULL,
        changes TEXT NOT NULL,
        editor TEXT,
        edited_at TEXT NOT NULL
    )""",
    """CREATE TABLE edit_blobs (
        image_id INTEGER PRIMARY KEY REFERENCES edits(image_id) ON DELETE CASCADE,
        labels BLOB NOT NULL,
        persons BLOB NOT NULL
    )""",
    """CREATE TABLE comparisons (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        pixel_accuracy REAL,
        miou REAL,
        confusion BLOB,
        details TEXT,
        computed_at TEXT NOT NULL
    )""",
]

#: version -> statements that turn version - 1 into it (version 1: from an empty file).
MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2}
CURRENT_VERSION = max(MIGRATIONS)
#: SQLite's own statistics table (``ANALYZE`` in the sqlite3 shell makes it): harmless, tolerated.
_TOLERATED = {"sqlite_stat1"}


class SchemaProblem(Exception):
    """Why a file is not a usable workspace; ``kind`` is one of ``not-database``, ``damaged``,
    ``foreign`` (another program's database), ``newer`` (a newer version of the app) and
    ``hostile`` (objects we never create). The message is a plain sentence."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------- connections

def _uri(path: Path, mode: str, immutable: bool = False) -> str:
    uri = f"file:{quote(str(path.absolute()).replace(os.sep, '/'), safe='/:')}?mode={mode}"
    return uri + ("&immutable=1" if immutable else "")


def connect(path: Path, *, read_only: bool, immutable: bool = False, query_only: bool = False) -> sqlite3.Connection:
    """A connection with the defensive settings (see the module docstring), autocommit
    (``isolation_level=None``: writers say ``BEGIN IMMEDIATE`` themselves).

    ``query_only``: opened for writing but refusing every change. A reader that can write the
    folder uses it so that, being the last to close, it folds the write-ahead log back into
    the file and removes the ``-wal`` and ``-shm`` files (a ``mode=ro`` connection cannot,
    and would leave them beside the workspace)."""
    mode = "ro" if read_only and not query_only else ("rw" if query_only else "rwc")
    conn = sqlite3.connect(_uri(path, mode, immutable), uri=True, isolation_level=None,
                           check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        setconfig = getattr(conn, "setconfig", None)  # Python 3.12+
        if setconfig is not None and hasattr(sqlite3, "SQLITE_DBCONFIG_DEFENSIVE"):
            setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)
            for flag in ("SQLITE_DBCONFIG_TRUSTED_SCHEMA", "SQLITE_DBCONFIG_ENABLE_TRIGGER",
                         "SQLITE_DBCONFIG_ENABLE_VIEW"):
                if hasattr(sqlite3, flag):
                    setconfig(getattr(sqlite3, flag), False)
        with_ext = getattr(conn, "enable_load_extension", None)
        if with_ext is not None:
            with_ext(False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 1_000_000)
        for pragma in ("trusted_schema = OFF", "cell_size_check = ON", "mmap_size = 0", "foreign_keys = ON",
                       f"busy_timeout = {BUSY_TIMEOUT_MS}", "synchronous = NORMAL", "wal_autocheckpoint = 0"):
            conn.execute(f"PRAGMA {pragma}")
        if query_only:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


# --------------------------------------------------------------------------- checks

_HEADER = struct.Struct(">16sH6xII60xI4x")  # magic, page size, change counter, page count, valid-for


def check_header(path: Path) -> None:
    """Refuse a file that is not an SQLite database or is shorter than its header says.

    A missing or empty file passes (SQLite makes a new database of it).
    """
    if not os.path.exists(path):
        return
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise SchemaProblem("damaged", _("it cannot be read ({reason})").format(reason=exc.strerror or exc)) from None
    if size == 0:
        return
    if len(head) < 100 or not head.startswith(b"SQLite format 3\0"):
        raise SchemaProblem("not-database", _("it is not a workspace file (not an SQLite database)"))
    _magic, page_size, counter, pages, valid_for = _HEADER.unpack(head)
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise SchemaProblem("damaged", _("its header is damaged"))
    # A crash during a checkpoint can leave the file shorter than its header says while the
    # write-ahead log still holds every page: SQLite completes it on open. Only without one
    # is a short file truly cut.
    pending = any(_nonempty(path.with_name(path.name + s)) for s in ("-wal", "-journal"))
    if pages and counter == valid_for and size < pages * page_size and not pending:
        raise SchemaProblem("damaged", _("it is cut short ({size} bytes of the {expected} it should have)").format(
            size=f"{size:,}", expected=f"{pages * page_size:,}"))


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


@functools.cache
def expected_objects(version: int) -> frozenset[tuple[str, str, str, str]]:
    """(type, name, table, sql) of every schema object a version-``version`` file has."""
    conn = sqlite3.connect(":memory:")
    try:
        for v in range(1, version + 1):
            for statement in MIGRATIONS[v]:
                conn.execute(statement)
        return _objects(conn)
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> frozenset[tuple[str, str, str, str]]:
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return frozenset((str(t), str(n), str(tb), " ".join(str(s).split()) if s is not None else "")
                     for t, n, tb, s in rows if n not in _TOLERATED)


def check_schema(conn: sqlite3.Connection) -> int:
    """The file's schema version after checking that it is ours, not newer, and holds exactly
    the objects that version has. Returns 0 for an empty database (nothing in it yet)."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        count = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.OperationalError:
        raise  # cannot open, busy: not a verdict on the file's content
    except sqlite3.DatabaseError as exc:
        raise SchemaProblem("damaged", _("SQLite cannot read it ({reason})").format(reason=exc)) from None
    if app_id != APPLICATION_ID:
        if count == 0 and app_id == 0 and version == 0:
            return 0
        raise SchemaProblem("foreign", _("it is a database of another program, not a workspace of this application"))
    if version > CURRENT_VERSION:
        raise SchemaProblem("newer", _("it was made by a newer version of this application (workspace format "
                                       "{version}; this version reads up to {current}). Update the application")
                            .format(version=version, current=CURRENT_VERSION))
    if version < 1:
        raise SchemaProblem("damaged", _("its format version is missing"))
    try:
        found = _objects(conn)
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:
        raise SchemaProblem("damaged", _("SQLite cannot read its table list ({reason})").format(reason=exc)) from None
    unexpected = found - expected_objects(version)
    if unexpected:
        kinds = sorted({f"{t} {n}" for t, n, _tb, _s in unexpected})[:5]
        raise SchemaProblem("hostile", _("it contains things this application never creates ({things}), so it is "
                                         "not opened").format(things=", ".join(kinds)))
    if expected_objects(version) - found:
        raise SchemaProblem("damaged", _("tables are missing from it"))
    return int(version)


def create_or_migrate(conn: sqlite3.Connection, version: int) -> int:
    """Bring a checked file from ``version`` (0: empty) to :data:`CURRENT_VERSION` in one
    transaction (a crash leaves the old version intact). Returns the new version."""
    if version >= CURRENT_VERSION:
        return version
    if version == 0:
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have created or migrated it between our check and our lock.
        now = conn.execute("PRAGMA user_version").fetchone()[0]
        if now != version:
            conn.execute("ROLLBACK")
            return check_schema(conn)
        for v in range(version + 1, CURRENT_VERSION + 1):
            for statement in MIGRATIONS[v]:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {CURRENT_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return CURRENT_VERSION


def build_version(path: Path, version: int) -> None:
    """Create a workspace file of an older ``version`` (tests of the migrations use it)."""
    conn = connect(path, read_only=False)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        for v in range(1, version + 1):
            for statement in MIGRATIONS[v]:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    finally:
        conn.close()
