"""The parsing of one photo: what every view (GUI overlay, exports) reads.

Everything is at the image's own resolution and in plain NumPy, so a worker thread can
hand a result to the GUI thread through a queue and exports need no torch. Instance masks
are :class:`~.masks.RunMask` runs, not full-size arrays: a 48-megapixel photo with a hundred
instances would otherwise hold 4.6 GB of masks (see :mod:`.masks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .masks import RunMask

if TYPE_CHECKING:  # the provider is only built by the parser; a result stays torch-free
    from .confidence import ConfidenceProvider


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the True pixels of a 2-D mask; ``(0, 0, 0, 0)`` when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1])
    x0, x1 = int(cols[0]), int(cols[-1])
    return (x0, y0, x1 - x0 + 1, y1 - y0 + 1)


class _HasMask:
    """What persons and parts share: a :class:`RunMask` (an (H, W) bool array given to the
    constructor is converted) and the ways to read it."""

    mask: RunMask
    bbox: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        if not isinstance(self.mask, RunMask):
            object.__setattr__(self, "mask", RunMask.from_dense(np.asarray(self.mask, dtype=bool)))

    def crop(self) -> np.ndarray:
        """The mask inside ``bbox`` (x, y, w, h), as a bool array of the box's size."""
        return self.mask.crop(self.bbox)

    def full_mask(self) -> np.ndarray:
        """The (H, W) bool mask (allocates the photo's size: prefer :meth:`crop` or ``mask``'s
        windows, runs and samples on large photos)."""
        return self.mask.full()


@dataclass(frozen=True)
class Person(_HasMask):
    """One detected person (the model's ``Human`` query class).

    ``id`` is 1-based, persons are ordered by descending score. ``mask`` is a
    :class:`RunMask` of the photo's size. ``part_ids`` are the ids of the :class:`Part` objects
    linked to this person.
    """

    id: int
    score: float
    mask: RunMask
    bbox: tuple[int, int, int, int]
    area: int
    part_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Part(_HasMask):
    """One body-part or clothing instance (class 1..19).

    ``person_id`` is the :class:`Person` it overlaps most, or ``None`` when it overlaps none
    (the reference model does not link parts to people; we do, for per-person review).
    """

    id: int
    label: int
    name: str
    score: float
    mask: RunMask
    bbox: tuple[int, int, int, int]
    area: int
    person_id: int | None


