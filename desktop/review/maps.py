"""The two maps a reviewer works on: a class per pixel and a person per pixel.

The model reports overlapping instances (persons, parts) with scores beside a semantic label
map. Review, editing, the workspace and the interchange formats all work on one simpler,
exact form instead: ``labels`` (H, W) uint8 class ids and ``persons`` (H, W) uint16 person
ids (0 = no person; background pixels always 0). A *part* is then the set of pixels of one
(person, class) pair, as in CIHP's instance maps. :func:`person_map_of` derives the person
map from a model result; :func:`instances_from_maps` gives the parts and persons back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop.engine.masks import RunMask
from desktop.engine.result import ParsingResult, Part, Person

__all__ = ["MapInstance", "person_map_of", "instances_from_maps", "consistency_problems", "result_from_maps"]


@dataclass(frozen=True)
class MapInstance:
    """The pixels of one (person, class) pair; ``mask`` is cropped to ``bbox`` (x, y, w, h).

    ``label`` 0 stands for the whole person (every non-background pixel of ``person``).
    """

    person: int
    label: int
    bbox: tuple[int, int, int, int]
    area: int
    mask: np.ndarray

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask at the image's size (allocates H x W: for small images and tests)."""
        out = np.zeros(shape, dtype=bool)
        x, y, w, h = self.bbox
        out[y : y + h, x : x + w] = self.mask
        return out


def person_map_of(result: ParsingResult) -> np.ndarray:
    """(H, W) uint16: for every labelled pixel, the person it belongs to (0 for none).

    A pixel of class c takes the person of the highest-scoring part of class c that covers
    it (a part linked to no person gives 0); a labelled pixel that no part of its class
    covers takes the highest-scoring person whose mask covers it. Background stays 0.
    """
    labels = result.labels
    out = np.zeros(labels.shape, dtype=np.uint16)
    for person in sorted(result.persons, key=lambda p: p.score):
        x, y, w, h = person.mask.bbox  # masks are runs: painted inside their own box
        if w and h:
            out[y : y + h, x : x + w][person.mask.crop((x, y, w, h))] = person.id
    for part in sorted(result.parts, key=lambda p: p.score):
        x, y, w, h = part.mask.bbox
        if w == 0 or h == 0:
            continue
        win = np.s_[y : y + h, x : x + w]
        hit = part.mask.crop((x, y, w, h)) & (labels[win] == part.label)
        out[win][hit] = 0 if part.person_id is None else part.person_id
    out[labels == 0] = 0
    return out


def _bbox_of(rows: np.ndarray, cols: np.ndarray) -> tuple[int, int, int, int]:
    return (int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1))


def instances_from_maps(labels: np.ndarray, persons: np.ndarray, *, with_persons: bool = True) -> list[MapInstance]:
    """Every (person, class) region of the two maps, sorted by person then class.

    Parts with ``person`` 0 are labelled pixels linked to no person. With ``with_persons``,
    each person also gets a ``label`` 0 instance covering all of its labelled pixels.
    """
    if labels.shape != persons.shape:
        raise ValueError(f"label map {labels.shape} and person map {persons.shape} differ in size")
    fg = labels != 0
    ys, xs = np.nonzero(fg)
    if ys.size == 0:
        return []
    key = persons[ys, xs].astype(np.int64) * 256 + labels[ys, xs]
    order = np.argsort(key, kind="stable")
    key, ys, xs = key[order], ys[order], xs[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], key.size]
    out: list[MapInstance] = []
    per_person: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        k = int(key[s])
        person, label = k // 256, k % 256
        r, c = ys[s:e], xs[s:e]
        bbox = _bbox_of(r, c)
        mask = np.zeros((bbox[3], bbox[2]), dtype=bool)
        mask[r - bbox[1], c - bbox[0]] = True
        out.append(MapInstance(person, label, bbox, int(e - s), mask))
        if person:
            per_person.setdefault(person, []).append((r, c))
    if with_persons:
        for person, pieces in per_person.items():
            r = np.concatenate([p[0] for p in pieces])
            c = np.concatenate([p[1] for p in pieces])
            bbox = _bbox_of(r, c)
            mask = np.zeros((bbox[3], bbox[2]), dtype=bool)
            mask[r - bbox[1], c - bbox[0]] = True
            out.append(MapInstance(person, 0, bbox, int(r.size), mask))
    out.sort(key=lambda i: (i.person, i.label))
    return out


