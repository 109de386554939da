"""The "differences" view of an edited image: what the reviewer changed, at a glance.

Pure NumPy (no Tk) so it can be tested headless and used on any piece of the screen: the
canvas calls it on the whole visible sample after a full redraw and on a small window of it
after each edit (partial redraw).

The rule: pixels the reviewer did not change are shown washed out in grey, so they recede;
changed pixels keep the normal drawing (the edited class colours over the photo, or the photo
itself where a part was erased) and get a magenta border on their outer edge, which stays
visible whatever the class colours are (no class of the palette is magenta).
"""

from __future__ import annotations

import numpy as np

__all__ = ["HIGHLIGHT", "changed_mask", "difference_view"]

#: Border colour of changed areas.
HIGHLIGHT = np.array([255, 0, 200], dtype=np.uint8)


def changed_mask(labels: np.ndarray, persons: np.ndarray | None, base_labels: np.ndarray,
                 base_persons: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: where the class or the person differs from the base (the model's result)."""
    changed = labels != base_labels
    if persons is not None and base_persons is not None:
        changed |= persons != base_persons
    return changed


def _edge(changed: np.ndarray, thickness: int) -> np.ndarray:
    """Changed pixels within ``thickness`` pixels (4-neighbour steps) of an unchanged one."""
    inside = changed.copy()
    for _ in range(max(1, int(thickness))):
        shrunk = inside.copy()
        shrunk[1:, :] &= inside[:-1, :]
        shrunk[:-1, :] &= inside[1:, :]
        shrunk[:, 1:] &= inside[:, :-1]
        shrunk[:, :-1] &= inside[:, 1:]
        inside = shrunk
    return changed & ~inside


def difference_view(drawn: np.ndarray, changed: np.ndarray, thickness: int = 2) -> np.ndarray:
    """``drawn`` (H, W, 3) uint8 with unchanged pixels greyed out and changed areas framed.

    ``thickness`` is the border width in screen pixels. The border is drawn inside the
    changed area, so a single changed pixel is still visible (it becomes magenta).
    """
    if drawn.shape[:2] != changed.shape:
        raise ValueError(f"drawing {drawn.shape[:2]} and change mask {changed.shape} differ in size")
    out = np.array(drawn[:, :, :3], dtype=np.uint8, copy=True)
    keep = ~changed
    if keep.any():
        rgb = out[keep].astype(np.uint16)
        # Luma (integer Rec. 601 weights), then pulled towards a light grey: faded, not dark.
        grey = (rgb[:, 0] * 77 + rgb[:, 1] * 150 + rgb[:, 2] * 29) >> 8
        faded = ((grey * 115) >> 8) + 120
        out[keep] = faded.astype(np.uint8)[:, None]
    if changed.any():
        out[_edge(changed, thickness)] = HIGHLIGHT
    return out
