"""Fonts that draw Chinese wherever Tk draws text, when the app speaks Chinese.

Tk's named fonts (``TkDefaultFont`` for labels and buttons, ``TkTextFont`` for entries and
lists, ``TkMenuFont``, ``TkHeadingFont``, ``TkTooltipFont``...) are what every widget uses
unless told otherwise, and the app's own bold and small fonts are copies of
``TkDefaultFont`` (``theme.apply_theme``). So pointing these named fonts at a family with
Chinese glyphs, before anything copies them, covers the whole window.

Why name a family instead of trusting the system's fallback: on Windows Tk's default
(Segoe UI) falls back glyph by glyph to a font that mixes Japanese shapes into Chinese
text and sits on a different baseline; on Linux a bare X server falls back to nothing
(empty boxes) unless a CJK family is asked for. The families chosen are the systems' own
Chinese UI fonts: "Microsoft YaHei UI" (Windows 7 and later), "PingFang SC" (macOS 10.11
and later), and on Linux Noto Sans CJK SC, from Debian/Ubuntu's ``fonts-noto-cjk`` package
(the README says to install it; without it the app logs a warning and keeps Tk's fonts).
"""

from __future__ import annotations

import logging
import sys
import tkinter as tk
import tkinter.font as tkfont

from desktop.i18n import SIMPLIFIED_CHINESE, current_language

log = logging.getLogger(__name__)

#: Tk's named fonts for proportional text, set to the Chinese family.
NAMED_FONTS = ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont", "TkCaptionFont",
               "TkSmallCaptionFont", "TkIconFont", "TkTooltipFont")
#: Families with Chinese glyphs, best first, per system (the first installed one is used).
CHINESE_FAMILIES = {
    "win32": ("Microsoft YaHei UI", "Microsoft YaHei", "DengXian", "SimHei"),
    "darwin": ("PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti"),
    "other": ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
              "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback"),
}
#: Monospaced families with Chinese glyphs for ``TkFixedFont`` (Windows and macOS find
#: Chinese for their fixed fonts by themselves).
CHINESE_FIXED_FAMILIES = ("Noto Sans Mono CJK SC", "Sarasa Mono SC", "WenQuanYi Micro Hei Mono")
#: The Debian/Ubuntu package that provides the Linux family (named in the warning and the README).
LINUX_PACKAGE = "fonts-noto-cjk"


def _first_installed(root: tk.Misc, candidates: tuple[str, ...]) -> str | None:
    installed = {f.lower(): f for f in tkfont.families(root)}
    return next((installed[c.lower()] for c in candidates if c.lower() in installed), None)


def chinese_family(root: tk.Misc, platform: str | None = None) -> str | None:
    """The installed family this system should draw Chinese with, or ``None`` if there is none."""
    platform = sys.platform if platform is None else platform
    key = platform if platform in ("win32", "darwin") else "other"
    return _first_installed(root, CHINESE_FAMILIES[key])


def apply_language_fonts(root: tk.Misc, language: str | None = None) -> str | None:
    """Point Tk's named fonts at a Chinese family when the language is Chinese; return the family.

    Must run before fonts are copied (``theme.apply_theme`` calls it first). Sizes and
    weights are kept: only the family changes. English: nothing is changed (``None``).
    """
    language = current_language() if language is None else language
    if language != SIMPLIFIED_CHINESE:
        return None
    family = chinese_family(root)
    if family is None:
        hint = f" (on Debian or Ubuntu: sudo apt-get install {LINUX_PACKAGE})" if sys.platform.startswith("linux") else ""
        log.warning("No font with Chinese characters is installed%s; Chinese text may show as boxes", hint)
        return None
    for name in NAMED_FONTS:
        try:
            tkfont.nametofont(name, root=root).configure(family=family)
        except tk.TclError:  # a named font this Tk does not define
            pass
    fixed = _first_installed(root, CHINESE_FIXED_FAMILIES) if sys.platform not in ("win32", "darwin") else None
    if fixed:
        try:
            tkfont.nametofont("TkFixedFont", root=root).configure(family=fixed)
        except tk.TclError:
            pass
    log.info("Chinese text drawn with %s%s", family, f" (fixed width: {fixed})" if fixed else "")
    return family