@dataclass
class ParsingResult:
    """The parsing of one image.

    - ``labels``: (H, W) uint8 semantic label map, 0 background, 1..19 parsing classes.
    - ``persons``, ``parts``: instances with :class:`RunMask` masks of the image's size.
    - ``class_names``: names of ids 0..19; ``palette``: (20, 3) uint8 colour per id.
    - ``timings``: seconds per stage (``decode``, ``preprocess``, ``forward``,
      ``postprocess``, ``total``), plus anything the runtime adds.
    - ``model``: where the model came from and how it ran (name, source, runtime, precision).
    - ``notes``: remarks about the input worth telling the user (e.g. "first frame of 12").
    - ``confidence``: the model's per-pixel confidence (:mod:`.confidence`), computed on demand
      for any window or grid; None for results read back from a file. ``score_map``,
      ``runner_up`` and ``runner_up_score`` are its full-size uint8 maps (``round(255 * s)``),
      computed on first access and kept (3 bytes a pixel: up to ~12 megapixels; on larger
      photos use ``confidence.window`` / ``confidence.sample``).
    """

    labels: np.ndarray
    persons: list[Person]
    parts: list[Part]
    class_names: tuple[str, ...]
    palette: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    confidence: ConfidenceProvider | None = field(default=None, repr=False, compare=False)

    # Confidence maps given as arrays (through the setters below; results assembled from other
    # sources, tests) win over :attr:`confidence`. Kept in ``_given_maps``, an attribute that is
    # not a dataclass field: codecs that store the fields never see it.
    def _confidence_map(self, name: str) -> np.ndarray | None:
        given = self.__dict__.get("_given_maps") or {}
        if name in given:
            return given[name]
        return None if self.confidence is None else getattr(self.confidence.full(), name)

    def _give_map(self, name: str, value: np.ndarray | None) -> None:
        self.__dict__.setdefault("_given_maps", {})[name] = value

    @property
    def score_map(self) -> np.ndarray | None:
        """(H, W) uint8: the winning class's score per pixel; None without :attr:`confidence`."""
        return self._confidence_map("score")

    @score_map.setter
    def score_map(self, value: np.ndarray | None) -> None:
        self._give_map("score", value)

    @property
    def runner_up(self) -> np.ndarray | None:
        """(H, W) uint8: the model's second-choice class per pixel; None without :attr:`confidence`."""
        return self._confidence_map("runner_up")

    @runner_up.setter
    def runner_up(self, value: np.ndarray | None) -> None:
        self._give_map("runner_up", value)

    @property
    def runner_up_score(self) -> np.ndarray | None:
        """(H, W) uint8: the second choice's score; None without :attr:`confidence`."""
        return self._confidence_map("runner_up_score")

    @runner_up_score.setter
    def runner_up_score(self, value: np.ndarray | None) -> None:
        self._give_map("runner_up_score", value)

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
        """(num_classes,) int64 number of pixels of each class id in ``labels``.

        Counted a band of rows at a time (``numpy.bincount`` first copies its input to 64-bit
        integers, 384 MB for a 48-megapixel label map), with OpenCV's histogram for 8-bit maps
        (14 times faster; its float32 counts are exact for bands under 2^24 pixels).
        """
        labels = self.labels
        size = max(self.num_classes, 1)
        band = max(1, (1 << 22) // max(labels.shape[1], 1))
        if labels.dtype == np.uint8 and size <= 256:
            import cv2  # noqa: PLC0415 - only where counts are needed

            counts = np.zeros(256, dtype=np.int64)
            for y in range(0, labels.shape[0], band):
                strip = np.ascontiguousarray(labels[y : y + band])
                counts += cv2.calcHist([strip], [0], None, [256], [0, 256]).ravel().astype(np.int64)
            return counts[: self.num_classes]
        counts = np.zeros(size, dtype=np.int64)
        for y in range(0, labels.shape[0], band):
            found = np.bincount(labels[y : y + band].ravel(), minlength=size)
            counts += found[:size]
        return counts[: self.num_classes]

    def classes_present(self) -> list[int]:
        """Class ids (background included) that cover at least one pixel."""
        return [int(c) for c in np.flatnonzero(self.class_pixel_counts())]

    def person_map(self, ys: np.ndarray | None = None, xs: np.ndarray | None = None) -> np.ndarray:
        """(H, W) uint16 map: the id of the person each pixel belongs to, 0 for none; with
        ``ys`` and ``xs``, only at the grid of those rows and columns ((len(ys), len(xs)): a
        zoomed view's pixels, at the cost of the view, not of the photo).

        Where persons overlap, the higher-scoring one wins (it is painted last).
        """
        if ys is None or xs is None:
            out = np.zeros(self.labels.shape, dtype=np.uint16)
            for person in sorted(self.persons, key=lambda p: p.score):
                x, y, w, h = person.bbox
                if w and h:
                    out[y : y + h, x : x + w][person.mask.region(y, y + h, x, x + w)] = person.id
            return out
        out = np.zeros((len(ys), len(xs)), dtype=np.uint16)
        for person in sorted(self.persons, key=lambda p: p.score):
            out[person.mask.sample(ys, xs)] = person.id
        return out

    def nbytes(self) -> int:
        """Approximate memory held by the arrays (for bounded caches)."""
        total = self.labels.nbytes
        total += sum(p.mask.nbytes for p in self.persons)
        total += sum(p.mask.nbytes for p in self.parts)
        total += self.confidence.nbytes if self.confidence is not None else 0
        return int(total)
