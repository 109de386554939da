"""Partial redraw of the canvas after an edit: only the screen pixels the edit changed.

A brush event on a 4000x3000 photo changes a few thousand pixels; recomposing the whole
view (a 1600x1000 sample of the photo, blended) would cost tens of milliseconds per pointer
motion. Instead, for each changed image rectangle, this finds where it lands on screen
(:func:`desktop.render.sampled_rect`), refreshes the sampled maps there, composes just that
window (widened by a few pixels, since outlines and the differences border look at
neighbours) with the canvas's own composer, and copies the patch into the shown
``PhotoImage`` with Tk's ``copy -to`` (the whole image is not re-sent to Tk).

It works on the canvas's drawing state (:class:`desktop.app.canvas_view.CanvasView`'s sample
cache and composer), as a friend of that class: the canvas stays the one owner of how a view
is composed, and this adds only the "part of it" path edit mode needs. When the view is due
for a full redraw anyway (zoom, pan, resize, new maps), it leaves the work to that redraw.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageTk

from desktop import render
from desktop.app.canvas_view import CanvasView, _Sample
from desktop.review.edit_core import Rect
from desktop.review.edit_history import coalesce_rects

__all__ = ["redraw_region"]

_COALESCE_ABOVE = 4  # rectangles; more are merged on a grid of screen tiles
_SCREEN_TILE = 16
_PIECE_COST = 20_000  # what redrawing one more rectangle costs, in screen pixels redrawn


def _bounds(rects: list[Rect]) -> Rect:
    out = rects[0]
    for r in rects[1:]:
        out = out.union(r)
    return out


def _paste(view: CanvasView, pixels: np.ndarray, x: int, y: int) -> None:
    """Copy ``pixels`` into the shown PhotoImage at (x, y): Tk redraws just that area."""
    patch = ImageTk.PhotoImage(Image.fromarray(np.ascontiguousarray(pixels)), master=view.canvas)
    view.tk.call(str(view._photo), "copy", str(patch), "-to", x, y)


def redraw_region(view: CanvasView, rects: Iterable[tuple[int, int, int, int]]) -> int:
    """The maps changed inside image rectangles ``rects`` ((x, y, w, h) each): show it.

    Returns the number of screen pixels recomposed (0 when a full redraw was requested
    instead, or nothing changed on screen).
    """
    sample = view._shown_sample
    if (view._redraw_pending is not None or sample is None or sample.labels is None or view._photo is None
            or view.last_rendered is None or not view._sample_cache or view._sample_cache[0] is not sample
            or view.maps is None):
        view.request_redraw()  # (edits are drawn from ``view.maps``; anything else: a full redraw)
        return 0
    labels, persons = view.maps
    pw, _ = view._pane_size()
    panes = [pw + view._gap()] if view.mode == "side_by_side" else [0]
    pane_mode = "overlay" if view.mode == "side_by_side" else view.mode
    # Outlines (and the differences border) look this far at neighbours: redraw that much around
    # a change, composed on a window twice as wide.
    margin = 2 + int(round(float(view.tk.call("tk", "scaling")) * 1.5))
    sh, sw = sample.labels.shape
    frame = view.last_rendered
    screen = []
    for rect in rects:
        x, y, w, h = render.sampled_rect(tuple(rect), sample.xs, sample.ys)
        if w and h:
            # Outlines and the differences border of the pixels just outside change too.
            grown = Rect(x, y, w, h).grow(margin, (sh, sw)) if pane_mode != "photo" else Rect(x, y, w, h)
            screen.append(grown)
    if len(screen) > _COALESCE_ABOVE:
        # An undone stroke comes as many small rectangles; zoomed out, they overlap on screen.
        screen = coalesce_rects(screen, (sh, sw), tile=_SCREEN_TILE)
    for x, y, w, h in screen:  # the sampled maps, where they changed
        rows, cols = sample.ys[y : y + h], sample.xs[x : x + w]
        sample.labels[y : y + h, x : x + w] = labels.take(rows, axis=0).take(cols, axis=1)
        if sample.persons is not None:
            sample.persons[y : y + h, x : x + w] = persons.take(rows, axis=0).take(cols, axis=1)
    if pane_mode == "photo" or not screen:
        view.refresh_hover()
        return 0
    # Composed and handed to Tk piece by piece, or as their bounding box at once, whichever
    # costs less: each piece has a fixed cost (arrays, a PhotoImage), the box only its area.
    box = _bounds(screen)
    pieces_cost = sum(r.area for r in screen) + _PIECE_COST * len(screen)
    boxes = screen if len(screen) == 1 or pieces_cost < box.area else [box]
    drawn = 0
    for x, y, w, h in boxes:
        x0, y0 = max(0, x - 2 * margin), max(0, y - 2 * margin)
        x1, y1 = min(sw, x + w + 2 * margin), min(sh, y + h + 2 * margin)
        win = np.s_[y0:y1, x0:x1]
        sub = _Sample(sample.key, 0, 0, sample.xs[x0:x1], sample.ys[y0:y1], sample.photo[win], sample.labels[win],
                      None if sample.persons is None else sample.persons[win],
                      None if sample.base is None else (sample.base[0][win], sample.base[1][win]))
        img = view._compose(pane_mode, sub)[y - y0 : y - y0 + h, x - x0 : x - x0 + w]
        for offset in panes:
            fx, fy = sample.x0 + offset + x, sample.y0 + y
            part = img[:, : max(0, frame.shape[1] - fx)]
            if part.size == 0:
                continue
            frame[fy : fy + part.shape[0], fx : fx + part.shape[1]] = part
            _paste(view, part, fx, fy)
            drawn += part.shape[0] * part.shape[1]
    view.refresh_hover()
    return drawn
