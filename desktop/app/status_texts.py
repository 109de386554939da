"""What the status bar and the list's footer say: the pointer's pixel, the batch's progress
and time left, the counts of the opened images (no Tk here: tested without a display).

Apart from the window so main_window only composes parts and sets these texts on its labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from desktop.app.session import ImageList, State
from desktop.i18n import _, class_display_name, ngettext

if TYPE_CHECKING:
    from desktop.app.canvas_view import HoverInfo


def format_duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour."""
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def hover_text(info: HoverInfo | None) -> str:
    """The pixel under the pointer, its class and person: ``x 12, y 40  ·  Face  ·  person 2 (0.91)``."""
    if info is None:
        return ""
    text = f"x {info.x}, y {info.y}"
    if info.class_name is not None:
        text += f"  ·  {class_display_name(info.class_name)}"
        if info.person_id is not None:
            text += "  ·  " + _("person {id} ({score})").format(id=info.person_id,
                                                                 score=f"{info.person_score:.2f}")
    return text


def batch_progress_text(done: int, total: int, seconds: Sequence[float], paused: bool) -> str:
    """``Parsing 3 of 10  ·  about 0:42 left`` (from the last 20 parse times), or the cancelling text."""
    if paused:
        return _("Cancelling… ({done} of {total} done)").format(done=done, total=total)
    text = _("Parsing {current} of {total}").format(current=min(done + 1, total), total=total)
    if seconds:
        avg = sum(seconds[-20:]) / len(seconds[-20:])
        text += "  ·  " + _("about {time} left").format(time=format_duration(avg * (total - done)))
    return text


def list_summary(images: ImageList, subfolders_skipped: bool) -> str:
    """The list's footer: ``12 images · 10 done · 1 failed · 4 reviewed``."""
    counts = images.counts()
    n_images = len(images)
    parts = [ngettext("{n} image", "{n} images", n_images).format(n=n_images)] if n_images else []
    if counts[State.DONE]:
        parts.append(_("{n} done").format(n=counts[State.DONE]))
    if counts[State.FAILED]:
        parts.append(_("{n} failed").format(n=counts[State.FAILED]))
    reviewed = sum(1 for e in images if e.reviewed)
    if reviewed:
        parts.append(_("{n} reviewed").format(n=reviewed))
    if subfolders_skipped and n_images:
        parts.append(_("subfolders not included"))
    return " · ".join(parts)
