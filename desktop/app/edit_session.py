"""One image being corrected: the model's maps, the edited maps, their undo history and save state.

No Tk here. The window keeps one :class:`EditSession` per image the reviewer edited (or opened
in edit mode) while the app runs, so undo survives going to another image and back
(:class:`SessionCache`). Memory is bounded: each session costs 6 bytes per pixel (the model's
and the edited maps) plus its history; histories of images left behind are trimmed, and the
least recently shown sessions are dropped when the cache is over budget -- but only those
whose edits are safely stored (saved to a workspace, or not edited at all). Edits kept in
memory only (no workspace) are never dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from desktop.review.edit_core import EMPTY, Rect
from desktop.review.edit_history import EditHistory

__all__ = ["EditSession", "SessionCache", "LEFT_HISTORY_BYTES", "CACHE_BYTES", "person_ids_of"]

#: Undo memory kept for an image the reviewer moved away from.
LEFT_HISTORY_BYTES = 24 * 1024 * 1024
#: Memory for all sessions (maps and histories) before saved ones are dropped.
CACHE_BYTES = 700 * 1024 * 1024


def person_ids_of(persons: np.ndarray) -> tuple[int, ...]:
    """Person ids present in a person map (a count per id: no sort of 12 million values)."""
    present = np.bincount(persons.reshape(-1), minlength=1)
    return tuple(int(p) for p in np.flatnonzero(present) if p != 0)


@dataclass(eq=False)
class EditSession:
    """The maps of one image under correction.

    ``history.labels``/``history.persons`` are the edited maps (changed in place by the
    tools); ``model_labels``/``model_persons`` the model's, never written. ``dirty`` is the
    rectangle changed since the last copy sent to the autosave worker; ``sent_version`` the
    history version that copy had, ``saved_version`` the last version the worker confirmed.
    """

    key: str
    model_labels: np.ndarray
    model_persons: np.ndarray
    history: EditHistory
    image_id: int | None = None
    workspace: Any = None  # the Workspace the edits are saved in (None: kept in memory only)
    base_result_id: int | None = None
    dirty: Rect = EMPTY
    sent_full: bool = False
    sent_version: int = 0
    saved_version: int = 0
    edited: bool = False
    stored: bool = False  # the workspace holds the latest version (or nothing needs storing)
    person_ids: tuple[int, ...] = ()
    class_counts: np.ndarray | None = None
    extra_persons: set[int] = field(default_factory=set)  # chosen with "New person", no pixel yet

    @classmethod
    def create(cls, key: str, model_labels: np.ndarray, model_persons: np.ndarray,
               edited: tuple[np.ndarray, np.ndarray] | None = None, **kwargs) -> EditSession:
        """A session starting from the model's maps, or from earlier ``edited`` maps."""
        model_labels = np.ascontiguousarray(model_labels, dtype=np.uint8)
        model_persons = np.ascontiguousarray(model_persons, dtype=np.uint16)
        model_labels.flags.writeable = False
        model_persons.flags.writeable = False
        if edited is not None:
            labels = np.array(edited[0], dtype=np.uint8, copy=True, order="C")
            persons = np.array(edited[1], dtype=np.uint16, copy=True, order="C")
        else:
            labels, persons = model_labels.copy(), model_persons.copy()
        session = cls(key, model_labels, model_persons, EditHistory(labels, persons), **kwargs)
        session.edited = edited is not None
        session.stored = True
        session.person_ids = person_ids_of(persons)
        return session

    @property
    def labels(self) -> np.ndarray:
        return self.history.labels

    @property
    def persons(self) -> np.ndarray:
        return self.history.persons

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    @property
    def unsent(self) -> bool:
        """Changed since the last copy handed to the autosave worker."""
        return self.history.version != self.sent_version

    @property
    def unsaved(self) -> bool:
        """Changed since the last version the worker confirmed."""
        return self.history.version != self.saved_version

    def edited_now(self) -> bool:
        """The maps may differ from the model's (known exactly once the worker has compared them)."""
        return self.edited or self.unsaved

    def touched(self, rects: list[Rect] | tuple[Rect, ...]) -> None:
        """The maps changed inside ``rects`` (the autosave copy must learn them)."""
        for r in rects:
            self.dirty = self.dirty.union(r)
        self.stored = False

    @property
    def nbytes(self) -> int:
        maps = self.labels.nbytes + self.persons.nbytes + self.model_labels.nbytes + self.model_persons.nbytes
        return int(maps + self.history.nbytes)

    def all_person_ids(self) -> list[int]:
        """Persons the reviewer can choose: those with pixels, and new ones not painted yet."""
        return sorted(set(self.person_ids) | self.extra_persons)


class SessionCache:
    """Sessions by image key, most recently shown last, within a memory budget."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = int(budget)
        self._items: OrderedDict[str, EditSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[EditSession]:
        return iter(list(self._items.values()))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str | None) -> EditSession | None:
        return self._items.get(key) if key is not None else None

    def put(self, session: EditSession) -> None:
        self._items[session.key] = session
        self._items.move_to_end(session.key)

    def touch(self, key: str) -> None:
        if key in self._items:
            self._items.move_to_end(key)

    def pop(self, key: str) -> EditSession | None:
        return self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._items.values())

    def evict(self, current: str | None) -> list[EditSession]:
        """Drop least recently shown sessions that can go until within budget; returns them.

        A session can go when it is not ``current``, nothing is waiting to be saved, and
        its edits are stored (in a workspace) or there are none.
        """
        dropped: list[EditSession] = []
        total = self.nbytes
        for key, s in list(self._items.items()):
            if total <= self.budget:
                break
            if key == current or s.unsaved or s.history.in_stroke or not s.stored:
                continue
            del self._items[key]
            dropped.append(s)
            total -= s.nbytes
        return dropped
