"""The review report: one row per image of a workspace, as CSV or JSON.

Shared by ``python -m desktop.cli report`` and the window's *Export review report*, so both
write the same thing. Times are local with their UTC offset (people read them); the status is
the stable value (``not_reviewed``, ``accepted``, ``needs_fix``, ``rejected``) so scripts can
rely on it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime

from desktop.atomic import atomic_write_text
from desktop.review.listing import sort_records
from desktop.review.workspace import Workspace

__all__ = ["COLUMNS", "FORMATS", "format_report", "report_rows", "write_report"]

COLUMNS = ("path", "status", "note", "reviewer", "reviewed_at", "persons", "edited", "model",
           "changed_since_review")
FORMATS = ("csv", "json")


def _local(stamp: str | None) -> str | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().isoformat(timespec="seconds")
    except ValueError:
        return stamp


def report_rows(ws: Workspace) -> list[dict]:
    """One dict per image, in natural order of the names, with :data:`COLUMNS` as keys."""
    models = {key: m.describe() for key, m in ws.models().items()}
    rows = []
    for r in sort_records(ws.records(), "name"):
        rows.append({
            "path": r.name,
            "status": r.status.value,
            "note": ws.note(r.id) if r.has_note else "",
            "reviewer": r.reviewer,
            "reviewed_at": _local(r.reviewed_at),
            "persons": r.persons,
            "edited": r.edited,
            "model": models.get(r.model_key) if r.model_key else None,
            "changed_since_review": r.changed_since_review,
        })
    return rows


def format_report(rows: list[dict], fmt: str = "csv") -> str:
    """``rows`` as CSV (header line, empty cells for missing values, ``yes``/``no``) or JSON."""
    if fmt == "json":
        return json.dumps({"images": rows}, indent=1, ensure_ascii=False) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else ("yes" if row[c] is True else "no" if row[c] is False else row[c])
                         for c in COLUMNS])
    return buf.getvalue()


def write_report(ws: Workspace, path: str | os.PathLike[str], fmt: str | None = None) -> None:
    """Write the report to ``path`` atomically; the format follows the suffix unless given."""
    fmt = fmt or ("json" if str(path).lower().endswith(".json") else "csv")
    text = format_report(report_rows(ws), fmt)
    # Excel opens UTF-8 CSV correctly only with a byte order mark.
    atomic_write_text(path, ("\ufeff" + text) if fmt == "csv" else text)
