"""The parsing engine: model folder -> HumanParser -> ParsingResult. Never imports tkinter.

``HumanParser`` (and with it torch) is imported on first use, so the command line's
``--help``, exports and the GUI's first window do not wait seconds for torch to load.
"""

from typing import TYPE_CHECKING

from .no_telemetry import disable_openvino_telemetry

# First, before any module of the engine can import OpenVINO: no usage reports, no files under
# ~/intel (see no_telemetry).
disable_openvino_telemetry()

from .errors import (  # noqa: E402
    CancelledError,
    ImageLoadError,
    M2FPError,
    ModelDownloadError,
    ModelLoadError,
    ModelNotFoundError,
)
from .models import (  # noqa: E402
    ENV_VAR,
    MODEL_ID,
    MODEL_LICENSE,
    MODEL_URL,
    default_model_dir,
    download_model,
    find_model_dir,
    is_model_dir,
)
from .result import ParsingResult, Part, Person  # noqa: E402

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
