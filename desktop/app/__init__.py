"""The Tkinter desktop application: a thin window over :mod:`desktop.engine`.

:func:`run` is what ``python -m desktop`` (and the packaged executable) calls with no
command-line arguments. :func:`create_root` is separate so the GUI tests can build the
same window under Xvfb.

tkinter is imported inside the functions, not here: the package's Tk-free modules
(:mod:`.settings`, :mod:`.worker`, :mod:`.session`) are also used by the command line,
which must run where Tk is not installed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from desktop import APP_ID, APP_NAME, __version__

if TYPE_CHECKING:
    import tkinter as tk

log = logging.getLogger(__name__)


def create_root() -> tuple[tk.Tk, bool]:
    """A themed Tk root with the app icon; returns ``(root, drag_and_drop_available)``.

    Drag and drop needs tkinterdnd2's Tk extension (a compiled library); if it cannot be
    loaded on this system the app works without it and the reason goes to the log.
    """
    import tkinter as tk

    from desktop.app.theme import apply_theme, enable_windows_dpi_awareness

    enable_windows_dpi_awareness()
    root = tk.Tk(className=APP_ID)
    root.withdraw()
    dnd = False
    try:
        from tkinterdnd2 import TkinterDnD

        TkinterDnD.require(root)
        dnd = True
    except Exception as exc:  # noqa: BLE001 - ImportError, RuntimeError, TclError...
        log.warning("Drag and drop is not available: %s", exc)
    apply_theme(root)
    set_icon(root)
    return root, dnd


def set_icon(root: tk.Tk) -> None:
    """Window and taskbar icon from ``resources/icons`` (missing icon: keep Tk's)."""
    try:
        from PIL import Image, ImageTk

        from desktop.resources import resource_path

        base = Image.open(resource_path("icons", "app.png"))
        images = [ImageTk.PhotoImage(base.resize((s, s), Image.Resampling.LANCZOS), master=root)
                  for s in (256, 64, 48, 32, 16)]
        root.iconphoto(True, *images)
        root._m2fp_icons = images  # type: ignore[attr-defined]  # keep the images alive
    except Exception as exc:  # noqa: BLE001
        log.warning("Cannot set the window icon: %s", exc)


def run(paths: Sequence[str] = ()) -> int:
    """Open the main window (optionally with ``paths``) and run until it is closed."""
    import tkinter as tk

    from desktop.app.logging_setup import setup_logging
    from desktop.app.settings import load_settings, settings_path
    from desktop.i18n import _, init_language

    log_path = setup_logging()
    log.info("%s %s starting (Python %s); log file %s", APP_NAME, __version__, sys.version.split()[0], log_path)
    settings, warning = load_settings()
    # The language the user chose (View ▸ Language) before any window text is made. A warning
    # about invalid fields is read again in that language (a broken file was set aside: keep it).
    init_language(settings.language)
    if warning:
        warning = load_settings(set_aside=False)[1] or warning
    log.info("Settings file %s", settings_path())
    # Imported once the language is set: some window modules translate names when imported.
    from desktop.app.main_window import MainWindow

    try:
        root, dnd = create_root()
    except tk.TclError as exc:
        print(_("{app} cannot open a window: {reason}").format(app=APP_NAME, reason=exc), file=sys.stderr)
        log.error("Cannot open a window: %s", exc)
        return 1
    window = MainWindow(root, settings, settings_warning=warning, dnd=dnd)
    root.deiconify()
    if paths:
        root.after(100, lambda: window.open_paths(list(paths)))
    else:  # where the user left off: the last workspace, its image, view and list
        root.after(50, window.review.reopen_last)
    root.mainloop()
    log.info("%s closed", APP_NAME)
    stuck = [t for t in getattr(window, "stuck_threads", ()) if t.is_alive()]
    if stuck:  # finalizing the interpreter under a thread inside PyTorch/OpenVINO would abort
        from desktop.app.quitting import exit_now

        exit_now(0, stuck)  # the workspace is closed: everything the user did is saved
    return 0


__all__ = ["create_root", "run", "set_icon"]