def consistency_problems(labels: np.ndarray, persons: np.ndarray) -> list[str]:
    """What breaks the maps' rules (empty list when sound): same size, person ids only on
    labelled pixels. Parts linked to no person are allowed (the model makes them)."""
    problems = []
    if labels.shape != persons.shape:
        return [f"label map {labels.shape} and person map {persons.shape} differ in size"]
    if labels.dtype != np.uint8:
        problems.append(f"label map must be uint8, not {labels.dtype}")
    if persons.dtype != np.uint16:
        problems.append(f"person map must be uint16, not {persons.dtype}")
    stray = int(np.count_nonzero((labels == 0) & (persons != 0)))
    if stray:
        problems.append(f"{stray} background pixel(s) carry a person id")
    return problems


def _runs(inst: MapInstance, shape: tuple[int, int]) -> RunMask:
    """The instance's cropped mask as a result's run mask (no full-size array)."""
    return RunMask.from_crop(inst.mask, inst.bbox[0], inst.bbox[1], shape)


def result_from_maps(labels: np.ndarray, persons: np.ndarray, base: ParsingResult | None = None) -> ParsingResult:
    """A ParsingResult whose persons and parts are the regions of the two maps: what exports
    write for an edited image (masks, boxes, areas and links rebuilt from the maps).

    Person ids are the person map's. Scores: a person keeps the model's score when ``base``
    has that person id; a part keeps the best score of ``base``'s parts of the same class and
    person; regions a reviewer created have score 1.0. Class names, palette, model section,
    timings and notes come from ``base`` (the default classes when there is none).
    """
    problems = consistency_problems(labels, persons)
    if problems:
        raise ValueError("; ".join(problems))
    if base is not None:
        names, palette = tuple(base.class_names), np.asarray(base.palette)
    else:
        from desktop.resources import default_class_names
        from desktop.resources import palette as default_palette

        names = default_class_names()
        palette = default_palette()[: len(names)]
    person_score = {p.id: float(p.score) for p in base.persons} if base is not None else {}
    part_score: dict[tuple[int, int], float] = {}
    for p in base.parts if base is not None else ():
        key = (p.person_id or 0, p.label)
        part_score[key] = max(part_score.get(key, float("-inf")), float(p.score))
    shape = labels.shape
    instances = instances_from_maps(labels, persons)
    parts: list[Part] = []
    for inst in instances:
        if inst.label == 0:
            continue
        name = names[inst.label] if inst.label < len(names) else str(inst.label)
        parts.append(Part(id=len(parts) + 1, label=inst.label, name=name,
                          score=part_score.get((inst.person, inst.label), 1.0), mask=_runs(inst, shape),
                          bbox=inst.bbox, area=inst.area, person_id=inst.person or None))
    people = [
        Person(id=inst.person, score=person_score.get(inst.person, 1.0), mask=_runs(inst, shape), bbox=inst.bbox,
               area=inst.area, part_ids=tuple(p.id for p in parts if p.person_id == inst.person))
        for inst in instances if inst.label == 0
    ]
    return ParsingResult(labels=np.array(labels, dtype=np.uint8), persons=people, parts=parts, class_names=names,
                         palette=palette, timings=dict(base.timings) if base is not None else {},
                         model=dict(base.model) if base is not None else {},
                         notes=list(base.notes) if base is not None else [])
