"""Undo and redo for one image's edits, with bounded memory.

The maps are edited in place by the operations of :mod:`desktop.review.edits` and
:mod:`desktop.review.person_edits`; the history keeps the :class:`~desktop.review.edit_core.Edit`
records they return (changed pixels only) and replays them backwards or forwards on the same
two arrays. One *step* is what one Ctrl+Z undoes: a single edit, or every motion event of one
brush stroke (:meth:`EditHistory.begin_stroke` … :meth:`EditHistory.end_stroke`).

Memory is capped twice: by the number of steps and by bytes (a fill of a large region holds
4 bytes per pixel). The oldest steps are dropped first; the most recent step is always kept,
even alone above the byte cap, so the last action can always be undone.

Every change to the maps must go through the history (``record`` right after the operation),
otherwise undo would put back values over pixels changed behind its back.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from desktop.review.edit_core import EMPTY, Edit, Rect, check_maps
from desktop.review.edits import revert_to_model

__all__ = ["Step", "EditHistory", "coalesce_rects", "DEFAULT_MAX_STEPS", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_STEPS = 200
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


# Side of the tiles a stroke's rectangles are gathered into for redrawing after undo/redo.
_TILE = 32


def coalesce_rects(
    rects: list[Rect] | tuple[Rect, ...], shape: tuple[int, int], tile: int = _TILE
) -> list[Rect]:
    """Disjoint rectangles covering ``rects``, snapped to ``tile`` pixels, few and not much larger.

    Why: the rectangles of a brush stroke's motion events overlap heavily, and their union is
    a box around the whole wandering stroke, mostly unchanged pixels. Marking the tiles they
    touch on a coarse grid and reading back runs of tiles redraws close to what changed, at
    the cost of a grid of (H/32 x W/32) booleans.
    """
    rects = [r for r in rects if not r.empty]
    if len(rects) <= 1:
        return list(rects)
    h, w = shape
    grid = np.zeros(((h + tile - 1) // tile, (w + tile - 1) // tile), dtype=bool)
    for r in rects:
        grid[r.y // tile : (r.y1 - 1) // tile + 1, r.x // tile : (r.x1 - 1) // tile + 1] = True
    out: list[Rect] = []
    open_runs: dict[tuple[int, int], int] = {}  # column run (tiles) -> first tile row

    def emit(run: tuple[int, int], row0: int, row1: int) -> None:
        out.append(Rect.from_corners(run[0] * tile, row0 * tile, min(w, run[1] * tile), min(h, row1 * tile)))

    for i, row in enumerate(grid):
        edges = np.flatnonzero(np.diff(np.concatenate(([False], row, [False])).astype(np.int8)))
        runs = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
        still = {run: open_runs.get(run, i) for run in runs}
        for run, row0 in open_runs.items():
            if run not in still:
                emit(run, row0, i)
        open_runs = still
    for run, row0 in open_runs.items():
        emit(run, row0, grid.shape[0])
    return out


@dataclass(frozen=True, eq=False)
class Step:
    """What one undo reverses: the edits in the order they were made."""

    kind: str
    edits: tuple[Edit, ...]

    @property
    def rect(self) -> Rect:
        """The rectangle around everything the step changed."""
        out = EMPTY
        for e in self.edits:
            out = out.union(e.rect)
        return out

    @functools.cached_property
    def dirty_rects(self) -> list[Rect]:
        """Disjoint rectangles covering every pixel the step changed: what to redraw."""
        if len(self.edits) == 1:
            return [self.edits[0].rect]
        return coalesce_rects([e.rect for e in self.edits], self.edits[0].shape)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.edits)

    @property
    def pixels(self) -> int:
        """Changed pixels summed over the edits (a pixel painted twice in one stroke counts twice)."""
        return sum(e.pixels for e in self.edits)


class EditHistory:
    """Undo/redo of one image's ``labels``/``persons`` maps (the same arrays the operations edit).

    Typical use by a tool::

        edit = edits.fill(h.labels, h.persons, x, y, label, person)
        h.record(edit)
        redraw(edit.rect)

    and for a brush stroke: ``h.begin_stroke("brush")`` on button press, ``h.record(...)``
    for every motion event, ``h.end_stroke()`` on release: one undo step for the stroke.
    ``version`` changes whenever the maps change (to know when to autosave).
    """

    def __init__(
        self,
        labels: np.ndarray,
        persons: np.ndarray,
        *,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        check_maps(labels, persons)
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.labels = labels
        self.persons = persons
        self.max_steps = int(max_steps)
        self.max_bytes = int(max_bytes)
        self._undo: deque[Step] = deque()
        self._redo: deque[Step] = deque()
        self._stroke: list[Edit] | None = None
        self._stroke_kind = ""
        self._bytes = 0
        self.version = 0

    # -- recording ---------------------------------------------------------------------------
    def record(self, edit: Edit) -> bool:
        """Keep an edit already applied to the maps; False if it changed nothing (not kept).

        Inside a stroke it joins the stroke's step; otherwise it is a step of its own. Either
        way the redo steps are gone (a new branch of history starts).
        """
        if edit.shape != self.labels.shape:
            raise ValueError(f"this edit was made on {edit.shape} maps, not {self.labels.shape}")
        if edit.empty:
            return False
        self.version += 1
        self._drop_redo()
        if self._stroke is not None:
            self._stroke.append(edit)
            self._bytes += edit.nbytes
            return True
        self._push(Step(edit.kind, (edit,)), counted=False)
        return True

    def begin_stroke(self, kind: str = "brush") -> None:
        """Start grouping edits into one step (ends an unfinished stroke first)."""
        self.end_stroke()
        self._stroke = []
        self._stroke_kind = kind

    def end_stroke(self) -> Rect:
        """Close the stroke: its edits become one step. Returns the stroke's rectangle."""
        edits, self._stroke = self._stroke, None
        if not edits:
            return EMPTY
        step = Step(self._stroke_kind, tuple(edits))
        self._push(step, counted=True)
        return step.rect

    @property
    def in_stroke(self) -> bool:
        return self._stroke is not None

    @contextmanager
    def stroke(self, kind: str = "brush") -> Iterator[EditHistory]:
        """``with history.stroke(): ...`` groups the edits recorded inside into one step."""
        self.begin_stroke(kind)
        try:
            yield self
        finally:
            self.end_stroke()

    def revert_to_model(self, model_labels: np.ndarray, model_persons: np.ndarray) -> list[Rect]:
        """Put the model's result back (one step, so it can itself be undone).

        Returns the rectangles to redraw, like :meth:`undo` (empty: nothing was edited).
        """
        self.end_stroke()
        edit = revert_to_model(self.labels, self.persons, model_labels, model_persons)
        self.record(edit)
        return [] if edit.empty else [edit.rect]

    # -- undo / redo ---------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or bool(self._stroke)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and not self._stroke

    @property
    def undo_kind(self) -> str | None:
        """``kind`` of the step Ctrl+Z would undo (for "Undo brush" in a menu), or None."""
        if self._stroke:
            return self._stroke_kind
        return self._undo[-1].kind if self._undo else None

    @property
    def redo_kind(self) -> str | None:
        return self._redo[-1].kind if self._redo and not self._stroke else None

    def undo(self) -> list[Rect]:
        """Undo the last step (closing an unfinished stroke first).

        Returns the rectangles to redraw (disjoint, covering every pixel that changed back);
        an empty list when there was nothing to undo.
        """
        self.end_stroke()
        if not self._undo:
            return []
        step = self._undo.pop()
        for edit in reversed(step.edits):
            edit.undo(self.labels, self.persons)
        self._redo.append(step)
        self.version += 1
        return list(step.dirty_rects)

    def redo(self) -> list[Rect]:
        """Redo the last undone step; the rectangles to redraw (empty list: nothing to redo)."""
        self.end_stroke()
        if not self._redo:
            return []
        step = self._redo.pop()
        for edit in step.edits:
            edit.redo(self.labels, self.persons)
        self._undo.append(step)
        self.version += 1
        return list(step.dirty_rects)

    # -- memory --------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Steps that can be undone."""
        return len(self._undo)

    @property
    def redo_steps(self) -> int:
        return len(self._redo)

    @property
    def nbytes(self) -> int:
        """Memory held by the recorded edits (undo, redo and the open stroke)."""
        return self._bytes

    def clear(self) -> None:
        """Forget every step (the maps stay as they are)."""
        self._undo.clear()
        self._redo.clear()
        self._stroke = None
        self._bytes = 0

    def trim(self, max_bytes: int | None = None) -> None:
        """Drop the oldest steps until within ``max_bytes`` (default: the history's cap).

        The app may call this with a smaller budget for images the reviewer left, to bound
        the memory of many open histories; the most recent step is always kept.
        """
        cap = self.max_bytes if max_bytes is None else int(max_bytes)
        while len(self._undo) > self.max_steps:
            self._bytes -= self._undo.popleft().nbytes
        while self._bytes > cap and len(self._undo) > 1:
            self._bytes -= self._undo.popleft().nbytes
        while self._bytes > cap and self._redo and len(self._undo) + len(self._redo) > 1:
            self._bytes -= self._redo.popleft().nbytes  # the step furthest from the present

    def _push(self, step: Step, *, counted: bool) -> None:
        if not counted:
            self._bytes += step.nbytes
        self._undo.append(step)
        self.trim()

    def _drop_redo(self) -> None:
        while self._redo:
            self._bytes -= self._redo.pop().nbytes
