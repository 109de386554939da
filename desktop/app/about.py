"""The About box (model, source, licence, versions) and the keyboard shortcuts window."""

from __future__ import annotations

import platform
import sys
import tkinter as tk
from tkinter import ttk

from desktop import APP_NAME, __version__
from desktop.app.dialogs import Dialog
from desktop.app.model_identity import PUBLISHED_LICENCE, identify_model
from desktop.i18n import N_, _

#: The published model's licence (the download dialog shows it before downloading).
MODEL_LICENSE_TEXT = PUBLISHED_LICENCE

#: (keys, what they do) — shown in the Help window and in the README. Marked for the catalog,
#: translated where shown (key names too: "Space", "Drag" have names in every language).
SHORTCUTS: tuple[tuple[str, str], ...] = (
    (N_("Ctrl+O"), N_("Open images")),
    (N_("Ctrl+Shift+O"), N_("Open a folder")),
    (N_("Drag and drop"), N_("Open files or folders dropped on the window")),
    (N_("F5"), N_("Parse the images still waiting")),
    (N_("Esc"), N_("Cancel parsing (after the current image)")),
    (N_("D  or  →"), N_("Next image")),
    (N_("A  or  ←"), N_("Previous image")),
    (N_("Space"), N_("Accept the image and go to the next one not reviewed")),
    (N_("Y"), N_("Accept")),
    (N_("X"), N_("Needs fix")),
    (N_("R"), N_("Reject")),
    (N_("U"), N_("Back to “not reviewed” (a verdict changes only with these keys)")),
    (N_("N"), N_("Next image not reviewed yet")),
    (N_("Shift+N"), N_("Next image needing attention (not reviewed, needs fix, changed, failed)")),
    (N_("V"), N_("Next view mode (overlay, side by side, labels, photo)")),
    (N_("O"), N_("Outline mode on / off")),
    (N_("[  and  ]"), N_("Less / more opacity")),
    (N_("Mouse wheel"), N_("Zoom around the pointer")),
    (N_("Drag"), N_("Pan the image")),
    (N_("F  or  double-click"), N_("Fit the image to the window")),
    (N_("1"), N_("Zoom to 100 %")),
    (N_("+  and  −"), N_("Zoom in / out")),
    (N_("E"), N_("Edit mode on / off: correct the parsing")),
    (N_("B, Shift+E, G, L, P, I"), N_("Edit mode: brush, eraser, fill, relabel, polygon, picker")),
    (N_("M, K, W"), N_("Edit mode: move to person, new person, swap left and right")),
    (N_(",  and  ."), N_("Edit mode: smaller / larger brush (also Ctrl+wheel)")),
    (N_("C"), N_("Show the corrections, the differences or the model's result")),
    (N_("Ctrl+Z  /  Ctrl+Y"), N_("Undo / redo a correction (also Ctrl+Shift+Z)")),
    (N_("Ctrl+E"), N_("Export the current image")),
    (N_("Ctrl+Shift+E"), N_("Export all parsed images")),
    (N_("F1"), N_("This list of shortcuts")),
    (N_("Ctrl+Q"), N_("Quit")),
)


def versions(widget: tk.Misc | None = None) -> list[tuple[str, str]]:
    """(name, version) rows for the About box; torch is read only if already imported."""
    rows = [(_("Application"), __version__), ("Python", platform.python_version())]
    if widget is not None:
        rows.append(("Tk", str(widget.tk.call("info", "patchlevel"))))
    torch = sys.modules.get("torch")
    if torch is not None:
        rows.append(("PyTorch", str(getattr(torch, "__version__", "?"))))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        rows.append(("NumPy", str(numpy.__version__)))
    rows.append((_("System"), f"{platform.system()} {platform.release()} ({platform.machine()})"))
    return rows


