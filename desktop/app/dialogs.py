"""Shared helpers for the app's small windows (placement, modality, button rows)."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from desktop.app.theme import COLORS, unit


class Dialog(tk.Toplevel):
    """A toplevel owned by ``master``, centred on it, closed by Escape and the close box.

    ``modal=True`` grabs input so the user answers it first; the GUI tests drive dialogs by
    calling their methods, so nothing here blocks in a nested event loop.
    """

    def __init__(self, master: tk.Misc, title: str, *, modal: bool = True):
        super().__init__(master)
        self.withdraw()
        self.title(title)
        self.configure(background=COLORS.bg)
        self.transient(master.winfo_toplevel())
        self.u = unit(self)
        self.body = ttk.Frame(self, padding=self.u)
        self.body.pack(fill="both", expand=True)
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.bind("<Escape>", lambda _e: self.close())
        self._modal = modal

    def present(self) -> None:
        """Centre on the owner, show, and (if modal) grab input."""
        self.update_idletasks()
        owner = self.master.winfo_toplevel()
        w, h = self.winfo_reqwidth(), self.winfo_reqheight()
        x = owner.winfo_rootx() + max(0, (owner.winfo_width() - w) // 2)
        y = owner.winfo_rooty() + max(0, (owner.winfo_height() - h) // 3)
        self.geometry(f"+{x}+{y}")
        self.deiconify()
        self.lift()
        if self._modal:
            try:
                self.grab_set()
            except tk.TclError:  # another grab is active or the window is not viewable yet
                pass
        self.focus_set()

    def close(self) -> None:
        try:
            self.grab_release()
        except tk.TclError:
            pass
        self.destroy()

    def button_row(self, parent: tk.Misc | None = None) -> ttk.Frame:
        row = ttk.Frame(parent or self.body)
        row.pack(fill="x", side="bottom", pady=(self.u, 0))
        return row
