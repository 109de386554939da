"""The window's menu bar: File, Parse, View (with View ▸ Language), Model and Help.

Apart from the window so main_window only composes parts. The menus call the window's
commands; the variables they share with the side panel (view mode, outline, subfolders)
stay attributes of the window, where the panels and controllers read them. Other parts
add their own entries afterwards: the workspace commands and File ▸ Recent workspaces
(workspace_actions), the Review menu, File ▸ Open annotations… (annotation_controller).

Accelerator labels are text only: the keys themselves are bound in key_bindings.
"""

from __future__ import annotations

import tkinter as tk
from typing import TYPE_CHECKING

from desktop import APP_NAME
from desktop.app.canvas_view import MODE_TITLES, MODES
from desktop.app.export_dialog import open_folder
from desktop.app.language_menu import LanguageMenu
from desktop.app.logging_setup import log_dir
from desktop.i18n import _, pgettext

if TYPE_CHECKING:
    from desktop.app.main_window import MainWindow


def build_menu_bar(win: MainWindow) -> tk.Menu:
    """Make the menu bar, show it on ``win.root`` and keep what others need on ``win``:
    ``view_mode``, ``outline_var``, ``recursive_var``, ``file_menu``, ``language_menu``, ``menubar``."""
    root = win.root
    win.view_mode = tk.StringVar(root, value=win.settings.view_mode)
    win.outline_var = tk.BooleanVar(root, value=win.settings.outline)
    win.recursive_var = tk.BooleanVar(root, value=win.settings.recursive)
    menubar = tk.Menu(root)
    m_file = tk.Menu(menubar)
    m_file.add_command(label=_("Open images…"), accelerator="Ctrl+O", command=win.ask_open_files)
    m_file.add_command(label=_("Open folder…"), accelerator="Ctrl+Shift+O", command=win.ask_open_folder)
    m_file.add_checkbutton(label=_("Include subfolders"), variable=win.recursive_var,
                           command=win._recursive_changed)
    m_file.add_separator()
    m_file.add_command(label=_("Export current image…"), accelerator="Ctrl+E",
                       command=lambda: win.open_export_dialog("current"))
    m_file.add_command(label=_("Export all parsed images…"), accelerator="Ctrl+Shift+E",
                       command=lambda: win.open_export_dialog("all"))
    m_file.add_separator()
    m_file.add_command(label=_("Quit"), accelerator="Ctrl+Q", command=win.close)
    menubar.add_cascade(label=pgettext("menu", "File"), menu=m_file, underline=0)
    win.file_menu = m_file  # the workspace commands are added by workspace_actions

    m_parse = tk.Menu(menubar)
    m_parse.add_command(label=_("Parse waiting images"), accelerator="F5", command=win.parse_remaining)
    m_parse.add_command(label=_("Retry failed images"), command=win.retry_failed)
    m_parse.add_command(label=_("Cancel parsing"), accelerator="Esc", command=win.cancel_parsing)
    menubar.add_cascade(label=pgettext("menu", "Parse"), menu=m_parse, underline=0)

    m_view = tk.Menu(menubar)
    for mode in MODES:
        m_view.add_radiobutton(label=_(MODE_TITLES[mode]), value=mode, variable=win.view_mode,
                               command=win._view_mode_changed)
    m_view.add_checkbutton(label=_("Outline only"), accelerator="O", variable=win.outline_var,
                           command=win._outline_changed)
    m_view.add_separator()
    m_view.add_command(label=_("Fit to window"), accelerator="F", command=lambda: win.canvas_view.fit())
    m_view.add_command(label=_("Zoom 100 %"), accelerator="1", command=lambda: win.canvas_view.zoom_100())
    m_view.add_command(label=_("Zoom in"), accelerator="+", command=lambda: win.canvas_view.zoom_by(1.25))
    m_view.add_command(label=_("Zoom out"), accelerator="−", command=lambda: win.canvas_view.zoom_by(0.8))
    m_view.add_separator()
    m_view.add_command(label=_("Next image"), accelerator="D", command=lambda: win.go(1))
    m_view.add_command(label=_("Previous image"), accelerator="A", command=lambda: win.go(-1))
    m_view.add_separator()
    win.language_menu = LanguageMenu(m_view, win.settings, save=win.save_settings, notify=win.set_status)
    menubar.add_cascade(label=pgettext("menu", "View"), menu=m_view, underline=0)

    m_model = tk.Menu(menubar)
    m_model.add_command(label=_("Choose model folder…"), command=lambda: win.show_model_dialog(""))
    m_model.add_command(label=_("Download model…"), command=lambda: win.show_model_dialog(""))
    menubar.add_cascade(label=pgettext("menu", "Model"), menu=m_model, underline=0)

    m_help = tk.Menu(menubar)
    m_help.add_command(label=_("Keyboard shortcuts"), accelerator="F1", command=win.show_shortcuts)
    m_help.add_command(label=_("Open the log folder"), command=lambda: open_folder(log_dir()))
    m_help.add_separator()
    m_help.add_command(label=_("About {app}").format(app=APP_NAME), command=win.show_about)
    menubar.add_cascade(label=pgettext("menu", "Help"), menu=m_help, underline=0)
    root.configure(menu=menubar)
    win.menubar = menubar
    return menubar
