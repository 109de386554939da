"""The window's toolbar: open, parse, cancel, previous/next, accept, next to review, fit, 100 %, export.

Apart from the window so main_window only composes parts. Each button has a tooltip naming
its key; which buttons are enabled is decided by the window (``_update_actions``), which
finds them in ``win.buttons`` by name. Edit mode adds its button at the end of the bar
(edit_controller finds the bar as the export button's master).
"""

from __future__ import annotations

from tkinter import ttk
from typing import TYPE_CHECKING

from desktop.i18n import _, pgettext

if TYPE_CHECKING:
    from desktop.app.main_window import MainWindow


def build_toolbar(win: MainWindow, outer: ttk.Frame, pad: int) -> dict[str, ttk.Button]:
    """Pack the toolbar and a rule below it at the top of ``outer``; the buttons by name (also ``win.buttons``)."""
    bar = ttk.Frame(outer, style="Toolbar.TFrame", padding=(pad, pad))
    bar.pack(fill="x")
    buttons: dict[str, ttk.Button] = {}
    win.buttons = buttons

    def button(name: str, text: str, command, tip: str = "", style: str = "Toolbutton") -> ttk.Button:
        b = ttk.Button(bar, text=text, command=command, style=style, takefocus=False)
        b.pack(side="left", padx=(0, 2))
        buttons[name] = b
        if tip:
            from desktop.app.widgets import Tooltip

            Tooltip(b, tip)
        return b

    def sep() -> None:
        ttk.Separator(bar, orient="vertical").pack(side="left", fill="y", padx=pad)

    button("open", _("Open…"), win.ask_open_files, _("Open one or more images (Ctrl+O)"))
    button("folder", _("Folder…"), win.ask_open_folder, _("Open every image of a folder (Ctrl+Shift+O)"))
    sep()
    button("parse", pgettext("toolbar", "Parse"), win.parse_remaining, _("Parse the images still waiting (F5)"))
    button("cancel", _("Cancel"), win.cancel_parsing, _("Stop parsing after the current image (Esc)"))
    sep()
    button("prev", _("◀ Prev"), lambda: win.go(-1), _("Previous image (A or ←)"))
    button("next", _("Next ▶"), lambda: win.go(1), _("Next image (D or →)"))
    button("reviewed", _("✓ Accept"), lambda: win.review.accept_and_next(),
           _("Accept this image and go to the next one not reviewed (Space)"))
    button("next_todo", _("Next to review"), lambda: win.review.next_not_reviewed(),
           _("Next image not reviewed yet (N); Shift+N: next needing attention"))
    sep()
    button("fit", _("Fit"), lambda: win.canvas_view.fit(), _("Fit the image to the window (F)"))
    button("zoom100", "100 %", lambda: win.canvas_view.zoom_100(), _("Actual pixels (1)"))
    sep()
    button("export", _("Export…"), lambda: win.open_export_dialog("current"),
           _("Export PNG and JSON files (Ctrl+E)"))
    ttk.Separator(outer, orient="horizontal").pack(fill="x")
    return buttons
