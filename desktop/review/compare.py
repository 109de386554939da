"""How well the model agrees with an existing annotation: confusion matrix, accuracy, IoU.

Definitions (the command line's ``--help`` and the README state them too):

- **Confusion matrix** of one image: ``C[a, m]`` = number of pixels the annotation gives class
  ``a`` and the model class ``m`` (20 x 20 for the CIHP classes, background included). Counted
  with ``np.bincount`` on ``a * n + m``: exact integers, whatever the image size.
- **Dataset figures** come from ONE matrix summed over all images, as the CIHP and LIP
  evaluation scripts (and detectron2's ``SemSegEvaluator``, which M2FP's published figures
  come from) do: large images weigh more than small ones, which is what makes a published
  mIoU reproducible. An average of per-image mIoUs is a different number.
- **Pixel accuracy**: the diagonal over all pixels (correct pixels / pixels).
- **Class accuracy** of class c: ``C[c, c] / (pixels the annotation gives c)``; the **mean class
  accuracy** is the mean over the classes that occur in the annotation (the only ones for
  which it is defined).
- **IoU** of class c: ``TP / (TP + FP + FN)`` with TP = ``C[c, c]``, FP = pixels the model gives
  c and the annotation another class, FN = pixels the annotation gives c and the model
  another class. **mIoU**: the mean IoU over the classes that occur in the annotation or in
  the prediction (a class only the model sees counts with IoU 0; a class neither sees is
  left out, its IoU undefined).
- An image's figures are the same computed from that image's matrix alone.

Also here, for the review window: the **disagreement map** (pixels where the two differ,
carrying the annotation's class) with per-class counts, which follow from the matrix.
No tkinter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "NO_DISAGREEMENT",
    "NUM_CLASSES",
    "Agreement",
    "DatasetComparison",
    "ImageFigures",
    "agreement",
    "confusion_matrix",
    "disagreement_counts",
    "disagreement_map",
    "disagreement_pairs",
    "disagreement_rgba",
]

#: The CIHP parsing classes, background included.
NUM_CLASSES = 20
#: Value of :func:`disagreement_map` where annotation and model agree.
NO_DISAGREEMENT = 255
# Pixels per block when counting, so the work memory stays a few MB whatever the image size.
_BLOCK = 1 << 21


def _check_pair(annotation: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, p = np.asarray(annotation), np.asarray(prediction)
    if a.ndim != 2 or a.shape != p.shape:
        raise ValueError(f"the annotation {a.shape} and the prediction {p.shape} must be 2-D maps of the same size")
    for name, m in (("annotation", a), ("prediction", p)):
        if m.dtype.kind not in "ui":
            raise ValueError(f"the {name} must hold integer class ids, not {m.dtype}")
    return a, p


def confusion_matrix(annotation: np.ndarray, prediction: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(n, n) int64: ``[a, m]`` = pixels with class ``a`` in the annotation and ``m`` in the prediction.

    Raises ValueError when the maps differ in size or hold a class id outside ``0..n-1``
    (naming the map and the id).
    """
    n = int(num_classes)
    if not 1 <= n <= 256:
        raise ValueError(f"num_classes must be 1..256, not {n}")
    a, p = _check_pair(annotation, prediction)
    a, p = a.reshape(-1), p.reshape(-1)  # a view for contiguous maps; a copy otherwise
    total = np.zeros(n * n, dtype=np.int64)
    for start in range(0, a.size, _BLOCK):
        ab, pb = a[start : start + _BLOCK], p[start : start + _BLOCK]
        for name, block in (("annotation", ab), ("prediction", pb)):
            lo, hi = int(block.min()), int(block.max())
            if lo < 0 or hi >= n:
                bad = hi if hi >= n else lo
                raise ValueError(f"the {name} holds class id {bad}, outside 0..{n - 1}")
        key = ab.astype(np.intp) * n
        key += pb
        total += np.bincount(key, minlength=n * n)
    return total.reshape(n, n)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


@dataclass(frozen=True)
class Agreement:
    """The figures of one confusion matrix (an image's or a dataset's). Fractions 0..1.

    ``class_accuracy`` is NaN for classes absent from the annotation; ``class_iou`` is NaN for
    classes absent from both maps (see the module docstring). ``pixel_accuracy``,
    ``mean_accuracy`` and ``miou`` are None for an empty matrix.
    """

    confusion: np.ndarray
    pixels: int
    correct: int
    annotated: np.ndarray  # (n,) pixels per class in the annotation (row sums)
    predicted: np.ndarray  # (n,) pixels per class in the prediction (column sums)
    class_accuracy: np.ndarray
    class_iou: np.ndarray
    pixel_accuracy: float | None
    mean_accuracy: float | None
    miou: float | None

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def occurring(self) -> np.ndarray:
        """(n,) bool: classes that occur in the annotation or the prediction (those the mIoU averages)."""
        return (self.annotated + self.predicted) > 0

    def class_iou_by_name(self, names: Sequence[str]) -> dict[str, float | None]:
        """``{class name: IoU or None}`` for every class (None: the class occurs in neither map)."""
        return {str(names[c]) if c < len(names) else str(c): (None if math.isnan(v) else float(v))
                for c, v in enumerate(self.class_iou.tolist())}


