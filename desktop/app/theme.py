"""One consistent look: ttk "clam" tuned with a small palette, sized from the font.

We keep to the stock ``clam`` theme (it ships with Tk on every platform, so the app needs no
extra dependency) and only recolour it. Sizes (paddings, swatches, row heights) are derived
from the default font's line height so they follow Tk's scaling on high-DPI screens instead
of being fixed pixel counts.
"""

from __future__ import annotations

import logging
import sys
import tkinter as tk
import tkinter.font as tkfont
from dataclasses import dataclass
from tkinter import ttk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Colors:
    bg: str = "#eef1f5"
    surface: str = "#ffffff"
    border: str = "#c9d0da"
    text: str = "#1f2933"
    muted: str = "#8a94a3"
    accent: str = "#2563eb"
    accent_dark: str = "#1d4ed8"
    accent_light: str = "#dbe6fd"
    canvas: str = "#2b2f36"
    canvas_text: str = "#c8ccd4"
    ok: str = "#15803d"
    error: str = "#b91c1c"
    busy: str = "#b45309"


COLORS = Colors()


def enable_windows_dpi_awareness() -> None:
    """Ask Windows for real pixels (must run before the first Tk window is created).

    Without it Windows bitmap-stretches the whole window on high-DPI screens (blurry text);
    with it Tk reads the true DPI and scales fonts and sizes itself.
    """
    if sys.platform != "win32":
        return
    try:
        import ctypes

        ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - older Windows: keep the default behaviour
        log.debug("SetProcessDpiAwareness unavailable", exc_info=True)


def unit(root: tk.Misc) -> int:
    """A base spacing in pixels: the default font's line height (follows tk scaling)."""
    try:
        return max(12, tkfont.nametofont("TkDefaultFont", root=root).metrics("linespace"))
    except tk.TclError:
        return 16


