"""The comparison's side-panel section and pictures (issue 16): annotation, model, disagreement.

:class:`ComparePanel` shows, for the image on screen, the agreement of the model with the
opened annotation (pixel accuracy, mIoU), the pixels of each annotated class the model
labels otherwise (the counts of :func:`desktop.review.compare.disagreement_counts`), the view
switches (Annotation / Model / Disagreement) and the correction commands (take the model's
region, undo, redo, save). :func:`annotation_picture` and :func:`disagreement_picture` draw
the visible part of the canvas (its screen sample) for the two new view modes.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

import numpy as np

from desktop import render
from desktop.i18n import _, class_display_name
from desktop.review.compare import Agreement, disagreement_counts, disagreement_rgba

__all__ = ["ANNOTATION_MODE", "DISAGREEMENT_MODE", "ComparePanel", "annotation_picture", "disagreement_picture",
           "count_lines"]

ANNOTATION_MODE = "annotation"
DISAGREEMENT_MODE = "disagreement"
#: How much the photo is dimmed under the disagreement (so the coloured pixels stand out).
DIM = 0.4
#: Classes listed with their disagreeing pixels (the largest first).
MAX_LINES = 10


def annotation_picture(photo: np.ndarray, labels: np.ndarray, palette: np.ndarray, opacity: float,
                       visible: np.ndarray | None = None) -> np.ndarray:
    """The annotation's classes blended over the photo, like the model's overlay."""
    return render.blend(photo, labels, palette, opacity, visible, None)


def disagreement_picture(photo: np.ndarray, annotation: np.ndarray, model: np.ndarray,
                         palette: np.ndarray) -> np.ndarray:
    """The dimmed photo with the pixels where the two differ in the annotation class's colour."""
    rgba = disagreement_rgba(annotation, model, palette)
    out = photo.astype(np.float32) * DIM
    on = rgba[..., 3] > 0
    out[on] = rgba[on, :3]
    return out.astype(np.uint8)


def count_lines(confusion: np.ndarray, names: Sequence[str]) -> list[str]:
    """One sentence per annotated class the model disagrees on, most pixels first."""
    counts = disagreement_counts(confusion)
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    lines = []
    for c in order[:MAX_LINES]:
        name = class_display_name(names[c]) if c < len(names) else str(c)
        lines.append(_("{class_name}: {pixels} pixels labelled otherwise by the model").format(
            class_name=name, pixels=f"{int(counts[c]):,}"))
    if len(order) > MAX_LINES:
        lines.append(_("… and {n} more classes").format(n=len(order) - MAX_LINES))
    return lines


class ComparePanel(ttk.Frame):
    """Side-panel section shown while annotations are open (see the module docstring)."""

    def __init__(self, master: tk.Misc, *, unit: int, view_mode: tk.StringVar, on_mode: Callable[[str], None],
                 on_take: Callable[[], None], on_undo: Callable[[], None], on_redo: Callable[[], None],
                 on_save: Callable[[], None], on_save_as: Callable[[], None]) -> None:
        super().__init__(master, style="Side.TFrame")
        u = unit
        wrap = u * 14
        ttk.Label(self, text=_("Annotation"), style="SideHeading.TLabel").pack(anchor="w")
        self.summary = ttk.Label(self, text="", style="SideValue.TLabel", justify="left", wraplength=wrap)
        self.summary.pack(anchor="w", fill="x")
        self.counts = ttk.Label(self, text="", style="SideValueMuted.TLabel", justify="left", wraplength=wrap)
        self.counts.pack(anchor="w", fill="x")
        modes = ttk.Frame(self, style="Side.TFrame")
        modes.pack(fill="x", pady=(u // 4, 0))
        self.radios = {}
        for i, (value, text) in enumerate(((ANNOTATION_MODE, _("Annotation")), ("overlay", _("Model")),
                                           (DISAGREEMENT_MODE, _("Disagreement")))):
            rb = ttk.Radiobutton(modes, text=text, value=value, variable=view_mode, style="Side.TRadiobutton",
                                 command=lambda v=value: on_mode(v), takefocus=False)
            rb.grid(row=i // 2, column=i % 2, sticky="w", padx=(0, u))
            self.radios[value] = rb
        self.take_var = tk.BooleanVar(self, value=False)
        self.take = ttk.Checkbutton(self, text=_("Take the model's region"), variable=self.take_var,
                                    command=on_take, style="Side.TCheckbutton", takefocus=False)
        self.take.pack(anchor="w", pady=(u // 4, 0))
        ttk.Label(self, text=_("Then click a coloured region of the disagreement: it gets the model's classes. "
                               "Regions not clicked keep the annotation."), style="SideValueMuted.TLabel",
                  justify="left", wraplength=wrap).pack(anchor="w", fill="x")
        row = ttk.Frame(self, style="Side.TFrame")
        row.pack(fill="x", pady=(u // 4, 0))
        self.undo = ttk.Button(row, text=_("Undo"), style="Small.TButton", command=on_undo, takefocus=False)
        self.undo.pack(side="left")
        self.redo = ttk.Button(row, text=_("Redo"), style="Small.TButton", command=on_redo, takefocus=False)
        self.redo.pack(side="left", padx=(u // 4, 0))
        self.save = ttk.Button(self, text=_("Save corrected annotation"), command=on_save, takefocus=False)
        self.save.pack(anchor="w", fill="x", pady=(u // 4, 0))
        self.save_as = ttk.Button(self, text=_("Save corrected annotation to…"), style="Small.TButton",
                                  command=on_save_as, takefocus=False)
        self.save_as.pack(anchor="w", pady=(u // 6, 0))
        ttk.Separator(self, orient="horizontal", style="Side.TSeparator").pack(fill="x", pady=u // 3)

    def show(self, summary: str, figures: Agreement | None = None, lines: Sequence[str] = (),
             *, editable: bool = False, can_undo: bool = False, can_redo: bool = False, dirty: bool = False) -> None:
        text = summary
        if figures is not None and figures.pixel_accuracy is not None:
            text += "\n" + _("Pixel accuracy {accuracy} · mIoU {miou}").format(
                accuracy=f"{figures.pixel_accuracy:.1%}", miou=f"{(figures.miou or 0.0):.1%}")
        self.summary.configure(text=text)
        self.counts.configure(text="\n".join(lines))
        state = "!disabled" if editable else "disabled"
        for widget in (self.take, *self.radios.values()):
            widget.state([state])
        self.undo.state(["!disabled" if editable and can_undo else "disabled"])
        self.redo.state(["!disabled" if editable and can_redo else "disabled"])
        self.save.state(["!disabled" if editable and dirty else "disabled"])
        self.save_as.state(["!disabled" if editable else "disabled"])

    @property
    def text(self) -> str:
        """Everything the panel says (tests, the log)."""
        return str(self.summary.cget("text")) + "\n" + str(self.counts.cget("text"))
