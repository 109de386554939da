"""Notices above the image: things about the workspace a reviewer must see and may act on.

The status bar is overwritten by the next message within seconds, so what must not be
missed goes here and stays until dismissed or resolved: the workspace is read-only (and
why: who holds it, or a read-only folder), a damaged workspace was set aside, results of
another model are shown (with a "Parse them again" button), a folder of the workspace is
missing, saving failed. Each notice has a key, so showing it again replaces it instead of
stacking copies.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

#: Notice kind -> (background, border/accent).
_KINDS = {
    "info": ("#e8f0fe", "#2563eb"),
    "warning": ("#fff4e5", "#d97706"),
    "error": ("#fde8e8", "#b91c1c"),
}


class NoticeBar(ttk.Frame):
    """A column of dismissible notices; empty (and zero height) when there are none."""

    def __init__(self, master: tk.Misc, *, unit: int):
        super().__init__(master)
        self._u = unit
        self._rows: dict[str, tk.Frame] = {}
        self._texts: dict[str, str] = {}

    def show(self, key: str, text: str, kind: str = "info",
             actions: Sequence[tuple[str, Callable[[], None]]] = (), dismissible: bool = True) -> None:
        """Show (or replace) notice ``key``. ``actions``: (button text, command) pairs; a
        command's notice is dismissed after it runs."""
        self.dismiss(key)
        bg, accent = _KINDS.get(kind, _KINDS["info"])
        u = self._u
        row = tk.Frame(self, background=bg, highlightthickness=1, highlightbackground=accent)
        tk.Frame(row, background=accent, width=max(3, u // 4)).pack(side="left", fill="y")
        if dismissible:
            close = tk.Label(row, text="✕", background=bg, foreground="#4b5563", cursor="hand2", padx=u // 2)
            close.pack(side="right", fill="y")
            close.bind("<Button-1>", lambda _e: self.dismiss(key))
        for label, command in reversed(list(actions)):
            ttk.Button(row, text=label, style="Small.TButton", takefocus=False,
                       command=lambda c=command: self._run(key, c)).pack(side="right", padx=(u // 3, 0),
                                                                           pady=u // 5)
        message = tk.Label(row, text=text, background=bg, foreground="#1f2933", justify="left", anchor="w",
                           padx=u // 2, pady=u // 4)
        message.pack(side="left", fill="x", expand=True)
        # Wrap to the room there is (a long path must not push the buttons out of the window).
        message.bind("<Configure>", lambda e, m=message: m.configure(wraplength=max(u * 10, e.width - u)))
        row.pack(fill="x", pady=(u // 6, 0))
        self._rows[key] = row
        self._texts[key] = text

    def _run(self, key: str, command: Callable[[], None]) -> None:
        self.dismiss(key)
        command()

    def dismiss(self, key: str) -> None:
        row = self._rows.pop(key, None)
        self._texts.pop(key, None)
        if row is not None:
            row.destroy()

    def clear(self) -> None:
        for key in list(self._rows):
            self.dismiss(key)

    def text(self, key: str) -> str | None:
        """The text of notice ``key`` while it is shown (for tests and the log)."""
        return self._texts.get(key)

    def keys(self) -> list[str]:
        return list(self._rows)
