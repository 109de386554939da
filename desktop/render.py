"""Pure-NumPy drawing of label maps, shared by the exports and the GUI.

No tkinter and no torch here, so the same pixels end up in a saved overlay and on screen,
and the functions can be tested headless. Everything is table-driven: a per-class lookup
table indexed by the label map (``lut[labels]``) replaces per-class loops over the image,
which keeps a 1920x1080 blend to a few tens of milliseconds (``np.take`` is used rather
than fancy indexing: it is several times faster for this gather).

Conventions: ``labels`` is an (H, W) integer map of class ids (0 = background);
``palette`` an (N, 3) uint8 colour per class id; ``visible`` an optional (N,) bool array
of classes to draw; ``pixel_mask`` an optional (H, W) bool array of pixels allowed to
receive colour (per-person review). Background is never coloured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import cv2
import numpy as np

__all__ = [
    "blend", "blend_region", "boundaries", "color_map", "outline", "person_filter", "sampled_rect",
    "visibility",
]


def visibility(classes: Iterable[int] | None, num_classes: int) -> np.ndarray | None:
    """(num_classes,) bool array with True for the given class ids; ``None`` stays ``None`` (all visible)."""
    if classes is None:
        return None
    vis = np.zeros(num_classes, dtype=bool)
    for c in classes:
        if 0 <= int(c) < num_classes:
            vis[int(c)] = True
    return vis


def _drawn_classes(palette: np.ndarray, visible: np.ndarray | None, size: int) -> np.ndarray:
    """(size,) bool: classes that receive colour (in the palette, visible, not background)."""
    drawn = np.zeros(size, dtype=bool)
    n = min(len(palette), size)
    drawn[:n] = True
    if visible is not None:
        vis = np.asarray(visible, dtype=bool).ravel()
        m = min(len(vis), n)
        drawn[:m] &= vis[:m]
        drawn[m:n] = False
    drawn[0] = False
    return drawn


def _lut_size(labels: np.ndarray) -> int:
    """Table length covering every label value (256 for uint8, so no max() pass is needed)."""
    if labels.dtype == np.uint8:
        return 256
    top = int(labels.max()) if labels.size else 0
    if labels.size and int(labels.min()) < 0:
        raise ValueError("label maps must not contain negative class ids")
    return max(top + 1, 1)


def _colour_lut(palette: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    lut = np.zeros((len(drawn), 3), dtype=np.uint8)
    n = min(len(palette), len(drawn))
    lut[:n] = np.asarray(palette, dtype=np.uint8)[:n, :3]
    lut[~drawn] = 0
    return lut


# OpenCV's table look-up (cv2.LUT) gathers from a 256-entry table of one to four channels with
# SIMD, where np.take of 3-byte rows goes element by element: 2.5 times faster on a strip of a
# 12-megapixel photo (measured in the issue-13 session). It needs uint8 indices and exactly 256
# entries: uint8 label maps (every model's) take that path, any other the NumPy one, with the
# same results.
def _lut3(labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[labels]`` for an (H, W) uint8 map and a (256, 3) table: (H, W, 3) of its dtype."""
    if labels.ndim == 2 and labels.shape[0] and labels.shape[1]:
        src = cv2.merge([np.ascontiguousarray(labels)] * 3)
        return cv2.LUT(src, np.ascontiguousarray(table).reshape(256, 1, 3))
    return np.take(table, labels, axis=0)


