"""Background threads and the plain messages they send to the window.

Tk is not thread-safe: only the main thread may touch widgets. Every thread here therefore
communicates in one direction only, by putting small dataclasses (paths, text, NumPy
arrays, :class:`ParsingResult`) on a :class:`queue.Queue` that the window drains with
``after()``. Nothing in this module imports tkinter.

- :class:`ParseWorker` loads the model, then parses queued images one at a time, the image
  the user is looking at first. Cancel takes effect between images (an image in flight is
  finished, never thrown away).
- :class:`BackgroundJob` runs one function (export, model download) with progress and a
  cancel event.
- :class:`PhotoLoader` decodes photos for display so a 40-megapixel JPEG does not stall
  the window.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from desktop.app.thread_priority import lower_this_thread
from desktop.engine.errors import M2FPError, ModelNotFoundError
from desktop.engine.result import ParsingResult
from desktop.i18n import _

log = logging.getLogger(__name__)

Progress = Callable[[str, "float | None"], None]


# -- messages (worker -> window) --------------------------------------------------------
@dataclass(frozen=True)
class ModelProgress:
    stage: str
    fraction: float | None


@dataclass(frozen=True)
class ModelReady:
    info: dict[str, str]
    seconds: float


@dataclass(frozen=True)
class ModelFailed:
    message: str
    not_found: bool
    searched: list[str] = field(default_factory=list)
    target: str | None = None


@dataclass(frozen=True)
class ImageStarted:
    key: str


@dataclass(frozen=True)
class ImageParsed:
    key: str
    result: ParsingResult
    rgb: np.ndarray  # the decoded photo, so the window need not decode it again
    notes: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class ImageFailed:
    key: str
    message: str


@dataclass(frozen=True)
class WorkerIdle:
    """The queue is empty (``cancelled=False``) or the user cancelled (``True``)."""

    cancelled: bool
    remaining: int


@dataclass(frozen=True)
class JobProgress:
    job: str
    done: int
    total: int | None
    text: str
    fraction: float | None = None


@dataclass(frozen=True)
class JobFinished:
    job: str
    value: Any = None
    error: str | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class PhotoLoaded:
    key: str
    rgb: np.ndarray | None
    notes: tuple[str, ...] = ()
    error: str | None = None


def describe_error(exc: BaseException) -> str:
    """A sentence for the user: the engine's own message, or a plain one for surprises."""
    if isinstance(exc, M2FPError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return _("Not enough memory to process this image. Close other programs or use a smaller image.")
    if isinstance(exc, OSError):
        return _("The file could not be read or written: {reason}.").format(reason=exc.strerror or exc)
    return _("Unexpected error ({error}: {reason}). Details are in the log file.").format(
        error=type(exc).__name__, reason=exc)


# -- parse worker ---------------------------------------------------------------------
class ParseWorker(threading.Thread):
    """Owns the parser; loads it, then parses images on request.

    ``loader(progress)`` returns an object with ``parse(rgb, notes=...)`` and ``info``
    (a :class:`desktop.engine.HumanParser`, or a test wrapper around one).
    ``load_image(path)`` returns an object with ``rgb`` and ``notes``.
    ``store(key, result)`` keeps the result (called in this thread, so packing old
    results never happens in the GUI thread); a callable it returns is called once the
    window was sent the result (what can wait: the doubt score of a 48-megapixel photo
    takes 12 s, which the reviewer should not wait for to see the overlay).
    """

    def __init__(
        self,
        loader: Callable[[Progress], Any],
        outbox: queue.Queue,
        load_image: Callable[[Path], Any],
        store: Callable[[str, ParsingResult], Callable[[], None] | None],
        low_priority: bool = True,
    ):
        super().__init__(name="parse-worker", daemon=True)
        self._low_priority = low_priority
        self.priority = "normal"
        self._loader = loader
        self._outbox = outbox
        self._load_image = load_image
        self._store = store
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._priority: str | None = None
        self._paused = False
        self._stopping = False
        self._current: str | None = None
        self._report_idle = False
        self.parser: Any = None

    # -- called from the GUI thread --
    def enqueue(self, keys: list[str], resume: bool = True) -> None:
        with self._cond:
            known = set(self._pending)
            self._pending.extend(k for k in keys if k not in known and k != self._current)
            if resume:
                self._paused = False
            self._cond.notify_all()

    def prioritize(self, key: str | None) -> None:
        """Parse ``key`` next (if it is queued): the user is looking at it."""
        with self._cond:
            self._priority = key

    def cancel(self) -> None:
        """Stop after the current image; queued images stay queued until :meth:`resume`."""
        with self._cond:
            self._paused = True
            if self._current is None:
                self._post(WorkerIdle(cancelled=True, remaining=len(self._pending)))
            else:
                self._report_idle = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def remove(self, keys: list[str] | None = None) -> None:
        """Forget queued keys (all when ``None``)."""
        with self._cond:
            if keys is None:
                self._pending.clear()
            else:
                drop = set(keys)
                self._pending = [k for k in self._pending if k not in drop]

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._current is not None

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    def queued_keys(self) -> set[str]:
        """Keys waiting or being parsed."""
        with self._cond:
            return set(self._pending) | ({self._current} if self._current else set())

    def pending_count(self) -> int:
        with self._cond:
            return len(self._pending)

    # -- the thread --
    def _post(self, message: object) -> None:
        self._outbox.put(message)

    def run(self) -> None:
        start = time.perf_counter()
        if self._low_priority:  # before loading: the threads the engine starts inherit it
            self.priority = lower_this_thread()
            log.info("Parse worker priority: %s", self.priority)
        try:
            self.parser = self._loader(lambda stage, frac=None: self._post(ModelProgress(str(stage), frac)))
        except ModelNotFoundError as exc:
            log.warning("Model not found: %s", exc)
            self._post(ModelFailed(str(exc), True, list(exc.searched), exc.target))
            return
        except BaseException as exc:  # noqa: BLE001 - report every failure to the window
            log.exception("Model loading failed")
            self._post(ModelFailed(describe_error(exc), False))
            return
        info = {}
        try:
            info = dict(getattr(self.parser, "info", {}) or {})
        except Exception:  # noqa: BLE001
            log.exception("parser.info failed")
        info["worker_priority"] = self.priority
        self._post(ModelReady(info, time.perf_counter() - start))
        with self._cond:
            idle = not self._pending and not self._stopping  # quitting: no warm-up to wait for
        if idle:  # while the user picks photos: compile for the size used last time
            self._call_parser("warm_up")
        while True:
            key = self._next_key()
            if key is None:
                return
            self._parse_one(key)
            with self._cond:
                self._current = None
                idle = self._paused or not self._pending
                if self._paused:
                    if self._report_idle:
                        self._report_idle = False
                        self._post(WorkerIdle(cancelled=True, remaining=len(self._pending)))
                elif not self._pending:
                    self._post(WorkerIdle(cancelled=False, remaining=0))
            if idle:  # nothing to parse for now: give the buffers kept for the next image back
                self._call_parser("release_memory")

    def _call_parser(self, method: str) -> None:
        """An optional housekeeping method of the parser (if it has it); its failure is
        logged, never worth stopping the worker for."""
        call = getattr(self.parser, method, None)
        if call is not None:
            try:
                call()
            except Exception:  # noqa: BLE001
                log.exception("parser.%s failed", method)

    def _next_key(self) -> str | None:
        with self._cond:
            while not self._stopping and (self._paused or not self._pending):
                self._cond.wait()
            if self._stopping:
                return None
            if self._priority in self._pending:
                key = self._priority
                self._pending.remove(key)
            else:
                key = self._pending.pop(0)
            self._current = key
            return key

    def _parse_one(self, key: str) -> None:
        self._post(ImageStarted(key))
        t0 = time.perf_counter()
        try:
            image = self._load_image(Path(key))
            notes = tuple(getattr(image, "notes", ()) or ())
            result = self.parser.parse(image.rgb, notes=list(notes))
            finish = self._store(key, result)
        except BaseException as exc:  # noqa: BLE001 - one bad image must not stop the batch
            if isinstance(exc, M2FPError):
                log.warning("%s: %s", key, exc)
            else:
                log.exception("Parsing %s failed", key)
            self._post(ImageFailed(key, describe_error(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        self._post(ImageParsed(key, result, image.rgb, notes, time.perf_counter() - t0))
        if callable(finish):
            try:
                finish()
            except Exception:  # noqa: BLE001 - the result is shown and stored; this is extra
                log.exception("Finishing the result of %s failed", key)


# -- one-off jobs -----------------------------------------------------------------------
class BackgroundJob(threading.Thread):
    """Run ``func(report, cancel)`` in a thread; post :class:`JobProgress`/:class:`JobFinished`.

    ``report(done, total, text, fraction=None)`` may be called any number of times.
    ``func`` should check ``cancel.is_set()`` between steps and raise
    :class:`desktop.engine.errors.CancelledError` (or return) to stop early.
    """

    def __init__(self, name: str, func: Callable[..., Any], outbox: queue.Queue):
        super().__init__(name=f"job-{name}", daemon=True)
        self.job = name
        self._func = func
        self._outbox = outbox
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        def report(done: int, total: int | None, text: str, fraction: float | None = None) -> None:
            self._outbox.put(JobProgress(self.job, done, total, text, fraction))

        from desktop.engine.errors import CancelledError

        try:
            value = self._func(report, self.cancel_event)
        except CancelledError:
            self._outbox.put(JobFinished(self.job, cancelled=True))
        except BaseException as exc:  # noqa: BLE001
            log.exception("Job %s failed", self.job)
            self._outbox.put(JobFinished(self.job, error=describe_error(exc), cancelled=self.cancel_event.is_set()))
        else:
            self._outbox.put(JobFinished(self.job, value=value, cancelled=self.cancel_event.is_set()))


class PhotoLoader:
    """Decode photos for display in one background thread, newest request first.

    Only the latest request matters (the user moved on), so older unstarted requests are
    dropped.
    """

    def __init__(self, outbox: queue.Queue, load_image: Callable[[Path], Any]):
        self._outbox = outbox
        self._load_image = load_image
        self._cond = threading.Condition()
        self._wanted: str | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="photo-loader", daemon=True)
        self._thread.start()

    def request(self, key: str) -> None:
        with self._cond:
            self._wanted = key
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        """The decoding thread (quitting waits for it)."""
        return self._thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key, self._wanted = self._wanted, None
            try:
                image = self._load_image(Path(key))
                self._outbox.put(PhotoLoaded(key, image.rgb, tuple(getattr(image, "notes", ()) or ())))
            except Exception as exc:  # noqa: BLE001
                if not isinstance(exc, M2FPError):
                    log.exception("Loading %s for display failed", key)
                self._outbox.put(PhotoLoaded(key, None, error=describe_error(exc)))
