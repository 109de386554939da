"""Correcting the person structure: who each part belongs to, and left/right mistakes.

A part is the set of pixels of one (person, class) pair, so every operation here only rewrites
the person map (or, for the left/right swap, the classes of one person's pixels). Like the
tools of :mod:`desktop.review.edits`, each one edits ``labels``/``persons`` in place and returns
an :class:`~desktop.review.edit_core.Edit` for the history; requests that cannot be done raise
:class:`~desktop.review.edit_core.EditError` with a sentence for the reviewer.

A *region* is the connected pixels of one class and person under a click
(:func:`~desktop.review.edit_core.connected_region`); a *part* is all pixels of a
(person, class) pair, connected or not. Operations on whole persons or parts scan the full map
once (a few tens of milliseconds at 12 megapixels); region operations stay near the click.
"""

from __future__ import annotations

import functools

import numpy as np

from desktop.i18n import N_, _
from desktop.resources import default_class_names
from desktop.review.edit_core import (
    MAX_PERSON,
    Edit,
    EditError,
    Rect,
    Region,
    assign_region,
    check_maps,
    clicked_pixel,
    connected_region,
    crop_to_content,
    flood_region,
)

__all__ = [
    "left_right_pairs",
    "mirror_lut",
    "new_person_id",
    "part_region",
    "person_region",
    "move_region_to_person",
    "move_part_to_person",
    "new_person_from_region",
    "new_person_from_part",
    "merge_persons",
    "delete_person",
    "swap_left_right",
    "swap_left_right_region",
]

_NEEDS_PART = N_("The background belongs to no person: click on a body part or a piece of clothing.")


@functools.lru_cache(maxsize=8)
def _pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    index = {name: i for i, name in enumerate(names)}
    out = []
    for i, name in enumerate(names):
        if name.startswith("Left-") and "Right-" + name[5:] in index:
            out.append((i, index["Right-" + name[5:]]))
    return tuple(out)


def left_right_pairs(class_names: tuple[str, ...] | None = None) -> tuple[tuple[int, int], ...]:
    """(left id, right id) for every "Left-X"/"Right-X" pair of class names.

    With the CIHP classes of ``resources/classes.json``: arms (14, 15), legs (16, 17),
    shoes (18, 19).
    """
    return _pairs(tuple(class_names) if class_names is not None else default_class_names())


def mirror_lut(class_names: tuple[str, ...] | None = None) -> np.ndarray:
    """(256,) uint8 table mapping each class id to its mirror image (itself if it has none)."""
    lut = np.arange(256, dtype=np.uint8)
    for left, right in left_right_pairs(class_names):
        lut[left], lut[right] = right, left
    return lut


def new_person_id(persons: np.ndarray) -> int:
    """An unused person id: one more than the largest in the map."""
    top = int(persons.max()) if persons.size else 0
    if top >= MAX_PERSON:
        raise EditError(_("This photo cannot hold more persons."))
    return top + 1


def _check_person(person: int) -> int:
    person = int(person)
    if not 1 <= person <= MAX_PERSON:
        raise EditError(_("Choose a person first: every body part or piece of clothing belongs to a "
                          "person."))
    return person


def _region_of(mask: np.ndarray, label: int | None, person: int | None) -> Region:
    rect, cropped = crop_to_content(Rect.of_shape(mask.shape), mask)
    return Region(rect, cropped, label, person)


def part_region(labels: np.ndarray, persons: np.ndarray, person: int, label: int) -> Region:
    """Every pixel of class ``label`` belonging to ``person`` (empty region if none)."""
    check_maps(labels, persons)
    return _region_of((persons == int(person)) & (labels == int(label)), int(label), int(person))


def person_region(labels: np.ndarray, persons: np.ndarray, person: int) -> Region:
    """Every labelled pixel of ``person`` (person 0: the parts linked to no person)."""
    check_maps(labels, persons)
    mask = persons == int(person)
    if int(person) == 0:
        mask &= labels != 0
    return _region_of(mask, None, int(person))


def _give(labels: np.ndarray, persons: np.ndarray, region: Region, target: int, kind: str) -> Edit:
    if region.empty:
        return Edit.nothing(kind, labels.shape)
    return assign_region(labels, persons, region.rect, region.mask, kind, person=target)


def move_region_to_person(
    labels: np.ndarray, persons: np.ndarray, x: float, y: float, target: int, connectivity: int = 4
) -> Edit:
    """The connected region under (x, y) (one class, one person) now belongs to ``target``."""
    target = _check_person(target)
    region = connected_region(labels, persons, x, y, connectivity)
    if region.label == 0:
        raise EditError(_(_NEEDS_PART))
    return _give(labels, persons, region, target, "move")


