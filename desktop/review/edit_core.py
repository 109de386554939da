"""The core of map editing: the edit record, rectangles, regions, and the one write path.

Every editing operation (:mod:`desktop.review.edits`, :mod:`desktop.review.person_edits`)
finds the pixels it affects as a mask over a rectangle, then calls :func:`assign_region`,
the only function (besides undo/redo) that writes to the maps. It writes just the pixels
whose values really change and returns an :class:`Edit` holding only those: flat indices,
old and new values, and the rectangle around them, never a copy of the map.

What is hand-written rather than one OpenCV call on the whole map, and why: a pointer motion
event on a 4000x3000 photo must cost milliseconds, so every operation works only inside the
rectangle it can touch, and the flood fill (:func:`connected_region`) grows its search window
outwards from the click instead of comparing all 12 million pixels for a region that is
usually small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from desktop.i18n import _

__all__ = [
    "MAX_PERSON",
    "EMPTY",
    "EditError",
    "Rect",
    "Edit",
    "Region",
    "check_maps",
    "check_target",
    "clicked_pixel",
    "crop_to_content",
    "assign_region",
    "flood_region",
    "connected_region",
]

MAX_PERSON = int(np.iinfo(np.uint16).max)
# Half the side of the first window the flood fill searches; regions that reach its border grow it.
_FLOOD_START = 128


class EditError(ValueError):
    """An edit that cannot be done; the message is a sentence to show the reviewer as is."""


class Rect(NamedTuple):
    """A rectangle of pixels: columns ``x .. x+w-1``, rows ``y .. y+h-1``."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_corners(cls, x0: int, y0: int, x1: int, y1: int) -> Rect:
        """The rectangle from (x0, y0) included to (x1, y1) excluded (empty if inverted)."""
        return cls(int(x0), int(y0), max(0, int(x1) - int(x0)), max(0, int(y1) - int(y0)))

    @classmethod
    def of_shape(cls, shape: tuple[int, ...]) -> Rect:
        """The whole of an (H, W, ...) array."""
        return cls(0, 0, int(shape[1]), int(shape[0]))

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return 0 if self.empty else self.w * self.h

    @property
    def slices(self) -> tuple[slice, slice]:
        """``array[rect.slices]`` is the rectangle's window (rows, then columns)."""
        return slice(self.y, self.y + max(self.h, 0)), slice(self.x, self.x + max(self.w, 0))

    def union(self, other: Rect) -> Rect:
        if self.empty:
            return other
        if other.empty:
            return self
        return Rect.from_corners(
            min(self.x, other.x), min(self.y, other.y), max(self.x1, other.x1), max(self.y1, other.y1)
        )

    def intersect(self, other: Rect) -> Rect:
        r = Rect.from_corners(
            max(self.x, other.x), max(self.y, other.y), min(self.x1, other.x1), min(self.y1, other.y1)
        )
        return r if not r.empty else EMPTY

    def grow(self, margin: int, shape: tuple[int, ...] | None = None) -> Rect:
        """Widened by ``margin`` on every side, clipped to an (H, W) ``shape`` if given."""
        if self.empty:
            return EMPTY
        r = Rect.from_corners(self.x - margin, self.y - margin, self.x1 + margin, self.y1 + margin)
        return r.intersect(Rect.of_shape(shape)) if shape is not None else r


EMPTY = Rect(0, 0, 0, 0)


def _compact(values: np.ndarray) -> np.ndarray:
    """``values`` or, when they are all equal, a single element (numpy broadcasts it on write).

    A fill or a brush stroke writes one value to every pixel and usually overwrites one value,
    so this cuts an edit's memory from 10 to 4 bytes per pixel (the index alone).
    """
    if values.size > 1 and not (values != values[0]).any():
        return values[:1].copy()
    return values


