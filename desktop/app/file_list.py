"""The list of opened images with the state of each (waiting, parsing, done, failed, reviewed).

The state column is as wide as its widest text, and the list widens to hold it: a verdict
cut in half ("needs fi") misleads a reviewer, while a file name cut short does not (its
full path is in the row's tooltip). So the name column is the one that gives way.
"""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from tkinter import ttk

from desktop.app.session import ImageEntry, State
from desktop.app.theme import COLORS, unit
from desktop.app.verdict_icons import VERDICT_COLORS
from desktop.app.widgets import Tooltip
from desktop.i18n import pgettext

#: The name column keeps this many units (icon and ~16 characters) when the list widens, room permitting.
NAME_ROOM = 10
#: Pixels a sash between two panes takes (ttk's default is 5; a little to spare).
SASH_ROOM = 6


class FileList(ttk.Frame):
    """A ``ttk.Treeview`` of :class:`ImageEntry`; ``on_select(key)`` when the user picks one."""

    def __init__(self, master: tk.Misc, on_select: Callable[[str], None] | None = None,
                 may_move_sash: Callable[[], bool] | None = None):
        super().__init__(master, style="Side.TFrame")
        self._on_select = on_select
        #: Whether a row's wider state may widen the list now (not while the reviewer paints).
        self._may_move_sash = may_move_sash or (lambda: True)
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
        self.tree.column("state", width=int(u * 7.5), minwidth=u * 4, stretch=False, anchor="w")
        self._unit = u
        self._state_font = tkfont.nametofont("TkDefaultFont", root=self)
        self._text_widths: dict[str, int] = {}  # a few dozen distinct texts among thousands of rows
        self._state_width = 0  # the widest state text so far (reset when the list is cleared)
        self._fit_after: str | None = None
        self._widen_pane_ok = False  # whether the pending fit may move the sash (see refresh)
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
            text = entry.status_text()
            self.tree.insert("", "end", iid=entry.key, text=entry.display_name, values=(text,),
                             tags=(self._tag(entry),), image=self._icon(entry))
            self._note_state_text(text)

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
        self._state_width = 0  # the next list's texts decide again (the name column gets the room back)
        self.tree.column("state", width=int(self._unit * 7.5))
        keys = list(self._entries)  # every row, those hidden by a filter included
        self._entries.clear()
        if keys:
            self.tree.delete(*keys)

    def refresh(self, entry: ImageEntry) -> None:
        """Redraw one row after its state changed."""
        if self.tree.exists(entry.key):
            text = entry.status_text()
            self.tree.item(entry.key, values=(text,), tags=(self._tag(entry),), image=self._icon(entry))
            # One row's new state never moves the image under a reviewer who is correcting it
            # (edit mode): then the column widens inside the list, the name column gives way.
            self._note_state_text(text, widen_pane=self._may_move_sash())

    # -- the state column's width ------------------------------------------------------------
    def _note_state_text(self, text: str, widen_pane: bool = True) -> None:
        """Widen the state column (soon, once per burst of rows) when ``text`` is its widest yet;
        with ``widen_pane``, the list too (when rows are added, not when one row changes)."""
        self._widen_pane_ok = self._widen_pane_ok or widen_pane
        width = self._text_widths.get(text)
        if width is None:
            if len(self._text_widths) > 5000:  # failure reasons differ per file: stay bounded
                self._text_widths.clear()
            width = self._text_widths[text] = self._state_font.measure(text)
        if width > self._state_width:
            self._state_width = width
            if self._fit_after is None:
                self._fit_after = self.after_idle(self._fit_state_column)

    def state_column_needs(self) -> int:
        """Pixels the state column needs to show its widest text whole (cell padding included)."""
        return self._state_width + self._unit

    def _fit_state_column(self) -> None:
        self._fit_after = None
        if not self.winfo_exists():
            return
        needed = self.state_column_needs()
        if needed <= int(self.tree.column("state", "width")):
            return
        self.tree.column("state", width=needed)
        if self._widen_pane_ok:
            self._widen_pane(needed + NAME_ROOM * self._unit)
        self._widen_pane_ok = False

    def _widen_pane(self, tree_width: int, tries: int = 50) -> None:
        """Move the sash so the tree is ``tree_width`` wide, room permitting: the list is the
        first pane of a horizontal ``ttk.PanedWindow`` (the window's body), whose sash Tk
        does not move by itself when a column widens. Waits for the window to be shown."""
        pane = self.master
        if not isinstance(pane, ttk.PanedWindow):
            return
        if pane.winfo_width() <= 1:  # not laid out yet (a folder opened at start)
            if tries > 0:
                self.after(100, self._widen_pane, tree_width, tries - 1)
            return
        try:
            index = [str(p) for p in pane.panes()].index(str(self))
        except ValueError:
            return
        if index != 0:  # only the first pane's right edge is a sash position (sashpos 0)
            return
        extra = max(0, self.winfo_width() - self.tree.winfo_width())  # scroll bar, borders
        # What the other panes ask for stays theirs (the edit bar above the photo, the side
        # panel's buttons): the list takes at most the rest, and never more than half.
        panes = [pane.nametowidget(str(p)) for p in pane.panes()]
        others = sum(p.winfo_reqwidth() for p in panes[1:]) + SASH_ROOM * (len(panes) - 1)
        wanted = min(tree_width + extra, pane.winfo_width() // 2, pane.winfo_width() - others)
        if wanted > int(pane.sashpos(0)):
            pane.sashpos(0, wanted)

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
