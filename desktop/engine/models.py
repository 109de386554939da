"""Where the model folder comes from.

Search order: an explicit path; the ``M2FP_MODEL_DIR`` environment variable; a ``models/``
folder beside the executable (PyInstaller build) or beside the package (checkout); the
user's cache folder. When none has it, :func:`download_model` fetches it from ModelScope
(``modelscope`` is imported lazily, only for the download), and the error says exactly
which folder to put the two files in when there is no network.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from ..userdirs import user_dir
from .errors import CancelledError, ModelDownloadError, ModelLoadError, ModelNotFoundError

log = logging.getLogger(__name__)

MODEL_ID = "damo/cv_resnet101_image-multiple-human-parsing"
MODEL_NAME = MODEL_ID.split("/")[-1]
MODEL_URL = f"https://modelscope.cn/models/{MODEL_ID}"
MODEL_LICENSE = "CC BY-NC 4.0 (non-commercial use only)"
ENV_VAR = "M2FP_MODEL_DIR"
REQUIRED_FILES = ("configuration.json", "pytorch_model.pt")
WEIGHTS = REQUIRED_FILES[1]

ProgressFn = Callable[[str, "float | None"], None]


def default_model_dir() -> Path:
    """The user cache folder where a downloaded (or hand-placed) model lives."""
    return user_dir("cache") / "models" / MODEL_NAME


def app_dir() -> Path:
    """The folder of the executable in a frozen build, else the project root of the checkout."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parents[2]


def mac_bundle_dir() -> Path | None:
    """The ``.app`` folder when running from a macOS application bundle, else None."""
    if not getattr(sys, "frozen", False):
        return None
    for parent in Path(sys.executable).resolve().parents:
        if parent.suffix == ".app":
            return parent
    return None


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in REQUIRED_FILES)


def _model_in(path: Path) -> Path | None:
    """``path`` itself, the hub's ``damo/<name>`` layout below it, or a single model subfolder."""
    for candidate in (path, path / MODEL_NAME, path / "damo" / MODEL_NAME):
        if is_model_dir(candidate):
            return candidate
    try:
        subdirs = [p for p in path.iterdir() if is_model_dir(p)]
    except OSError:
        return None
    return subdirs[0] if len(subdirs) == 1 else None


def search_locations(explicit: str | Path | None = None) -> list[tuple[str, Path]]:
    """(origin, folder) pairs in search order."""
    locations: list[tuple[str, Path]] = []
    if explicit:
        locations.append(("chosen folder", Path(explicit).expanduser()))
    env = os.environ.get(ENV_VAR)
    if env:
        locations.append((f"${ENV_VAR}", Path(env).expanduser()))
    locations.append(("beside the application", app_dir() / "models"))
    bundle = mac_bundle_dir()
    if bundle is not None:  # macOS: models/ beside the .app, not inside the signed bundle
        locations.append(("beside the application", bundle.parent / "models"))
    locations.append(("user cache", default_model_dir()))
    return locations


def find_model_dir(explicit: str | Path | None = None) -> Path:
    """The first model folder found, or :class:`ModelNotFoundError` saying where to put one.

    An explicit folder that is not a model is an error of its own (the user chose it).
    """
    path, _origin = locate_model(explicit)
    return path


def locate_model(explicit: str | Path | None = None) -> tuple[Path, str]:
    """Like :func:`find_model_dir`, also returning where it was found."""
    if explicit:
        chosen = Path(explicit).expanduser()
        if not chosen.exists():
            raise ModelLoadError(f"The model folder {chosen} does not exist.")
        found = _model_in(chosen)
        if found is None:
            missing = [n for n in REQUIRED_FILES if not (chosen / n).is_file()]
            raise ModelLoadError(
                f"{chosen} is not an M2FP model folder: {' and '.join(missing)} missing. "
                f"A model folder holds {REQUIRED_FILES[0]} and {REQUIRED_FILES[1]}."
            )
        return found, "chosen folder"
    searched = []
    for origin, folder in search_locations():
        searched.append(str(folder))
        found = _model_in(folder) if folder.is_dir() else None
        if found is not None:
            return found, origin
    target = default_model_dir()
    raise ModelNotFoundError(
        "No M2FP model was found. Download it from the application (needs internet), or copy "
        f"{REQUIRED_FILES[0]} and {REQUIRED_FILES[1]} of {MODEL_ID} into this folder: {target}",
        searched=searched,
        target=str(target),
    )


def download_model(
    target: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download the model from ModelScope into ``target`` (default: the user cache folder).

    The files go to a temporary folder beside the target, which is renamed only when the
    download is complete: an interrupted download never leaves a half model behind.
    ``progress(text, fraction)`` is called from the downloading thread; setting ``cancel``
    stops the download at the next chunk with :class:`CancelledError`.
    """
    target = Path(target) if target else default_model_dir()
    try:
        from modelscope.hub.snapshot_download import snapshot_download
    except Exception as exc:  # ImportError, or a broken install
        raise ModelDownloadError(
            f"Downloading needs the 'modelscope' package, which is not available ({exc}). "
            f"Copy {REQUIRED_FILES[0]} and {REQUIRED_FILES[1]} of {MODEL_ID} into {target} instead."
        ) from None

    done: dict[str, int] = {}
    sizes: dict[str, int] = {}
    lock = threading.Lock()

    def report(name: str) -> None:
        if progress is None:
            return
        # modelscope announces files one at a time, so the grand total is unknown up front;
        # the weights file is >99 % of the bytes, so its own progress is the bar's fraction.
        with lock:
            got, total = done.get(WEIGHTS, 0), sizes.get(WEIGHTS, 0)
            got_name, size_name = done[name], sizes[name]
        frac = min(1.0, got / total) if total else None
        progress(f"Downloading {name} ({got_name / 1e6:.1f} of {size_name / 1e6:.1f} MB)", frac)

    class _Progress:  # the modelscope ProgressCallback protocol: cls(filename, size).update(n)
        def __init__(self, filename: str, file_size: int):
            self.filename = filename
            with lock:
                sizes[filename] = int(file_size or 0)
                done[filename] = 0

        def update(self, size: int) -> None:
            if cancel is not None and cancel.is_set():
                raise CancelledError("The download was cancelled.")
            with lock:
                done[self.filename] += int(size)
            report(self.filename)

        def end(self) -> None:
            report(self.filename)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.download-", dir=target.parent))
    try:
        if progress:
            progress(f"Connecting to ModelScope for {MODEL_ID}", None)
        snapshot_download(
            MODEL_ID,
            local_dir=str(staging),
            allow_patterns=["*.json", "*.pt", "*.md", "*.txt"],
            progress_callbacks=[_Progress],
        )
        if cancel is not None and cancel.is_set():
            raise CancelledError("The download was cancelled.")
        if not is_model_dir(staging):
            raise ModelDownloadError(
                f"The download of {MODEL_ID} did not contain {REQUIRED_FILES[0]} and {REQUIRED_FILES[1]}."
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except (CancelledError, ModelDownloadError):
        raise
    except Exception as exc:
        raise ModelDownloadError(
            f"The model could not be downloaded from ModelScope ({type(exc).__name__}: {str(exc)[:200]}). "
            f"Check the internet connection, or copy {REQUIRED_FILES[0]} and {REQUIRED_FILES[1]} of "
            f"{MODEL_ID} into {target} by hand."
        ) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info("model downloaded to %s", target)
    if progress:
        progress("Download complete", 1.0)
    return target
