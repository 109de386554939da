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

from desktop.app.cjk_fonts import apply_language_fonts

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

    # Chinese: the named fonts get a family with Chinese glyphs, before the copies below.
    apply_language_fonts(root)
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
    style.configure("Toolbutton", background=c.surface, padding=(int(pad * 1.5), pad), relief="flat", borderwidth=1,
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
    style.configure("Small.TButton", padding=(pad, max(1, pad // 3)), font=small, width=0)
    style.configure("Small.Toolbutton", padding=(pad, max(1, pad // 3)), font=small, width=0)
    style.configure("Toolbutton", width=0)
    _indicator_images(root, style, u)
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
    style.configure("TScrollbar", background="#cfd5de", troughcolor=c.surface, bordercolor=c.surface,
                    arrowcolor=c.muted, lightcolor="#cfd5de", darkcolor="#cfd5de", gripcount=0)
    style.map("TScrollbar", background=[("active", "#b3bcc9")], lightcolor=[("active", "#b3bcc9")],
              darkcolor=[("active", "#b3bcc9")])
    style.configure("TCombobox", fieldbackground=c.surface, background=c.surface, arrowcolor=c.text)
    style.configure("TEntry", fieldbackground=c.surface)
    style.configure("TNotebook", background=c.bg, bordercolor=c.border)
    style.configure("TNotebook.Tab", padding=(pad * 2, pad // 2))
    return c


def _indicator_images(root: tk.Tk, style: ttk.Style, u: int) -> None:
    """Crisp, DPI-sized check and radio indicators (clam's own are tiny crosses).

    Drawn with Pillow at 4x and reduced, so edges are smooth at any scaling. The images
    are stored on ``root`` because Tk only keeps a weak reference to them.
    """
    try:
        from PIL import Image, ImageDraw, ImageTk
    except ImportError:  # pragma: no cover - Pillow is a hard dependency
        return
    c = COLORS
    box = max(12, int(round(u * 0.8)))
    gap = max(4, u // 3)
    k = 4

    def canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
        im = Image.new("RGBA", ((box + gap) * k, box * k), (0, 0, 0, 0))
        return im, ImageDraw.Draw(im)

    def finish(im: Image.Image) -> ImageTk.PhotoImage:
        return ImageTk.PhotoImage(im.resize((box + gap, box), Image.Resampling.LANCZOS), master=root)

    def check(selected: bool, disabled: bool) -> ImageTk.PhotoImage:
        im, d = canvas()
        r = box * k // 5
        rect = (k, k, box * k - k, box * k - k)
        if selected:
            fill = c.border if disabled else c.accent
            d.rounded_rectangle(rect, radius=r, fill=fill, outline=fill, width=k)
            pts = [(box * k * 0.24, box * k * 0.52), (box * k * 0.43, box * k * 0.71), (box * k * 0.77, box * k * 0.3)]
            d.line(pts, fill="#ffffff", width=max(k, int(box * k * 0.13)), joint="curve")
        else:
            d.rounded_rectangle(rect, radius=r, fill=c.bg if disabled else c.surface,
                                outline=c.border if disabled else "#8d98a8", width=k + k // 2)
        return finish(im)

    def radio(selected: bool, disabled: bool) -> ImageTk.PhotoImage:
        im, d = canvas()
        rect = (k, k, box * k - k, box * k - k)
        if selected:
            fill = c.border if disabled else c.accent
            d.ellipse(rect, fill=fill)
            m = box * k * 0.32
            d.ellipse((m, m, box * k - m, box * k - m), fill="#ffffff")
        else:
            d.ellipse(rect, fill=c.bg if disabled else c.surface, outline=c.border if disabled else "#8d98a8",
                      width=k + k // 2)
        return finish(im)

    images = {}
    for kind, draw in (("check", check), ("radio", radio)):
        images[kind] = {
            "off": draw(False, False), "on": draw(True, False),
            "off_dis": draw(False, True), "on_dis": draw(True, True),
        }
    knob = max(12, int(round(u * 0.9)))
    im = Image.new("RGBA", (knob * k, knob * k), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse((k, k, knob * k - k, knob * k - k), fill=c.accent, outline="#ffffff", width=2 * k)
    images["knob"] = {"on": ImageTk.PhotoImage(im.resize((knob, knob), Image.Resampling.LANCZOS), master=root)}
    im = Image.new("RGBA", (knob * k, knob * k), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse((k, k, knob * k - k, knob * k - k), fill=c.accent_dark, outline="#ffffff", width=2 * k)
    images["knob"]["active"] = ImageTk.PhotoImage(im.resize((knob, knob), Image.Resampling.LANCZOS), master=root)
    root._m2fp_indicators = images  # type: ignore[attr-defined]
    try:
        for kind, widget in (("check", "Checkbutton"), ("radio", "Radiobutton")):
            im = images[kind]
            element = f"M2fp.{widget}.indicator"
            if element not in style.element_names():
                style.element_create(element, "image", im["off"],
                                     ("disabled", "selected", im["on_dis"]), ("disabled", im["off_dis"]),
                                     ("selected", im["on"]), sticky="w")
            style.layout(f"T{widget}", [
                (f"{widget}.padding", {"sticky": "nswe", "children": [
                    (element, {"side": "left", "sticky": ""}),
                    (f"{widget}.focus", {"side": "left", "sticky": "w", "children": [
                        (f"{widget}.label", {"sticky": "nswe"})]})]})])
        if "M2fp.Horizontal.Scale.slider" not in style.element_names():
            style.element_create("M2fp.Horizontal.Scale.slider", "image", images["knob"]["on"],
                                 ("pressed", images["knob"]["active"]), ("active", images["knob"]["active"]))
        style.layout("Horizontal.TScale", [
            ("Horizontal.Scale.trough", {"sticky": "we", "children": [
                ("M2fp.Horizontal.Scale.slider", {"side": "left", "sticky": ""})]})])
        style.configure("Horizontal.TScale", troughrelief="flat", borderwidth=0, troughcolor="#d5dbe3",
                        groovewidth=max(4, u // 4))
    except tk.TclError:
        log.debug("Custom indicators unavailable", exc_info=True)
