"""The image side of a workspace: root folders, the image list, verdicts and notes, files on disk.

A mixin of :class:`desktop.review.workspace.Workspace` (split from it to keep one idea per
module; use it only through ``Workspace``). It relies on the connection and transaction
helpers the workspace defines (``_query``, ``_one``, ``_write``) and on its root folders
(``_roots``, ``_root_found``), declared below for type checkers.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.i18n import _, ngettext
from desktop.imageio import ImageEntry, list_images, sha256_file
from desktop.review.workspace_records import (
    MAX_IMAGES,
    MAX_NOTE,
    NOTE_PREVIEW,
    FileCheck,
    ImageRecord,
    RootInfo,
    Status,
    WorkspaceError,
    _float_or_none,
    _int_or_none,
    _norm,
    _now,
    _rel_or_none,
    _str_or_none,
)

__all__ = ["WorkspaceImages"]

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


class WorkspaceImages:
    """Roots, images, verdicts, notes and the check of files on disk (see the workspace module)."""

    # Provided by Workspace.
    path: Path
    read_only: bool
    reviewer: str
    notices: list[str]
    _roots: dict[int, Path]
    _root_found: dict[int, bool]

    if TYPE_CHECKING:
        def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

        def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple | None: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

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
