"""The photo with its parsing drawn over it: zoom, pan, view modes, hover read-out.

Drawing cost must not grow with the photo: only the part of the image that is visible at
the current zoom is sampled to screen resolution (crop, then resize), and the colours are
blended at *screen* resolution with :mod:`desktop.render` (the same code the exports use).
The resampled photo and label crop are cached per viewport, so toggling a class or moving
the opacity slider only re-blends about one screen of pixels.

Exactly one ``PhotoImage`` is kept alive (``self._photo``) and updated in place; the last
composed frame stays available as ``last_rendered`` (an (H, W, 3) uint8 array of the
whole canvas), which is what the tests inspect.
"""

from __future__ import annotations

import logging
import math
import time
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk

import numpy as np
from PIL import Image, ImageTk

from desktop import render
from desktop.app.photo_levels import crop_for_resize, halve
from desktop.engine.result import ParsingResult
from desktop.i18n import N_

log = logging.getLogger(__name__)

MODES = ("overlay", "side_by_side", "labels", "photo")
#: Marked for the catalog; translate where shown: ``_(MODE_TITLES[mode])``.
MODE_TITLES = {
    "overlay": N_("Overlay"),
    "side_by_side": N_("Side by side"),
    "labels": N_("Labels only"),
    "photo": N_("Photo only"),
}
MIN_SCALE = 0.01
MAX_SCALE = 40.0
ZOOM_STEP = 1.25


@dataclass(frozen=True)
class HoverInfo:
    """What is under the mouse pointer, in image pixels."""

    x: int
    y: int
    label: int | None
    class_name: str | None
    person_id: int | None
    person_score: float | None


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


@dataclass
class _Sample:
    """One viewport's worth of resampled photo and labels (cached between redraws)."""

    key: tuple
    x0: int
    y0: int
    xs: np.ndarray
    ys: np.ndarray
    photo: np.ndarray
    labels: np.ndarray | None
    persons: np.ndarray | None = None
    base: tuple[np.ndarray, np.ndarray] | None = None  # the model's maps, for the differences view


