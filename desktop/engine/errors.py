"""Errors the engine raises, each with a message a non-programmer can act on.

Every error the user may see derives from :class:`M2FPError`; its ``str()`` is the
message to show (no traceback needed). Callers catch ``M2FPError`` for "expected"
failures (bad model folder, bad image) and let anything else be a bug.
"""

from __future__ import annotations


class M2FPError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing sentence."""


class ModelNotFoundError(M2FPError):
    """No model folder was found anywhere the application looks.

    ``searched`` lists the folders looked at, ``target`` is where the user should put
    ``configuration.json`` and ``pytorch_model.pt`` (the user cache folder).
    """

    def __init__(self, message: str, searched: list[str] | None = None, target: str | None = None):
        super().__init__(message)
        self.searched = list(searched or [])
        self.target = target


class ModelLoadError(M2FPError):
    """A model folder exists but cannot be used (wrong type, broken or foreign weights)."""


class ModelDownloadError(M2FPError):
    """Downloading the model failed (no network, modelscope missing, disk full).

    ``target`` is the folder the model was to go to, where the user can put the two files by hand.
    """

    def __init__(self, message: str, target: str | None = None):
        super().__init__(message)
        self.target = target


class ImageLoadError(M2FPError):
    """An image file cannot be decoded (corrupt, truncated, not an image, too large, unreadable)."""


class CancelledError(M2FPError):
    """The user cancelled a long operation (download, batch)."""
