"""The parsing engine: model folder -> HumanParser -> ParsingResult. Never imports tkinter."""

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
from .parser import HumanParser
from .result import ParsingResult, Part, Person

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
