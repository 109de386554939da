"""OpenVINO back-end: the same network, converted once and compiled for this CPU.

Why OpenVINO: on a 2-core AVX-512 machine OpenVINO's CPU plugin runs the full M2FP faster
than PyTorch in float32 and about twice as fast again in bfloat16
(``bench/bench_runtimes.py``).

How it works:

1. **Convert in memory** (``openvino.convert_model`` on a TorchScript trace, no ONNX file)
   with the input's height and width dynamic: the network code reads every size from
   tensors at run time, so one converted model serves every image size.
2. **Cache** the converted model (OpenVINO IR, float32 weights) in the user's cache folder,
   ``<cache>/openvino/<key>/model.xml|.bin``, written into a temporary folder and renamed into
   place, so a crash never leaves half a model behind. The key is a SHA-256 over the network
   weights in ``pytorch_model.pt`` (every network tensor's name, type, shape and bytes; not the
   training-only state a hub checkpoint also carries, see ``checkpoint``), the full content of
   ``configuration.json``, the OpenVINO and PyTorch versions, the network's source code and this
   module's conversion format; changed weights or an upgraded library get a fresh conversion.
   The IR does not depend on the precision (it is chosen when compiling), so both precisions
   share it. The weights' digest is remembered against the file's identity
   (:mod:`.weights_memo`), so a later start finds its entry with a ``stat``, without torch.
3. **Compile per input size**, for the CPU plugin only. The converted model is reshaped to
   the padded size of the image at hand and compiled for it; the next image of the same size
   reuses it, a new size replaces it. Measured on the full model at 640x1152 (f32): 3.8 s per
   forward instead of 4.5 s with dynamic shapes, 0.6 GB less memory at peak, for a compile of
   about 1.5-2 s whenever the size changes (photos from one camera share a size; the command
   line groups its inputs by size). The compile time is reported in the result's timings
   (``compile``). ``exact`` sets ``INFERENCE_PRECISION_HINT`` to f32 explicitly (OpenVINO
   defaults to bf16 on CPUs that have it!), ``fast`` uses bf16 where the CPU reports ``BF16``
   in ``OPTIMIZATION_CAPABILITIES`` and f32 elsewhere. Threads: the parser's ``threads``
   (:func:`default_threads` otherwise), latency hint, one stream by default;
   :meth:`OpenVinoRuntime.set_streams` runs several images at once (throughput hint, the
   threads shared among the streams) through :meth:`OpenVinoRuntime.start_infer`, for the
   batch pipeline (``desktop.pipeline``) on machines with many cores.
   Each size's compiled model is also kept on disk, in OpenVINO's own model cache
   (``CACHE_DIR``) under the entry's ``compiled/<precision>-<h>x<w>/``, so a later start
   imports it instead of compiling again (the :data:`KEEP_COMPILED` most recently used sizes
   are kept, about 260 MB each for the full model in f32). A damaged or truncated cached
   blob is detected by OpenVINO, which then compiles and rewrites it.
4. **Check** once per cache entry, CPU and precision: after a conversion (or the first use of
   a precision), a warm-up inference on a small input is compared with PyTorch; a CPU plugin
   that fails or computes garbage fails there, and the parser falls back to PyTorch instead of
   failing on the user's first photo. The check is recorded in the entry's ``meta.json``, so
   later starts need neither the PyTorch network nor the check: they read the IR and are
   ready in a fraction of a second. A failure later on (at a new size, say) makes the parser
   switch to PyTorch for the rest of the session, with one log line.

**No torch on a warm start.** This module imports torch only to convert, to check against
PyTorch, or to hash weights it has not seen: :meth:`OpenVinoRuntime.open_cached` on a
converted, checked model whose weights file is unchanged reads no tensor and imports no
torch (1-2 s of a start), and inputs and outputs are NumPy arrays.

``M2FP_CACHE_DIR`` replaces the application's cache folder (tests point it at a temporary
folder); the OpenVINO models go to its ``openvino`` subfolder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import openvino as ov

from ..i18n import _
from ..userdirs import user_dir
from . import native_kernel, weights_memo
from .checkpoint import WEIGHTS_FILE, is_training_only
from .memory import drop_file_pages, release_unused_memory
from .native_kernel import Kernel
from .runtimes import as_array, torch_version

if TYPE_CHECKING:  # torch and the network are imported only to convert and check (see the docstring)
    from .network import M2FPNet

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, "float | None"], None]

CACHE_ENV_VAR = "M2FP_CACHE_DIR"
# Bump when the conversion itself changes (trace input, input spec, saved format), so old
# caches are not reused.
FORMAT_VERSION = 3
IR_NAME = "model.xml"
META_NAME = "meta.json"
KEEP_ENTRIES = 3  # converted models kept in the cache (most recently used first)
# Compiled models kept per cache entry (OpenVINO's CACHE_DIR), one folder per precision and
# input size, most recently used first. Measured on the full model at 640x1152 (f32): about
# 260 MB each; importing one takes about half the CPU time of compiling (bench/bench_batch.py).
COMPILED_DIR = "compiled"
KEEP_COMPILED = 3
# Trace input: small (the trace runs the network once) and not square, so no height/width
# confusion can hide; the model's input is declared (1, 3, ?, ?) regardless.
TRACE_HW = (192, 256)
# Warm-up / self-check input: the smallest useful size (stride-32 map of 3 x 4).
CHECK_HW = (96, 128)
# Self-check bounds on max |OpenVINO - PyTorch| relative to max(1, max |PyTorch|), per output.
# They catch a failing or miscompiling CPU plugin, not small numeric drift (the tests pin
# exact mode to the reference at 1e-3): f32 agrees to ~1e-6 relative, bf16 to ~1e-2.
CHECK_TOLERANCE = {"f32": 1e-3, "bf16": 0.5}


def cache_root() -> Path:
    """The folder holding converted models: ``$M2FP_CACHE_DIR/openvino`` or the user cache's."""
    return user_dir("cache", CACHE_ENV_VAR) / "openvino"


