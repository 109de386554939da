"""The editing tools on the canvas: what each tool is, and the pointer handling of edit mode.

Pointer events reach the tools through a bind tag placed before the canvas's own tag: in
edit mode the tools take the left button (and Ctrl+wheel, for the brush size) and stop the
event there, so the canvas does not pan; outside edit mode, and for the middle button and
the plain wheel (pan and zoom), events go on to the canvas as before. The canvas module
knows nothing about tools.

What is drawn here, as canvas items over the photo: the brush outline (a circle of the
brush's size at the current zoom, following the pointer) and the polygon being clicked.
Both are in screen coordinates and are placed again after every redraw (zoom, pan).

The operations themselves are the controller's (:class:`desktop.app.edit_controller.EditController`),
which this module calls with image coordinates.
"""

from __future__ import annotations

import tkinter as tk
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.app.canvas_view import CanvasView
from desktop.i18n import N_, _

if TYPE_CHECKING:
    from desktop.app.edit_controller import EditController

__all__ = ["Tool", "TOOLS", "BRUSH_SIZES", "PointerTools", "next_size"]


@dataclass(frozen=True)
class Tool:
    """One tool: ``keys`` (Tk key names) select it in edit mode, ``tip`` says what it does
    (``title`` and ``tip`` are marked for translation: show them with ``_()``)."""

    name: str
    title: str
    keys: tuple[str, ...]
    tip: str
    paints: bool = False  # drag to paint (shows the brush outline)


# Keys: E is edit mode itself and Shift+E the eraser (as in GIMP); the window and the review
# panel already use A, D, F, N, O, R, U, V, X, Y, 1, Space, [ and ].
TOOLS: tuple[Tool, ...] = (
    Tool("brush", N_("Brush"), ("b", "B"),
         N_("Brush (B): paint the chosen class for the chosen person. Size: , and . or Ctrl+wheel."), paints=True),
    Tool("eraser", N_("Eraser"), ("E",), N_("Eraser (Shift+E): paint background, which belongs to nobody."), paints=True),
    Tool("fill", N_("Fill"), ("g", "G"),
         N_("Fill (G): click a region; it becomes the chosen class of the chosen person.")),
    Tool("relabel", N_("Relabel"), ("l", "L"), N_("Relabel (L): click a region and pick its new class from a short list.")),
    Tool("polygon", N_("Polygon"), ("p", "P"),
         N_("Polygon (P): click corners, then Enter or a double-click fills it with the chosen class; Esc cancels.")),
    Tool("picker", N_("Picker"), ("i", "I"), N_("Picker (I): click a pixel to take its class and person.")),
    Tool("move", N_("Move to person"), ("m", "M"),
         N_("Move to person (M): click a region to give it to the chosen person; Shift+click gives the whole part.")),
    Tool("new_person", N_("New person"), ("k", "K"),
         N_("New person (K): click a region to make it a new person; Shift+click takes the whole part.")),
    Tool("swap", N_("Swap left/right"), ("w", "W"),
         N_("Swap left/right (W): click an arm, leg or shoe to swap left and right in that limb; "
            "Shift+click swaps them for the whole person.")),
)
TOOL_BY_NAME = {t.name: t for t in TOOLS}

#: Brush diameters in image pixels; the keys and Ctrl+wheel step through them.
BRUSH_SIZES = (1, 3, 5, 7, 9, 11, 15, 19, 25, 31, 41, 51, 65, 81, 101, 125, 151, 201, 251, 301, 401, 501)


def next_size(size: int, steps: int) -> int:
    """The brush size ``steps`` places up (or down) the list from ``size``."""
    i = min(range(len(BRUSH_SIZES)), key=lambda k: abs(BRUSH_SIZES[k] - size))
    return BRUSH_SIZES[min(max(i + steps, 0), len(BRUSH_SIZES) - 1)]


