"""The window's keyboard shortcuts: single keys for review and view, Ctrl combinations for files.

Apart from the window so main_window only composes parts. The menus show the same keys as
accelerator labels (menu_bar); edit mode binds its own tool keys (edit_controller).

Single keys act only when the focus is not in a text field (typing a note or a search must
not accept an image), only in the main window (not in a dialog), and not with Control held
(Ctrl+O is "open", not "outline"). The file list gets the same bindings: its own arrow and
space bindings would otherwise win there.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.app.main_window import MainWindow


def bind_keys(win: MainWindow) -> None:
    """Bind every shortcut of the main window (after the review controller exists: its keys)."""
    root = win.root
    mod = "Command" if root.tk.call("tk", "windowingsystem") == "aqua" else "Control"
    plain = {
        "d": lambda: win.go(1), "Right": lambda: win.go(1),
        "a": lambda: win.go(-1), "Left": lambda: win.go(-1),
        **win.review.key_bindings(),  # Space, Y, X, R, U, N: verdicts and "next not reviewed"
        "v": win.cycle_view_mode, "o": win.toggle_outline,
        "f": lambda: win.canvas_view.fit(), "1": lambda: win.canvas_view.zoom_100(),
        "plus": lambda: win.canvas_view.zoom_by(1.25), "equal": lambda: win.canvas_view.zoom_by(1.25),
        "KP_Add": lambda: win.canvas_view.zoom_by(1.25),
        "minus": lambda: win.canvas_view.zoom_by(0.8), "KP_Subtract": lambda: win.canvas_view.zoom_by(0.8),
        "bracketleft": lambda: win.nudge_opacity(-0.1), "bracketright": lambda: win.nudge_opacity(0.1),
        "F5": win.parse_remaining, "Escape": win.cancel_parsing, "F1": win.show_shortcuts,
    }

    def handler(func):
        def run(event: tk.Event) -> str | None:
            if event.widget.winfo_toplevel() is not root:
                return None
            if isinstance(event.widget, (tk.Entry, ttk.Entry, tk.Text, ttk.Spinbox, ttk.Combobox)):
                return None
            if event.state & 0x4:  # Control held: leave it to the Control bindings
                return None
            func()
            return "break"

        return run

    for key, func in plain.items():
        seqs = [f"<KeyPress-{key}>"]
        if len(key) == 1 and key.isalpha():
            seqs.append(f"<KeyPress-{key.upper()}>")
        for seq in seqs:
            root.bind(seq, handler(func))
            # The file list has its own arrow/space bindings; ours take precedence there.
            win.file_list.tree.bind(seq, handler(func))
    for seq, func in win.review.extra_key_sequences().items():  # Shift+N
        root.bind(seq, handler(func))
        win.file_list.tree.bind(seq, handler(func))
    combos = {
        "o": win.ask_open_files, "O": win.ask_open_folder,
        "e": lambda: win.open_export_dialog("current"), "E": lambda: win.open_export_dialog("all"),
        "q": win.close,
    }
    for key, func in combos.items():
        root.bind(f"<{mod}-{key}>", lambda _e, f=func: (f(), "break")[1])
    # Up/Down in the list move the selection natively (and so change the image).
