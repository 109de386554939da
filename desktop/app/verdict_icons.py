"""Small round icons that show a verdict at a glance: in the file list, the verdict buttons
and the status bar's counts.

A reviewer scanning a list of thousands cannot read a word per row; a colour alone fails the
colour-blind. Each verdict therefore has a colour *and* a shape inside its disc: a hollow grey
ring (not reviewed), a tick (accepted), an exclamation mark (needs fix), a cross (rejected).
A small dot in the corner flags "changed on disk since the verdict" (orange) or "result of
another model" (blue). Drawn with Pillow at four times the size and reduced, so the edges are
smooth at any scaling; no image files to ship.
"""

from __future__ import annotations

import tkinter as tk

from PIL import Image, ImageDraw, ImageTk

from desktop.app.theme import COLORS

#: Verdict value -> colour of its disc (and of its row's text in the list).
VERDICT_COLORS = {
    "not_reviewed": "#9aa3b2",
    "accepted": COLORS.ok,
    "needs_fix": "#d97706",
    "rejected": COLORS.error,
}
CHANGED_COLOR = "#ea580c"
OTHER_MODEL_COLOR = "#2563eb"
_SCALE = 4


def _draw(verdict: str, size: int, flag: str | None) -> Image.Image:
    s = size * _SCALE
    im = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    colour = VERDICT_COLORS.get(verdict, VERDICT_COLORS["not_reviewed"])
    m = int(s * 0.1)
    w = max(_SCALE, int(s * 0.12))
    if verdict == "not_reviewed":
        d.ellipse((m, m, s - m, s - m), outline=colour, width=w)
    else:
        d.ellipse((m, m, s - m, s - m), fill=colour)
        white = "#ffffff"
        if verdict == "accepted":
            d.line([(s * 0.28, s * 0.52), (s * 0.44, s * 0.68), (s * 0.73, s * 0.35)], fill=white, width=w,
                   joint="curve")
        elif verdict == "needs_fix":
            d.line([(s * 0.5, s * 0.26), (s * 0.5, s * 0.58)], fill=white, width=w)
            r = w * 0.7
            d.ellipse((s * 0.5 - r, s * 0.72 - r, s * 0.5 + r, s * 0.72 + r), fill=white)
        elif verdict == "rejected":
            a, b = s * 0.33, s * 0.67
            d.line([(a, a), (b, b)], fill=white, width=w)
            d.line([(a, b), (b, a)], fill=white, width=w)
    if flag is not None:
        r = s * 0.2
        c = s - r - 1
        d.ellipse((c - r, c - r, c + r, c + r), fill=CHANGED_COLOR if flag == "changed" else OTHER_MODEL_COLOR,
                  outline="#ffffff", width=max(1, _SCALE))
    return im.resize((size, size), Image.Resampling.LANCZOS)


class VerdictIcons:
    """PhotoImages by (verdict, flag), made once per size and kept alive with ``master``."""

    def __init__(self, master: tk.Misc, size: int):
        self._master = master
        self.size = max(10, int(size))
        self._cache: dict[tuple[str, str | None], ImageTk.PhotoImage] = {}

    def get(self, verdict: str, flag: str | None = None) -> ImageTk.PhotoImage:
        """``flag``: None, ``"changed"`` (changed on disk since the verdict) or ``"other_model"``."""
        key = (verdict, flag)
        icon = self._cache.get(key)
        if icon is None:
            icon = ImageTk.PhotoImage(_draw(verdict, self.size, flag), master=self._master)
            self._cache[key] = icon
        return icon

    def for_entry(self, entry) -> ImageTk.PhotoImage:
        """The icon of a list entry (:class:`desktop.app.session.ImageEntry`)."""
        flag = "changed" if entry.changed else ("other_model" if entry.other_model else None)
        return self.get(entry.verdict, flag)