class PointerTools:
    """Routes the canvas's pointer events to the controller while edit mode is on."""

    def __init__(self, view: CanvasView, controller: EditController) -> None:
        self.view = view
        self.ctrl = controller
        self.canvas = canvas = view.canvas
        self.tag = f"EditTools{id(self)}"
        canvas.bindtags((self.tag, *canvas.bindtags()))
        for seq, fn in (("<ButtonPress-1>", self._press), ("<B1-Motion>", self._drag),
                        ("<ButtonRelease-1>", self._release), ("<Double-Button-1>", self._double),
                        ("<Motion>", self._motion), ("<Leave>", self._leave), ("<Enter>", self._motion),
                        ("<Control-MouseWheel>", self._ctrl_wheel),
                        ("<Control-Button-4>", lambda e: self._size_steps(1)),
                        ("<Control-Button-5>", lambda e: self._size_steps(-1)),
                        ("<KeyPress-Return>", self._enter), ("<KeyPress-KP_Enter>", self._enter),
                        ("<KeyPress-Escape>", self._escape), ("<KeyPress-BackSpace>", self._backspace)):
            canvas.bind_class(self.tag, seq, fn)
        self._last: tuple[float, float] | None = None  # previous position of a brush drag
        self._stroking = False
        self._pointer: tuple[int, int] | None = None  # canvas position of the pointer
        self.polygon: list[tuple[float, float]] = []  # image positions clicked so far
        self._ring_dark = canvas.create_oval(0, 0, 0, 0, outline="#000000", width=1, state="hidden")
        self._ring_light = canvas.create_oval(0, 0, 0, 0, outline="#ffffff", width=1, dash=(4, 4), state="hidden")
        self._poly_line = canvas.create_line(0, 0, 0, 0, fill="#ff00c8", width=2, state="hidden")
        self._poly_start = canvas.create_oval(0, 0, 0, 0, outline="#ff00c8", width=2, state="hidden")
        view.view_listeners.append(self.place_items)

    # -- state ----------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.ctrl.active

    def reset(self) -> None:
        """Forget a polygon in progress and any drag (another image, edit mode off)."""
        if self._stroking:
            self._stroking = False
            self.ctrl.end_stroke()
        self._last = None
        self.polygon = []
        self.place_items()

    # -- events ---------------------------------------------------------------------------------
    def _image_pos(self, event: tk.Event) -> tuple[float, float] | None:
        hit = self.view.canvas_to_image(event.x, event.y)
        return None if hit is None else (hit[1], hit[2])

    def _press(self, event: tk.Event) -> str | None:
        if not self.active:
            return None
        self.canvas.focus_set()  # Enter/Esc/Backspace of the polygon come to the canvas first
        pos = self._image_pos(event)
        if pos is None:
            return "break"
        tool = self.ctrl.tool
        shift = bool(event.state & 0x1)
        if TOOL_BY_NAME[tool].paints:
            if self.ctrl.begin_stroke():
                self._stroking = True
                self._last = pos
                self.ctrl.paint([pos])
        elif tool == "polygon":
            self.polygon.append(pos)
            self.place_items()
        elif tool == "relabel":
            self.ctrl.relabel_menu(pos[0], pos[1], event.x_root, event.y_root)
        else:
            self.ctrl.click(tool, pos[0], pos[1], shift=shift)
        return "break"

    def _drag(self, event: tk.Event) -> str | None:
        if not self.active:
            return None
        self._pointer = (event.x, event.y)
        if self._stroking:
            pos = self._image_pos(event)
            if pos is not None and self._last is not None:
                self.ctrl.paint([self._last, pos])
                self._last = pos
        self.place_items()
        return "break"

    def _release(self, _event: tk.Event) -> str | None:
        if not self.active:
            return None
        if self._stroking:
            self._stroking = False
            self._last = None
            self.ctrl.end_stroke()
        return "break"

    def _double(self, event: tk.Event) -> str | None:
        """A double-click closes a polygon; for other tools it is one more click (quick fills
        in a row are all done), never "fit to window" while editing."""
        if not self.active:
            return None
        if self.ctrl.tool == "polygon":
            if len(self.polygon) >= 3:
                self.close_polygon()
            return "break"
        return self._press(event)

    def _motion(self, event: tk.Event) -> None:
        self._pointer = (event.x, event.y)
        if self.active:
            self.place_items()

    def _leave(self, _event: tk.Event) -> None:
        self._pointer = None
        self.place_items()

    def _ctrl_wheel(self, event: tk.Event) -> str | None:
        return self._size_steps(1 if event.delta > 0 else -1)

    def _size_steps(self, steps: int) -> str | None:
        if not self.active:
            return None
        self.ctrl.set_size(next_size(self.ctrl.size, steps))
        return "break"

    def _enter(self, _event: tk.Event) -> str | None:
        if self.active and self.polygon:
            self.close_polygon()
            return "break"
        return None

    def _escape(self, _event: tk.Event) -> str | None:
        if self.active and self.polygon:
            self.polygon = []
            self.place_items()
            self.ctrl.status(_("Polygon cancelled."))
            return "break"
        return None

    def _backspace(self, _event: tk.Event) -> str | None:
        if self.active and self.polygon:
            self.polygon.pop()
            self.place_items()
            return "break"
        return None

    def close_polygon(self) -> None:
        """Fill the polygon clicked so far (Enter, double-click) and start a new one."""
        points, self.polygon = self.polygon, []
        self.place_items()
        self.ctrl.fill_polygon(points)

    # -- drawing --------------------------------------------------------------------------------
    def place_items(self) -> None:
        """Put the brush outline and the polygon where the view now shows them."""
        c, view = self.canvas, self.view
        tool = self.ctrl.tool
        ring = self.active and TOOL_BY_NAME[tool].paints and self._pointer is not None and view.rgb is not None
        if ring:
            hit = view.canvas_to_image(*self._pointer)
            ring = hit is not None
        if ring:
            pane, x, y = hit
            cx, cy = view.image_to_canvas(int(x // 1), int(y // 1), pane)
            r = ((self.ctrl.size - 1) // 2 + 0.5) * view.scale
            for item in (self._ring_dark, self._ring_light):
                c.coords(item, cx - r, cy - r, cx + r, cy + r)
                c.itemconfigure(item, state="normal")
                c.tag_raise(item)
        else:
            for item in (self._ring_dark, self._ring_light):
                c.itemconfigure(item, state="hidden")
        if self.active and self.polygon and view.rgb is not None:
            pts = [view.image_to_canvas(int(x // 1), int(y // 1)) for x, y in self.polygon]
            if self._pointer is not None and tool == "polygon":
                pts.append(self._pointer)
            flat = [v for p in pts for v in p]
            if len(pts) == 1:
                flat += flat
            c.coords(self._poly_line, *flat)
            c.itemconfigure(self._poly_line, state="normal")
            x0, y0 = pts[0]
            c.coords(self._poly_start, x0 - 4, y0 - 4, x0 + 4, y0 + 4)
            c.itemconfigure(self._poly_start, state="normal")
            c.tag_raise(self._poly_line)
            c.tag_raise(self._poly_start)
        else:
            c.itemconfigure(self._poly_line, state="hidden")
            c.itemconfigure(self._poly_start, state="hidden")
