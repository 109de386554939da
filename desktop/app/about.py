"""The About box (model, source, licence, versions) and the keyboard shortcuts window."""

from __future__ import annotations

import platform
import sys
import tkinter as tk
from tkinter import ttk

from desktop import APP_NAME, __version__
from desktop.app.dialogs import Dialog

MODEL_LICENSE_TEXT = (
    "The M2FP model weights are published by ModelScope (Alibaba DAMO Academy) for "
    "non-commercial use only, under the Creative Commons Attribution-NonCommercial 4.0 "
    "licence (CC BY-NC 4.0)."
)

#: (keys, what they do) — shown in the Help window and in the README.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+O", "Open images"),
    ("Ctrl+Shift+O", "Open a folder"),
    ("Drag and drop", "Open files or folders dropped on the window"),
    ("F5", "Parse the images still waiting"),
    ("Esc", "Cancel parsing (after the current image)"),
    ("D  or  →", "Next image"),
    ("A  or  ←", "Previous image"),
    ("Space", "Mark / unmark the image as reviewed"),
    ("N", "Next image not reviewed yet"),
    ("V", "Next view mode (overlay, side by side, labels, photo)"),
    ("O", "Outline mode on / off"),
    ("[  and  ]", "Less / more opacity"),
    ("Mouse wheel", "Zoom around the pointer"),
    ("Drag", "Pan the image"),
    ("F  or  double-click", "Fit the image to the window"),
    ("1", "Zoom to 100 %"),
    ("+  and  −", "Zoom in / out"),
    ("Ctrl+E", "Export the current image"),
    ("Ctrl+Shift+E", "Export all parsed images"),
    ("F1", "This list of shortcuts"),
    ("Ctrl+Q", "Quit"),
)


def versions(widget: tk.Misc | None = None) -> list[tuple[str, str]]:
    """(name, version) rows for the About box; torch is read only if already imported."""
    rows = [("Application", __version__), ("Python", platform.python_version())]
    if widget is not None:
        rows.append(("Tk", str(widget.tk.call("info", "patchlevel"))))
    torch = sys.modules.get("torch")
    if torch is not None:
        rows.append(("PyTorch", str(getattr(torch, "__version__", "?"))))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        rows.append(("NumPy", str(numpy.__version__)))
    rows.append(("System", f"{platform.system()} {platform.release()} ({platform.machine()})"))
    return rows


class AboutDialog(Dialog):
    def __init__(self, master: tk.Misc, model_info: dict[str, str] | None, model_dir: str | None,
                 log_file: str | None):
        super().__init__(master, f"About {APP_NAME}", modal=False)
        b = self.body
        ttk.Label(b, text=APP_NAME, style="Heading.TLabel").pack(anchor="w")
        ttk.Label(b, text="Multi-person human parsing on the CPU: every person in a photo, split into 20 "
                          "body-part and clothing classes.", wraplength=self.u * 28, justify="left").pack(
            anchor="w", pady=(self.u // 4, self.u // 2))

        grid = ttk.Frame(b)
        grid.pack(fill="x")
        rows: list[tuple[str, str]] = []
        info = dict(model_info or {})
        if info:
            titles = {"name": "Model", "source": "Model source", "found_in": "Found in", "runtime": "Runtime",
                      "precision": "Precision", "threads": "Threads", "load_seconds": "Load time"}
            for key, title in titles.items():
                value = info.pop(key, None)
                if value:
                    rows.append((title, f"{value} s" if key == "load_seconds" else str(value)))
            info.pop("torch", None)  # listed with the versions below
            versions_text = info.pop("versions", None)
            for key, value in info.items():
                rows.append((key.replace("_", " ").capitalize(), str(value)))
            if versions_text:
                rows.append(("Engine versions", str(versions_text)))
        else:
            rows.append(("Model", "not loaded"))
        try:
            from desktop.engine import MODEL_URL

            rows.append(("Published by", f"ModelScope, {MODEL_URL}"))
        except ImportError:  # engine broken: the About box must still open
            pass
        if model_dir:
            rows.append(("Model folder", model_dir))
        rows.extend(versions(self))
        if log_file:
            rows.append(("Log file", log_file))
        for r, (k, v) in enumerate(rows):
            ttk.Label(grid, text=k, style="Muted.TLabel").grid(row=r, column=0, sticky="nw", padx=(0, self.u))
            ttk.Label(grid, text=v, wraplength=self.u * 22, justify="left").grid(row=r, column=1, sticky="w")
        ttk.Label(b, text="Licence of the model", style="Heading.TLabel").pack(anchor="w", pady=(self.u, 0))
        ttk.Label(b, text=MODEL_LICENSE_TEXT, wraplength=self.u * 28, justify="left").pack(anchor="w")
        row = self.button_row()
        ttk.Button(row, text="Close", style="Accent.TButton", command=self.close).pack(side="right")
        self.present()


class ShortcutsDialog(Dialog):
    def __init__(self, master: tk.Misc):
        super().__init__(master, "Keyboard shortcuts", modal=False)
        grid = ttk.Frame(self.body)
        grid.pack(fill="both")
        for r, (keys, what) in enumerate(SHORTCUTS):
            ttk.Label(grid, text=keys, style="Heading.TLabel").grid(row=r, column=0, sticky="w", padx=(0, self.u),
                                                                   pady=1)
            ttk.Label(grid, text=what).grid(row=r, column=1, sticky="w", pady=1)
        row = self.button_row()
        ttk.Button(row, text="Close", style="Accent.TButton", command=self.close).pack(side="right")
        self.present()
