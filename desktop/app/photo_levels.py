"""The photo at halved resolutions, for drawing a large photo zoomed out.

The window resizes only the visible part of the photo to screen size, from the largest
halved copy fine enough for the zoom (halving averages 2 x 2 pixels, so zooming far out does
not alias). Pillow's ``Image.reduce(2)`` did the halving, on a Pillow copy of the whole photo:
a 48-megapixel photo as a Pillow RGB image takes 192 MB beside the decoded array's 144 MB.
Here the halving works on the array a band of rows at a time, with Pillow's arithmetic
(``(a + b + c + d + 2) >> 2``; a last odd column or row averages its two pixels rounding
half up, a last odd corner is copied), so the levels are the same pixels, and only they
are kept (a quarter, a sixteenth... of the photo).
"""

from __future__ import annotations

import numpy as np

#: Output rows halved per band: bounds the 16-bit temporaries to a few MB.
_BAND_ROWS = 256


def halve(rgb: np.ndarray) -> np.ndarray:
    """``Image.reduce(2)`` of an (H, W, C) uint8 array, bit for bit."""
    h, w = rgb.shape[:2]
    h2, w2 = h // 2, w // 2
    out = np.empty(((h + 1) // 2, (w + 1) // 2, *rgb.shape[2:]), dtype=np.uint8)
    for y in range(0, h2, _BAND_ROWS):
        y1 = min(y + _BAND_ROWS, h2)
        top, bottom = rgb[2 * y : 2 * y1 : 2], rgb[2 * y + 1 : 2 * y1 : 2]
        total = top[:, 0 : 2 * w2 : 2].astype(np.uint16)
        total += top[:, 1 : 2 * w2 : 2]
        total += bottom[:, 0 : 2 * w2 : 2]
        total += bottom[:, 1 : 2 * w2 : 2]
        total += 2
        out[y:y1, :w2] = total >> 2
        if w % 2:  # the last column: two pixels, rounded half up
            out[y:y1, w2] = (top[:, -1].astype(np.uint16) + bottom[:, -1] + 1) >> 1
    if h % 2:  # the last row
        last = rgb[-1]
        out[h2, :w2] = (last[0 : 2 * w2 : 2].astype(np.uint16) + last[1 : 2 * w2 : 2] + 1) >> 1
        if w % 2:
            out[h2, w2] = last[-1]
    return out


def crop_for_resize(level: np.ndarray, box: tuple[float, float, float, float], margin: int = 8
                    ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The part of ``level`` a bilinear resize of ``box`` (x0, y0, x1, y1) reads, with ``box`` in
    that part's coordinates: the filter reaches at most a couple of pixels past the box, so
    ``margin`` pixels around it give the same result as resizing the whole level."""
    h, w = level.shape[:2]
    cx0 = max(0, int(np.floor(box[0])) - margin)
    cy0 = max(0, int(np.floor(box[1])) - margin)
    cx1 = min(w, int(np.ceil(box[2])) + margin)
    cy1 = min(h, int(np.ceil(box[3])) + margin)
    return level[cy0:cy1, cx0:cx1], (box[0] - cx0, box[1] - cy0, box[2] - cx0, box[3] - cy0)