def apply_theme(root: tk.Tk) -> Colors:
    """Configure ttk styles on ``root`` and return the colour palette used."""
    c = COLORS
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")

    default_font = tkfont.nametofont("TkDefaultFont", root=root)
    if default_font.cget("size") in (9, -12) or abs(int(default_font.cget("size"))) < 10:
        # Tk's default of 9 pt is small on modern screens; 10 pt reads better everywhere.
        for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont"):
            try:
                tkfont.nametofont(name, root=root).configure(size=10)
            except tk.TclError:
                pass
    bold = default_font.copy()
    bold.configure(weight="bold")
    small = default_font.copy()
    small.configure(size=max(8, int(abs(default_font.cget("size"))) - 1))
    root._m2fp_fonts = (bold, small)  # type: ignore[attr-defined]  # keep named fonts alive
    u = unit(root)
    pad = max(3, u // 4)

    root.configure(background=c.bg)
    root.option_add("*tearOff", False)
    root.option_add("*Menu.background", c.surface)
    root.option_add("*Menu.activeBackground", c.accent)
    root.option_add("*Menu.activeForeground", "#ffffff")
    root.option_add("*Menu.relief", "flat")

    style.configure(
        ".",
        background=c.bg,
        foreground=c.text,
        bordercolor=c.border,
        darkcolor=c.bg,
        lightcolor=c.bg,
        troughcolor="#dde2e9",
        focuscolor=c.accent,
        selectbackground=c.accent,
        selectforeground="#ffffff",
        fieldbackground=c.surface,
        insertcolor=c.text,
    )
    style.configure("TFrame", background=c.bg)
    style.configure("Card.TFrame", background=c.surface, relief="solid", borderwidth=1, bordercolor=c.border)
    style.configure("Toolbar.TFrame", background=c.surface)
    style.configure("Status.TFrame", background=c.surface)
    style.configure("TLabel", background=c.bg, foreground=c.text)
    style.configure("Card.TLabel", background=c.surface)
    style.configure("Muted.TLabel", foreground=c.muted)
    style.configure("Status.TLabel", background=c.surface, foreground=c.text, padding=(pad, pad // 2))
    style.configure("StatusWarn.TLabel", background=c.surface, foreground=c.error, padding=(pad, pad // 2))
    style.configure("Heading.TLabel", font=bold, foreground=c.text)
    style.configure("Small.TLabel", font=small, foreground=c.muted)
    # The side panels are white cards on the grey window background.
    style.configure("Side.TFrame", background=c.surface)
    style.configure("Side.TLabel", background=c.surface, foreground=c.text)
    style.configure("SideMuted.TLabel", background=c.surface, foreground=c.muted)
    style.configure("SideHeading.TLabel", background=c.surface, foreground=c.text, font=bold)
    style.configure("SideValue.TLabel", background=c.surface, foreground=c.text, font=small)
    style.configure("SideValueMuted.TLabel", background=c.surface, foreground=c.muted, font=small)
    style.configure("Side.TSeparator", background=c.border)
    style.configure("TLabelframe", background=c.bg, bordercolor=c.border, relief="solid", borderwidth=1)
    style.configure("TLabelframe.Label", background=c.bg, foreground=c.text, font=bold)

    style.configure(
        "TButton",
        background=c.surface,
        bordercolor=c.border,
        lightcolor=c.surface,
        darkcolor=c.surface,
        padding=(pad * 2, pad),
        focusthickness=1,
    )
    style.map(
        "TButton",
        background=[("disabled", c.bg), ("pressed", c.accent_light), ("active", "#f3f6fb")],
        foreground=[("disabled", c.muted)],
        bordercolor=[("focus", c.accent), ("active", c.accent)],
    )
    style.configure("Accent.TButton", background=c.accent, foreground="#ffffff", bordercolor=c.accent_dark,
                    lightcolor=c.accent, darkcolor=c.accent)
    style.map("Accent.TButton", background=[("disabled", c.border), ("pressed", c.accent_dark), ("active", c.accent_dark)],
              foreground=[("disabled", "#ffffff")])
    style.configure("Toolbutton", background=c.surface, padding=(pad * 2, pad), relief="flat", borderwidth=1,
                    bordercolor=c.surface)
    style.map(
        "Toolbutton",
        background=[("disabled", c.surface), ("selected", c.accent_light), ("pressed", c.accent_light),
                    ("active", "#eef2f8")],
        foreground=[("disabled", c.muted)],
        bordercolor=[("selected", c.accent), ("active", c.border)],
    )
    style.configure("TCheckbutton", background=c.bg, indicatorbackground=c.surface, indicatormargin=(0, 0, pad, 0))
    style.map("TCheckbutton", background=[("active", c.bg)], indicatorbackground=[("selected", c.accent), ("pressed", c.accent_light)],
              indicatorforeground=[("selected", "#ffffff")])
    style.configure("Absent.TCheckbutton", foreground=c.muted)
    style.configure("Side.TCheckbutton", background=c.surface)
    style.map("Side.TCheckbutton", background=[("active", c.surface)])
    style.configure("SideAbsent.TCheckbutton", background=c.surface, foreground=c.muted)
    style.map("SideAbsent.TCheckbutton", background=[("active", c.surface)])
    style.configure("Side.TRadiobutton", background=c.surface)
    style.map("Side.TRadiobutton", background=[("active", c.surface)])
    style.configure("Small.TButton", padding=(pad, max(1, pad // 3)), font=small)
    style.configure("Small.Toolbutton", padding=(pad, max(1, pad // 3)), font=small)
    style.configure("TRadiobutton", background=c.bg, indicatorbackground=c.surface, indicatormargin=(0, 0, pad, 0))
    style.map("TRadiobutton", background=[("active", c.bg)], indicatorbackground=[("selected", c.accent)])
    style.configure("Horizontal.TScale", background=c.accent, troughcolor="#dde2e9", bordercolor=c.border,
                    lightcolor=c.accent, darkcolor=c.accent)
    style.configure("Horizontal.TProgressbar", background=c.accent, troughcolor="#dde2e9", bordercolor=c.border,
                    lightcolor=c.accent, darkcolor=c.accent)
    style.configure("Treeview", background=c.surface, fieldbackground=c.surface, foreground=c.text,
                    rowheight=int(u * 1.5), bordercolor=c.border, borderwidth=1)
    style.map("Treeview", background=[("selected", c.accent)], foreground=[("selected", "#ffffff")])
    style.configure("Treeview.Heading", background=c.bg, foreground=c.text, font=bold, relief="flat",
                    padding=(pad, pad // 2))
    style.map("Treeview.Heading", background=[("active", c.accent_light)])
    style.configure("TPanedwindow", background=c.border)
    style.configure("Sash", sashthickness=max(4, pad + 1), gripcount=0, background=c.bg)
    style.configure("TScrollbar", background=c.bg, troughcolor=c.bg, bordercolor=c.bg, arrowcolor=c.muted,
                    lightcolor=c.bg, darkcolor=c.bg, gripcount=0)
    style.map("TScrollbar", background=[("active", c.border)])
    style.configure("TCombobox", fieldbackground=c.surface, background=c.surface, arrowcolor=c.text)
    style.configure("TEntry", fieldbackground=c.surface)
    style.configure("TNotebook", background=c.bg, bordercolor=c.border)
    style.configure("TNotebook.Tab", padding=(pad * 2, pad // 2))
    return c
