"""The result side of a workspace: parsing results, the reviewer's edits, doubt and comparisons.

A mixin of :class:`desktop.review.workspace.Workspace` (split from it to keep one idea per
module; use it only through ``Workspace``). It relies on the connection and transaction
helpers the workspace defines (``_query``, ``_one``, ``_write``, ``_maybe_checkpoint``),
declared below for type checkers. Results are stored losslessly by
:mod:`desktop.review.result_codec`, keyed by image content and model identity.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.engine.result import ParsingResult
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
from desktop.review.workspace_records import (
    MAX_JSON,
    MAX_NOTE,
    Comparison,
    EditedMaps,
    EncodedResult,
    Status,
    WorkspaceError,
    _float_or_none,
    _int_or_none,
    _json_or,
    _now,
    _str_or_none,
)

log = logging.getLogger(__name__)

__all__ = ["WorkspaceResults"]


class WorkspaceResults:
    """Results, edits, doubt scores and comparisons (see the workspace module)."""

    # Provided by Workspace.
    path: Path
    reviewer: str
    limits: DecodeLimits

    if TYPE_CHECKING:
        def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

        def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple | None: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _maybe_checkpoint(self) -> None: ...

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