@dataclass(frozen=True, eq=False)
class Edit:
    """What one operation changed: enough to undo and redo it exactly, and nothing more.

    ``index`` holds flat pixel indices (``row * W + col``, ascending) into maps of ``shape``;
    ``old_*``/``new_*`` the values at those pixels before and after, each either one value per
    index or a single value shared by all of them. ``rect`` is the tightest rectangle around
    the changed pixels (redraw that). ``kind`` names the operation (``"brush"``, ``"fill"``…)
    for code, not for display.
    """

    kind: str
    shape: tuple[int, int]
    rect: Rect
    index: np.ndarray
    old_labels: np.ndarray
    new_labels: np.ndarray
    old_persons: np.ndarray
    new_persons: np.ndarray

    @classmethod
    def nothing(cls, kind: str, shape: tuple[int, int]) -> Edit:
        """An edit that changed no pixel."""
        none8, none16 = np.zeros(0, np.uint8), np.zeros(0, np.uint16)
        hw = (int(shape[0]), int(shape[1]))
        return cls(kind, hw, EMPTY, np.zeros(0, np.int32), none8, none8, none16, none16)

    @property
    def empty(self) -> bool:
        return self.index.size == 0

    @property
    def pixels(self) -> int:
        """How many pixels changed."""
        return int(self.index.size)

    @property
    def nbytes(self) -> int:
        """Memory held by the record."""
        arrays = (self.index, self.old_labels, self.new_labels, self.old_persons, self.new_persons)
        return int(sum(a.nbytes for a in arrays)) + 200

    def classes(self) -> set[int]:
        """Class ids that lost or gained pixels (to refresh a class list)."""
        if self.empty:
            return set()
        return {int(v) for v in np.unique(np.concatenate([self.old_labels, self.new_labels]))}

    def persons_touched(self) -> set[int]:
        """Person ids that lost or gained pixels (0 included when unlinked pixels changed)."""
        if self.empty:
            return set()
        return {int(v) for v in np.unique(np.concatenate([self.old_persons, self.new_persons]))}

    def undo(self, labels: np.ndarray, persons: np.ndarray) -> Rect:
        """Put the old values back; returns the rectangle to redraw."""
        self._write(labels, persons, self.old_labels, self.old_persons)
        return self.rect

    def redo(self, labels: np.ndarray, persons: np.ndarray) -> Rect:
        """Write the new values again; returns the rectangle to redraw."""
        self._write(labels, persons, self.new_labels, self.new_persons)
        return self.rect

    def _write(self, labels: np.ndarray, persons: np.ndarray, lab: np.ndarray, per: np.ndarray) -> None:
        if self.empty:
            return
        check_maps(labels, persons)
        if labels.shape != self.shape:
            raise ValueError(f"this edit was made on {self.shape} maps, not {labels.shape}")
        labels.reshape(-1)[self.index] = lab
        persons.reshape(-1)[self.index] = per


@dataclass(frozen=True, eq=False)
class Region:
    """A set of pixels: ``mask`` (bool) covers ``rect`` exactly (cropped to the pixels).

    ``label`` and ``person`` are the class and person shared by all its pixels when the region
    was found as one (part, connected region), ``None`` when they vary.
    """

    rect: Rect
    mask: np.ndarray
    label: int | None = None
    person: int | None = None

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def empty(self) -> bool:
        return self.rect.empty

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask at the image's size (allocates H x W: for small images and tests)."""
        out = np.zeros(shape, dtype=bool)
        out[self.rect.slices] = self.mask
        return out


def check_maps(labels: np.ndarray, persons: np.ndarray) -> None:
    """Refuse maps the operations cannot edit in place (wrong type, size or memory layout)."""
    if labels.dtype != np.uint8 or persons.dtype != np.uint16:
        raise TypeError(
            f"maps must be uint8 labels and uint16 persons, not {labels.dtype} and {persons.dtype}"
        )
    if labels.ndim != 2 or labels.shape != persons.shape:
        raise ValueError(f"label map {labels.shape} and person map {persons.shape} must be the same 2-D size")
    if not (labels.flags.c_contiguous and persons.flags.c_contiguous):
        raise ValueError("maps must be C-contiguous arrays to be edited in place")
    if not (labels.flags.writeable and persons.flags.writeable):
        raise ValueError("maps must be writeable to be edited in place")


def check_target(label: int, person: int) -> tuple[int, int]:
    """Validate a (class, person) to paint with; background always goes with person 0."""
    label, person = int(label), int(person)
    if not 0 <= label <= 255:
        raise EditError(_("There is no class with number {label}.").format(label=label))
    if not 0 <= person <= MAX_PERSON:
        raise EditError(_("There is no person with number {person}.").format(person=person))
    if label != 0 and person == 0:
        raise EditError(_("Choose a person first: every body part or piece of clothing belongs to a "
                          "person."))
    return label, (0 if label == 0 else person)


def clicked_pixel(labels: np.ndarray, x: float, y: float) -> tuple[int, int]:
    """The integer pixel (column, row) under image position (x, y); outside the image is an error."""
    xi, yi = int(np.floor(x)), int(np.floor(y))
    h, w = labels.shape
    if not (0 <= xi < w and 0 <= yi < h):
        raise EditError(_("Click inside the photo."))
    return xi, yi