def color_map(labels: np.ndarray, palette: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 colour image of a label map; background and hidden classes are black."""
    drawn = _drawn_classes(palette, visible, _lut_size(labels))
    if labels.dtype == np.uint8:
        return _lut3(labels, _colour_lut(palette, drawn))
    return np.take(_colour_lut(palette, drawn), labels, axis=0)


def blend(
    rgb: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    opacity: float = 0.5,
    visible: np.ndarray | None = None,
    pixel_mask: np.ndarray | None = None,
) -> np.ndarray:
    """The photo with each visible class's colour mixed in at ``opacity`` (0..1).

    Pixels of background, hidden classes or outside ``pixel_mask`` are the photo unchanged
    (bit-exact). Integer math in uint16: ``(rgb * (256 - a) + colour * a + 128) >> 8``.
    """
    if rgb.shape[:2] != labels.shape:
        raise ValueError(f"image {rgb.shape[:2]} and label map {labels.shape} differ in size")
    a = int(round(min(max(float(opacity), 0.0), 1.0) * 256))
    drawn = _drawn_classes(palette, visible, _lut_size(labels))
    if labels.dtype == np.uint8 and rgb.dtype == np.uint8 and labels.size:
        return _blend_u8(rgb, labels, palette, a, drawn, pixel_mask)
    alpha_lut = np.where(drawn, a, 0).astype(np.uint16)
    alpha = np.take(alpha_lut, labels)
    if pixel_mask is not None:
        alpha *= np.asarray(pixel_mask, dtype=bool)
    colour = np.take(_colour_lut(palette, drawn).astype(np.uint16), labels, axis=0)
    alpha = alpha[:, :, None]
    out = rgb[:, :, :3].astype(np.uint16)
    out *= 256 - alpha
    colour *= alpha
    out += colour
    out += 128
    out >>= 8
    return out.astype(np.uint8)


_HIGH_BYTE = 1 if sys.byteorder == "little" else 0


def _blend_u8(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, a: int, drawn: np.ndarray,
              pixel_mask: np.ndarray | None) -> np.ndarray:
    """:func:`blend`'s formula for uint8 maps, with table look-ups and OpenCV arithmetic.

    ``(rgb * (256 - alpha) + colour * alpha + 128) >> 8`` is ``rgb * keep[label] + add[label]``
    shifted, with per-class tables ``keep`` (256 - alpha) and ``add`` (colour * alpha + 128);
    an undrawn pixel has alpha 0 and comes out as its ``rgb`` exactly. Pixels outside
    ``pixel_mask`` are given label 0 (background is never drawn). The sums stay below 65,409,
    so OpenCV's saturating uint16 arithmetic never saturates: bit for bit the NumPy formula,
    3 times faster on a 12-megapixel overlay's strips.
    """
    if pixel_mask is not None:
        labels = np.where(np.asarray(pixel_mask, dtype=bool), labels, np.uint8(0))
    alpha = np.where(drawn, a, 0).astype(np.uint16)
    keep = np.repeat((256 - alpha)[:, None], 3, axis=1)
    add = _colour_lut(palette, drawn).astype(np.uint16) * alpha[:, None] + 128
    src = cv2.merge([np.ascontiguousarray(labels)] * 3)
    out = cv2.multiply(np.ascontiguousarray(rgb[:, :, :3]), cv2.LUT(src, keep.reshape(256, 1, 3)), dtype=cv2.CV_16U)
    out = cv2.add(out, cv2.LUT(src, add.reshape(256, 1, 3)))
    return np.ascontiguousarray(out.view(np.uint8)[:, :, _HIGH_BYTE::2])  # the high byte of each: >> 8


def boundaries(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool, True where a pixel's label differs from its right or lower neighbour."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Square (8-neighbour) binary dilation by ``steps`` pixels, with array shifts."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[1:, 1:] |= out[:-1, :-1]
        grown[1:, :-1] |= out[:-1, 1:]
        grown[:-1, 1:] |= out[1:, :-1]
        grown[:-1, :-1] |= out[1:, 1:]
        out = grown
    return out


def outline(
    rgb: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    visible: np.ndarray | None = None,
    pixel_mask: np.ndarray | None = None,
    thickness: int = 1,
) -> np.ndarray:
    """The photo with the borders of each visible class drawn in that class's colour.

    Borders are taken on both sides of every label change, and each side is painted in its
    own class colour, so a part's outline lies inside the part (background is not painted).
    ``thickness`` > 1 widens the line inwards.
    """
    if rgb.shape[:2] != labels.shape:
        raise ValueError(f"image {rgb.shape[:2]} and label map {labels.shape} differ in size")
    edge = boundaries(labels)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    if thickness > 1:
        edge = _dilate(edge, int(thickness) - 1)
    drawn = _drawn_classes(palette, visible, _lut_size(labels))
    edge &= np.take(drawn, labels)
    if pixel_mask is not None:
        edge &= np.asarray(pixel_mask, dtype=bool)
    out = np.array(rgb[:, :, :3], dtype=np.uint8, copy=True)
    out[edge] = _colour_lut(palette, drawn)[labels[edge]]
    return out


def person_filter(
    persons: np.ndarray, hidden_persons: Iterable[int] = (), solo_person: int | None = None
) -> np.ndarray | None:
    """(H, W) bool of pixels allowed to receive colour given per-person filters; None = all.

    The review window's rule: with ``solo_person`` only that person's pixels are coloured
    (parts linked to no person, person 0, are not); ``hidden_persons`` lose their colour.
    """
    hidden = [int(p) for p in hidden_persons if int(p) > 0]
    if not hidden and solo_person is None:
        return None
    persons = np.asarray(persons)
    if persons.dtype == np.uint16:
        size = 65536  # every possible id, so no max() pass over the map is needed
    else:
        size = int(persons.max()) + 1 if persons.size else 1
    size = max(size, *(p + 1 for p in hidden), int(solo_person or 0) + 1)
    allowed = np.ones(size, dtype=bool)
    if solo_person is not None:
        allowed[:] = False
        if int(solo_person) > 0:
            allowed[int(solo_person)] = True
    allowed[hidden] = False
    return np.take(allowed, persons)


def blend_region(
    rgb: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    rect: tuple[int, int, int, int],
    *,
    opacity: float = 0.5,
    visible: np.ndarray | None = None,
    persons: np.ndarray | None = None,
    hidden_persons: Iterable[int] = (),
    solo_person: int | None = None,
    outline_only: bool = False,
    thickness: int = 1,
    mode: str = "overlay",
) -> np.ndarray:
    """Just the ``rect`` = (x, y, w, h) of what the full drawing would be, for partial redraws.

    Equal to ``blend(...)`` (or ``outline(...)`` with ``outline_only``, or ``color_map(...)``
    with ``mode="labels"``) of the whole arrays, cropped to ``rect`` (clipped to the arrays), at
    the cost of the rectangle only: after an edit the GUI recomputes the few thousand pixels a
    brush touched, not the photo. Outlines depend on neighbours, so they are computed on the
    rectangle widened by ``thickness`` pixels and cropped. The arrays may be the full-size
    image or a screen sample of it (see :func:`sampled_rect`); ``persons`` (same size) is
    needed only with ``hidden_persons``/``solo_person``.
    """
    hh, ww = labels.shape[:2]
    x, y, w, h = (int(v) for v in rect)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(ww, x + w), min(hh, y + h)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    margin = int(thickness) if (outline_only and mode == "overlay") else 0
    ox0, oy0 = max(0, x0 - margin), max(0, y0 - margin)
    ox1, oy1 = min(ww, x1 + margin), min(hh, y1 + margin)
    sl = np.s_[oy0:oy1, ox0:ox1]
    lab = labels[sl]
    mask = person_filter(persons[sl], hidden_persons, solo_person) if persons is not None else None
    if mode == "labels":
        img = color_map(lab, palette, visible)
        if mask is not None:
            img[~mask] = 0
    elif mode != "overlay":
        raise ValueError(f"unknown drawing mode {mode!r}")
    elif outline_only:
        img = outline(rgb[sl], lab, palette, visible, mask, thickness=thickness)
    else:
        img = blend(rgb[sl], lab, palette, opacity, visible, mask)
    return img[y0 - oy0 : y1 - oy0, x0 - ox0 : x1 - ox0]


def sampled_rect(
    rect: tuple[int, int, int, int], xs: np.ndarray, ys: np.ndarray
) -> tuple[int, int, int, int]:
    """Where an image rectangle lands in a nearest-neighbour sample of the image.

    ``xs``/``ys`` are the (non-decreasing) source column and row of every sample column and
    row, as the canvas uses for zoomed views (``labels.take(ys, 0).take(xs, 1)``). Returns the
    (x, y, w, h) of the sample pixels whose source lies in ``rect``: the part of the screen to
    recompute after an edit changed ``rect`` (w or h is 0 when the edit is off screen).
    """
    x, y, w, h = (int(v) for v in rect)
    c0, c1 = np.searchsorted(xs, [x, x + w], side="left").tolist()
    r0, r1 = np.searchsorted(ys, [y, y + h], side="left").tolist()
    return int(c0), int(r0), int(max(0, c1 - c0)), int(max(0, r1 - r0))
