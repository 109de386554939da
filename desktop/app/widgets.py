"""Small reusable widgets: a vertically scrolling frame, a colour swatch, a tooltip."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk


class ScrollableFrame(ttk.Frame):
    """A frame whose content (``self.inner``) scrolls vertically when taller than the space.

    The scrollbar only appears when needed, and the mouse wheel scrolls while the pointer is
    over the content (bound on enter, released on leave, so it never fights the image view).
    """

    def __init__(self, master: tk.Misc, *, background: str, **kwargs):
        super().__init__(master, **kwargs)
        self._canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0, background=background)
        self._bar = ttk.Scrollbar(self, orient="vertical", command=self._canvas.yview)
        self.inner = ttk.Frame(self._canvas, style="Card.TFrame")
        self._window = self._canvas.create_window(0, 0, anchor="nw", window=self.inner)
        self._canvas.configure(yscrollcommand=self._on_scroll)
        self._canvas.grid(row=0, column=0, sticky="nsew")
        self._bar.grid(row=0, column=1, sticky="ns")
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.inner.bind("<Configure>", self._on_inner_configure)
        self._canvas.bind("<Configure>", self._on_canvas_configure)
        self._canvas.configure(yscrollincrement=max(8, int(float(self.tk.call("tk", "scaling")) * 12)))
        # One global wheel binding that acts only when the pointer is over this panel
        # (Enter/Leave would fire on every child widget the pointer crosses).
        self.bind_all("<MouseWheel>", self._on_wheel, add="+")
        self.bind_all("<Button-4>", lambda e: self._scroll(-2) if self._owns(e) else None, add="+")
        self.bind_all("<Button-5>", lambda e: self._scroll(2) if self._owns(e) else None, add="+")

    def _on_scroll(self, first: str, last: str) -> None:
        # The bar stays in place even when everything fits: hiding it would make the panel
        # change width (and the image view jump) every time the content height changes.
        self._bar.set(first, last)

    def _on_inner_configure(self, _event: tk.Event) -> None:
        self._canvas.configure(scrollregion=self._canvas.bbox("all"))
        self._canvas.configure(width=self.inner.winfo_reqwidth())

    def _on_canvas_configure(self, event: tk.Event) -> None:
        self._canvas.itemconfigure(self._window, width=event.width)

    def _owns(self, event: tk.Event) -> bool:
        try:
            return str(event.widget).startswith(str(self))
        except (tk.TclError, AttributeError):
            return False

    def _on_wheel(self, event: tk.Event) -> None:
        if self._owns(event):
            self._scroll(-1 if event.delta > 0 else 1)

    def _scroll(self, units: int) -> None:
        first, last = self._canvas.yview()
        if first > 0.0 or last < 1.0:
            self._canvas.yview_scroll(units, "units")

    def scroll_to_top(self) -> None:
        self._canvas.yview_moveto(0)


class Swatch(tk.Canvas):
    """A small square of one colour with a thin border (class colours in the panels)."""

    def __init__(self, master: tk.Misc, size: int, color: str, background: str, border: str = "#8a94a3"):
        super().__init__(master, width=size, height=size, highlightthickness=0, borderwidth=0, background=background)
        self._rect = self.create_rectangle(1, 1, size - 1, size - 1, fill=color, outline=border)

    def set_color(self, color: str, border: str | None = None) -> None:
        self.itemconfigure(self._rect, fill=color)
        if border is not None:
            self.itemconfigure(self._rect, outline=border)


class Tooltip:
    """Shows ``text_fn()`` after the pointer rests on ``widget`` (empty text: no tip)."""

    def __init__(self, widget: tk.Misc, text_fn, delay_ms: int = 500):
        self.widget = widget
        self.text_fn = text_fn if callable(text_fn) else (lambda: text_fn)
        self.delay_ms = delay_ms
        self._after: str | None = None
        self._tip: tk.Toplevel | None = None
        widget.bind("<Enter>", self._schedule, add="+")
        widget.bind("<Leave>", self._hide, add="+")
        widget.bind("<ButtonPress>", self._hide, add="+")

    def _schedule(self, _event: tk.Event | None = None) -> None:
        self._cancel()
        self._after = self.widget.after(self.delay_ms, self._show)

    def _cancel(self) -> None:
        if self._after is not None:
            self.widget.after_cancel(self._after)
            self._after = None

    def _show(self) -> None:
        self._after = None
        text = self.text_fn()
        if not text:
            return
        x = self.widget.winfo_rootx() + 12
        y = self.widget.winfo_rooty() + self.widget.winfo_height() + 4
        self._tip = tk.Toplevel(self.widget)
        self._tip.wm_overrideredirect(True)
        self._tip.wm_geometry(f"+{x}+{y}")
        tk.Label(self._tip, text=text, background="#1f2933", foreground="#ffffff", padx=6, pady=3,
                 justify="left", wraplength=480).pack()

    def _hide(self, _event: tk.Event | None = None) -> None:
        self._cancel()
        if self._tip is not None:
            self._tip.destroy()
            self._tip = None