def crop_to_content(rect: Rect, mask: np.ndarray) -> tuple[Rect, np.ndarray]:
    """The smallest sub-rectangle of ``rect`` holding every True pixel of ``mask``, and its mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return EMPTY, np.zeros((0, 0), dtype=bool)
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return Rect(rect.x + c0, rect.y + r0, c1 - c0, r1 - r0), mask[r0:r1, c0:c1]


def assign_region(
    labels: np.ndarray,
    persons: np.ndarray,
    rect: Rect,
    mask: np.ndarray | None,
    kind: str,
    *,
    label: int | None = None,
    person: int | None = None,
    label_lut: np.ndarray | None = None,
    source: tuple[np.ndarray, np.ndarray] | None = None,
) -> Edit:
    """Set the pixels of ``mask`` (a bool array covering ``rect``; None = all of it) and record them.

    The new class is ``label``, or ``label_lut[old class]``, or the old class (all None); the
    new person is ``person`` or the old one (None); with ``source`` both come from those two
    maps instead. Pixels whose new class is background get person 0. Only pixels whose values
    really change are written and recorded. Every operation ends here: it is the only place
    that writes to the maps (besides undo/redo), and it touches only ``rect``.
    """
    check_maps(labels, persons)
    shape = labels.shape
    rect = rect.intersect(Rect.of_shape(shape)) if mask is None else rect
    if rect.empty:
        return Edit.nothing(kind, shape)
    sl = rect.slices
    if mask is None:
        mask = np.ones((rect.h, rect.w), dtype=bool)
    elif mask.shape != (rect.h, rect.w) or rect.intersect(Rect.of_shape(shape)) != rect:
        raise ValueError(f"mask {mask.shape} does not cover {rect} inside maps of {shape}")
    mask = mask.astype(bool, copy=False)
    lab, per = labels[sl], persons[sl]
    old_l, old_p = lab[mask], per[mask]
    if source is not None:
        new_l = source[0][sl][mask]
        new_p = source[1][sl][mask]
    else:
        if label_lut is not None:
            new_l = np.take(np.asarray(label_lut, dtype=np.uint8), old_l)
        elif label is not None:
            new_l = np.full(old_l.shape, label, dtype=np.uint8)
        else:
            new_l = old_l
        new_p = np.full(old_p.shape, person, dtype=np.uint16) if person is not None else old_p.copy()
        new_p[new_l == 0] = 0
    changed = (old_l != new_l) | (old_p != new_p)
    if not changed.all():
        sel = np.zeros_like(mask)
        sel[mask] = changed
        old_l, old_p, new_l, new_p = old_l[changed], old_p[changed], new_l[changed], new_p[changed]
    else:
        sel = mask
    if old_l.size == 0:
        return Edit.nothing(kind, shape)
    lab[sel] = new_l
    per[sel] = new_p
    # Flat indices in the window, then in the image: cheaper than 2-D np.nonzero plus arithmetic.
    local = np.flatnonzero(sel)
    rows = local // rect.w
    index = local + rows * (shape[1] - rect.w) + (rect.y * shape[1] + rect.x)
    if shape[0] * shape[1] <= np.iinfo(np.int32).max:
        index = index.astype(np.int32)
    cols = np.flatnonzero(sel.any(axis=0))
    tight = Rect.from_corners(
        rect.x + int(cols[0]), rect.y + int(rows[0]), rect.x + int(cols[-1]) + 1, rect.y + int(rows[-1]) + 1
    )
    return Edit(kind, (int(shape[0]), int(shape[1])), tight, index,
                _compact(old_l), _compact(new_l), _compact(old_p), _compact(new_p))


def flood_region(
    shape: tuple[int, int], x: int, y: int, same: Callable[[Rect], np.ndarray], connectivity: int
) -> tuple[Rect, np.ndarray]:
    """The 4- or 8-connected set of pixels around (x, y) where ``same(window)`` is True.

    ``cv2.floodFill`` does the filling; what is ours is the window: it starts small around the
    click and grows (doubling) only on the sides the region touches, so a small region costs
    a small window and a region of a million pixels costs a few times its bounding box, never
    the whole photo unless the region spans it.
    """
    if connectivity not in (4, 8):
        raise ValueError("connectivity must be 4 or 8")
    h, w = shape
    x0, y0 = max(0, x - _FLOOD_START), max(0, y - _FLOOD_START)
    x1, y1 = min(w, x + _FLOOD_START + 1), min(h, y + _FLOOD_START + 1)
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    while True:
        win = Rect.from_corners(x0, y0, x1, y1)
        eq = np.ascontiguousarray(same(win), dtype=np.uint8)
        filled = np.zeros((win.h + 2, win.w + 2), dtype=np.uint8)
        cv2.floodFill(eq, filled, (x - x0, y - y0), 1, 0, 0, flags)
        region = filled[1:-1, 1:-1].astype(bool)
        grow_x, grow_y = win.w, win.h
        n0, n1 = x0, x1
        m0, m1 = y0, y1
        if y0 > 0 and region[0].any():
            m0 = max(0, y0 - grow_y)
        if y1 < h and region[-1].any():
            m1 = min(h, y1 + grow_y)
        if x0 > 0 and region[:, 0].any():
            n0 = max(0, x0 - grow_x)
        if x1 < w and region[:, -1].any():
            n1 = min(w, x1 + grow_x)
        if (n0, n1, m0, m1) == (x0, x1, y0, y1):
            return crop_to_content(win, region)
        x0, x1, y0, y1 = n0, n1, m0, m1


def connected_region(
    labels: np.ndarray, persons: np.ndarray, x: float, y: float, connectivity: int = 4
) -> Region:
    """The connected pixels of the same class and person as the pixel at (x, y)."""
    check_maps(labels, persons)
    xi, yi = clicked_pixel(labels, x, y)
    lab, per = int(labels[yi, xi]), int(persons[yi, xi])

    def same(win: Rect) -> np.ndarray:
        sl = win.slices
        return (labels[sl] == lab) & (persons[sl] == per)

    rect, mask = flood_region(labels.shape, xi, yi, same, connectivity)
    return Region(rect, mask, lab, per)