def default_threads() -> int:
    """Inference threads when the caller names none: PyTorch's setting if torch is loaded (the
    tests and benchmarks set it there), else every core."""
    torch = sys.modules.get("torch")
    return max(1, torch.get_num_threads() if torch is not None else os.cpu_count() or 1)


def cpu_has_bf16(core: ov.Core | None = None) -> bool:
    """Whether the CPU plugin can run bfloat16 natively (AVX-512 BF16 or AMX)."""
    core = core or ov.Core()
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an old or odd plugin: assume not, f32 is always correct
        return False


def cpu_identity(core: ov.Core) -> str:
    """What a recorded self-check holds for: the CPU's name and what the plugin can use on it."""
    parts = []
    for prop in ("FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES"):
        try:
            value = core.get_property("CPU", prop)
        except Exception:  # an old or odd plugin
            value = "?"
        parts.append(" ".join(value) if isinstance(value, list | tuple) else str(value))
    return " | ".join(parts)


def _read_meta(entry: Path) -> dict:
    try:
        meta = json.loads((entry / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(entry: Path, meta: dict) -> None:
    """Replace ``meta.json`` atomically (a reader sees the old or the new file, never half)."""
    tmp = entry / f"{META_NAME}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp, entry / META_NAME)
    except OSError as exc:  # read-only cache: the check runs again next start, nothing worse
        log.info("Cannot record the OpenVINO self-check in %s (%s)", entry, exc)
        tmp.unlink(missing_ok=True)


def _ir_sizes(entry: Path) -> dict[str, int]:
    return {name: (entry / name).stat().st_size for name in (IR_NAME, IR_NAME.replace(".xml", ".bin"))}


def _read_cached(core: ov.Core, entry: Path, meta: dict) -> ov.Model | None:
    """The IR cached in ``entry`` (``meta`` is its meta.json), or None when there is none or it
    is damaged or foreign; a damaged entry is deleted, with a warning, to be converted again."""
    if not (entry / IR_NAME).is_file():
        return None
    try:
        if meta.get("ir_sizes") != _ir_sizes(entry):
            raise ValueError("its files have changed size since they were written")
        return core.read_model(str(entry / IR_NAME))
    except Exception as exc:  # damaged or foreign files: convert again
        log.warning("The cached OpenVINO model in %s cannot be used (%s); converting the model again", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None


@functools.cache
def _network_source_digest() -> str:
    """SHA-256 of the network's source files, so a code change invalidates cached conversions.

    In a frozen build the sources are not files; the application version stands in for them
    (a new build is a new version). Computed once per process: the code that runs is the code
    imported at start, whatever happens to the files later (the cache key and the native
    kernel's failure records both use it, several times per model load).
    """
    from .. import __version__

    h = hashlib.sha256(f"app {__version__}".encode())
    folder = Path(__file__).parent / "network"  # the files, not the package: importing it imports torch
    for path in sorted(folder.glob("*.py")) + [Path(__file__)]:
        try:
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            pass
    return h.hexdigest()


def cache_key(model_dir: Path, kernel: Kernel | None = None) -> str:
    """The cache entry name for a model folder: what the converted model depends on.

    Covers the network weights (hashed in full, tensor by tensor from the memory-mapped file:
    0.9 s for the 240 MB of the full model on a busy 2-core machine, no longer than hashing the
    file's bytes took, and once per process while the file is unchanged) and the configuration
    file, the OpenVINO and PyTorch versions, the network code, :data:`FORMAT_VERSION` and the
    native kernel library it was converted with (if any). Training-only state in the
    checkpoint (``criterion.*``, ``pixel_mean`` / ``pixel_std``) is not part of the converted
    model and not of the key: the same network weights give the same cache entry.
    """
    h = hashlib.sha256()
    h.update(f"format {FORMAT_VERSION}\0openvino {ov.get_version()}\0torch {torch_version()}\0".encode())
    h.update(f"kernel {kernel.digest if kernel else 'none'}\0".encode())
    h.update(_network_source_digest().encode())
    h.update(b"configuration.json\0" + _file_digest(model_dir / "configuration.json", weights=False))
    h.update(WEIGHTS_FILE.encode() + b"\0" + _file_digest(model_dir / WEIGHTS_FILE, weights=True))
    return h.hexdigest()[:32]


def _file_digest(path: Path, *, weights: bool) -> bytes:
    """SHA-256 of a file's content (``weights``: of its network tensors), remembered while the
    file is unchanged (same size, mtime and inode), so a start that looks up the cache and then
    converts hashes the weights once. The weights' digest is also remembered across starts
    (:mod:`.weights_memo`): a warm start neither hashes 250 MB nor imports torch to read them."""
    if weights:
        known = weights_memo.recall(path).get("network_sha256")
        if isinstance(known, str) and re.fullmatch(r"[0-9a-f]{64}", known):
            return bytes.fromhex(known)
        as_of = weights_memo.identity(path)
    st = path.stat()
    digest = _content_sha256(str(path), st.st_size, st.st_mtime_ns, st.st_ino, weights)
    if weights:
        weights_memo.remember(path, network_sha256=digest.hex(), as_of=as_of)
    return digest


@functools.lru_cache(maxsize=8)
def _content_sha256(path: str, size: int, mtime_ns: int, inode: int, weights: bool) -> bytes:
    h = hashlib.sha256()
    if weights:
        import torch  # noqa: PLC0415 - only for weights not seen before (see weights_memo)

        from .checkpoint import read_state_dict  # noqa: PLC0415

        state = read_state_dict(path)  # memory-mapped: the bytes are read while hashing, once
        for name in sorted(k for k in state if not is_training_only(k)):
            tensor = state[name].detach().contiguous()
            h.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
            h.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
        return h.digest()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.digest()


def convert(net: M2FPNet, kernel: Kernel | None = None) -> ov.Model:
    """Trace ``net`` and convert it to an OpenVINO model with a (1, 3, ?, ?) input; with
    ``kernel``, its deformable attention becomes the native kernel's operation.

    The trace is not re-run by ``torch.jit.trace``'s checker (``check_trace=False``): that
    check runs the network twice more and took three quarters of the conversion time; the
    converted model is checked against PyTorch by the warm-up instead (and by the tests).
    """
    import torch  # noqa: PLC0415 - converting needs it; running the converted model does not

    from .network.pixel_decoder import openvino_form  # noqa: PLC0415

    net.eval()
    example = torch.zeros((1, 3, *TRACE_HW), dtype=torch.float32)
    spec = [ov.PartialShape([1, 3, -1, -1])]
    with torch.no_grad(), warnings.catch_warnings():
        # The pixel decoder turns traced sizes into tensors; the tracer warns that such
        # values *might* be constants. They are not (the traced graph reads them from
        # shapes), which the dynamic-size tests verify.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # torch 2.13 marks TorchScript tracing deprecated; it is still OpenVINO's robust
        # path for dynamic spatial sizes (torch.export would need symbolic-shape rewrites).
        warnings.filterwarnings("ignore", r".*torch\.jit\.trace.* deprecated", DeprecationWarning)
        extension = {"extension": str(kernel.path)} if kernel else {}
        with openvino_form(net, native_sampling=kernel is not None):
            try:
                from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder
            except ImportError:  # API moved: the plain path traces with the checker on (slower)
                return ov.convert_model(net, example_input=example, input=spec, **extension)
            decoder = TorchScriptPythonDecoder(net, example_input=(example,), trace_kwargs={"check_trace": False})
            return ov.convert_model(decoder, example_input=example, input=spec, **extension)


def _save_atomically(model: ov.Model, entry: Path, meta: dict) -> None:
    """Write the IR into a temporary sibling folder, then rename it to ``entry``.

    ``save_model`` compresses weights to float16 by default; we keep float32 (exactness).
    If another process finished the same entry first, its copy is kept.
    """
    tmp = entry.with_name(f"{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        ov.save_model(model, str(tmp / IR_NAME), compress_to_fp16=False)
        meta = {**meta, "ir_sizes": _ir_sizes(tmp)}  # a truncated copy is noticed before use
        (tmp / META_NAME).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / IR_NAME).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prune(root: Path, keep: Path) -> None:
    """Delete all but the :data:`KEEP_ENTRIES` most recently used entries and stale temporaries."""
    try:
        entries = [p for p in root.iterdir() if p.is_dir() and p != keep]
    except OSError:
        return
    now = time.time()
    finished = []
    for p in entries:
        if ".tmp-" in p.name:
            if now - p.stat().st_mtime > 24 * 3600:  # left by a crash, not a running conversion
                shutil.rmtree(p, ignore_errors=True)
            continue
        meta = p / META_NAME
        finished.append((meta.stat().st_mtime if meta.exists() else 0.0, p))
    for _mtime, p in sorted(finished, reverse=True)[KEEP_ENTRIES - 1 :]:
        shutil.rmtree(p, ignore_errors=True)


class OpenVinoRuntime:
    """Runs the converted network on OpenVINO's CPU plugin (see the module docstring)."""

    name = "openvino"

    def __init__(self, core: ov.Core, model: ov.Model, config: dict[str, object], precision: str,
                 info: dict[str, str], *, from_cache: bool, entry: Path | None = None):
        self._core = core
        self._entry = entry  # the cache entry, where the last input size is remembered
        self._model = model  # dynamic (1, 3, ?, ?); reshaped to each input size before compiling
        self._config = config
        self.precision = precision
        self.info = info
        self.from_cache = from_cache
        self.compiled: ov.CompiledModel | None = None
        self._request: ov.InferRequest | None = None  # the first of the infer requests (one per stream)
        self._idle: list[ov.InferRequest] = []  # requests free for start_infer
        self._in_flight: list[Callable[[], tuple[np.ndarray, np.ndarray]]] = []  # waiters, oldest first
        self.streams = 1
        self.compiled_hw: tuple[int, int] | None = None
        self.timings: dict[str, float] = {}  # of the last ``infer``: "compile" when it compiled

    def _forget_compiled(self) -> None:
        """Drop the compiled model and its requests (finishing inferences still running)."""
        for wait in list(self._in_flight):
            try:
                wait()
            except Exception:  # its caller meets the same failure when it collects the outputs
                pass
        self._request = self.compiled = self.compiled_hw = None
        self._idle = []

    def set_streams(self, streams: int) -> int:
        """Run up to ``streams`` images at once (OpenVINO streams, the threads shared among
        them, throughput hint); 1 is the default (latency hint). Returns the number taken:
        at most one stream per inference thread. Takes effect at the next compile."""
        threads = int(self._config.get("INFERENCE_NUM_THREADS", 1) or 1)
        streams = max(1, min(int(streams), threads))
        if streams != self.streams:
            self._forget_compiled()
            self.streams = streams
            self._config = {**self._config, "NUM_STREAMS": streams,
                            "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY"}
        return streams

    def _compiled_cache(self, hw: tuple[int, int]) -> dict[str, str]:
        """The ``CACHE_DIR`` setting for compiling at ``hw`` (none without a cache entry, or for
        the self-check's small size), after pruning the entry's other sizes to :data:`KEEP_COMPILED`."""
        if self._entry is None or hw == CHECK_HW:
            return {}
        root = self._entry / COMPILED_DIR
        folder = root / f"{self._config.get('INFERENCE_PRECISION_HINT', 'f32')}-{hw[0]}x{hw[1]}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.utime(folder)  # most recently used
            others = sorted((p for p in root.iterdir() if p.is_dir() and p != folder),
                            key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError as exc:  # read-only or full disk: compile without caching, nothing worse
            log.info("Cannot keep compiled models in %s (%s)", root, exc)
            return {}
        for old in others[KEEP_COMPILED - 1 :]:
            shutil.rmtree(old, ignore_errors=True)
        return {"CACHE_DIR": str(folder)}

    def compile_for(self, hw: tuple[int, int]) -> float:
        """Compile the network for one padded input size, replacing the previous size's; seconds.

        Reads the compiled model from OpenVINO's model cache when an earlier run compiled this
        size (see :meth:`_compiled_cache`), and writes it there otherwise."""
        self._forget_compiled()  # freed before the new one is built
        release_unused_memory()
        t0 = time.perf_counter()
        self._model.reshape({self._model.input(0): ov.PartialShape([1, 3, *hw])})
        cache = self._compiled_cache(hw)
        self.compiled = self._core.compile_model(self._model, "CPU", {**self._config, **cache})
        self._idle = [self.compiled.create_infer_request() for _stream in range(self.streams)]
        self._request = self._idle[0]
        self.compiled_hw = hw
        if self._entry is not None:
            # The compiled model holds the weights in its own layout; the memory-mapped file's
            # pages it read to get there are dropped (230 MB for M2FP; measured: inference
            # reads back 11 MB of them, at no cost in time). The same for the cached compiled
            # model, which OpenVINO maps to import it (270 MB; measured: inference reads none
            # back, and the process is then no larger than after compiling).
            drop_file_pages(self._entry / IR_NAME.replace(".xml", ".bin"))
            for blob in Path(cache.get("CACHE_DIR", self._entry / COMPILED_DIR / "-")).glob("*.blob"):
                drop_file_pages(blob)
        seconds = time.perf_counter() - t0
        if self._entry is not None and hw != CHECK_HW:
            meta = _read_meta(self._entry)
            if meta and meta.get("last_input_hw") != list(hw):
                meta["last_input_hw"] = list(hw)
                _write_meta(self._entry, meta)
        return seconds

    def warm_up(self) -> float:
        """Compile for the input size of the last image parsed with this cached model (at the
        previous start, say), so that the next photo of that size does not wait for it; seconds
        spent (0 when there is nothing to do). The app calls this while the user picks photos."""
        if self._entry is None or self.compiled is not None:
            return 0.0
        hw = _read_meta(self._entry).get("last_input_hw")
        if not (isinstance(hw, list) and len(hw) == 2 and all(isinstance(v, int) and 32 <= v <= 4096 for v in hw)):
            return 0.0
        return self.compile_for((hw[0], hw[1]))

    def infer(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """(1, 3, H, W) normalised input (a NumPy array; a torch tensor is accepted too) ->
        (class logits (Q, C+1), mask logits (Q, H/4, W/4)), float32 NumPy arrays.

        The intermediate buffers (about 0.3 GB for a 1920x1080 photo in f32) are kept for the
        next image: touching fresh memory costs page faults (0.2-0.4 s per image measured
        here). :meth:`release_memory` frees them when the app goes idle.
        """
        return self.start_infer(images)()

    def start_infer(self, images: Any) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """Start :meth:`infer` on a free infer request and return a function that waits for it
        and returns its outputs (the same every call). With :attr:`streams` > 1 that many can run
        at once; starting one more waits for the oldest first, and starting an image of another
        input size finishes all of them before compiling. Not thread-safe: one thread, or the
        parser's lock."""
        hw = (int(images.shape[-2]), int(images.shape[-1]))
        self.timings = {}
        if hw != self.compiled_hw or self._request is None:
            self.timings["compile"] = self.compile_for(hw)
        while not self._idle:
            self._in_flight[0]()  # every request busy: the oldest must finish first
        request = self._idle.pop()
        x = as_array(images)
        request.start_async({0: x}, share_inputs=True)  # x is read while it runs: kept below
        done: list[tuple[np.ndarray, np.ndarray]] = []

        def wait(x: np.ndarray = x) -> tuple[np.ndarray, np.ndarray]:
            if not done:
                try:
                    request.wait()
                    # Copies: the request's buffers are reused by its next inference.
                    done.append((request.get_output_tensor(0).data[0].copy(),
                                 request.get_output_tensor(1).data[0].copy()))
                finally:
                    if wait in self._in_flight:  # (in flight: its request belongs to the current compile)
                        self._in_flight.remove(wait)
                        self._idle.append(request)
            return done[0]

        self._in_flight.append(wait)
        return wait

    def release_memory(self) -> None:
        """Free the intermediate buffers until the next inference (for an idle app)."""
        if self.compiled is not None:
            self.compiled.release_memory()

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def _settings(core: ov.Core, precision: str, threads: int | None = None) -> tuple[str, str, dict[str, object]]:
        """(OpenVINO precision, label for the user, compile configuration)."""
        if precision == "fast":
            bf16 = cpu_has_bf16(core)
            ov_precision = "bf16" if bf16 else "f32"
            label = "fast (bf16)" if bf16 else "fast (f32: this CPU has no bf16)"
        else:
            ov_precision, label = "f32", "exact (f32)"
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": ov_precision,
            "INFERENCE_NUM_THREADS": max(1, int(threads or default_threads())),
            "PERFORMANCE_HINT": "LATENCY",
        }
        return ov_precision, label, config

    @classmethod
    def open_cached(cls, model_dir: str | Path, *, precision: str, progress: ProgressFn | None = None,
                    threads: int | None = None) -> OpenVinoRuntime | None:
        """The cached conversion of this model, if it passed the self-check on this CPU at this
        precision; ``None`` when :meth:`create` (which needs the PyTorch network) must run.

        Raises nothing for a missing, damaged or foreign cache entry: those return ``None``
        (a damaged one with a warning, and ``create`` converts again).
        """
        model_dir = Path(model_dir)
        core = ov.Core()
        ov_precision, label, config = cls._settings(core, precision, threads)
        if progress:
            progress(_("Checking the OpenVINO model cache"), 0.1)
        kernel, why = _load_kernel(core, build=False)
        if why == native_kernel.NOT_BUILT:
            return None  # create() builds it (once) and converts with it
        entry = cache_root() / cache_key(model_dir, kernel)
        meta = _read_meta(entry)
        if meta.get("verified", {}).get(ov_precision) != cpu_identity(core):
            return None
        model = _read_cached(core, entry, meta)
        if model is None:
            return None
        _touch(entry)
        info = {"openvino": ov.get_version().split("-")[0], "openvino_model": f"cached in {entry}",
                "openvino_shapes": "compiled for each input size", "openvino_kernel": _kernel_label(kernel, why)}
        return cls(core, model, config, label, info, from_cache=True, entry=entry)

    @classmethod
    def create(
        cls,
        net: M2FPNet,
        *,
        precision: str,
        model_dir: str | Path,
        progress: ProgressFn | None = None,
        threads: int | None = None,
    ) -> OpenVinoRuntime:
        """Convert (or read from the cache), compile and check against ``net``; raises on any failure.

        ``net`` must hold the loaded weights; it is only read (traced, and run once on a small
        input for the self-check): its weights are not changed and no reference to it is kept.

        With the native kernel first (building it if this machine can, once); if that fails to
        convert or to pass the check, it is marked broken and the stock-operation network is
        tried instead, so a bad kernel costs speed, never the OpenVINO runtime.
        """

        def step(text: str, frac: float | None) -> None:
            if progress:
                progress(text, frac)

        model_dir = Path(model_dir)
        core = ov.Core()
        kernel, why = _load_kernel(core, build=False)
        if why == native_kernel.NOT_BUILT:
            step(_("Building the fast attention kernel for OpenVINO (first start only)…"), 0.55)
            kernel, why = _load_kernel(core, build=True)
        if kernel is None:
            _log_once(f"OpenVINO runs without the native deformable-attention kernel ({why}); "
                      "about 0.5 s slower per 1920x1080 photo, same results")
        try:
            return cls._create(core, net, kernel, why, precision, model_dir, step, threads)
        except Exception as exc:
            if kernel is None:
                raise
            reason = _brief(exc)
            runtime = cls._create(ov.Core(), net, None, f"it failed here: {reason}", precision, model_dir, step,
                                  threads)
            native_kernel.mark_broken(kernel, reason, _network_source_digest())
            log.warning("The native deformable-attention kernel %s failed (%s); OpenVINO runs without it",
                        kernel.path, reason)
            return runtime

    @classmethod
    def _create(cls, core: ov.Core, net: M2FPNet, kernel: Kernel | None, why: str, precision: str,
                model_dir: Path, step: ProgressFn, threads: int | None = None) -> OpenVinoRuntime:
        ov_precision, label, config = cls._settings(core, precision, threads)
        info = {"openvino": ov.get_version().split("-")[0], "openvino_shapes": "compiled for each input size",
                "openvino_kernel": _kernel_label(kernel, why)}

        step(_("Checking the OpenVINO model cache"), 0.6)
        root = cache_root()
        entry = root / cache_key(model_dir, kernel)
        xml = entry / IR_NAME
        model = _read_cached(core, entry, _read_meta(entry))
        if model is not None:
            info["openvino_model"] = f"cached in {entry}"
            _touch(entry)
        from_cache = model is not None
        cached = from_cache
        if model is None:
            step(_("Converting the model for OpenVINO (first start only)…"), 0.65)
            t0 = time.perf_counter()
            model = convert(net, kernel)
            seconds = time.perf_counter() - t0
            info["openvino_model"] = f"converted in {seconds:.1f} s"
            step(_("Saving the converted model for the next start"), 0.8)
            meta = {"source": str(model_dir), "openvino": ov.get_version(), "torch": torch_version(),
                    "kernel": str(kernel.path) if kernel else None,
                    "convert_seconds": round(seconds, 2), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
            try:
                _save_atomically(model, entry, meta)
            except OSError as exc:  # read-only or full disk: run from memory, convert again next time
                log.warning("Cannot cache the converted model in %s (%s); it will be converted again next start",
                            entry, exc)
            else:
                cached = True
                info["openvino_model"] += f", cached in {entry}"
                # Run from the file, like every later start: its weights are memory-mapped
                # (shared with the page cache), and the in-memory model's buffers are freed.
                del model
                model = core.read_model(str(xml))
                _prune(root, entry)

        step(_("Checking the OpenVINO runtime on this CPU"), 0.9)
        runtime = cls(core, model, config, label, info, from_cache=from_cache, entry=entry if cached else None)
        try:
            runtime._self_check(net, ov_precision)
        except RuntimeError as exc:
            if from_cache:  # most likely the CPU plugin; but a damaged cache is cheap to rule out
                raise RuntimeError(f"{exc}; deleting {entry} makes the next start convert the model again") from exc
            raise
        # The check's small compiled model is not needed any more: the first image compiles its own.
        runtime._forget_compiled()
        if cached:
            meta = _read_meta(entry)
            meta.setdefault("verified", {})[ov_precision] = cpu_identity(core)
            _write_meta(entry, meta)
        info["openvino_check"] = "passed"
        release_unused_memory()
        return runtime

    def _self_check(self, net: M2FPNet, ov_precision: str) -> None:
        """Warm-up inference compared with PyTorch: raises if the CPU plugin fails or disagrees."""
        import torch  # noqa: PLC0415 - the check runs after a conversion, which imported it

        g = torch.Generator().manual_seed(0)
        x = torch.randn((1, 3, *CHECK_HW), generator=g)
        got = self.infer(x.numpy())
        net.eval()
        with torch.inference_mode():
            ref = net(x)
        tol = CHECK_TOLERANCE[ov_precision]
        for name, a, b in zip(("class logits", "mask logits"), got, ref, strict=True):
            a, b = np.asarray(a, dtype=np.float32), b[0].float().numpy()
            if a.shape != b.shape:
                raise RuntimeError(f"OpenVINO {name} have shape {tuple(a.shape)}, PyTorch {tuple(b.shape)}")
            with np.errstate(invalid="ignore"):
                err = float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max()))
            if not np.isfinite(err) or err > tol:
                raise RuntimeError(f"OpenVINO {name} differ from PyTorch by {err:.3g} (relative; allowed {tol:g})")


def _load_kernel(core: ov.Core, *, build: bool) -> tuple[Kernel | None, str]:
    """The native kernel, registered with ``core``; or (None, why not)."""
    # A failure is recorded against this kernel with this code (network, conversion, app
    # version): the next version tries the kernel again.
    kernel, why = native_kernel.find(build=build, context=_network_source_digest())
    if kernel is None:
        return None, why
    try:
        core.add_extension(str(kernel.path))
    except Exception as exc:  # built for another OpenVINO, or damaged: never again
        native_kernel.mark_broken(kernel, f"OpenVINO cannot load it: {exc}", _network_source_digest())
        return None, f"OpenVINO cannot load {kernel.path} ({exc})"
    return kernel, ""


def _brief(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters (conversion errors run to
    pages; their first lines say what failed and why)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _kernel_label(kernel: Kernel | None, why: str) -> str:
    """What the model info says about the deformable attention's implementation."""
    return "native deformable attention" if kernel else f"stock operations ({why})"


@functools.lru_cache(maxsize=4)
def _log_once(message: str) -> None:
    log.warning("%s", message)


def _touch(entry: Path) -> None:
    """Mark a cache entry most recently used, for pruning."""
    try:
        os.utime(entry / META_NAME)
    except OSError:
        pass
