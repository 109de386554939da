"""Small reusable widgets: a vertically scrolling frame, a colour swatch, a tooltip."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk


class ScrollableFrame(ttk.Frame):
    """A frame whose content (``self.inner``) scrolls vertically when taller than the space.

    The scrollbar only appears when needed, and the mouse wheel scrolls while the pointer is
    over the content (bound on enter, released on leave, so it never fights the image view).
    """

    def __init__(self, master: tk.Misc, *, background: str, height: int | None = None, **kwargs):
        super().__init__(master, **kwargs)
        self._canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0, background=background)
        if height is not None:  # the requested height (a paned window starts the pane at it)
            self._canvas.configure(height=height)
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
            path, own = str(event.widget), str(self)
            return path == own or path.startswith(own + ".")
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

    def yview(self) -> tuple[float, float]:
        """(first, last) visible fraction of the content: (0, 1) when it all fits."""
        first, last = self._canvas.yview()
        return float(first), float(last)

    def see(self, widget: tk.Misc) -> None:
        """Scroll so that ``widget`` (inside :attr:`inner`) is fully visible."""
        self.update_idletasks()
        total = max(1, self.inner.winfo_height())
        top = widget.winfo_rooty() - self.inner.winfo_rooty()
        bottom = top + widget.winfo_height()
        view_h = self._canvas.winfo_height()
        first, _last = self._canvas.yview()
        shown_top = first * total
        # The canvas scrolls by whole ``yscrollincrement`` steps (moveto rounds down), so
        # round to the step that shows the whole widget.
        step = max(1, int(float(self._canvas.cget("yscrollincrement")) or 1))
        if top < shown_top:
            self._canvas.yview_moveto((top // step) * step / total)
        elif bottom > shown_top + view_h:
            self._canvas.yview_moveto(min(total, -(-(bottom - view_h) // step) * step) / total)


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
    """Shows ``text_fn()`` after the pointer rests on ``widget`` (empty text: no tip).

    ``position_fn()`` may give the tip's top-left corner in screen coordinates (``None``:
    below the widget). Widgets with rows (a list) use it to put the tip beside the row under
    the pointer, not under the whole widget, and call :meth:`restart` when the pointer moves
    to another row. The tip is kept on the screen.
    """

    def __init__(self, widget: tk.Misc, text_fn, delay_ms: int = 500, position_fn=None):
        self.widget = widget
        self.text_fn = text_fn if callable(text_fn) else (lambda: text_fn)
        self.position_fn = position_fn
        self.delay_ms = delay_ms
        self._after: str | None = None
        self._tip: tk.Toplevel | None = None
        widget.bind("<Enter>", self._schedule, add="+")
        widget.bind("<Leave>", self._hide, add="+")
        widget.bind("<ButtonPress>", self._hide, add="+")

    @property
    def shown(self) -> tk.Toplevel | None:
        """The tip window while it is shown (tests read its place and text)."""
        return self._tip

    def restart(self) -> None:
        """Hide the tip and show it again after the delay (the pointer moved to another row)."""
        self._hide()
        self._schedule()

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
        where = self.position_fn() if self.position_fn is not None else None
        if where is None:
            where = (self.widget.winfo_rootx() + 12, self.widget.winfo_rooty() + self.widget.winfo_height() + 4)
        self._tip = tk.Toplevel(self.widget)
        self._tip.wm_overrideredirect(True)
        label = tk.Label(self._tip, text=text, background="#1f2933", foreground="#ffffff", padx=6, pady=3,
                         justify="left", wraplength=480)
        label.pack()
        # Keep the whole tip on the screen: flip above / shift left near the edges.
        x, y = int(where[0]), int(where[1])
        w, h = label.winfo_reqwidth(), label.winfo_reqheight()
        sw, sh = self.widget.winfo_screenwidth(), self.widget.winfo_screenheight()
        x = max(0, min(x, sw - w))
        if y + h > sh:
            y = max(0, y - h - 24)
        self._tip.wm_geometry(f"+{x}+{y}")

    def _hide(self, _event: tk.Event | None = None) -> None:
        self._cancel()
        if self._tip is not None:
            self._tip.destroy()
            self._tip = None
