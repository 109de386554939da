"""Where the main window opens: where the user left it when that place is on a screen
today, else centred on the main screen.

Why this is more than ``root.geometry(saved)``: the saved text comes from a file a user
(or a crash, or another machine) may have changed -- Tk raises ``TclError`` on a malformed
geometry and happily opens a window at +5000+5000 when the second monitor it was on has
been unplugged, where nobody can see it or drag it back. The decision is a pure function
(:func:`place_window`, tested without a display) over the rectangles of today's screens
(:func:`screens_of`); only :func:`restore_geometry` touches Tk.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: How much of the title bar must be on a screen for the user to grab it: this wide...
GRIP_WIDTH = 120
#: ...and this tall (a title bar is 20-40 px).
GRIP_HEIGHT = 32
MIN_SIZE = (400, 300)
DEFAULT_SIZE = (1440, 900)

_GEOMETRY = re.compile(r"(\d{1,5})x(\d{1,5})([+-])(-?\d{1,6})([+-])(-?\d{1,6})")


@dataclass(frozen=True)
class Rect:
    """A screen area in Tk's coordinates (the main screen's top-left is 0, 0)."""

    x: int
    y: int
    w: int
    h: int


def parse_geometry(text: str, screen: Rect) -> tuple[int, int, int, int] | None:
    """``"WxH+X+Y"`` (or Tk's ``-X``/``-Y`` forms, counted from the right/bottom edge of
    ``screen``) as ``(w, h, x, y)``; ``None`` for anything else."""
    match = _GEOMETRY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    w, h = int(match[1]), int(match[2])
    x, y = int(match[4]), int(match[6])
    if match[3] == "-":
        x = screen.x + screen.w - w - x
    if match[5] == "-":
        y = screen.y + screen.h - h - y
    if w <= 0 or h <= 0:
        return None
    return w, h, x, y


def _grip_visible(x: int, y: int, w: int, screen: Rect) -> bool:
    """True when the window's title bar has a grip-sized part inside ``screen``."""
    overlap = min(x + w, screen.x + screen.w) - max(x, screen.x)
    return overlap >= min(GRIP_WIDTH, w) and screen.y <= y <= screen.y + screen.h - GRIP_HEIGHT


def default_geometry(screen: Rect) -> str:
    """The first-start window: large but within the screen, centred, a little above middle."""
    w = min(DEFAULT_SIZE[0], int(screen.w * 0.9))
    h = min(DEFAULT_SIZE[1], int(screen.h * 0.88))
    return f"{w}x{h}+{screen.x + max(0, (screen.w - w) // 2)}+{screen.y + max(0, (screen.h - h) // 3)}"


def place_window(saved: str, screens: list[Rect]) -> str:
    """The geometry to apply for a saved geometry text and today's screens (main one first).

    - nothing usable saved (empty, malformed): :func:`default_geometry`;
    - saved position with its title bar on a screen: kept, the size shrunk to fit that screen;
    - saved position on no screen (a monitor unplugged, a smaller display): the saved size
      (shrunk to fit) centred on the main screen.
    """
    main = screens[0]
    parsed = parse_geometry(saved, main) if saved else None
    if parsed is None:
        return default_geometry(main)
    w, h, x, y = parsed
    for screen in screens:
        if _grip_visible(x, y, w, screen):
            w = max(min(w, screen.w), min(MIN_SIZE[0], screen.w))
            h = max(min(h, screen.h), min(MIN_SIZE[1], screen.h))
            x = min(max(x, screen.x - w + GRIP_WIDTH), screen.x + screen.w - GRIP_WIDTH)
            y = min(y, screen.y + screen.h - GRIP_HEIGHT)
            return f"{w}x{h}+{x}+{y}"
    w = max(min(w, main.w), min(MIN_SIZE[0], main.w))
    h = max(min(h, main.h), min(MIN_SIZE[1], main.h))
    return f"{w}x{h}+{main.x + (main.w - w) // 2}+{main.y + (main.h - h) // 3}"


def _windows_monitors() -> list[Rect]:
    """Work areas of every monitor (main first) from the Win32 API; [] when unavailable.

    Tk only knows the main monitor's size on Windows, yet windows may sit on any monitor:
    without this, a window kept on a second monitor would be moved to the first at every start.
    """
    import ctypes
    from ctypes import wintypes

    class MonitorInfo(ctypes.Structure):
        _fields_ = [("cbSize", wintypes.DWORD), ("rcMonitor", wintypes.RECT),
                    ("rcWork", wintypes.RECT), ("dwFlags", wintypes.DWORD)]

    user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    found: list[tuple[bool, Rect]] = []
    proc_type = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HMONITOR, wintypes.HDC,
                                   ctypes.POINTER(wintypes.RECT), wintypes.LPARAM)  # type: ignore[attr-defined]

    def callback(monitor, _dc, _rect, _data):
        info = MonitorInfo()
        info.cbSize = ctypes.sizeof(MonitorInfo)
        if user32.GetMonitorInfoW(monitor, ctypes.byref(info)):
            r = info.rcWork
            found.append((bool(info.dwFlags & 1), Rect(r.left, r.top, r.right - r.left, r.bottom - r.top)))
        return True

    user32.EnumDisplayMonitors(None, None, proc_type(callback), 0)
    found.sort(key=lambda item: not item[0])  # the main monitor first
    return [rect for _main, rect in found if rect.w > 0 and rect.h > 0]


def screens_of(root) -> list[Rect]:
    """Today's screens as Tk sees them, main one first.

    X11 reports the whole desktop (every monitor) as one screen, macOS the main display;
    on Windows the monitors are asked for one by one.
    """
    main = Rect(0, 0, max(1, root.winfo_screenwidth()), max(1, root.winfo_screenheight()))
    if sys.platform == "win32":
        try:
            monitors = _windows_monitors()
        except Exception:  # noqa: BLE001 - the main screen alone is a safe answer
            log.debug("Cannot list the monitors", exc_info=True)
            monitors = []
        if monitors:
            return monitors + [main]
    return [main]


def restore_geometry(root, saved: str, zoomed: bool = False) -> str:
    """Put ``root`` where :func:`place_window` says (maximised again if it was); return the geometry used."""
    import tkinter as tk

    screens = screens_of(root)
    geometry = place_window(saved, screens)
    try:
        root.geometry(geometry)
    except tk.TclError:  # cannot happen for what place_window returns; never stop the start for it
        log.warning("Cannot apply the window geometry %r", geometry)
        geometry = default_geometry(screens[0])
        root.geometry(geometry)
    main = screens[0]
    root.minsize(min(800, main.w), min(520, main.h))
    if zoomed:
        try:
            root.state("zoomed")
        except tk.TclError:
            try:
                root.attributes("-zoomed", True)
            except tk.TclError:
                pass
    return geometry
