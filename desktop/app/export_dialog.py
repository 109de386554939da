"""Export options, then progress: which images, which files, which folder.

The writing itself happens in a background job started by the main window; this dialog
only collects the choices (``on_start``) and then shows the progress it is fed
(:meth:`show_progress`, :meth:`show_finished`). Cancel stops between images; every file
already written is complete (atomic writes), never half a PNG.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tkinter import filedialog, ttk

from desktop.app.dialogs import Dialog
from desktop.app.theme import COLORS
from desktop.i18n import N_, _, pgettext

FORMAT_TITLES = {
    "labels": N_("Label map (PNG, pixel value = class id)"),
    "color": N_("Colour map (PNG)"),
    "overlay": N_("Overlay on the photo (PNG)"),
    "json": N_("Persons, parts and classes (JSON)"),
}
#: Titles are marked with N_ and translated where shown (``_(title)``).
#: Formats for annotation tools and datasets (desktop.formats): one subfolder each in the export folder.
INTERCHANGE_TITLES = {
    "cihp": N_("CIHP dataset layout (for training M2FP, SCHP): cihp/"),
    "cvat": N_("CVAT 1.1 annotations, persons as groups: cvat/annotations.xml"),
    "cvat-mask": N_("CVAT Segmentation mask 1.1: cvat-mask/"),
    "coco": N_("COCO instances with persons: coco/annotations/"),
    "labelme": N_("labelme files (version 5.4 or later): labelme/"),
}


@dataclass(frozen=True)
class ExportRequest:
    folder: Path
    formats: tuple[str, ...]
    only_visible: bool
    scope: str  # "current" or "all"


def open_folder(path: Path) -> None:
    """Show ``path`` in the system's file manager (best effort)."""
    try:
        if sys.platform == "win32":
            os.startfile(str(path))  # type: ignore[attr-defined]  # noqa: S606
        elif sys.platform == "darwin":
            subprocess.Popen(["open", str(path)])  # noqa: S603, S607
        else:
            subprocess.Popen(["xdg-open", str(path)])  # noqa: S603, S607
    except OSError:
        pass


