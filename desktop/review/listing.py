"""Sorting and filtering the workspace's image list (pure functions: no database, no Tk).

The window fetches every :class:`~desktop.review.workspace.ImageRecord` once (10,000 in tens
of milliseconds) and sorts and filters them here in memory, so changing the sort or typing in
the search box never queries the database. Names sort naturally (img2 before img10); images
without a value for the sort key (not parsed, no doubt score...) always come last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from desktop.imageio import natural_key
from desktop.review.workspace import ImageRecord, Status

__all__ = ["SORT_KEYS", "filter_records", "needs_attention", "next_needing_attention", "sort_records"]

#: Verdicts in the order "most in need of a look first".
_STATUS_ORDER = {Status.NOT_REVIEWED: 0, Status.NEEDS_FIX: 1, Status.REJECTED: 2, Status.ACCEPTED: 3}

_KEYS: dict[str, Callable[[ImageRecord], object]] = {
    "name": lambda r: None,  # handled apart: the natural key is the whole sort
    "status": lambda r: _STATUS_ORDER[r.status],
    "persons": lambda r: r.persons,
    "parse_time": lambda r: r.parse_seconds,
    "edited": lambda r: int(r.edited),
    "doubt": lambda r: r.doubt,
    "agreement": lambda r: r.miou,
    "reviewed_at": lambda r: r.reviewed_at,
}
SORT_KEYS: tuple[str, ...] = tuple(_KEYS)


def sort_records(records: Iterable[ImageRecord], key: str = "name", descending: bool = False) -> list[ImageRecord]:
    """``records`` sorted by ``key`` (one of :data:`SORT_KEYS`), ties by name; missing values last."""
    if key not in _KEYS:
        raise ValueError(f"unknown sort key {key!r} (choose from {', '.join(SORT_KEYS)})")
    by_name = sorted(records, key=lambda r: natural_key(r.name), reverse=descending and key == "name")
    if key == "name":
        return by_name
    get = _KEYS[key]
    present = [r for r in by_name if get(r) is not None]
    absent = [r for r in by_name if get(r) is None]
    present.sort(key=get, reverse=descending)  # stable: equal values keep the name order
    return present + absent


def needs_attention(record: ImageRecord) -> bool:
    """Not reviewed, marked "needs fix", or changed on disk since its review."""
    return record.status in (Status.NOT_REVIEWED, Status.NEEDS_FIX) or record.changed_since_review


def filter_records(
    records: Iterable[ImageRecord],
    *,
    statuses: Iterable[Status | str] | None = None,
    text: str = "",
    edited: bool | None = None,
    changed: bool | None = None,
    failed: bool | None = None,
    parsed: bool | None = None,
    attention: bool | None = None,
    model_key: str | None = None,
    other_model: bool | None = None,
) -> list[ImageRecord]:
    """The records matching every criterion given (None: not filtered on).

    ``text`` matches anywhere in the name, ignoring case; ``other_model`` (with ``model_key``,
    the loaded model's key) keeps images whose stored result is (True) or is not (False) from
    another model.
    """
    wanted = None if statuses is None else {Status(s) for s in statuses}
    needle = text.casefold().strip()
    out = []
    for r in records:
        if wanted is not None and r.status not in wanted:
            continue
        if needle and needle not in r.name.casefold():
            continue
        if edited is not None and r.edited != edited:
            continue
        if changed is not None and r.changed_since_review != changed:
            continue
        if failed is not None and (r.error is not None) != failed:
            continue
        if parsed is not None and r.has_result != parsed:
            continue
        if attention is not None and needs_attention(r) != attention:
            continue
        if other_model is not None and model_key is not None:
            is_other = r.model_key is not None and r.model_key != model_key
            if is_other != other_model:
                continue
        out.append(r)
    return out


def next_needing_attention(records: Sequence[ImageRecord], after_id: int | None = None) -> ImageRecord | None:
    """The first record after ``after_id`` (in the given order, wrapping around) that
    :func:`needs_attention`; None when none does."""
    start = 0
    if after_id is not None:
        for i, r in enumerate(records):
            if r.id == after_id:
                start = i + 1
                break
    n = len(records)
    for k in range(n):
        r = records[(start + k) % n]
        if r.id != after_id and needs_attention(r):
            return r
    return None
