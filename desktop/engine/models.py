"""Where the model folder comes from.

Search order: an explicit path; the ``M2FP_MODEL_DIR`` environment variable; a ``models/``
folder beside the executable (PyInstaller build) or beside the package (checkout); the
user's cache folder. When none has it, :func:`download_model` fetches it from ModelScope
(``modelscope`` is imported lazily, only for the download), and the error says exactly
which folder to put the two files in when there is no network.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..i18n import N_, _
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
# How long "Download" may look for ModelScope before telling the user there is no network.
# modelscope itself retries for 10-30 s before giving up (and waits on a DNS resolver that
# does not answer for as long as the resolver says).
CONNECT_TIMEOUT = 4.0
DEFAULT_ENDPOINT = "https://www.modelscope.cn"


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
        locations.append((N_("chosen folder"), Path(explicit).expanduser()))
    env = os.environ.get(ENV_VAR)
    if env:
        locations.append((f"${ENV_VAR}", Path(env).expanduser()))
    # The origins are marked for the catalog but kept in English here: they go into the model's
    # info (and the JSON files); the About box translates them where it shows them.
    locations.append((N_("beside the application"), app_dir() / "models"))
    bundle = mac_bundle_dir()
    if bundle is not None:  # macOS: models/ beside the .app, not inside the signed bundle
        locations.append((N_("beside the application"), bundle.parent / "models"))
    locations.append((N_("user cache"), default_model_dir()))
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
            raise ModelLoadError(_("The model folder {folder} does not exist.").format(folder=chosen))
        found = _model_in(chosen)
        if found is None:
            missing = [n for n in REQUIRED_FILES if not (chosen / n).is_file()]
            if len(missing) == 1:
                message = _("{folder} is not an M2FP model folder: {file} missing. A model folder holds "
                            "{config} and {weights}.")
            else:
                message = _("{folder} is not an M2FP model folder: {config} and {weights} missing. "
                            "A model folder holds {config} and {weights}.")
            raise ModelLoadError(message.format(folder=chosen, file=missing[0], config=REQUIRED_FILES[0],
                                                weights=REQUIRED_FILES[1]))
        return found, N_("chosen folder")
    searched = []
    for origin, folder in search_locations():
        searched.append(str(folder))
        found = _model_in(folder) if folder.is_dir() else None
        if found is not None:
            return found, origin
    target = default_model_dir()
    raise ModelNotFoundError(
        _("No M2FP model was found. Download it from the application (needs internet), or copy {config} and "
          "{weights} of {model} into this folder: {folder}").format(
            config=REQUIRED_FILES[0], weights=REQUIRED_FILES[1], model=MODEL_ID, folder=target),
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
            _("Downloading needs the 'modelscope' package, which is not available ({reason}). Copy {config} and "
              "{weights} of {model} into {folder} instead.").format(
                reason=exc, config=REQUIRED_FILES[0], weights=REQUIRED_FILES[1], model=MODEL_ID, folder=target),
            target=str(target),
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
        progress(_("Downloading {file} ({done} of {total} MB)").format(
            file=name, done=f"{got_name / 1e6:.1f}", total=f"{size_name / 1e6:.1f}"), frac)

    class _Progress:  # the modelscope ProgressCallback protocol: cls(filename, size).update(n)
        def __init__(self, filename: str, file_size: int):
            self.filename = filename
            with lock:
                sizes[filename] = int(file_size or 0)
                done[filename] = 0

        def update(self, size: int) -> None:
            if cancel is not None and cancel.is_set():
                raise CancelledError(_("The download was cancelled."))
            with lock:
                done[self.filename] += int(size)
            report(self.filename)

        def end(self) -> None:
            report(self.filename)

    if progress:
        progress(_("Connecting to ModelScope for {model}").format(model=MODEL_ID), None)
    host, problem = modelscope_reachable()
    if problem is not None:
        log.info("ModelScope (%s) cannot be reached: %s", host, problem)
        raise ModelDownloadError(offline_message(host, target), target=str(target))
    if cancel is not None and cancel.is_set():
        raise CancelledError(_("The download was cancelled."))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.download-", dir=target.parent))
    except OSError as exc:
        raise _failure(exc, target) from None
    try:
        snapshot_download(
            MODEL_ID,
            local_dir=str(staging),
            allow_patterns=["*.json", "*.pt", "*.md", "*.txt"],
            progress_callbacks=[_Progress],
        )
        if cancel is not None and cancel.is_set():
            raise CancelledError(_("The download was cancelled."))
        if not is_model_dir(staging):
            raise ModelDownloadError(_("The download of {model} did not contain {config} and {weights}.").format(
                model=MODEL_ID, config=REQUIRED_FILES[0], weights=REQUIRED_FILES[1]))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except (CancelledError, ModelDownloadError):
        raise
    except Exception as exc:
        log.warning("The model download failed: %s: %s", type(exc).__name__, exc)
        raise _failure(exc, target) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info("model downloaded to %s", target)
    if progress:
        progress(_("Download complete"), 1.0)
    return target


def _endpoint_url() -> str:
    """The address modelscope downloads from (its own setting, ``MODELSCOPE_DOMAIN``, honoured)."""
    try:
        from modelscope.hub.utils.utils import get_endpoint  # noqa: PLC0415 - only for a download

        return str(get_endpoint())
    except Exception:  # another modelscope version: its default
        return DEFAULT_ENDPOINT


def modelscope_reachable(timeout: float = CONNECT_TIMEOUT) -> tuple[str, str | None]:
    """(host, None) when a connection to ModelScope (or the configured proxy) opens within
    ``timeout`` seconds, else (host, why not). Name lookup included: it runs in a helper
    thread, as a resolver without network can take far longer than ``timeout`` to fail."""
    url = urllib.parse.urlsplit(_endpoint_url())
    host = url.hostname or "modelscope.cn"
    port = url.port or (80 if url.scheme == "http" else 443)
    proxy = urllib.request.getproxies().get(url.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if proxied.hostname:
            host, port = proxied.hostname, proxied.port or 8080
    outcome: dict[str, BaseException | None] = {}

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome["error"] = None
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, name="modelscope-reachable", daemon=True)
    worker.start()
    worker.join(timeout)
    if "error" not in outcome:
        return host, _("no answer within {seconds} s").format(seconds=f"{timeout:g}")
    error = outcome["error"]
    return host, None if error is None else (str(error) or type(error).__name__)


def offline_message(host: str, target: Path) -> str:
    """What to do when ModelScope cannot be reached: connect, or put the two files in place by hand."""
    return _(
        "This computer cannot connect to ModelScope ({host}): there seems to be no internet connection. "
        "Connect to the internet and press Download again. Or, on a computer with internet, download the "
        "two files {config} and {weights} from {url}, and put them into this folder: {folder}"
    ).format(host=host, config=REQUIRED_FILES[0], weights=REQUIRED_FILES[1], url=MODEL_URL, folder=target)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (modelscope wraps requests' errors)."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


_NETWORK_ERRORS = {"NetworkError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout",
                   "ChunkedEncodingError", "ProtocolError", "MaxRetryError", "SSLError",
                   "IncompleteRead", "RemoteDisconnected", "NewConnectionError"}


def _failure(exc: BaseException, target: Path) -> ModelDownloadError:
    """A download failure told as a sentence the user can act on (never a cut-off exception text)."""
    chain = _causes(exc)
    by_hand = _("Or put the two files {config} and {weights} from {url} into this folder by hand: {folder}").format(
        config=REQUIRED_FILES[0], weights=REQUIRED_FILES[1], url=MODEL_URL, folder=target)
    if any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in chain):
        return ModelDownloadError(
            _("There is not enough free disk space for the model (about 250 MB) in {folder}. Free some space and "
              "press Download again. {by_hand}").format(folder=target.parent, by_hand=by_hand), target=str(target))
    if any(isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) for e in chain):
        return ModelDownloadError(
            _("The model cannot be saved in {folder}: this folder cannot be written to. Choose another folder "
              "for the model.").format(folder=target.parent), target=str(target))
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    if names & _NETWORK_ERRORS or any(isinstance(e, ConnectionError | TimeoutError | socket.gaierror)
                                      for e in chain):
        return ModelDownloadError(
            _("The connection to ModelScope failed during the download. Check the internet connection and "
              "press Download again. {by_hand}").format(by_hand=by_hand), target=str(target))
    return ModelDownloadError(
        _("ModelScope did not deliver the model ({reason}). Try again later. {by_hand}").format(
            reason=_brief(exc), by_hand=by_hand), target=str(target))


def _brief(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short phrase, cut at a word, never mid-word."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return text
