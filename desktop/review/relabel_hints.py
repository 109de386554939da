"""The relabel tool's list, with the model's second choice first (issue 16).

Where the model hesitated between two classes, the class it ranked second is the likeliest
correction. The engine's confidence provider (``result.confidence``,
:mod:`desktop.engine.confidence`) computes the runner-up class for any box of the photo; the
relabel menu asks it for the clicked region's box only (a region is usually small; the
whole runner-up map of a 48-megapixel photo would take seconds). Results without it (read
back from the workspace) fall back to arrays given on the result, else to the usual order
(:func:`desktop.review.edits.relabel_choices`). No tkinter: the window calls this.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from desktop.review import edits

__all__ = ["relabel_choices_for", "runner_up_source"]


def runner_up_source(result, shape: tuple[int, int]) -> np.ndarray | Callable[[int, int, int, int], np.ndarray] | None:
    """The model's runner-up classes for maps of ``shape``: a function of a box (y0, y1, x0, x1)
    computing just that box, a full map given on the result, or None (unknown, or a result of
    another size than the maps)."""
    if result is None or tuple(np.shape(result.labels)) != tuple(shape):
        return None
    given = getattr(result, "_given_maps", None) or {}
    if given.get("runner_up") is not None:
        return given["runner_up"]
    provider = getattr(result, "confidence", None)
    if provider is None:
        return None
    return lambda y0, y1, x0, x1: provider.window(y0, y1, x0, x1).runner_up


def relabel_choices_for(labels: np.ndarray, persons: np.ndarray, x: float, y: float, result, *,
                        num_classes: int = 20) -> list[int]:
    """New classes for the region under (x, y) of the maps, the model's second choice there first
    (``result``: the model's :class:`~desktop.engine.result.ParsingResult` for this photo)."""
    return edits.relabel_choices(labels, persons, x, y, runner_up_source(result, labels.shape),
                                 num_classes=num_classes)