def move_part_to_person(
    labels: np.ndarray, persons: np.ndarray, person: int, label: int, target: int
) -> Edit:
    """All pixels of class ``label`` of ``person`` (0: linked to no person) now belong to ``target``."""
    target = _check_person(target)
    if int(label) == 0:
        raise EditError(_(_NEEDS_PART))
    return _give(labels, persons, part_region(labels, persons, person, label), target, "move")


def new_person_from_region(
    labels: np.ndarray, persons: np.ndarray, x: float, y: float, connectivity: int = 4
) -> tuple[Edit, int]:
    """A new person made of the connected region under (x, y); returns the edit and the new id."""
    region = connected_region(labels, persons, x, y, connectivity)
    if region.label == 0:
        raise EditError(_(_NEEDS_PART))
    pid = new_person_id(persons)
    return _give(labels, persons, region, pid, "new_person"), pid


def new_person_from_part(
    labels: np.ndarray, persons: np.ndarray, person: int, label: int
) -> tuple[Edit, int]:
    """A new person made of all pixels of class ``label`` of ``person``; returns the edit and the new id."""
    if int(label) == 0:
        raise EditError(_(_NEEDS_PART))
    region = part_region(labels, persons, person, label)
    pid = new_person_id(persons)
    return _give(labels, persons, region, pid, "new_person"), pid


def merge_persons(labels: np.ndarray, persons: np.ndarray, keep: int, absorb: int) -> Edit:
    """Every pixel of person ``absorb`` now belongs to ``keep`` (one person the model split in two)."""
    keep, absorb = _check_person(keep), _check_person(absorb)
    if keep == absorb:
        raise EditError(_("Choose two different persons to merge."))
    return _give(labels, persons, person_region(labels, persons, absorb), keep, "merge")


def delete_person(labels: np.ndarray, persons: np.ndarray, person: int) -> Edit:
    """A person and all its parts become background (a person the model saw where there is none)."""
    person = _check_person(person)
    region = person_region(labels, persons, person)
    if region.empty:
        return Edit.nothing("delete_person", labels.shape)
    return assign_region(labels, persons, region.rect, region.mask, "delete_person", label=0, person=0)


def swap_left_right(
    labels: np.ndarray,
    persons: np.ndarray,
    person: int | None,
    area: Rect | Region | None = None,
    class_names: tuple[str, ...] | None = None,
) -> Edit:
    """Left arm <-> right arm, left leg <-> right leg, left shoe <-> right shoe for ``person``.

    The model's most common mistake on people seen from behind. ``person`` None swaps every
    person's; ``area`` limits the swap to a rectangle or a region (e.g. drawn by the reviewer).
    """
    check_maps(labels, persons)
    lut = mirror_lut(class_names)
    swappable = lut != np.arange(256)
    full = Rect.of_shape(labels.shape)
    if area is None:
        window = full
    elif isinstance(area, Region):
        window = area.rect
    else:
        window = Rect(*area).intersect(full)
    if window.empty:
        return Edit.nothing("swap", labels.shape)
    sl = window.slices
    mask = np.take(swappable, labels[sl])
    if person is not None:
        mask &= persons[sl] == int(person)
    if isinstance(area, Region):
        mask &= area.mask
    rect, mask = crop_to_content(window, mask)
    if rect.empty:
        return Edit.nothing("swap", labels.shape)
    return assign_region(labels, persons, rect, mask, "swap", label_lut=lut)


def swap_left_right_region(
    labels: np.ndarray,
    persons: np.ndarray,
    x: float,
    y: float,
    connectivity: int = 4,
    class_names: tuple[str, ...] | None = None,
) -> Edit:
    """Swap left and right in the limb under (x, y): the connected pixels of that person whose
    classes have a left/right twin (an arm; a leg with its shoe; both legs where they touch)."""
    check_maps(labels, persons)
    xi, yi = clicked_pixel(labels, x, y)
    lut = mirror_lut(class_names)
    swappable = lut != np.arange(256)
    if not swappable[labels[yi, xi]]:
        raise EditError(_("Click on an arm, a leg or a shoe to swap left and right."))
    person = int(persons[yi, xi])

    def same(win: Rect) -> np.ndarray:
        sl = win.slices
        return np.take(swappable, labels[sl]) & (persons[sl] == person)

    rect, mask = flood_region(labels.shape, xi, yi, same, connectivity)
    return assign_region(labels, persons, rect, mask, "swap", label_lut=lut)
