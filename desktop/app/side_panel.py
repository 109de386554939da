"""The right-hand column: image info, view options and classes above; persons below.

One scrolling column held everything before, so with 20 classes the persons were below
the bottom of a 1024x640 window and a reviewer had to scroll past every class to reach
them. Here the column is split by a sash the user can drag: the upper part scrolls on its
own (classes), the lower part keeps its heading and scrolls its rows (persons), so both
are on screen at any window height.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from desktop.app.widgets import ScrollableFrame


class SidePanel(ttk.PanedWindow):
    """A vertical split: :attr:`upper` (a :class:`ScrollableFrame`; fill its ``inner``) and
    :attr:`lower` (a plain frame for a panel that scrolls itself, like the persons).

    The upper part takes the window's extra height and gives it back first when the window
    shrinks; the lower part keeps the height its content asks for until the user moves the
    sash.
    """

    def __init__(self, master: tk.Misc, *, background: str, padding: tuple[int, int]):
        super().__init__(master, orient="vertical")
        self.upper = ScrollableFrame(self, background=background)
        self.upper.inner.configure(style="Side.TFrame", padding=padding)
        self.lower = ttk.Frame(self, style="Side.TFrame", padding=(padding[0], padding[1] // 2, 0, padding[1]))
        self.add(self.upper, weight=1)
        self.add(self.lower, weight=0)
