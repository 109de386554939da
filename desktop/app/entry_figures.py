"""What the file list's state column adds for issue 16: `` · doubt 42% · agreement 73%``.

Apart from the panels (no Tk here) because :meth:`desktop.app.session.ImageEntry.status_text`
uses it, and that module is tested without a display.
"""

from __future__ import annotations

from typing import Any

from desktop.i18n import _

__all__ = ["list_figures"]


def list_figures(entry: Any) -> str:
    """The image's doubt score (when above 0) and agreement with an opened annotation (mIoU)."""
    parts = []
    if getattr(entry, "doubt", None) is not None and entry.doubt > 0:
        parts.append(_("doubt {percent}").format(percent=f"{entry.doubt:.0%}"))
    if getattr(entry, "miou", None) is not None:
        parts.append(_("agreement {percent}").format(percent=f"{entry.miou:.0%}"))
    return "".join(" · " + p for p in parts)