class AboutDialog(Dialog):
    def __init__(self, master: tk.Misc, model_info: dict[str, str] | None, model_dir: str | None,
                 log_file: str | None):
        super().__init__(master, _("About {app}").format(app=APP_NAME), modal=False)
        b = self.body
        ttk.Label(b, text=APP_NAME, style="Heading.TLabel").pack(anchor="w")
        ttk.Label(b, text=_("Multi-person human parsing on the CPU: every person in a photo, split into 20 "
                            "body-part and clothing classes."), wraplength=self.u * 28, justify="left").pack(
            anchor="w", pady=(self.u // 4, self.u // 2))

        grid = ttk.Frame(b)
        grid.pack(fill="x")
        rows: list[tuple[str, str]] = []
        info = dict(model_info or {})
        # Say what is actually loaded: the test model is not DAMO's model and has no licence.
        identity = identify_model(info)
        rows.append((_("Model"), identity.title))
        if info:
            info.pop("name", None)
            titles = {"source": _("Model source"), "found_in": _("Found in"), "runtime": _("Runtime"),
                      "precision": _("Precision"), "threads": _("Threads"), "load_seconds": _("Load time")}
            for key, title in titles.items():
                value = info.pop(key, None)
                if value:
                    rows.append((title, _show_value(key, str(value))))
            info.pop("torch", None)  # listed with the versions below
            versions_text = info.pop("versions", None)
            for key, value in info.items():
                title = _(_INFO_TITLES[key]) if key in _INFO_TITLES else key.replace("_", " ").capitalize()
                rows.append((title, str(value)))
            if versions_text:
                rows.append((_("Engine versions"), str(versions_text)))
        if identity.published_by:
            rows.append((_("Published by"), identity.published_by))
        if model_dir:
            rows.append((_("Model folder"), model_dir))
        rows.extend(versions(self))
        if log_file:
            rows.append((_("Log file"), log_file))
        for r, (k, v) in enumerate(rows):
            ttk.Label(grid, text=k, style="Muted.TLabel").grid(row=r, column=0, sticky="nw", padx=(0, self.u))
            ttk.Label(grid, text=v, wraplength=self.u * 22, justify="left").grid(row=r, column=1, sticky="w")
        ttk.Label(b, text=_("Licence of the model"), style="Heading.TLabel").pack(anchor="w", pady=(self.u, 0))
        self.licence_label = ttk.Label(b, text=identity.licence, wraplength=self.u * 28, justify="left")
        self.licence_label.pack(anchor="w")
        self.identity = identity
        row = self.button_row()
        ttk.Button(row, text=_("Close"), style="Accent.TButton", command=self.close).pack(side="right")
        self.present()


#: Titles of the runtime details the engine adds to the model info (others show their key).
_INFO_TITLES = {
    "openvino": N_("OpenVINO version"),
    "openvino_model": N_("OpenVINO model"),
    "openvino_shapes": N_("OpenVINO input sizes"),
    "openvino_check": N_("OpenVINO check"),
    "openvino_kernel": N_("OpenVINO attention"),
    "worker_priority": N_("Parsing priority"),
}


def _show_value(key: str, value: str) -> str:
    """A model-info value as the About box shows it (seconds with their unit, origins translated)."""
    if key == "load_seconds":
        return _("{seconds} s").format(seconds=value)
    if key == "found_in":
        # The engine's origins are marked in desktop.engine.models (kept in English in the info).
        return _(value)
    return value


class ShortcutsDialog(Dialog):
    def __init__(self, master: tk.Misc):
        super().__init__(master, _("Keyboard shortcuts"), modal=False)
        grid = ttk.Frame(self.body)
        grid.pack(fill="both")
        for r, (keys, what) in enumerate(SHORTCUTS):
            ttk.Label(grid, text=_(keys), style="Heading.TLabel").grid(row=r, column=0, sticky="w",
                                                                      padx=(0, self.u), pady=1)
            ttk.Label(grid, text=_(what)).grid(row=r, column=1, sticky="w", pady=1)
        row = self.button_row()
        ttk.Button(row, text=_("Close"), style="Accent.TButton", command=self.close).pack(side="right")
        self.present()
