"""Correcting the reviewer's maps in place: brush, eraser, fill, relabel, polygon, picker.

Every operation changes ``labels`` (H, W) uint8 and ``persons`` (H, W) uint16 (the maps of
:mod:`desktop.review.maps`) *in place*, like a paint program editing its layer, and returns an
:class:`~desktop.review.edit_core.Edit`: the flat indices of the pixels it really changed, their
old and new values, and the rectangle around them. That is all undo needs
(:mod:`desktop.review.edit_history`) and all a partial redraw needs
(:func:`desktop.render.blend_region`). An operation that changes nothing returns an empty edit
(``edit.empty``), which the history ignores. A request that cannot be done raises
:class:`~desktop.review.edit_core.EditError`, whose message is a sentence for the reviewer.

Rules every operation keeps, so the maps stay sound: background pixels have person 0;
painting a class other than background needs a person (>= 1); a pixel belongs to exactly one
person by construction (there is one person map).

Coordinates are image positions, ``x`` to the right and ``y`` down; a position (x, y) means
the pixel (floor(x), floor(y)) under it, as on the canvas; rectangles are ``(x, y, w, h)``
like the boxes in :mod:`desktop.review.maps`. Person-structure operations (move, merge,
delete, left/right swap) are in :mod:`desktop.review.person_edits`. OpenCV draws the brush
(``cv2.circle``/``cv2.line``) and polygon (``cv2.fillPoly``) into a mask of just the
rectangle they can touch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from desktop.i18n import N_, _
from desktop.review.edit_core import (
    EMPTY,
    MAX_PERSON,
    Edit,
    EditError,
    Rect,
    Region,
    assign_region,
    check_maps,
    check_target,
    connected_region,
    crop_to_content,
)

__all__ = [
    "EditError",
    "Rect",
    "Edit",
    "Region",
    "connected_region",
    "brush",
    "erase",
    "fill",
    "polygon_fill",
    "relabel_region",
    "relabel_choices",
    "pick",
    "revert_to_model",
]

# Pointer positions are clipped this far outside the image before drawing (OpenCV takes ints).
_COORD_LIMIT = 1 << 20
# OpenCV draws lines up to 32767 pixels thick.
_MAX_RADIUS = 16000
_NEEDS_PERSON = N_("Choose a person first: every body part or piece of clothing belongs to a person.")


def _points(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        raise ValueError("at least one point is needed")
    return np.clip(np.floor(pts), -_COORD_LIMIT, _COORD_LIMIT).astype(np.int64)  # the pixel under each point


def _stroke_mask(shape: tuple[int, int], points: np.ndarray, radius: int) -> tuple[Rect, np.ndarray]:
    """A round brush dragged through ``points``: its rectangle in the image and its mask there."""
    h, w = shape
    x0 = max(0, int(points[:, 0].min()) - radius)
    y0 = max(0, int(points[:, 1].min()) - radius)
    x1 = min(w, int(points[:, 0].max()) + radius + 1)
    y1 = min(h, int(points[:, 1].max()) + radius + 1)
    rect = Rect.from_corners(x0, y0, x1, y1)
    if rect.empty:
        return EMPTY, np.zeros((0, 0), dtype=bool)
    mask = np.zeros((rect.h, rect.w), dtype=np.uint8)
    local = points - np.array([x0, y0])
    for px, py in local.tolist():
        cv2.circle(mask, (px, py), radius, 1, thickness=-1)
    for (px, py), (qx, qy) in zip(local[:-1].tolist(), local[1:].tolist(), strict=True):
        cv2.line(mask, (px, py), (qx, qy), 1, thickness=2 * radius + 1)
    return rect, mask.view(bool)


def brush(
    labels: np.ndarray,
    persons: np.ndarray,
    points: Sequence[Sequence[float]] | np.ndarray,
    radius: float,
    label: int,
    person: int,
    *,
    kind: str = "brush",
) -> Edit:
    """Paint class ``label`` for ``person`` with a round brush of ``radius`` pixels through ``points``.

    ``points`` is one (x, y) for a click, or the previous and current pointer positions of a
    motion event (any polyline): the segments between them are painted too, so a fast drag
    leaves no gaps. Radius 0 paints single pixels. ``label`` 0 erases (person 0).
    """
    check_maps(labels, persons)
    label, person = check_target(label, person)
    r = min(max(0, int(round(float(radius)))), _MAX_RADIUS)
    rect, mask = _stroke_mask(labels.shape, _points(points), r)
    if rect.empty:
        return Edit.nothing(kind, labels.shape)
    return assign_region(labels, persons, rect, mask, kind, label=label, person=person)


def erase(
    labels: np.ndarray, persons: np.ndarray, points: Sequence[Sequence[float]] | np.ndarray, radius: float
) -> Edit:
    """The eraser: back to background (class 0, person 0) under a round brush, like :func:`brush`."""
    return brush(labels, persons, points, radius, 0, 0, kind="erase")


def fill(
    labels: np.ndarray,
    persons: np.ndarray,
    x: float,
    y: float,
    label: int,
    person: int,
    connectivity: int = 4,
) -> Edit:
    """Flood fill: the connected region under (x, y) (same class and person) becomes ``label``
    of ``person``."""
    label, person = check_target(label, person)
    region = connected_region(labels, persons, x, y, connectivity)
    return assign_region(labels, persons, region.rect, region.mask, "fill", label=label, person=person)


def polygon_fill(
    labels: np.ndarray,
    persons: np.ndarray,
    points: Sequence[Sequence[float]] | np.ndarray,
    label: int,
    person: int,
) -> Edit:
    """Fill the polygon through ``points`` (at least 3 (x, y) vertices, closed automatically)."""
    check_maps(labels, persons)
    label, person = check_target(label, person)
    pts = _points(points)
    if pts.shape[0] < 3:
        raise EditError(_("A polygon needs at least three points."))
    h, w = labels.shape
    rect = Rect.from_corners(
        max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min())),
        min(w, int(pts[:, 0].max()) + 1), min(h, int(pts[:, 1].max()) + 1),
    )
    if rect.empty:
        return Edit.nothing("polygon", labels.shape)
    mask = np.zeros((rect.h, rect.w), dtype=np.uint8)
    cv2.fillPoly(mask, [(pts - np.array([rect.x, rect.y])).astype(np.int32)], 1)
    return assign_region(labels, persons, rect, mask.view(bool), "polygon", label=label, person=person)


def relabel_region(
    labels: np.ndarray,
    persons: np.ndarray,
    x: float,
    y: float,
    label: int,
    person: int | None = None,
    connectivity: int = 4,
) -> Edit:
    """Give the connected region under (x, y) the class ``label``, keeping its person.

    ``person`` gives the region a person at the same time (needed when the region is
    background and ``label`` is not). Relabelling to background (0) also sets person 0.
    """
    label = int(label)
    if not 0 <= label <= 255:
        raise EditError(_("There is no class with number {label}.").format(label=label))
    region = connected_region(labels, persons, x, y, connectivity)
    target = 0
    if label != 0:
        # A part the model linked to no person may stay unlinked; background needs a person.
        target = int(region.person if person is None else person)
        if target == 0 and (person is not None or region.label == 0):
            raise EditError(_(_NEEDS_PERSON))
        if not 0 <= target <= MAX_PERSON:
            raise EditError(_("There is no person with number {person}.").format(person=target))
    return assign_region(labels, persons, region.rect, region.mask, "relabel", label=label, person=target)


def relabel_choices(
    labels: np.ndarray,
    persons: np.ndarray,
    x: float,
    y: float,
    runner_up: np.ndarray | Callable[[int, int, int, int], np.ndarray] | None = None,
    *,
    num_classes: int = 20,
    connectivity: int = 4,
) -> list[int]:
    """New classes to offer for the region under (x, y), most likely first.

    First the classes of ``runner_up`` (an (H, W) map of the model's second choice per pixel,
    when the engine provides one, or a function ``(y0, y1, x0, x1) -> map of that box``, so
    that only the region's box is computed) inside the region, by how many of its pixels
    have them; then the other classes by how many pixels of the whole image have them;
    background last. The region's own class is left out; every other class id below
    ``num_classes`` is listed.
    """
    region = connected_region(labels, persons, x, y, connectivity)
    current = region.label
    order: list[int] = []
    if runner_up is not None:
        r = region.rect
        if callable(runner_up):
            box = np.asarray(runner_up(r.y, r.y1, r.x, r.x1))
        else:
            if runner_up.shape != labels.shape:
                raise ValueError(f"runner-up map {runner_up.shape} and label map {labels.shape} differ in size")
            box = np.asarray(runner_up[r.slices])
        if box.shape != (r.h, r.w):
            raise ValueError(f"runner-up box {box.shape} is not the region's {(r.h, r.w)}")
        inside = box[region.mask].astype(np.int64)
        inside = inside[(inside > 0) & (inside < num_classes)]
        counts = np.bincount(inside, minlength=num_classes)
        for c in np.argsort(-counts, kind="stable").tolist():
            if counts[c] > 0 and c != current:
                order.append(int(c))
    freq = np.bincount(labels.reshape(-1), minlength=256)[:num_classes]
    seen = set(order)
    for c in np.argsort(-freq, kind="stable").tolist():
        if c not in seen and c != current and c != 0:
            order.append(int(c))
    if current != 0:
        order.append(0)
    return order


def pick(labels: np.ndarray, persons: np.ndarray, x: float, y: float) -> tuple[int, int] | None:
    """The (class, person) of the pixel at (x, y), or None outside the image (the picker tool)."""
    xi, yi = int(np.floor(x)), int(np.floor(y))
    h, w = labels.shape
    if not (0 <= xi < w and 0 <= yi < h):
        return None
    return int(labels[yi, xi]), int(persons[yi, xi])


def revert_to_model(
    labels: np.ndarray, persons: np.ndarray, model_labels: np.ndarray, model_persons: np.ndarray
) -> Edit:
    """Put back the model's maps where the edited ones differ (an edit like any other: undoable)."""
    check_maps(labels, persons)
    if model_labels.shape != labels.shape or model_persons.shape != labels.shape:
        raise ValueError("the model's maps and the edited maps differ in size")
    differs = (labels != model_labels) | (persons != model_persons)
    rect, mask = crop_to_content(Rect.of_shape(labels.shape), differs)
    if rect.empty:
        return Edit.nothing("revert", labels.shape)
    source = (np.asarray(model_labels, dtype=np.uint8), np.asarray(model_persons, dtype=np.uint16))
    return assign_region(labels, persons, rect, mask, "revert", source=source)