def agreement(confusion: np.ndarray) -> Agreement:
    """The figures of a confusion matrix (rows: annotation, columns: prediction)."""
    c = np.asarray(confusion)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.dtype.kind not in "ui":
        raise ValueError(f"a confusion matrix is a square integer matrix, not {c.shape} {c.dtype}")
    c = c.astype(np.int64, copy=False)
    if (c < 0).any():
        raise ValueError("a confusion matrix counts pixels: no negative entries")
    tp = np.diagonal(c).copy()
    annotated = c.sum(axis=1)
    predicted = c.sum(axis=0)
    pixels = int(annotated.sum())
    correct = int(tp.sum())
    class_accuracy = _ratio(tp, annotated)
    union = annotated + predicted - tp  # TP + FP + FN
    class_iou = _ratio(tp, union)
    in_annotation = annotated > 0
    occurring = union > 0
    pixel_accuracy = correct / pixels if pixels else None
    mean_accuracy = float(class_accuracy[in_annotation].sum() / in_annotation.sum()) if in_annotation.any() else None
    miou = float(class_iou[occurring].sum() / occurring.sum()) if occurring.any() else None
    return Agreement(c, pixels, correct, annotated, predicted, class_accuracy, class_iou, pixel_accuracy,
                     mean_accuracy, miou)


# --------------------------------------------------------------------------- a dataset

@dataclass(frozen=True)
class ImageFigures:
    """One image's line of a comparison: its file (relative, ``/``-separated) and figures."""

    file: str
    pixel_accuracy: float
    mean_accuracy: float | None
    miou: float
    class_iou: tuple[float, ...]  # NaN where the class occurs in neither map


@dataclass
class DatasetComparison:
    """Images compared one at a time; the dataset's figures from the sum of their matrices.

    Holds one (n, n) matrix and a few numbers per image, never a map: memory does not grow
    with image sizes.
    """

    class_names: tuple[str, ...]
    confusion: np.ndarray = field(init=False)
    images: list[ImageFigures] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.class_names = tuple(str(n) for n in self.class_names)
        n = len(self.class_names)
        self.confusion = np.zeros((n, n), dtype=np.int64)

    def add(self, file: str, confusion: np.ndarray) -> Agreement:
        """Add one image's matrix; returns its figures."""
        c = np.asarray(confusion)
        if c.shape != self.confusion.shape:
            raise ValueError(f"a confusion matrix of {c.shape} does not fit the {len(self.class_names)} classes")
        fig = agreement(c)
        if fig.pixels == 0:
            raise ValueError(f"the comparison of {file} counts no pixel")
        self.confusion += c
        self.images.append(ImageFigures(file, float(fig.pixel_accuracy), fig.mean_accuracy, float(fig.miou),
                                        tuple(fig.class_iou.tolist())))
        return fig

    def dataset(self) -> Agreement:
        return agreement(self.confusion)

    def worst_first(self) -> list[ImageFigures]:
        """Images by mIoU, lowest first; ties by pixel accuracy, then by file name."""
        return sorted(self.images, key=lambda f: (f.miou, f.pixel_accuracy, f.file))

    def to_json(self) -> dict:
        """``{"dataset": {"pixel_accuracy", "mean_accuracy", "miou", "class_iou": {name: value}},
        "images": [{"file", "pixel_accuracy", "miou"}, ...]}``, images worst first (values
        0..1; None where undefined: no image compared, a class in neither map)."""
        d = self.dataset()
        return {
            "dataset": {
                "pixel_accuracy": d.pixel_accuracy,
                "mean_accuracy": d.mean_accuracy,
                "miou": d.miou,
                "class_iou": d.class_iou_by_name(self.class_names),
            },
            "images": [{"file": f.file, "pixel_accuracy": f.pixel_accuracy, "miou": f.miou}
                       for f in self.worst_first()],
        }


# --------------------------------------------------------------------------- disagreement

def disagreement_map(annotation: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """(H, W) uint8: the annotation's class where the model says otherwise, else :data:`NO_DISAGREEMENT`."""
    a, p = _check_pair(annotation, prediction)
    out = np.full(a.shape, NO_DISAGREEMENT, dtype=np.uint8)
    differ = a != p
    out[differ] = a[differ]
    return out


def disagreement_counts(confusion: np.ndarray) -> np.ndarray:
    """(n,) int64: per annotation class, the pixels the model gives another class (the
    disagreement map's pixels of that class: row sums of the matrix minus its diagonal)."""
    c = np.asarray(confusion, dtype=np.int64)
    return c.sum(axis=1) - np.diagonal(c)


def disagreement_pairs(confusion: np.ndarray, names: Sequence[str] | None = None) -> list[dict]:
    """Every (annotation class, model class) pair that differs, most pixels first:
    ``{"annotation": id, "model": id, "pixels": n}`` (plus ``annotation_name``/``model_name``
    with ``names``): "annotated Left-arm, the model says Right-arm: 1,234 pixels"."""
    c = np.asarray(confusion, dtype=np.int64)
    rows, cols = np.nonzero(c)
    out = []
    for a, m in zip(rows.tolist(), cols.tolist(), strict=True):
        if a == m:
            continue
        entry = {"annotation": a, "model": m, "pixels": int(c[a, m])}
        if names is not None:
            entry["annotation_name"] = str(names[a]) if a < len(names) else str(a)
            entry["model_name"] = str(names[m]) if m < len(names) else str(m)
        out.append(entry)
    out.sort(key=lambda e: (-e["pixels"], e["annotation"], e["model"]))
    return out


def disagreement_rgba(annotation: np.ndarray, prediction: np.ndarray, palette: np.ndarray,
                      alpha: int = 255) -> np.ndarray:
    """(H, W, 4) uint8 image of the disagreement: the annotation class's colour (opacity
    ``alpha``) where the two differ, transparent elsewhere; ready to lay over the photo."""
    dmap = disagreement_map(annotation, prediction)
    table = np.zeros((256, 4), dtype=np.uint8)
    pal = np.asarray(palette, dtype=np.uint8)[:NO_DISAGREEMENT, :3]
    table[: len(pal), :3] = pal
    table[: len(pal), 3] = int(alpha)
    table[NO_DISAGREEMENT] = 0
    return table[dmap]
