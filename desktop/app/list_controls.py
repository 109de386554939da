"""Above the file list: a name search box, a filter ("Needing attention", "Needs fix"...) and
the sort (name, status, persons, parse time, edited, doubt), with a count of what is shown.

Only collects the choice (:class:`desktop.app.list_view.ListView`) and calls ``on_change``;
the review controller reorders the rows. Typing in the search box waits for a short pause
before filtering, so a 10,000-image list is not re-filtered on every key.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from desktop.app.list_view import FILTERS, SORTS, ListView
from desktop.i18n import _

SEARCH_DELAY_MS = 200


class ListControls(ttk.Frame):
    def __init__(self, master: tk.Misc, *, unit: int, on_change: Callable[[], None]):
        super().__init__(master, style="Side.TFrame")
        self._on_change = on_change
        self._after: str | None = None
        self._quiet = False
        u = unit
        self.view = ListView()

        row1 = ttk.Frame(self, style="Side.TFrame")
        row1.pack(fill="x")
        self.search = tk.StringVar(self)
        self.search_entry = ttk.Entry(row1, textvariable=self.search, width=12)
        self.search_entry.pack(side="left", fill="x", expand=True)
        self._placeholder(self.search_entry, _("Search names"))
        self.search.trace_add("write", lambda *_: self._search_soon())
        self.search_entry.bind("<Escape>", self._clear_search)
        self.search_entry.bind("<Return>", lambda _e: self._changed())

        row2 = ttk.Frame(self, style="Side.TFrame")
        row2.pack(fill="x", pady=(u // 5, 0))
        self._filter_names = {_(label): key for key, (label, _t) in FILTERS.items()}
        self.filter = tk.StringVar(self, value=_(FILTERS["all"][0]))
        self.filter_box = ttk.Combobox(row2, textvariable=self.filter, values=list(self._filter_names),
                                       state="readonly", width=14)
        self.filter_box.pack(side="left", fill="x", expand=True)
        self.filter_box.bind("<<ComboboxSelected>>", lambda _e: self._changed())
        # The sort has a row of its own: beside the filter, in a list a third of a small
        # screen wide, one of the two boxes cut its longest choice ("Agreement (worst first)",
        # "Changed since review") in half.
        row3 = ttk.Frame(self, style="Side.TFrame")
        row3.pack(fill="x", pady=(u // 5, 0))
        self._sort_names = {_(label): key for key, (label, _g) in SORTS.items()}
        self.sort = tk.StringVar(self, value=_(SORTS["name"][0]))
        self.sort_box = ttk.Combobox(row3, textvariable=self.sort, values=list(self._sort_names), state="readonly",
                                     width=10)
        self.sort_box.pack(side="left", fill="x", expand=True)
        self.sort_box.bind("<<ComboboxSelected>>", lambda _e: self._changed())
        self.direction = ttk.Button(row3, text="↓", width=2, style="Small.TButton", takefocus=False,
                                    command=self._flip)
        self.direction.pack(side="left", padx=(u // 6, 0))
        from desktop.app.widgets import Tooltip

        Tooltip(self.sort_box, _("Sort the list"))
        Tooltip(self.direction, _("Reverse the order"))
        Tooltip(self.filter_box, _("Show only some images"))
        # Shown only while a filter hides images (an empty line would waste the list's room).
        self.shown = ttk.Label(self, text="", style="SideValueMuted.TLabel", anchor="w")

    # -- placeholder text in the search box ------------------------------------------------
    def _placeholder(self, entry: ttk.Entry, text: str) -> None:
        self._hint = text
        self._hinting = False

        def show_hint(_e=None) -> None:
            if not self.search.get():
                self._hinting = True
                self._quiet = True
                self.search.set(text)
                self._quiet = False
                entry.configure(foreground="#8a94a3")

        def hide_hint(_e=None) -> None:
            if self._hinting:
                self._hinting = False
                self._quiet = True
                self.search.set("")
                self._quiet = False
                entry.configure(foreground="")

        entry.bind("<FocusIn>", hide_hint, add="+")
        entry.bind("<FocusOut>", show_hint, add="+")
        self._show_hint = show_hint
        show_hint()

    def search_text(self) -> str:
        return "" if self._hinting else self.search.get()

    # -- changes -----------------------------------------------------------------------------
    def _search_soon(self) -> None:
        if self._quiet:
            return
        if self._after is not None:
            self.after_cancel(self._after)
        self._after = self.after(SEARCH_DELAY_MS, self._changed)

    def _clear_search(self, _e=None) -> str:
        self.search.set("")
        self._changed()
        self.winfo_toplevel().focus_set()
        return "break"

    def _flip(self) -> None:
        self.view.descending = not self.view.descending
        self._changed()

    def _changed(self) -> None:
        if self._after is not None:
            try:
                self.after_cancel(self._after)
            except tk.TclError:
                pass
            self._after = None
        self.view.sort = self._sort_names.get(self.sort.get(), "name")
        self.view.filter = self._filter_names.get(self.filter.get(), "all")
        self.view.search = self.search_text()
        self.direction.configure(text="↑" if self.view.descending else "↓")
        self._on_change()

    def set_view(self, view: ListView) -> None:
        """Show a restored choice (does not call ``on_change``)."""
        self.view = view
        self.sort.set(_(SORTS[view.sort][0]))
        self.filter.set(_(FILTERS[view.filter][0]))
        self._quiet = True
        if view.search:
            self._hinting = False
            self.search_entry.configure(foreground="")
            self.search.set(view.search)
        else:
            self.search.set("")
            self._show_hint()
        self._quiet = False
        self.direction.configure(text="↑" if view.descending else "↓")

    def cancel_pending(self) -> None:
        if self._after is not None:
            try:
                self.after_cancel(self._after)
            except tk.TclError:
                pass
            self._after = None

    def set_filter(self, key: str) -> None:
        """Choose a filter from code (e.g. "Changed since review" from a notice)."""
        self.filter.set(_(FILTERS[key][0]))
        self._changed()

    def set_shown(self, shown: int, total: int) -> None:
        if shown == total:
            self.shown.configure(text="")
            self.shown.pack_forget()
        else:
            self.shown.configure(text=_("Showing {shown} of {total} images").format(shown=f"{shown:,}", total=f"{total:,}"))
            self.shown.pack(fill="x")
