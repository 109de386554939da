"""The list of opened images with the state of each (waiting, parsing, done, failed, reviewed)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from desktop.app.session import ImageEntry, State
from desktop.app.theme import COLORS, unit
from desktop.app.verdict_icons import VERDICT_COLORS
from desktop.app.widgets import Tooltip
from desktop.i18n import pgettext


class FileList(ttk.Frame):
    """A ``ttk.Treeview`` of :class:`ImageEntry`; ``on_select(key)`` when the user picks one."""

    def __init__(self, master: tk.Misc, on_select: Callable[[str], None] | None = None):
        super().__init__(master, style="Side.TFrame")
        self._on_select = on_select
        self._suppress = False
        u = unit(self)
        header = ttk.Frame(self, style="Side.TFrame")
        header.pack(fill="x", padx=u // 2, pady=(u // 3, u // 4))
        ttk.Label(header, text=pgettext("panel", "Images"), style="SideHeading.TLabel").pack(side="left")
        # Counts go in a footer: beside the heading they would be cut in a narrow list.
        self.summary = ttk.Label(self, text="", style="SideValueMuted.TLabel", anchor="w")
        self.summary.pack(side="bottom", fill="x", padx=u // 2, pady=(u // 6, u // 6))

        body = ttk.Frame(self, style="Side.TFrame")
        body.pack(fill="both", expand=True)
        self.tree = ttk.Treeview(body, columns=("state",), show="tree headings", selectmode="browse")
        self.tree.heading("#0", text=pgettext("list heading", "File"), anchor="w")
        self.tree.heading("state", text=pgettext("list heading", "State"), anchor="w")
        self.tree.column("#0", width=int(u * 9), minwidth=u * 4, stretch=True)
        self.tree.column("state", width=int(u * 7.5), minwidth=u * 4, stretch=True, anchor="w")
        bar = ttk.Scrollbar(body, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=bar.set)
        self.tree.grid(row=0, column=0, sticky="nsew")
        bar.grid(row=0, column=1, sticky="ns")
        body.columnconfigure(0, weight=1)
        body.rowconfigure(0, weight=1)
        self.tree.tag_configure("waiting", foreground=COLORS.muted)
        self.tree.tag_configure("parsing", foreground=COLORS.busy)
        self.tree.tag_configure("done", foreground=COLORS.text)
        self.tree.tag_configure("failed", foreground=COLORS.error)
        self.tree.tag_configure("reviewed", foreground=COLORS.ok)
        for verdict, colour in VERDICT_COLORS.items():
            if verdict != "not_reviewed":
                self.tree.tag_configure(verdict, foreground=colour)
        #: ``icon_for(entry)`` gives the row's verdict icon (set by the review controller).
        self.icon_for: Callable[[ImageEntry], object] | None = None
        self.tree.bind("<<TreeviewSelect>>", self._selected)
        self._entries: dict[str, ImageEntry] = {}
        # The tip goes beside the row under the pointer (not below the whole list, which can
        # be a screen away), and follows the pointer from row to row.
        self._tooltip = Tooltip(self.tree, self._tooltip_text, delay_ms=700, position_fn=self._tooltip_position)
        self._pointer_item: str | None = None
        self._pointer_x = 0
        self.tree.bind("<Motion>", self._on_motion, add="+")

    def _on_motion(self, event: tk.Event) -> None:
        item = self.tree.identify_row(event.y)
        self._pointer_x = event.x
        if item != self._pointer_item:
            self._pointer_item = item
            self._tooltip.restart()

    def _tooltip_position(self) -> tuple[int, int] | None:
        """Screen position just below the row under the pointer, a little right of the pointer."""
        item = self._pointer_item
        if not item or not self.tree.exists(item):
            return None
        box = self.tree.bbox(item)
        if not box:
            return None
        _x, y, _w, h = box
        return self.tree.winfo_rootx() + self._pointer_x + 12, self.tree.winfo_rooty() + y + h + 2

    def _tooltip_text(self) -> str:
        entry = self._entries.get(self._pointer_item or "")
        if entry is None:
            return ""
        text = str(entry.path)
        if entry.state is State.FAILED:
            text += "\n" + entry.error
        if entry.notes:
            text += "\n" + "; ".join(entry.notes)
        return text

    def add(self, entries: list[ImageEntry]) -> None:
        for entry in entries:
            self._entries[entry.key] = entry
            self.tree.insert("", "end", iid=entry.key, text=entry.display_name, values=(entry.status_text(),),
                             tags=(self._tag(entry),), image=self._icon(entry))

    def add_in_chunks(self, entries: list[ImageEntry], chunk: int = 400,
                      on_done: Callable[[], None] | None = None) -> None:
        """Add many rows a chunk per event-loop turn, so a list of 10,000 never freezes the
        window while it fills (the first rows are usable at once)."""
        self._fill_token = token = object()

        def step(start: int) -> None:
            if getattr(self, "_fill_token", None) is not token or not self.winfo_exists():
                return  # cleared or refilled meanwhile
            self.add(entries[start:start + chunk])
            if start + chunk < len(entries):
                self.after(1, step, start + chunk)
            elif on_done is not None:
                on_done()

        step(0)

    def show_only(self, keys: list[str]) -> None:
        """Show these rows, in this order; the others stay known but hidden (sort and filter)."""
        self.tree.set_children("", *(k for k in keys if k in self._entries))

    def visible_keys(self) -> tuple[str, ...]:
        return tuple(self.tree.get_children())

    def neighbour(self, key: str | None, step: int) -> str | None:
        """The shown row ``step`` places from ``key`` (clamped), or the first shown row."""
        rows = self.tree.get_children()
        if not rows:
            return None
        try:
            i = rows.index(key) if key else -1
        except ValueError:
            i = -1
        if i < 0:
            return rows[0]
        return rows[min(max(i + step, 0), len(rows) - 1)]

    def clear(self) -> None:
        self._fill_token = None
        keys = list(self._entries)  # every row, those hidden by a filter included
        self._entries.clear()
        if keys:
            self.tree.delete(*keys)

    def refresh(self, entry: ImageEntry) -> None:
        """Redraw one row after its state changed."""
        if self.tree.exists(entry.key):
            self.tree.item(entry.key, values=(entry.status_text(),), tags=(self._tag(entry),), image=self._icon(entry))

    def _icon(self, entry: ImageEntry) -> object:
        return self.icon_for(entry) if self.icon_for is not None else ""

    def state_text(self, key: str) -> str:
        return str(self.tree.set(key, "state"))

    @staticmethod
    def _tag(entry: ImageEntry) -> str:
        if entry.state is State.DONE and entry.reviewed:
            return entry.verdict
        return entry.state.value

    def select(self, key: str | None) -> None:
        """Highlight ``key`` without calling ``on_select`` (the window already knows)."""
        self._suppress = True
        try:
            if key is None or not self.tree.exists(key):
                self.tree.selection_set(())
            else:
                self.tree.selection_set((key,))
                self.tree.focus(key)
                self.tree.see(key)
        finally:
            self.after_idle(self._unsuppress)

    def _unsuppress(self) -> None:
        self._suppress = False

    def _selected(self, _event: tk.Event) -> None:
        if self._suppress:
            return
        sel = self.tree.selection()
        if sel and self._on_select is not None:
            self._on_select(sel[0])

    def set_summary(self, text: str) -> None:
        self.summary.configure(text=text)
