"""Which images the file list shows, in which order (no Tk: tested without a display).

The same rules as :mod:`desktop.review.listing` (natural name order, images without a value
for the sort key last, ties by name), applied to the window's live entries rather than to
stored rows: the window also knows what the workspace does not (an image being parsed, a
file that failed to open, a result of another model than the one loaded).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from desktop.app.session import ImageEntry, State
from desktop.i18n import N_
from desktop.imageio import natural_key

#: Sort key -> (label (marked; translated where shown), value of an entry or None when it has none).
SORTS: dict[str, tuple[str, Callable[[ImageEntry], object]]] = {
    "name": (N_("Name"), lambda e: None),
    "status": (N_("Status"), lambda e: _STATUS_ORDER.get(e.verdict, 0)),
    "persons": (N_("Persons"), lambda e: e.persons if e.state is State.DONE else None),
    "parse_time": (N_("Parse time"), lambda e: e.seconds),
    "edited": (N_("Edited first"), lambda e: int(e.edited)),
    "doubt": (N_("Doubt"), lambda e: e.doubt),
    "agreement": (N_("Agreement (worst first)"),
                  lambda e: None if e.miou is None else (e.miou, e.pixel_accuracy or 0.0)),
}
#: Sorts that put the largest value first unless reversed (the interesting ones on top).
_DESCENDING_FIRST = {"edited", "doubt"}
_STATUS_ORDER = {"not_reviewed": 0, "needs_fix": 1, "rejected": 2, "accepted": 3}


def needs_attention(e: ImageEntry) -> bool:
    """Not reviewed, marked "needs fix", changed on disk since its verdict, or failed."""
    return e.verdict in ("not_reviewed", "needs_fix") or e.changed or e.state is State.FAILED


#: Filter key -> (label (marked; translated where shown), test).
FILTERS: dict[str, tuple[str, Callable[[ImageEntry], bool] | None]] = {
    "all": (N_("All images"), None),
    "attention": (N_("Needing attention"), needs_attention),
    "not_reviewed": (N_("Not reviewed"), lambda e: e.verdict == "not_reviewed"),
    "accepted": (N_("Accepted"), lambda e: e.verdict == "accepted"),
    "needs_fix": (N_("Needs fix"), lambda e: e.verdict == "needs_fix"),
    "rejected": (N_("Rejected"), lambda e: e.verdict == "rejected"),
    "changed": (N_("Changed since review"), lambda e: e.changed),
    "failed": (N_("Failed"), lambda e: e.state is State.FAILED),
    "not_parsed": (N_("Not parsed yet"), lambda e: e.state in (State.WAITING, State.PARSING)),
    "edited": (N_("Edited"), lambda e: e.edited),
    "other_model": (N_("Other model's result"), lambda e: e.other_model),
}


@dataclass
class ListView:
    """The list's sort, filter and name search (what ``ui_state`` keeps per workspace)."""

    sort: str = "name"
    descending: bool = False
    filter: str = "all"
    search: str = ""

    @classmethod
    def from_state(cls, state: dict) -> ListView:
        view = cls()
        if state.get("sort") in SORTS:
            view.sort = state["sort"]
        view.descending = state.get("descending") is True
        if state.get("filter") in FILTERS:
            view.filter = state["filter"]
        if isinstance(state.get("search"), str):
            view.search = state["search"][:200]
        return view

    def as_state(self) -> dict:
        return {"sort": self.sort, "descending": self.descending, "filter": self.filter, "search": self.search}

    @property
    def is_filtered(self) -> bool:
        return self.filter != "all" or bool(self.search.strip())

    def apply(self, entries: Iterable[ImageEntry], keep: str | None = None) -> list[ImageEntry]:
        """The entries shown, in order; ``keep`` (the image on screen) stays shown even when
        the filter would hide it, so the reviewer is never pulled off the image they look at."""
        return sort_entries(filter_entries(entries, self.filter, self.search, keep), self.sort, self.descending)


def filter_entries(entries: Iterable[ImageEntry], name: str = "all", search: str = "",
                   keep: str | None = None) -> list[ImageEntry]:
    test = FILTERS.get(name, FILTERS["all"])[1]
    needle = search.casefold().strip()
    return [e for e in entries
            if e.key == keep or ((test is None or test(e)) and (not needle or needle in e.display_name.casefold()))]


@functools.lru_cache(maxsize=100_000)
def _name_key(name: str) -> tuple:
    # Re-sorting 10,000 names (each change of sort or filter) spent most of its time here.
    return natural_key(name)


def sort_entries(entries: Sequence[ImageEntry], key: str = "name", descending: bool = False) -> list[ImageEntry]:
    """Natural name order, or by ``key`` with ties by name and entries without a value last."""
    label_get = SORTS.get(key, SORTS["name"])
    by_name = sorted(entries, key=lambda e: _name_key(e.display_name), reverse=descending and key == "name")
    if key == "name":
        return by_name
    get = label_get[1]
    present = [e for e in by_name if get(e) is not None]
    absent = [e for e in by_name if get(e) is None]
    present.sort(key=get, reverse=descending != (key in _DESCENDING_FIRST))
    return present + absent


def next_matching(order: Sequence[str], current: str | None, test: Callable[[str], bool]) -> str | None:
    """The first key after ``current`` in ``order`` (wrapping around, ``current`` itself last
    considered never) for which ``test`` holds."""
    n = len(order)
    if n == 0:
        return None
    try:
        start = order.index(current) + 1 if current is not None else 0
    except ValueError:
        start = 0
    for k in range(n):
        key = order[(start + k) % n]
        if key != current and test(key):
            return key
    return None