class ExportDialog(Dialog):
    def __init__(
        self,
        master: tk.Misc,
        *,
        folder: str,
        formats: list[str],
        only_visible: bool,
        scope: str,
        current_name: str | None,
        parsed_count: int,
        on_start: Callable[[ExportRequest], None],
        on_cancel: Callable[[], None],
        shown_rule: Callable[[str], str] | None = None,
    ):
        super().__init__(master, _("Export"))
        self._on_start = on_start
        self._on_cancel = on_cancel
        self._running = False
        self._result_folder: Path | None = None
        u = self.u
        b = self.body

        ttk.Label(b, text=_("What to export"), style="Heading.TLabel").pack(anchor="w")
        self.scope = tk.StringVar(self, value=scope)
        r1 = ttk.Radiobutton(b, text=_("This image ({name})").format(name=current_name) if current_name
                             else _("This image (not parsed yet)"),
                             variable=self.scope, value="current")
        r1.pack(anchor="w", pady=(u // 4, 0))
        if not current_name:
            r1.state(["disabled"])
            self.scope.set("all")
        r2 = ttk.Radiobutton(b, text=_("All parsed images ({n})").format(n=parsed_count), variable=self.scope, value="all")
        r2.pack(anchor="w")
        if parsed_count == 0:
            r2.state(["disabled"])

        ttk.Label(b, text=_("Files for each image"), style="Heading.TLabel").pack(anchor="w", pady=(u // 2, 0))
        self.format_vars = {}
        # Two columns: the dialog must fit a small screen also in Chinese, whose font has taller lines.
        files = ttk.Frame(b)
        files.pack(anchor="w", fill="x")
        for i, (fmt, title) in enumerate(FORMAT_TITLES.items()):
            var = tk.BooleanVar(self, value=fmt in formats)
            self.format_vars[fmt] = var
            ttk.Checkbutton(files, text=_(title), variable=var, command=self._validate).grid(
                row=i // 2, column=i % 2, sticky="w", pady=(u // 8, 0), padx=(0, u if i % 2 == 0 else 0))
        ttk.Label(b, text=_("For annotation tools and datasets"), style="Heading.TLabel").pack(anchor="w", pady=(u // 2, 0))
        for fmt, title in INTERCHANGE_TITLES.items():
            var = tk.BooleanVar(self, value=fmt in formats)
            self.format_vars[fmt] = var
            ttk.Checkbutton(b, text=_(title), variable=var, command=self._validate).pack(anchor="w", pady=(u // 8, 0))
        # One rule, visible here (review issue, item 9): the colour and overlay images show
        # everything (the default), or what the window shows, spelled out, so a filter set in
        # another session is never applied unseen. ``only_visible`` True means "as shown".
        ttk.Label(b, text=_("Colour and overlay images show"), style="Heading.TLabel").pack(anchor="w", pady=(u // 2, 0))
        self._shown_rule = shown_rule or (lambda _scope: _("the classes ticked in the window"))
        self.only_visible = tk.BooleanVar(self, value=only_visible)
        ttk.Radiobutton(b, text=_("Everything: every class of every person"), variable=self.only_visible,
                        value=False).pack(anchor="w", pady=(u // 8, 0))
        self.as_shown_button = ttk.Radiobutton(b, text="", variable=self.only_visible, value=True)
        self.as_shown_button.pack(anchor="w", pady=(u // 8, 0))
        ttk.Label(b, text=_("The label map and the JSON always hold every class and person."),
                  style="Muted.TLabel").pack(anchor="w")
        self.scope.trace_add("write", lambda *_: self._update_rule())
        self._update_rule()

        ttk.Label(b, text=_("Folder"), style="Heading.TLabel").pack(anchor="w", pady=(u // 2, 0))
        frow = ttk.Frame(b)
        frow.pack(fill="x", pady=(u // 4, 0))
        self.folder = tk.StringVar(self, value=folder)
        entry = ttk.Entry(frow, textvariable=self.folder, width=44)
        entry.pack(side="left", fill="x", expand=True)
        ttk.Button(frow, text=_("Browse…"), command=self.browse).pack(side="left", padx=(u // 3, 0))
        self.folder.trace_add("write", lambda *_: self._validate())

        self.progress_frame = ttk.Frame(b)
        self.progress = ttk.Progressbar(self.progress_frame, mode="determinate", length=u * 20)
        self.progress.pack(fill="x")
        self.progress_text = ttk.Label(self.progress_frame, text="", style="Muted.TLabel", wraplength=u * 30,
                                       justify="left")
        self.progress_text.pack(anchor="w", pady=(u // 4, 0))

        row = self.button_row()
        self.close_button = ttk.Button(row, text=_("Cancel"), command=self.close)
        self.close_button.pack(side="right")
        self.open_button = ttk.Button(row, text=_("Open folder"), command=self._open_result_folder)
        self.export_button = ttk.Button(row, text=pgettext("button", "Export"), style="Accent.TButton", command=self.start)
        self.export_button.pack(side="right", padx=(0, u // 2))
        self.bind("<Return>", lambda _e: self.start())
        self._validate()
        self.present()

    def _update_rule(self) -> None:
        self.as_shown_button.configure(text=_("As shown: {rule}").format(rule=self._shown_rule(self.scope.get())))

    def rule_text(self) -> str:
        """The rule as the dialog states it (for tests and the log)."""
        if self.only_visible.get():
            return _("As shown: {rule}").format(rule=self._shown_rule(self.scope.get()))
        return _("Everything")

    def browse(self) -> None:
        chosen = filedialog.askdirectory(parent=self, title=_("Export to folder"), initialdir=self.folder.get() or None)
        if chosen:
            self.folder.set(chosen)

    def chosen_formats(self) -> tuple[str, ...]:
        return tuple(f for f, v in self.format_vars.items() if v.get())

    def _validate(self) -> bool:
        ok = bool(self.chosen_formats()) and bool(self.folder.get().strip()) and not self._running
        self.export_button.state(["!disabled"] if ok else ["disabled"])
        return ok

    def start(self) -> None:
        if self._running or not self._validate():
            return
        request = ExportRequest(Path(self.folder.get().strip()).expanduser(), self.chosen_formats(),
                                bool(self.only_visible.get()), self.scope.get())
        self._on_start(request)

    # -- fed by the main window ---------------------------------------------------------
    def show_running(self) -> None:
        self._running = True
        self.progress_frame.pack(fill="x", pady=(self.u // 2, 0))
        self.export_button.state(["disabled"])
        self.close_button.configure(text=_("Cancel export"), command=self._cancel)

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.configure(maximum=max(1, total), value=done)
        self.progress_text.configure(text=text, foreground=COLORS.muted)

    def show_finished(self, text: str, folder: Path | None, error: bool = False) -> None:
        self._running = False
        self._result_folder = folder
        self.progress_text.configure(text=text, foreground=COLORS.error if error else COLORS.ok)
        self.close_button.configure(text=_("Close"), command=self.close)
        self.close_button.state(["!disabled"])
        if folder is not None:
            self.open_button.pack(side="right", padx=(0, self.u // 2))
        self._validate()

    def _cancel(self) -> None:
        self._on_cancel()
        self.progress_text.configure(text=_("Cancelling after the current image…"))
        self.close_button.state(["disabled"])

    def _open_result_folder(self) -> None:
        if self._result_folder is not None:
            open_folder(self._result_folder)

    def close(self) -> None:
        if self._running:
            self._cancel()
            return
        super().close()
