"""The parsing engine: model folder -> HumanParser -> ParsingResult. Never imports tkinter.

``HumanParser`` (and with it torch) is imported on first use, so the command line's
``--help``, exports and the GUI's first window do not wait seconds for torch to load.
"""

from typing import TYPE_CHECKING

from .errors import (
    CancelledError,
    ImageLoadError,
    M2FPError,
    ModelDownloadError,
    ModelLoadError,
    ModelNotFoundError,
)
from .models import (
    ENV_VAR,
    MODEL_ID,
    MODEL_LICENSE,
    MODEL_URL,
    default_model_dir,
    download_model,
    find_model_dir,
    is_model_dir,
)
from .result import ParsingResult, Part, Person

if TYPE_CHECKING:
    from .parser import HumanParser


def __getattr__(name: str):
    if name == "HumanParser":
        from .parser import HumanParser

        return HumanParser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CancelledError",
    "ENV_VAR",
    "HumanParser",
    "ImageLoadError",
    "M2FPError",
    "MODEL_ID",
    "MODEL_LICENSE",
    "MODEL_URL",
    "ModelDownloadError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ParsingResult",
    "Part",
    "Person",
    "default_model_dir",
    "download_model",
    "find_model_dir",
    "is_model_dir",
]
