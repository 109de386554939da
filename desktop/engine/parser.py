"""HumanParser: load a model once, parse many images.

This is the engine's public entry point; the command line and the GUI use nothing else
of the model. ``parse`` is serialised by a lock, so one worker thread can parse while
other threads wait or read results.

With OpenVINO and a converted, checked model in the cache this module never imports torch
(about 1-2 s of a start): the configuration's check against the weights is answered from
what an earlier start recorded (:mod:`.weights_memo`), the network's input and outputs are
NumPy arrays, and torch comes in only to convert, for the PyTorch runtime, or to fall back.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop.i18n import _

from .checkpoint import WEIGHTS_FILE, load_into, load_network_state
from .confidence import confidence_of
from .config import ModelConfig, load_config
from .errors import ModelLoadError
from .memory import release_unused_memory
from .models import MODEL_ID, locate_model
from .postprocess import Parsed, postprocess
from .preprocess import Prepared, input_shape, prepare
from .result import ParsingResult
from .runtimes import Runtime, TorchRuntime

if TYPE_CHECKING:
    from .network import M2FPNet

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, "float | None"], None]
RUNTIMES = ("auto", "torch", "openvino")
PRECISIONS = ("exact", "fast")


def _torch_version() -> str:
    """For the model info: PyTorch's version, without importing it."""
    from .runtimes import torch_version  # noqa: PLC0415

    return torch_version()


def _palette_for(num: int) -> np.ndarray:
    from ..resources import palette

    pal = palette()
    if num <= len(pal):
        return pal[:num]
    extra = np.random.default_rng(0).integers(0, 256, size=(num - len(pal), 3), dtype=np.uint8)
    return np.concatenate([pal, extra])


def _openvino_runtime(runtime: str):
    """The OpenVINO runtime class, or None when the package cannot be imported (a warning
    only when OpenVINO was asked for by name: with "auto", PyTorch is a normal choice)."""
    try:
        from .openvino_runtime import OpenVinoRuntime  # noqa: PLC0415 - optional, heavy
    except ImportError:
        if runtime == "openvino":
            log.warning("OpenVINO runtime is not available; using the PyTorch runtime")
        return None
    return OpenVinoRuntime


@dataclass
class PendingParse:
    """One image between the stages of :meth:`HumanParser.parse` (prepare, network, finish).

    The batch pipeline (:mod:`desktop.pipeline`) runs the stages on different threads, so the
    next photo is decoded and prepared, and the last one post-processed and written, while the
    network runs: the network's cores never wait for those single-threaded steps."""

    prepared: Prepared
    timings: dict[str, float]
    outputs: tuple[np.ndarray, np.ndarray] | None = None  # (logits, mask logits) once run


def build_network(cfg: ModelConfig) -> M2FPNet:
    """The network for ``cfg`` with freshly initialised (meaningless) weights."""
    from .network import M2FPNet  # noqa: PLC0415 - imports torch: only when the network is built

    return M2FPNet(cfg)


def _use_torch_threads(threads: int | None) -> None:
    """PyTorch's thread count (for building, converting and the PyTorch runtime); torch is
    imported here, on the paths that need it, never on a start from OpenVINO's cache."""
    if threads:
        import torch  # noqa: PLC0415

        torch.set_num_threads(threads)


def _weights_checked(cfg_path: Path, weights: Path) -> tuple[bool, str, list | None]:
    """(whether ``weights`` as it is now passed the check against this ``configuration.json``
    on an earlier start, the configuration's digest to record a new check under, and the weights
    file's identity now, to record it against)."""
    from . import weights_memo  # noqa: PLC0415

    try:
        digest = hashlib.sha256(cfg_path.read_bytes()).hexdigest()
        as_of = weights_memo.identity(weights)
    except OSError:
        return False, "", None
    return digest in weights_memo.recall(weights).get("checked_configs", []), digest, as_of


