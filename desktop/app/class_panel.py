"""One row per parsing class: colour, name, share of the image, and a visibility box.

Visibility is a per-class choice the user keeps across images (it is saved in the
settings); the share and the greyed look of absent classes follow the current image.

Background (class 0) is never coloured (desktop/render.py: it stays the photo, in the
window and in the exports), so its row shows its share but has no box: a box that changes
nothing read as "All leaves Background off". "All" and "None" therefore tick and untick
every box there is, and the background always counts as not drawn.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Iterable
from tkinter import ttk

import numpy as np

from desktop.app.theme import COLORS, unit
from desktop.app.widgets import Swatch, Tooltip
from desktop.i18n import _, class_display_name, pgettext

BACKGROUND = 0


def _hex(rgb) -> str:
    r, g, b = (int(v) for v in rgb[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _faded(rgb, amount: float = 0.7) -> str:
    """The colour mixed with white (how an absent class's swatch is drawn)."""
    r, g, b = (int(round(v + (255 - v) * amount)) for v in rgb[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


class ClassPanel(ttk.Frame):
    """Checkbox rows for classes ``0..N-1``; ``on_change()`` fires after any toggle."""

    def __init__(
        self,
        master: tk.Misc,
        class_names: Iterable[str],
        palette: np.ndarray,
        hidden: Iterable[int] = (0,),
        on_change: Callable[[], None] | None = None,
    ):
        super().__init__(master, style="Side.TFrame")
        self.class_names = tuple(class_names)
        self.palette = np.asarray(palette)
        self._on_change = on_change
        hidden = set(hidden) | {BACKGROUND}
        self.vars = [tk.BooleanVar(self, value=i not in hidden) for i in range(len(self.class_names))]
        self._counts: np.ndarray | None = None
        u = unit(self)

        header = ttk.Frame(self, style="Side.TFrame")
        header.pack(fill="x", pady=(0, u // 4))
        ttk.Label(header, text=_("Classes"), style="SideHeading.TLabel").pack(side="left")
        none = ttk.Button(header, text=pgettext("select classes", "None"), style="Small.TButton",
                          command=self.show_none, takefocus=False)
        none.pack(side="right")
        every = ttk.Button(header, text=pgettext("select classes", "All"), style="Small.TButton",
                           command=self.show_all, takefocus=False)
        every.pack(side="right", padx=(0, u // 4))
        Tooltip(every, _("Colour every class"))
        Tooltip(none, _("Colour no class (the photo alone)"))

        grid = ttk.Frame(self, style="Side.TFrame")
        grid.pack(fill="x")
        grid.columnconfigure(2, weight=1)
        self._checks: list[ttk.Widget] = []
        self._swatches: list[Swatch] = []
        self._names: list[ttk.Label] = []
        self._shares: list[ttk.Label] = []
        swatch = max(10, int(u * 0.8))
        for i, name in enumerate(self.class_names):
            if i == BACKGROUND:  # nothing to switch: an empty cell where the box would be
                check = ttk.Frame(grid, style="Side.TFrame")
            else:
                check = ttk.Checkbutton(grid, variable=self.vars[i], style="Side.TCheckbutton",
                                        command=self._changed, takefocus=False)
            check.grid(row=i, column=0, sticky="w")
            sw = Swatch(grid, swatch, _hex(self.palette[i]), COLORS.surface)
            sw.grid(row=i, column=1, padx=(0, u // 3))
            label = ttk.Label(grid, text=class_display_name(name), style="Side.TLabel")
            label.grid(row=i, column=2, sticky="w")
            share = ttk.Label(grid, text="", style="SideValueMuted.TLabel", anchor="e", width=7)
            share.grid(row=i, column=3, sticky="e")
            for w in (sw, label, share):
                if i == BACKGROUND:
                    Tooltip(w, _("The background is never coloured: it always shows the photo."))
                else:
                    w.bind("<Button-1>", lambda _e, k=i: self.toggle(k))
            self._checks.append(check)
            self._swatches.append(sw)
            self._names.append(label)
            self._shares.append(share)
        self.set_counts(None)

    # -- state --------------------------------------------------------------------------
    def visible_array(self) -> np.ndarray:
        """(num_classes,) bool: the classes currently ticked."""
        return np.array([v.get() for v in self.vars], dtype=bool)

    def hidden_ids(self) -> list[int]:
        return [i for i, v in enumerate(self.vars) if not v.get()]

    def set_visible(self, visible: Iterable[int]) -> None:
        wanted = set(visible) - {BACKGROUND}
        for i, v in enumerate(self.vars):
            v.set(i in wanted)
        self._changed()

    def has_box(self, class_id: int) -> bool:
        """Whether the class's row has a visibility box (every class but Background)."""
        return isinstance(self._checks[class_id], ttk.Checkbutton)

    def toggle(self, class_id: int) -> None:
        if class_id == BACKGROUND:
            return
        self.vars[class_id].set(not self.vars[class_id].get())
        self._changed()

    def show_all(self) -> None:
        """Tick every box (every class that can be coloured: all but Background, which has none)."""
        self.set_visible(range(len(self.vars)))

    def show_none(self) -> None:
        self.set_visible(())

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    # -- current image ------------------------------------------------------------------
    def set_counts(self, counts: np.ndarray | None) -> None:
        """Show each class's share of the image and grey the absent ones (``None``: no image)."""
        self._counts = None if counts is None else np.asarray(counts)
        total = float(self._counts.sum()) if self._counts is not None else 0.0
        for i in range(len(self.class_names)):
            n = int(self._counts[i]) if self._counts is not None and i < len(self._counts) else 0
            present = n > 0
            if self._counts is None:
                text = ""
            elif not present:
                text = "–"
            else:
                share = 100.0 * n / total
                text = f"{share:.1f} %" if share >= 0.1 else "<0.1 %"
            self._shares[i].configure(text=text, style="SideValue.TLabel" if present else "SideValueMuted.TLabel")
            self._names[i].configure(style="Side.TLabel" if present or self._counts is None else "SideMuted.TLabel")
            if i != BACKGROUND:
                self._checks[i].configure(
                    style="Side.TCheckbutton" if present or self._counts is None else "SideAbsent.TCheckbutton")
            color = self.palette[i]
            self._swatches[i].set_color(_hex(color) if present or self._counts is None else _faded(color),
                                        COLORS.muted if present or self._counts is None else COLORS.border)

    def is_greyed(self, class_id: int) -> bool:
        """True when the class does not occur in the current image (for tests and tooltips)."""
        return str(self._names[class_id].cget("style")) == "SideMuted.TLabel"
