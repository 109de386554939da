"""The status bar: a message on the left; hover read-out, parsing progress and zoom on the right.

Tk's packer hands out space in packing order and clips whoever comes last. The message
used to be packed first, so a long message ("Parsing finished: 40 done, 2 failed (hover
over them…)") pushed the parsing progress and its time left out of the window. Here every
right-hand item is packed before the message, so the message gets what is left: at worst
its end is clipped, and hovering over it shows it whole.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from desktop.app.widgets import Tooltip
from desktop.i18n import _


class StatusBar(ttk.Frame):
    """``message`` (left, takes the remaining width); ``hover_label``, ``progress_text``,
    ``progress``, ``progress_cancel`` and ``zoom_label`` (right, never clipped by it)."""

    def __init__(self, master: tk.Misc, *, unit: int, cancel_command: Callable[[], None]):
        super().__init__(master, style="Status.TFrame")
        self._u = unit
        pad = max(4, unit // 3)
        self.zoom_label = ttk.Label(self, text="", style="Status.TLabel", width=7, anchor="e")
        self.zoom_label.pack(side="right", padx=(0, pad))
        self.hover_label = ttk.Label(self, text="", style="Status.TLabel", anchor="e")
        self.hover_label.pack(side="right")
        self.progress_cancel = ttk.Button(self, text=_("Cancel"), style="Small.TButton", command=cancel_command,
                                          takefocus=False)
        self.progress = ttk.Progressbar(self, mode="determinate", length=unit * 9)
        self.progress_text = ttk.Label(self, text="", style="Status.TLabel", anchor="e")
        self.message = ttk.Label(self, text="", style="Status.TLabel", anchor="w")
        self.message.pack(side="left", fill="x", expand=True)
        self.message_tooltip = Tooltip(self.message, self._clipped_message, delay_ms=400)

    def set_message(self, text: str, warn: bool = False) -> None:
        self.message.configure(text=text, style="StatusWarn.TLabel" if warn else "Status.TLabel")

    def message_clipped(self) -> bool:
        """True when the message is wider than the room left for it."""
        return self.message.winfo_reqwidth() > self.message.winfo_width() + 1

    def _clipped_message(self) -> str:
        return str(self.message.cget("text")) if self.message_clipped() else ""

    def show_progress(self, visible: bool, cancel: bool = True) -> None:
        """Show (or hide) the progress text, bar and, when ``cancel``, its Cancel button."""
        u = self._u
        if not visible:
            for w in (self.progress_cancel, self.progress, self.progress_text):
                w.pack_forget()
            return
        # Packed right to left, all before the message: they keep their width, it gives way.
        items = [(self.progress_cancel, (0, u // 2))] if cancel else []
        items += [(self.progress, (u // 2, u // 3)), (self.progress_text, (0, 0))]
        if [w for w, _pad in items] == [w for w in self.pack_slaves() if w in (self.progress_cancel, self.progress,
                                                                             self.progress_text)]:
            return  # already shown as asked (repacking would only cost a relayout)
        for w in (self.progress_cancel, self.progress, self.progress_text):
            w.pack_forget()
        for widget, padx in items:
            widget.pack(side="right", padx=padx, before=self.message)

    def progress_visible(self) -> bool:
        return bool(self.progress_text.winfo_manager())
