"""The parsing of one photo: what every view (GUI overlay, exports) reads.

Everything is at the image's own resolution and in plain NumPy, so a worker thread can
hand a result to the GUI thread through a queue and exports need no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the True pixels of a 2-D mask; ``(0, 0, 0, 0)`` when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1])
    x0, x1 = int(cols[0]), int(cols[-1])
    return (x0, y0, x1 - x0 + 1, y1 - y0 + 1)


@dataclass(frozen=True)
class Person:
    """One detected person (the model's ``Human`` query class).

    ``id`` is 1-based, persons are ordered by descending score. ``mask`` is an (H, W)
    bool array. ``part_ids`` are the ids of the :class:`Part` objects linked to this person.
    """

    id: int
    score: float
    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    area: int
    part_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Part:
    """One body-part or clothing instance (class 1..19).

    ``person_id`` is the :class:`Person` it overlaps most, or ``None`` when it overlaps none
    (the reference model does not link parts to people; we do, for per-person review).
    """

    id: int
    label: int
    name: str
    score: float
    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    area: int
    person_id: int | None


@dataclass
class ParsingResult:
    """The parsing of one image.

    - ``labels``: (H, W) uint8 semantic label map, 0 background, 1..19 parsing classes.
    - ``persons``, ``parts``: instances with (H, W) bool masks.
    - ``class_names``: names of ids 0..19; ``palette``: (20, 3) uint8 colour per id.
    - ``timings``: seconds per stage (``decode``, ``preprocess``, ``forward``,
      ``postprocess``, ``total``), plus anything the runtime adds.
    - ``model``: where the model came from and how it ran (name, source, runtime, precision).
    - ``notes``: remarks about the input worth telling the user (e.g. "first frame of 12").
    """

    labels: np.ndarray
    persons: list[Person]
    parts: list[Part]
    class_names: tuple[str, ...]
    palette: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_pixel_counts(self) -> np.ndarray:
        """(num_classes,) int64 number of pixels of each class id in ``labels``."""
        return np.bincount(self.labels.ravel(), minlength=self.num_classes)[: self.num_classes]

    def classes_present(self) -> list[int]:
        """Class ids (background included) that cover at least one pixel."""
        return [int(c) for c in np.flatnonzero(self.class_pixel_counts())]

    def person_map(self) -> np.ndarray:
        """(H, W) uint16 map: the id of the person each pixel belongs to, 0 for none.

        Where persons overlap, the higher-scoring one wins (it is painted last).
        """
        out = np.zeros(self.labels.shape, dtype=np.uint16)
        for person in sorted(self.persons, key=lambda p: p.score):
            out[person.mask] = person.id
        return out

    def nbytes(self) -> int:
        """Approximate memory held by the arrays (for bounded caches)."""
        total = self.labels.nbytes
        total += sum(p.mask.nbytes for p in self.persons)
        total += sum(p.mask.nbytes for p in self.parts)
        return int(total)