class HumanParser:
    """Multi-person human parsing with one loaded M2FP model."""

    def __init__(self, cfg: ModelConfig, runtime: Runtime, info: dict[str, str], *,
                 model_dir: Path | None = None, precision: str = "exact"):
        self.cfg = cfg
        self.runtime = runtime
        self.info = info
        self.class_names: tuple[str, ...] = cfg.parsing_class_names
        self.palette = _palette_for(len(self.class_names))
        self._lock = threading.Lock()
        self._model_dir = model_dir  # to load the PyTorch runtime if OpenVINO fails later
        self._precision = precision

    @classmethod
    def load(
        cls,
        model_dir: str | Path | None = None,
        *,
        runtime: str = "auto",
        precision: str = "exact",
        num_threads: int | None = None,
        progress: ProgressFn | None = None,
    ) -> HumanParser:
        """Find, check and load a model folder (see :mod:`.models` for the search order).

        With OpenVINO and a conversion cached and checked on an earlier start, the PyTorch
        network is not built at all (the converted model is read from the cache). Raises
        :class:`ModelNotFoundError` or :class:`ModelLoadError` with a user-facing message.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")

        def step(text: str, frac: float | None) -> None:
            log.info("%s", text)
            if progress:
                progress(text, frac)

        threads = max(1, int(num_threads or os.cpu_count() or 1))
        t0 = time.perf_counter()
        path, origin = locate_model(model_dir)
        step(_("Reading the model configuration in {folder}").format(folder=path), 0.0)
        cfg = load_config(path)
        # Before anything is built or read from a cache: the configuration against the weights'
        # key names and shapes (memory-mapped, no tensor data read), so a configuration that
        # would allocate gigabytes is refused in a moment, naming its key. Once passed, it is
        # remembered while both files stay the same: a later start skips it (and torch).
        checked, config_digest, as_of = _weights_checked(path / "configuration.json", path / WEIGHTS_FILE)
        if not checked:
            _use_torch_threads(threads)
            step(_("Checking the model weights"), 0.05)
            load_network_state(cfg, path / WEIGHTS_FILE)
            if config_digest:
                from . import weights_memo  # noqa: PLC0415

                weights_memo.remember(path / WEIGHTS_FILE, checked_config=config_digest, as_of=as_of)
        info = {
            "name": MODEL_ID if path.name == MODEL_ID.split("/")[-1] else path.name,
            "source": str(path),
            "found_in": origin,
            "threads": str(threads),
        }
        rt: Runtime | None = None
        openvino = _openvino_runtime(runtime) if runtime in ("auto", "openvino") else None
        if openvino is not None:
            try:
                rt = openvino.open_cached(path, precision=precision, progress=step, threads=threads)
            except Exception as exc:  # an odd plugin or cache: the full path below decides
                log.info("The cached OpenVINO model cannot be opened (%s)", exc)
        if rt is None:
            # The training-only keys are named once per load: by the check above, or here if it was skipped.
            net = cls._load_network(cfg, path, step, threads, quiet=not checked)
            rt = cls._make_runtime(net, openvino, precision, path, step, threads)
            del net
            # The conversion's trace leaves reference cycles holding ~240 MB. Collected here only
            # on the main thread: elsewhere (the app's worker) a collection could also finalise
            # the GUI's garbage, and Tk objects must not be finalised off its thread.
            if threading.current_thread() is threading.main_thread():
                gc.collect()
        info.update(runtime=rt.name, precision=rt.precision, torch=_torch_version())
        info.update(getattr(rt, "info", {}))  # runtime details (OpenVINO version, cache use)
        info["load_seconds"] = f"{time.perf_counter() - t0:.2f}"
        release_unused_memory()
        step(_("Model ready"), 1.0)
        return cls(cfg, rt, info, model_dir=path, precision=precision)

    @staticmethod
    def _load_network(cfg: ModelConfig, path: Path, step: ProgressFn, threads: int | None = None, *,
                      quiet: bool = True) -> M2FPNet:
        _use_torch_threads(threads)
        step(_("Reading the model weights"), 0.2)
        state = load_network_state(cfg, path / WEIGHTS_FILE, quiet=quiet)
        step(_("Building the network"), 0.5)
        try:
            net = build_network(cfg)
        except (RuntimeError, MemoryError) as exc:  # sizes are checked: only a lack of memory is left
            raise ModelLoadError(
                _("There is not enough free memory to load the model. Close other applications and try again.")
            ) from exc
        load_into(net, state, path / WEIGHTS_FILE)
        return net

    @staticmethod
    def _make_runtime(net: M2FPNet, openvino, precision: str, path: Path, step: ProgressFn,
                      threads: int | None = None) -> Runtime:
        if openvino is not None:
            try:
                return openvino.create(net, precision=precision, model_dir=path, progress=step, threads=threads)
            except Exception as exc:  # conversion or CPU plugin failure: fall back, never crash
                log.warning("OpenVINO runtime failed (%s); using the PyTorch runtime", exc)
        return TorchRuntime(net, precision)

    def _infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The runtime's outputs; if OpenVINO fails now (a size it cannot compile, a plugin
        crash), PyTorch takes over for the rest of the session. Called under the lock."""
        try:
            return self.runtime.infer(tensor)
        except Exception as exc:
            return self._fall_back(tensor, exc)

    def _fall_back(self, tensor: np.ndarray, exc: Exception) -> tuple[np.ndarray, np.ndarray]:
        """After ``exc`` from OpenVINO on ``tensor``: PyTorch from now on, and its outputs for
        ``tensor`` (``exc`` again when it was PyTorch that failed). Called under the lock."""
        if self.runtime.name == "torch" or self._model_dir is None:
            raise exc
        h, w = tensor.shape[-2:]
        log.warning("OpenVINO runtime failed on a %dx%d input (%s); using the PyTorch runtime", h, w, exc)
        threads = int(self.info.get("threads", 0) or 0) or None
        self.runtime = TorchRuntime(self._load_network(self.cfg, self._model_dir, lambda t, f: None, threads),
                                    self._precision)
        self.info.update(runtime="torch", precision=self.runtime.precision)
        self.info.pop("openvino_model", None)
        return self.runtime.infer(tensor)

    def release_memory(self) -> None:
        """Give memory kept for the next image back to the system (the app calls this when its
        queue empties). Parsing keeps its buffers between images on purpose: fresh memory
        costs page faults on every image (0.2-0.5 s for a 1920x1080 photo, measured)."""
        with self._lock:
            self.runtime.release_memory()
            release_unused_memory()

    def warm_up(self) -> float:
        """Prepare the runtime for the likely next image while nothing else runs (OpenVINO:
        compile for the input size last used with this model); seconds spent, 0 if nothing."""
        warm_up = getattr(self.runtime, "warm_up", None)
        if warm_up is None:
            return 0.0
        with self._lock:
            try:
                return warm_up()
            except Exception as exc:  # the first parse will meet (and handle) the same failure
                log.info("Warm-up failed (%s)", exc)
                return 0.0

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The network input's (height, width) for an image of this size (resized and padded).

        Images with the same input size run on the same compiled model; the OpenVINO runtime
        compiles once per input size, so a batch is fastest in groups of equal input size.
        """
        return input_shape(height, width, self.cfg)[1]

    # -- parsing -------------------------------------------------------------------------
    def forward(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """Raw network outputs for a prepared input: (Q, C+1) logits, (Q, h/4, w/4) mask logits."""
        with self._lock:
            return self._infer(prepared.tensor)

    def parse(self, rgb: np.ndarray, *, notes: list[str] | None = None) -> ParsingResult:
        """Parse one upright RGB image, (H, W, 3) uint8: the three stages below, one after another."""
        return self.finish(self.start_network(self.prepare_input(rgb))(), notes=notes)

    # -- the stages of parse(), which the batch pipeline (desktop.pipeline) runs on three threads
    @property
    def streams(self) -> int:
        """How many images the network runs at once (OpenVINO streams; 1 otherwise)."""
        return int(getattr(self.runtime, "streams", 1))

    def use_streams(self, streams: int) -> int:
        """Run up to ``streams`` images through the network at once (OpenVINO streams, the threads
        shared among them: more images per minute where one image cannot use every core well);
        returns the number the runtime took (PyTorch: 1)."""
        set_streams = getattr(self.runtime, "set_streams", None)
        if set_streams is None:
            return 1
        with self._lock:
            return int(set_streams(streams))

    def prepare_input(self, rgb: np.ndarray) -> PendingParse:
        """Stage 1 (any thread): resize and normalise the image for the network."""
        t0 = time.perf_counter()
        prepared = prepare(np.ascontiguousarray(rgb), self.cfg)
        return PendingParse(prepared, {"preprocess": time.perf_counter() - t0})

    def start_network(self, pending: PendingParse) -> Callable[[], PendingParse]:
        """Stage 2: start the network on a prepared image; the function returned waits for it and
        returns ``pending`` with the outputs. Up to :attr:`streams` images may be in flight
        (starting one more waits for the oldest); call the functions in the order they came, from
        one thread. If OpenVINO fails, PyTorch takes over as in :meth:`_infer`."""
        tensor = pending.prepared.tensor
        with self._lock:
            t0 = time.perf_counter()
            start = getattr(self.runtime, "start_infer", None)
            try:
                wait = start(tensor) if start is not None else None
            except Exception as exc:
                outputs = self._fall_back(tensor, exc)
                wait = None
            else:
                if wait is None:
                    outputs = self._infer(tensor)
            # "compile" (OpenVINO, first image of a new size) is part of "forward"'s time.
            runtime_timings = dict(getattr(self.runtime, "timings", {}))

        def finish() -> PendingParse:
            if pending.outputs is None:
                with self._lock:
                    try:
                        pending.outputs = wait() if wait is not None else outputs
                    except Exception as exc:
                        pending.outputs = self._fall_back(tensor, exc)
                pending.timings.update(forward=time.perf_counter() - t0, **runtime_timings)
            return pending

        return finish

    def finish(self, pending: PendingParse, *, notes: list[str] | None = None) -> ParsingResult:
        """Stage 3 (any thread, beside the network): post-process the outputs into the result."""
        if pending.outputs is None:
            raise ValueError("finish() needs the network's outputs: call the function start_network() returned")
        (logits, masks), pending.outputs = pending.outputs, None
        t0 = time.perf_counter()
        threads = int(self.info.get("threads", 0) or 0) or None  # --threads, as the network got
        parsed: Parsed = postprocess(logits, masks, pending.prepared, self.cfg, threads=threads)
        confidence = confidence_of(masks, parsed, pending.prepared, self.cfg)  # maps computed on demand
        timings = {**pending.timings, "postprocess": time.perf_counter() - t0}
        timings["total"] = timings["preprocess"] + timings["forward"] + timings["postprocess"]
        return ParsingResult(
            labels=parsed.labels,
            persons=parsed.persons,
            parts=parsed.parts,
            class_names=self.class_names,
            palette=self.palette,
            timings=timings,
            model=dict(self.info),
            notes=list(notes or []),
            confidence=confidence,
        )

    def parse_file(self, path: str | Path, *, max_pixels: int | None = None) -> ParsingResult:
        """Decode an image file safely (EXIF orientation, any mode, size limit), then parse it.

        Raises :class:`~desktop.engine.errors.ImageLoadError` for files that cannot be used.
        """
        from ..imageio import DEFAULT_MAX_PIXELS, load_image

        t0 = time.perf_counter()
        image = load_image(path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        decode = time.perf_counter() - t0
        result = self.parse(image.rgb, notes=image.notes)
        result.timings = {"decode": decode, **result.timings, "total": result.timings["total"] + decode}
        return result

