"""Correcting an existing annotation with the model's help: "take the model's region".

Where an annotation and the model disagree (:mod:`desktop.review.compare`), the reviewer
either keeps the annotation (nothing changes) or takes the model's pixels for one connected
region of disagreement. Taking goes through :func:`desktop.review.edit_core.assign_region`,
the one write path of the editing tools, so it is recorded and undone like any other edit.

Person ids: the annotation's persons and the model's are numbered independently, so the
model's person map is first renumbered to the annotation's (:func:`model_persons_for_annotation`):
each model person takes the id of the annotated person it overlaps most, a model person
overlapping none gets a new id. An annotation without person ids (a folder of label PNGs)
takes the model's classes only (person 0). No tkinter.
"""

from __future__ import annotations

import numpy as np

from desktop.review.edit_core import (
    Edit,
    Rect,
    Region,
    assign_region,
    check_maps,
    clicked_pixel,
    flood_region,
)

__all__ = ["disagreement_region", "model_persons_for_annotation", "take_model_region"]


def model_persons_for_annotation(annotation_persons: np.ndarray, model_persons: np.ndarray) -> np.ndarray:
    """(H, W) uint16: the model's person map with each model person renumbered to the annotated
    person it shares most pixels with (ties: the lower id); model persons sharing none get new
    ids above the annotation's highest, in order. 0 stays 0."""
    ann = np.asarray(annotation_persons, dtype=np.uint16)
    mod = np.asarray(model_persons, dtype=np.uint16)
    if ann.shape != mod.shape:
        raise ValueError(f"the person maps differ in size: {ann.shape} and {mod.shape}")
    both = (ann != 0) & (mod != 0)
    pairs = mod[both].astype(np.int64) << 16 | ann[both]
    keys, counts = np.unique(pairs, return_counts=True)
    lut = np.zeros(65536, dtype=np.uint16)
    best: dict[int, tuple[int, int]] = {}
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        m, a = key >> 16, key & 0xFFFF
        if m not in best or count > best[m][1]:  # keys ascend: on a tie the lower id stays
            best[m] = (a, count)
    for m, (a, _count) in best.items():
        lut[m] = a
    next_id = int(ann.max()) + 1 if ann.size else 1
    for m in np.flatnonzero(np.bincount(mod.ravel(), minlength=65536)[1:]) + 1:
        if int(m) not in best:
            if next_id > 65535:
                raise ValueError("too many persons to renumber (more than 65,535)")
            lut[m] = next_id
            next_id += 1
    return lut[mod]


def disagreement_region(annotation_labels: np.ndarray, model_labels: np.ndarray, x: float, y: float,
                        connectivity: int = 4) -> Region:
    """The connected pixels around (x, y) where the annotation and the model disagree the same
    way as at (x, y) (same annotated class, same model class); ``label`` is the model's class.
    An empty region when they agree at (x, y)."""
    ann = np.asarray(annotation_labels)
    mod = np.asarray(model_labels)
    if ann.shape != mod.shape:
        raise ValueError(f"the annotation {ann.shape} and the model's labels {mod.shape} differ in size")
    xi, yi = clicked_pixel(ann, x, y)
    a, m = int(ann[yi, xi]), int(mod[yi, xi])
    if a == m:
        return Region(Rect(0, 0, 0, 0), np.zeros((0, 0), dtype=bool), None, None)

    def same(win: Rect) -> np.ndarray:
        sl = win.slices
        return (ann[sl] == a) & (mod[sl] == m)

    rect, mask = flood_region(ann.shape, xi, yi, same, connectivity)
    return Region(rect, mask, m, None)


def take_model_region(labels: np.ndarray, persons: np.ndarray, model_labels: np.ndarray,
                      model_persons: np.ndarray | None, x: float, y: float, connectivity: int = 4) -> Edit:
    """Give the disagreement region under (x, y) the model's classes (and persons: pass
    :func:`model_persons_for_annotation`'s map; None for an annotation without persons).
    ``labels``/``persons`` are the annotation's maps, edited in place; returns the
    :class:`Edit` (empty when they agree there) for the editing history."""
    check_maps(labels, persons)
    region = disagreement_region(labels, model_labels, x, y, connectivity)
    if region.empty:
        return Edit.nothing("take-model", labels.shape)
    source_persons = (np.broadcast_to(np.uint16(0), labels.shape) if model_persons is None  # no copy
                      else np.asarray(model_persons, dtype=np.uint16))
    if source_persons.shape != labels.shape:
        raise ValueError("the model's person map and the annotation differ in size")
    return assign_region(labels, persons, region.rect, region.mask, "take-model",
                         source=(np.asarray(model_labels, dtype=np.uint8), source_persons))
