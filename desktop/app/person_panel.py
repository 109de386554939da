"""One row per detected person: show/hide, and "solo" to review one person's parts alone.

Person filters belong to one image (person 1 of this photo has nothing to do with person 1
of the next), so they are reset whenever another image is shown.

Group photos have 10-20 persons: the rows scroll in an area of their own under a fixed
heading, so "Show all" and the first rows never leave the window, whatever its height.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Iterable
from tkinter import ttk

from desktop.app.theme import COLORS, unit
from desktop.app.widgets import ScrollableFrame
from desktop.i18n import _

#: Rows visible before the list scrolls, when the panel gets the height it asks for.
VISIBLE_ROWS = 5


class PersonPanel(ttk.Frame):
    """Rows ``Person N  score  [Solo]``; ``on_change()`` fires after any change."""

    def __init__(self, master: tk.Misc, on_change: Callable[[], None] | None = None):
        super().__init__(master, style="Side.TFrame")
        self._on_change = on_change
        self._u = unit(self)
        header = ttk.Frame(self, style="Side.TFrame")
        header.pack(fill="x", pady=(0, self._u // 4), padx=(0, max(4, self._u // 3)))
        ttk.Label(header, text=_("Persons"), style="SideHeading.TLabel").pack(side="left")
        self._all_button = ttk.Button(header, text=_("Show all"), style="Small.TButton", command=self.show_all,
                                      takefocus=False)
        self._all_button.pack(side="right")
        row_height = self._u + max(6, self._u // 2)  # a row: text line plus the Solo button's padding
        self.scroll = ScrollableFrame(self, background=COLORS.surface, height=row_height * VISIBLE_ROWS)
        self.scroll.inner.configure(style="Side.TFrame")
        self.scroll.pack(fill="both", expand=True)
        self._rows = self.scroll.inner
        self._rows.columnconfigure(1, weight=1)
        self._empty = ttk.Label(self._rows, text="", style="SideMuted.TLabel")
        self.visible_vars: dict[int, tk.BooleanVar] = {}
        self.solo_vars: dict[int, tk.BooleanVar] = {}
        self.solo: int | None = None
        self.set_persons(None)

    def set_persons(self, persons: Iterable[tuple[int, float]] | None) -> None:
        """Rebuild the rows for ``(person_id, score)`` pairs; ``None`` means "not parsed yet"."""
        for child in self._rows.winfo_children():
            if child is not self._empty:
                child.destroy()
        self.visible_vars.clear()
        self.solo_vars.clear()
        self.solo = None
        self.scroll.scroll_to_top()
        persons = list(persons) if persons is not None else None
        if not persons:
            self._empty.configure(text=_("No person found in this image.") if persons is not None else "—")
            self._empty.grid(row=0, column=0, columnspan=3, sticky="w")
            self._all_button.state(["disabled"])
            return
        self._empty.grid_remove()
        self._all_button.state(["!disabled"])
        for row, (pid, score) in enumerate(persons):
            var = tk.BooleanVar(self, value=True)
            solo = tk.BooleanVar(self, value=False)
            self.visible_vars[pid] = var
            self.solo_vars[pid] = solo
            widgets = (
                ttk.Checkbutton(self._rows, text=_("Person {number}").format(number=pid), variable=var,
                                style="Side.TCheckbutton", command=self._changed, takefocus=False),
                ttk.Label(self._rows, text=_("score {score}").format(score=f"{score:.2f}"),
                          style="SideValueMuted.TLabel"),
                ttk.Checkbutton(self._rows, text=_("Solo"), variable=solo, style="Small.Toolbutton",
                                command=lambda p=pid: self.set_solo(p if self.solo_vars[p].get() else None),
                                takefocus=False),
            )
            widgets[0].grid(row=row, column=0, sticky="w")
            widgets[1].grid(row=row, column=1, sticky="e", padx=(self._u // 2, self._u // 2))
            widgets[2].grid(row=row, column=2, sticky="e", pady=1, padx=(0, self._u // 4))
            for w in widgets:
                w._person_id = pid  # type: ignore[attr-defined]

    def row_widgets(self, person_id: int) -> list[tk.Misc]:
        """The widgets of one person's row (tests check they can be scrolled into view)."""
        return [w for w in self._rows.grid_slaves() if getattr(w, "_person_id", None) == person_id]

    # -- state --------------------------------------------------------------------------
    @property
    def hidden(self) -> set[int]:
        return {pid for pid, var in self.visible_vars.items() if not var.get()}

    def set_hidden(self, person_id: int, hidden: bool) -> None:
        self.visible_vars[person_id].set(not hidden)
        self._changed()

    def set_solo(self, person_id: int | None) -> None:
        """Show only ``person_id``'s pixels (``None``: everyone again)."""
        self.solo = person_id
        for pid, var in self.solo_vars.items():
            var.set(pid == person_id)
        if person_id is not None and person_id in self.visible_vars:
            self.visible_vars[person_id].set(True)
        self._changed()

    def show_all(self) -> None:
        for var in self.visible_vars.values():
            var.set(True)
        self.set_solo(None)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