class CanvasView(ttk.Frame):
    """A ``tk.Canvas`` showing one photo and, when available, its :class:`ParsingResult`."""

    def __init__(
        self,
        master: tk.Misc,
        *,
        background: str = "#2b2f36",
        text_color: str = "#c8ccd4",
        on_hover: Callable[[HoverInfo | None], None] | None = None,
        on_view_change: Callable[[], None] | None = None,
    ):
        super().__init__(master)
        self.canvas = tk.Canvas(self, background=background, highlightthickness=0, borderwidth=0, cursor="crosshair")
        self.canvas.pack(fill="both", expand=True)
        self._bg = np.array(_hex_to_rgb(background), dtype=np.uint8)
        self._text_color = text_color
        self._on_hover = on_hover
        self._on_view_change = on_view_change

        self._image_item = self.canvas.create_image(0, 0, anchor="nw")
        self._message_item = self.canvas.create_text(0, 0, text="", fill=text_color, justify="center")
        self._badge_box = self.canvas.create_rectangle(0, 0, 0, 0, fill="#111318", outline="", state="hidden")
        self._badge_item = self.canvas.create_text(0, 0, text="", fill="#ffffff", anchor="nw", state="hidden")

        # What is shown.
        self.rgb: np.ndarray | None = None
        self._levels: dict[int, np.ndarray] = {}
        self.result: ParsingResult | None = None
        self._persons_by_score: list = []
        self.message = ""
        self.badge = ""

        # How it is shown.
        self.mode = "overlay"
        self.opacity = 0.55
        self.outline = False
        self.visible: np.ndarray | None = None  # (num_classes,) bool
        self.hidden_persons: set[int] = set()
        self.solo_person: int | None = None
        # Edit mode (desktop/app/edit_controller.py): the reviewer's (labels, persons) drawn
        # instead of the result's, and the model's maps to highlight what changed. Reset with
        # every new result; ``result_listeners`` are told then, ``view_listeners`` after redraws.
        self.maps: tuple[np.ndarray, np.ndarray] | None = None
        self.compare_to: tuple[np.ndarray, np.ndarray] | None = None
        self.result_listeners: list[Callable[[], None]] = []
        self.view_listeners: list[Callable[[], None]] = []
        self._shown_sample: _Sample | None = None
        #: View modes other modules draw (issue 16: "doubt", "annotation", "disagreement"):
        #: mode -> function of the visible sample (its ``photo``, and ``xs``/``ys``, the image
        #: columns and rows shown) returning the pane's RGB image, or None to draw the overlay.
        self.extra_modes: dict[str, Callable[[_Sample], np.ndarray | None]] = {}

        # Viewport: image coordinate at the pane's top-left corner, and screen px per image px.
        self.scale = 1.0
        self.ox = 0.0
        self.oy = 0.0
        self._fitted = True  # keep fitting on resize until the user zooms or pans

        self._photo: ImageTk.PhotoImage | None = None
        self._sample_cache: list[_Sample] = []
        self.last_rendered: np.ndarray | None = None
        self.render_count = 0
        self.resize_count = 0  # size changes (each asks for a full redraw)
        self.last_render_seconds = 0.0
        self._redraw_pending: str | None = None
        self._drag: tuple[int, int, float, float] | None = None
        self._size = (1, 1)
        # Where the pointer is over the canvas (None: elsewhere), so the hover read-out can be
        # refreshed when what is under a still pointer changes (next image, result, zoom).
        self._pointer: tuple[int, int] | None = None

        c = self.canvas
        c.bind("<Configure>", self._on_configure)
        c.bind("<Motion>", self._on_motion)
        c.bind("<Leave>", self._on_leave)
        c.bind("<ButtonPress-1>", self._on_press)
        c.bind("<B1-Motion>", self._on_drag)
        c.bind("<ButtonRelease-1>", self._on_release)
        c.bind("<ButtonPress-2>", self._on_press)
        c.bind("<B2-Motion>", self._on_drag)
        c.bind("<ButtonRelease-2>", self._on_release)
        c.bind("<Double-Button-1>", lambda _e: self.fit())
        c.bind("<MouseWheel>", self._on_wheel)
        c.bind("<Button-4>", lambda e: self._wheel_steps(e, 1))
        c.bind("<Button-5>", lambda e: self._wheel_steps(e, -1))

    # -- content ------------------------------------------------------------------------
    def show(self, rgb: np.ndarray | None, result: ParsingResult | None = None, *, keep_view: bool = False) -> None:
        """Display a new photo (and its result, if parsed). Fits it to the window."""
        same_size = self.rgb is not None and rgb is not None and self.rgb.shape == rgb.shape
        self.rgb = rgb
        self._levels = {}
        self._sample_cache.clear()
        self._set_result(result)
        self.hidden_persons = set()
        self.solo_person = None
        if not (keep_view and same_size):
            self._fitted = True
            self._fit_viewport()
        self.request_redraw()
        for listener in self.result_listeners:
            listener()

    def set_result(self, result: ParsingResult | None) -> None:
        """Attach the parsing of the photo already shown (it arrived later)."""
        self._set_result(result)
        self._sample_cache.clear()
        self.request_redraw()
        for listener in self.result_listeners:
            listener()

    def set_maps(self, maps: tuple[np.ndarray, np.ndarray] | None,
                 compare_to: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Draw these (labels, persons) instead of the result's (None: the result's again);
        with ``compare_to``, the pixels that differ from those maps are highlighted."""
        if maps is not None and (self.rgb is None or maps[0].shape != self.rgb.shape[:2]):
            maps = compare_to = None
        self.maps, self.compare_to = maps, (compare_to if maps is not None else None)
        self._sample_cache.clear()
        self.request_redraw()

    def _set_result(self, result: ParsingResult | None) -> None:
        if result is not None and self.rgb is not None and result.labels.shape != self.rgb.shape[:2]:
            log.error("Result %s does not match photo %s; ignored", result.labels.shape, self.rgb.shape)
            result = None
        self.result = result
        self.maps = self.compare_to = None
        self._persons_by_score = sorted(result.persons, key=lambda p: -p.score) if result else []

    def set_message(self, text: str) -> None:
        """Centered text shown when there is no photo (e.g. "Open an image to start")."""
        self.message = text
        self.request_redraw()

    def set_badge(self, text: str) -> None:
        """Small label in the top-left corner over the photo (e.g. "Parsing…")."""
        self.badge = text
        self._place_overlays()

    def set_options(self, **options) -> None:
        """Change how things are drawn: ``mode``, ``opacity``, ``outline``, ``visible``,
        ``hidden_persons``, ``solo_person``."""
        relayout = "mode" in options and (options["mode"] == "side_by_side") != (self.mode == "side_by_side")
        for name, value in options.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, value)
        if relayout:
            self._sample_cache.clear()
            if self._fitted:
                self._fit_viewport()
        self.request_redraw()

    # -- viewport -----------------------------------------------------------------------
    def _pane_size(self) -> tuple[int, int]:
        w, h = self._size
        if self.mode == "side_by_side":
            return max(1, (w - self._gap()) // 2), h
        return w, h

    def _gap(self) -> int:
        return max(4, int(round(float(self.tk.call("tk", "scaling")) * 6)))

    def _fit_viewport(self) -> None:
        if self.rgb is None:
            return
        h, w = self.rgb.shape[:2]
        pw, ph = self._pane_size()
        margin = 0.98
        self.scale = max(MIN_SCALE, min(pw / w, ph / h) * margin)
        self.ox = w / 2 - pw / (2 * self.scale)
        self.oy = h / 2 - ph / (2 * self.scale)

    def fit(self) -> None:
        """Show the whole image, as large as the window allows."""
        self._fitted = True
        self._fit_viewport()
        self.request_redraw()

    def zoom_100(self) -> None:
        """One image pixel per screen pixel, keeping the centre of the view."""
        pw, ph = self._pane_size()
        self.zoom_to(1.0, pw / 2, ph / 2)

    def zoom_by(self, factor: float, cx: float | None = None, cy: float | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under pane pixel (cx, cy) in place."""
        self.zoom_to(self.scale * factor, cx, cy)

    def zoom_to(self, scale: float, cx: float | None = None, cy: float | None = None) -> None:
        if self.rgb is None:
            return
        pw, ph = self._pane_size()
        cx = pw / 2 if cx is None else cx
        cy = ph / 2 if cy is None else cy
        scale = min(MAX_SCALE, max(MIN_SCALE, scale))
        px, py = self.ox + cx / self.scale, self.oy + cy / self.scale
        self.scale = scale
        self.ox, self.oy = px - cx / scale, py - cy / scale
        self._fitted = False
        self._clamp()
        self.request_redraw()

    def center_on(self, x: float, y: float, scale: float | None = None) -> None:
        """Put image pixel (x, y) in the middle of the pane, optionally at a new zoom."""
        if self.rgb is None:
            return
        if scale is not None:
            self.scale = min(MAX_SCALE, max(MIN_SCALE, scale))
        pw, ph = self._pane_size()
        self.ox = x + 0.5 - pw / (2 * self.scale)
        self.oy = y + 0.5 - ph / (2 * self.scale)
        self._fitted = False
        self._clamp()
        self.request_redraw()

    def pan(self, dx_screen: float, dy_screen: float) -> None:
        self.ox -= dx_screen / self.scale
        self.oy -= dy_screen / self.scale
        self._fitted = False
        self._clamp()
        self.request_redraw()

    def _clamp(self) -> None:
        """Keep at least part of the image on screen (no panning into the void)."""
        if self.rgb is None:
            return
        h, w = self.rgb.shape[:2]
        pw, ph = self._pane_size()
        vw, vh = pw / self.scale, ph / self.scale
        # At least half of the image (or half the pane, whichever is smaller) stays visible.
        keep_x, keep_y = min(w, vw) * 0.5, min(h, vh) * 0.5
        self.ox = min(max(self.ox, keep_x - vw), w - keep_x)
        self.oy = min(max(self.oy, keep_y - vh), h - keep_y)

    def pane_to_image(self, cx: float, cy: float) -> tuple[int, int, int] | None:
        """Canvas pixel -> (pane index, x, y) in image pixels, or ``None`` outside the image."""
        if self.rgb is None:
            return None
        pw, _ = self._pane_size()
        pane = 0
        if self.mode == "side_by_side":
            step = pw + self._gap()
            pane = int(cx // step)
            cx -= pane * step
            if pane > 1 or cx >= pw:
                return None
        x = math.floor(self.ox + (cx + 0.5) / self.scale)
        y = math.floor(self.oy + (cy + 0.5) / self.scale)
        h, w = self.rgb.shape[:2]
        if 0 <= x < w and 0 <= y < h:
            return pane, x, y
        return None

    def image_to_canvas(self, x: float, y: float, pane: int = 0) -> tuple[float, float]:
        """Image pixel centre -> canvas pixel (inverse of :meth:`pane_to_image`)."""
        pw, _ = self._pane_size()
        off = pane * (pw + self._gap()) if self.mode == "side_by_side" else 0
        return off + (x + 0.5 - self.ox) * self.scale, (y + 0.5 - self.oy) * self.scale

    # -- events -------------------------------------------------------------------------
    def _on_configure(self, event: tk.Event) -> None:
        new = (max(1, event.width), max(1, event.height))
        if new == self._size:
            return
        self._size = new
        self.resize_count += 1
        self._sample_cache.clear()
        if self._fitted:
            self._fit_viewport()
        self.request_redraw()

    def _on_motion(self, event: tk.Event) -> None:
        self._pointer = (event.x, event.y)
        self._hover(self.hover_info(event.x, event.y))

    def _on_leave(self, _event: tk.Event) -> None:
        self._pointer = None
        self._hover(None)

    def refresh_hover(self) -> None:
        """Read again what is under the (unmoved) pointer: after D/N the read-out must be
        about the image now shown, not the last one (and empty while nothing is shown)."""
        if self._pointer is not None:
            self._hover(self.hover_info(*self._pointer))

    def hover_info(self, cx: float, cy: float) -> HoverInfo | None:
        hit = self.pane_to_image(cx, cy)
        if hit is None:
            return None
        _, x, y = hit
        label = name = person = score = None
        if self.result is not None:
            label = int(self.result.labels[y, x] if self.maps is None else self.maps[0][y, x])
            names = self.result.class_names
            name = names[label] if label < len(names) else str(label)
            if self.maps is not None:  # the edited person map; the model's score if it has that person
                person = int(self.maps[1][y, x]) or None
                score = next((float(p.score) for p in self.result.persons if p.id == person), None)
                return HoverInfo(x, y, label, name, person, score)
            for p in self._persons_by_score:
                if p.mask.at(y, x):
                    person, score = p.id, float(p.score)
                    break
        return HoverInfo(x, y, label, name, person, score)

    def _hover(self, info: HoverInfo | None) -> None:
        if self._on_hover is not None:
            self._on_hover(info)

    def _on_press(self, event: tk.Event) -> None:
        self._drag = (event.x, event.y, self.ox, self.oy)
        self.canvas.configure(cursor="fleur")

    def _on_drag(self, event: tk.Event) -> None:
        if self._drag is None or self.rgb is None:
            return
        x0, y0, ox0, oy0 = self._drag
        self.ox = ox0 - (event.x - x0) / self.scale
        self.oy = oy0 - (event.y - y0) / self.scale
        self._fitted = False
        self._clamp()
        self.request_redraw()
        self._on_motion(event)

    def _on_release(self, _event: tk.Event) -> None:
        was_dragging = self._drag is not None
        self._drag = None
        self.canvas.configure(cursor="crosshair")
        if was_dragging:
            self.request_redraw()  # the smooth version of the frame shown while dragging

    def _on_wheel(self, event: tk.Event) -> None:
        # Windows reports multiples of 120; macOS small integers. Either way: the sign.
        self._wheel_steps(event, 1 if event.delta > 0 else -1)

    def _wheel_steps(self, event: tk.Event, steps: int) -> None:
        if self.rgb is None:
            return
        cx, cy = float(event.x), float(event.y)
        if self.mode == "side_by_side":
            pw, _ = self._pane_size()
            step = pw + self._gap()
            cx -= (cx // step) * step
        self.zoom_by(ZOOM_STEP**steps, cx, cy)

    # -- drawing ------------------------------------------------------------------------
    def request_redraw(self) -> None:
        """Redraw once the event queue is empty (many requests -> one redraw)."""
        if self._redraw_pending is None:
            self._redraw_pending = self.after_idle(self._redraw_idle)

    def _redraw_idle(self) -> None:
        self._redraw_pending = None
        self.redraw()

    def redraw(self) -> None:
        """Compose and display the current frame now."""
        t0 = time.perf_counter()
        if self._redraw_pending is not None:
            self.after_cancel(self._redraw_pending)
            self._redraw_pending = None
        real = (self.canvas.winfo_width(), self.canvas.winfo_height())
        if real[0] > 1 and real[1] > 1 and real != self._size:
            self._size = real
            self._sample_cache.clear()
            if self._fitted:
                self._fit_viewport()
        cw, ch = self._size
        frame = np.empty((ch, cw, 3), dtype=np.uint8)
        frame[:] = self._bg
        if self.rgb is not None:
            pw, ph = self._pane_size()
            if self.mode == "side_by_side":
                panes = [("photo", 0), ("overlay", pw + self._gap())]
            else:
                panes = [(self.mode, 0)]
            sample = self._shown_sample = self._sample(pw, ph)
            if sample is not None:
                for pane_mode, offset in panes:
                    img = self._compose(pane_mode, sample)
                    y0, x0 = sample.y0, sample.x0 + offset
                    hh, ww = img.shape[:2]
                    ww = min(ww, cw - x0)
                    if ww > 0:
                        frame[y0 : y0 + hh, x0 : x0 + ww] = img[:, :ww]
        self.last_rendered = frame
        pil = Image.fromarray(frame)
        if self._photo is not None and (self._photo.width(), self._photo.height()) == (cw, ch):
            self._photo.paste(pil)
        else:
            self._photo = ImageTk.PhotoImage(pil, master=self.canvas)
            self.canvas.itemconfigure(self._image_item, image=self._photo)
        self._place_overlays()
        self.refresh_hover()
        self.render_count += 1
        self.last_render_seconds = time.perf_counter() - t0
        if self._on_view_change is not None:
            self._on_view_change()
        for listener in self.view_listeners:
            listener()

    def canvas_to_image(self, cx: float, cy: float) -> tuple[int, float, float] | None:
        """Canvas pixel -> (pane index, continuous x, y in the image), not clipped to the image
        (a brush stroke may leave it); None between the panes of the side-by-side view."""
        if self.rgb is None:
            return None
        pane = 0
        if self.mode == "side_by_side":
            pw, _ = self._pane_size()
            step = pw + self._gap()
            pane = min(1, max(0, int(cx // step)))
            cx -= pane * step
            if cx >= pw:
                return None
        return pane, self.ox + (cx + 0.5) / self.scale, self.oy + (cy + 0.5) / self.scale

    def _place_overlays(self) -> None:
        cw, ch = self._size
        c = self.canvas
        show_message = self.rgb is None and bool(self.message)
        c.itemconfigure(self._message_item, text=self.message if show_message else "",
                        width=max(100, int(cw * 0.7)))
        c.coords(self._message_item, cw / 2, ch / 2)
        if self.badge and self.rgb is not None:
            pad = max(4, int(float(self.tk.call("tk", "scaling")) * 5))
            c.itemconfigure(self._badge_item, text=self.badge, state="normal")
            c.coords(self._badge_item, 2 * pad, 2 * pad)
            x0, y0, x1, y1 = c.bbox(self._badge_item)
            c.coords(self._badge_box, x0 - pad, y0 - pad // 2, x1 + pad, y1 + pad // 2)
            c.itemconfigure(self._badge_box, state="normal")
            c.tag_raise(self._badge_box)
            c.tag_raise(self._badge_item)
        else:
            c.itemconfigure(self._badge_item, state="hidden")
            c.itemconfigure(self._badge_box, state="hidden")

    def _sample(self, pw: int, ph: int) -> _Sample | None:
        """The visible part of the photo (and labels) resampled to screen pixels."""
        assert self.rgb is not None
        labels = self.result.labels if self.result is not None else None
        if self.maps is not None and labels is not None:
            labels = self.maps[0]
        key = (id(self.rgb), id(labels), self.scale, self.ox, self.oy, pw, ph, self._drag is not None)
        for s in self._sample_cache:
            if s.key == key:
                return s
        h, w = self.rgb.shape[:2]
        s = self.scale
        src_x = np.floor(self.ox + (np.arange(pw) + 0.5) / s).astype(np.int64)
        src_y = np.floor(self.oy + (np.arange(ph) + 0.5) / s).astype(np.int64)
        vx = np.flatnonzero((src_x >= 0) & (src_x < w))
        vy = np.flatnonzero((src_y >= 0) & (src_y < h))
        if vx.size == 0 or vy.size == 0:
            return None
        x0, x1 = int(vx[0]), int(vx[-1]) + 1
        y0, y1 = int(vy[0]), int(vy[-1]) + 1
        xs, ys = src_x[x0:x1], src_y[y0:y1]
        fast = self._drag is not None  # while dragging, speed beats smoothness
        if s >= 2.0 or s == 1.0 or fast:
            # Magnified (or 100 %): nearest neighbour, so the user sees the real pixels.
            photo = self.rgb.take(ys, axis=0).take(xs, axis=1)
        else:
            # Reduced or slightly enlarged: filter only the visible box straight to screen size
            # (crop then resize), from a pre-reduced copy when zoomed far out.
            source, factor = self._photo_level(s)
            box = (
                max(0.0, self.ox + x0 / s) / factor,
                max(0.0, self.oy + y0 / s) / factor,
                min(float(w), self.ox + x1 / s) / factor,
                min(float(h), self.oy + y1 / s) / factor,
            )
            # Only the part of the level the filter reads becomes a Pillow image (a whole
            # 48-megapixel photo would be 192 MB more).
            part, box = crop_for_resize(source, box)
            photo = np.asarray(Image.fromarray(part).resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=box))
        lab = labels.take(ys, axis=0).take(xs, axis=1) if labels is not None else None
        sample = _Sample(key, x0, y0, xs, ys, photo, lab)
        if self.maps is not None and lab is not None:
            sample.persons = self.maps[1].take(ys, axis=0).take(xs, axis=1)
            if self.compare_to is not None:
                sample.base = tuple(m.take(ys, axis=0).take(xs, axis=1) for m in self.compare_to)
        self._sample_cache = [sample]
        return sample

    def _photo_level(self, scale: float) -> tuple[np.ndarray, int]:
        """The photo reduced by the largest power of two not finer than ``scale`` needs.

        Resizing a 24-megapixel photo to screen size on every pan is slow; halving it once
        per level (averaging, so no aliasing: :mod:`desktop.app.photo_levels`) and resizing
        that is not. Level 1 is the decoded photo itself (no copy).
        """
        if not self._levels:
            self._levels = {1: self.rgb}
        factor = 1
        while factor < 16 and scale * factor * 2 <= 1.0:
            factor *= 2
        if factor not in self._levels:
            smaller = max(f for f in self._levels if f < factor)
            img = self._levels[smaller]
            while smaller < factor:
                img = halve(img)
                smaller *= 2
                self._levels[smaller] = img
        return self._levels[factor], factor

    def _pixel_mask(self, sample: _Sample) -> np.ndarray | None:
        """Screen pixels allowed to show colour given the per-person filters (None = all)."""
        if self.result is None or (not self.hidden_persons and self.solo_person is None):
            return None
        if self.maps is not None and sample.persons is not None:  # edited person ids may be new
            return render.person_filter(sample.persons, self.hidden_persons, self.solo_person)
        if sample.persons is None:  # the persons at the shown pixels only: a screen's worth, not the photo's
            sample.persons = self.result.person_map(sample.ys, sample.xs)
        top = max([p.id for p in self.result.persons] + [0])
        allowed = np.ones(top + 1, dtype=bool)
        if self.solo_person is not None:
            allowed[:] = False
            if self.solo_person <= top:
                allowed[self.solo_person] = True
        for pid in self.hidden_persons:
            if 0 < pid <= top:
                allowed[pid] = False
        return np.take(allowed, sample.persons)

    def _compose(self, mode: str, sample: _Sample) -> np.ndarray:
        img = self._compose_plain(mode, sample)
        if sample.base is not None and sample.labels is not None and mode in ("overlay", "labels"):
            from desktop.app.edit_view import changed_mask, difference_view

            img = difference_view(img, changed_mask(sample.labels, sample.persons, *sample.base))
        return img

    def _compose_plain(self, mode: str, sample: _Sample) -> np.ndarray:
        extra = self.extra_modes.get(mode)
        if extra is not None:
            img = extra(sample)
            if img is not None:
                return img
            mode = "overlay"
        if mode == "photo" or self.result is None or sample.labels is None:
            if mode == "labels":
                return np.zeros_like(sample.photo)
            return sample.photo
        palette = self.result.palette
        visible = self.visible
        mask = self._pixel_mask(sample)
        if mode == "labels":
            img = render.color_map(sample.labels, palette, visible)
            if mask is not None:
                img[~mask] = 0
            return img
        if self.outline:
            # 2 px at 96 dpi (1 px is lost on busy photos), thicker on high-DPI screens.
            thickness = max(2, int(round(float(self.tk.call("tk", "scaling")) * 1.5)))
            return render.outline(sample.photo, sample.labels, palette, visible, mask, thickness=thickness)
        return render.blend(sample.photo, sample.labels, palette, self.opacity, visible, mask)
