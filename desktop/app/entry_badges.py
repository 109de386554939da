"""What the image view says about an image that is not parsed yet.

The message must match what will happen: while the model loads, parsing starts by itself
(telling the user to press Parse would send them to a disabled button); after Cancel, or
for images left out of the running batch, only Parse (F5) starts it; without a model,
nothing will until one is chosen.
"""

from __future__ import annotations

from desktop.i18n import _


def waiting_badge(model_state: str, queued: bool, paused: bool) -> str:
    """The badge for a waiting image.

    ``model_state`` is the window's (``none``, ``loading``, ``ready``, ``missing``);
    ``queued``: the parse worker has the image in its queue; ``paused``: the user cancelled.
    """
    if model_state in ("none", "loading"):
        return _("Waiting for the model to load; parsing starts by itself.")
    if model_state != "ready":
        return _("Not parsed: no model. Choose one with Model ▸ Choose model folder…")
    if queued and not paused:
        return _("Waiting to be parsed…")
    return _("Not parsed yet — press Parse (F5) to parse it.")
