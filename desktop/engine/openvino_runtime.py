"""OpenVINO back-end: the same network, converted once and compiled for this CPU.

Why OpenVINO: on a 2-core AVX-512 machine the full M2FP spends much of its PyTorch time in
the deformable attention's ``grid_sample``; OpenVINO's CPU plugin runs the network 1.2-1.6x
faster in float32 and about 2x faster in bfloat16 (``bench/bench_runtimes.py``).

How it works (``OpenVinoRuntime.create``):

1. **Convert in memory** (``openvino.convert_model`` on a TorchScript trace, no ONNX file)
   with the input's height and width dynamic, so one converted model serves every image
   size. The network code reads every size from tensors at run time; the tests check the
   converted model against PyTorch at several padded sizes.
2. **Cache** the converted model (OpenVINO IR, float32 weights) in the user's cache folder,
   ``<cache>/openvino/<key>/model.xml|.bin``, written into a temporary folder and renamed into
   place, so a crash never leaves half a model behind. The key is a SHA-256 over the full
   content of ``pytorch_model.pt`` and ``configuration.json``, the OpenVINO and PyTorch
   versions, the network's source code and this module's conversion format; a changed file
   or upgraded library gets a fresh conversion. The IR does not depend on the precision
   (it is chosen when compiling), so both precisions share it; the compiled blobs, which do,
   go to ``compiled-<precision>/`` below it (OpenVINO's own ``CACHE_DIR``). The second start
   skips the conversion (tens of seconds) and most of the compilation.
3. **Compile** for the CPU plugin only: ``exact`` sets ``INFERENCE_PRECISION_HINT`` to f32
   explicitly (OpenVINO defaults to bf16 on CPUs that have it!), ``fast`` uses bf16 where
   the CPU reports ``BF16`` in ``OPTIMIZATION_CAPABILITIES`` and f32 elsewhere. Threads follow
   ``torch.get_num_threads()`` (the parser sets it), latency hint, one stream.
4. **Check** with a warm-up inference on a small input, compared with PyTorch on the same
   input: a CPU plugin that fails or computes garbage fails here, inside ``create``, and the
   parser falls back to PyTorch instead of failing on the user's first photo.

``M2FP_CACHE_DIR`` replaces the application's cache folder (tests point it at a temporary
folder); the OpenVINO models go to its ``openvino`` subfolder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from ..userdirs import user_dir
from .checkpoint import WEIGHTS_FILE
from .network import M2FPNet

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, "float | None"], None]

CACHE_ENV_VAR = "M2FP_CACHE_DIR"
# Bump when the conversion itself changes (trace input, input spec, saved format), so old
# caches are not reused.
FORMAT_VERSION = 1
IR_NAME = "model.xml"
META_NAME = "meta.json"
KEEP_ENTRIES = 3  # converted models kept in the cache (most recently used first)
# Trace input: small (the trace runs the network once) and not square, so no height/width
# confusion can hide; the model's input is declared (1, 3, ?, ?) regardless.
TRACE_HW = (192, 256)
# Warm-up / self-check input: the smallest useful size (stride-32 map of 3 x 4).
CHECK_HW = (96, 128)
# OpenVINO's own compiled-blob cache (``CACHE_DIR``) below each entry: "full" blobs carry the
# weights (~230 MB of disk per precision for the full-size model) and cut the compilation of
# every later start from ~1.5-2 s to ~0.5-0.8 s, with the same resident memory once loaded
# (measured). "weightless" (CACHE_MODE=OPTIMIZE_SIZE, 3 MB) saved no time here; "off" disables it.
BLOB_CACHE = "full"
# Self-check bounds on max |OpenVINO - PyTorch| relative to max(1, max |PyTorch|), per output.
# They catch a failing or miscompiling CPU plugin, not small numeric drift (the tests pin
# exact mode to the reference at 1e-3): f32 agrees to ~1e-6 relative, bf16 to ~1e-2.
CHECK_TOLERANCE = {"f32": 1e-3, "bf16": 0.5}


def cache_root() -> Path:
    """The folder holding converted models: ``$M2FP_CACHE_DIR/openvino`` or the user cache's."""
    return user_dir("cache", CACHE_ENV_VAR) / "openvino"


def cpu_has_bf16(core: ov.Core | None = None) -> bool:
    """Whether the CPU plugin can run bfloat16 natively (AVX-512 BF16 or AMX)."""
    core = core or ov.Core()
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an old or odd plugin: assume not, f32 is always correct
        return False


def _network_source_digest() -> str:
    """SHA-256 of the network's source files, so a code change invalidates cached conversions.

    In a frozen build the sources are not files; the application version stands in for them
    (a new build is a new version).
    """
    from .. import __version__
    from . import network

    h = hashlib.sha256(f"app {__version__}".encode())
    folder = Path(network.__file__).parent
    for path in sorted(folder.glob("*.py")) + [Path(__file__)]:
        try:
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            pass
    return h.hexdigest()


def cache_key(model_dir: Path) -> str:
    """The cache entry name for a model folder: what the converted model depends on.

    Covers the complete content of the weights and configuration files (hashed in full:
    about 0.2 s for the 240 MB weights, which the parser has just read, so they come from
    the page cache), the OpenVINO and PyTorch versions, the network code and
    :data:`FORMAT_VERSION`.
    """
    h = hashlib.sha256()
    h.update(f"format {FORMAT_VERSION}\0openvino {ov.get_version()}\0torch {torch.__version__}\0".encode())
    h.update(_network_source_digest().encode())
    for name in ("configuration.json", WEIGHTS_FILE):
        h.update(name.encode() + b"\0" + _file_sha256(model_dir / name))
    return h.hexdigest()[:32]


def _file_sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.digest()


def convert(net: M2FPNet) -> ov.Model:
    """Trace ``net`` and convert it to an OpenVINO model with a (1, 3, ?, ?) input.

    The trace is not re-run by ``torch.jit.trace``'s checker (``check_trace=False``): that
    check runs the network twice more and took three quarters of the conversion time; the
    converted model is checked against PyTorch by the warm-up instead (and by the tests).
    """
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
        try:
            from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder
        except ImportError:  # API moved: the plain path traces with the checker on (slower)
            return ov.convert_model(net, example_input=example, input=spec)
        decoder = TorchScriptPythonDecoder(net, example_input=(example,), trace_kwargs={"check_trace": False})
        return ov.convert_model(decoder, example_input=example, input=spec)


def _save_atomically(model: ov.Model, entry: Path, meta: dict) -> None:
    """Write the IR into a temporary sibling folder, then rename it to ``entry``.

    ``save_model`` compresses weights to float16 by default; we keep float32 (exactness).
    If another process finished the same entry first, its copy is kept.
    """
    tmp = entry.with_name(f"{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        ov.save_model(model, str(tmp / IR_NAME), compress_to_fp16=False)
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
    for _, p in sorted(finished, reverse=True)[KEEP_ENTRIES - 1 :]:
        shutil.rmtree(p, ignore_errors=True)


class OpenVinoRuntime:
    """Runs the converted network on OpenVINO's CPU plugin (see the module docstring)."""

    name = "openvino"

    def __init__(self, compiled: ov.CompiledModel, precision: str, info: dict[str, str], *, from_cache: bool):
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.precision = precision
        self.info = info
        self.from_cache = from_cache

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, H, W) normalised input -> (class logits (Q, C+1), mask logits (Q, H/4, W/4)).

        The intermediate buffers (0.7-0.9 GB for a 1920x1080 photo in f32) are released after
        every image, so they are not held while post-processing runs or while the app idles;
        allocating them again costs no measurable time.
        """
        x = np.ascontiguousarray(images.detach().numpy(), dtype=np.float32)
        self.request.infer({0: x}, share_inputs=True)
        logits = torch.from_numpy(self.request.get_output_tensor(0).data[0].copy())
        masks = torch.from_numpy(self.request.get_output_tensor(1).data[0].copy())
        self.compiled.release_memory()
        return logits, masks

    @classmethod
    def create(
        cls,
        net: M2FPNet,
        *,
        precision: str,
        model_dir: str | Path,
        progress: ProgressFn | None = None,
    ) -> OpenVinoRuntime:
        """Convert (or load from the cache), compile and check; raises on any failure.

        ``net`` must hold the loaded weights; it is only read (traced, and run once on a small
        input for the self-check): its weights are not changed and no reference to it is kept.
        """

        def step(text: str, frac: float | None) -> None:
            if progress:
                progress(text, frac)

        model_dir = Path(model_dir)
        core = ov.Core()
        bf16 = cpu_has_bf16(core)
        if precision == "fast":
            ov_precision = "bf16" if bf16 else "f32"
            label = "fast (bf16)" if bf16 else "fast (f32: this CPU has no bf16)"
        else:
            ov_precision, label = "f32", "exact (f32)"
        threads = max(1, torch.get_num_threads())
        info = {"openvino": ov.get_version().split("-")[0]}

        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": ov_precision,
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }

        step("Checking the OpenVINO model cache", 0.55)
        root = cache_root()
        entry = root / cache_key(model_dir)
        xml = entry / IR_NAME
        blob_dir: dict[str, object] = {}
        if BLOB_CACHE != "off":
            blob_dir["CACHE_DIR"] = str(entry / f"compiled-{ov_precision}")
            if BLOB_CACHE == "weightless":
                blob_dir["CACHE_MODE"] = "OPTIMIZE_SIZE"
        compiled: ov.CompiledModel | None = None
        from_cache = xml.is_file()
        if from_cache:
            step("Compiling the cached OpenVINO model for this CPU", 0.7)
            t0 = time.perf_counter()
            try:
                compiled = core.compile_model(core.read_model(str(xml)), "CPU", {**config, **blob_dir})
            except Exception as exc:  # damaged or foreign files: convert again
                log.warning("The cached OpenVINO model in %s cannot be used (%s); converting the model again",
                            entry, exc)
                shutil.rmtree(entry, ignore_errors=True)
                from_cache = False
            else:
                info["openvino_model"] = f"cached in {entry}"
                try:
                    os.utime(entry / META_NAME)  # most recently used, for pruning
                except OSError:
                    pass
        if compiled is None:
            step("Converting the model for OpenVINO (first start only)…", 0.6)
            t0 = time.perf_counter()
            model = convert(net)
            seconds = time.perf_counter() - t0
            info["openvino_model"] = f"converted in {seconds:.1f} s"
            step("Saving the converted model for the next start", 0.8)
            meta = {"source": str(model_dir), "openvino": ov.get_version(), "torch": torch.__version__,
                    "convert_seconds": round(seconds, 2), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
            try:
                _save_atomically(model, entry, meta)
            except OSError as exc:  # read-only or full disk: run from memory, convert again next time
                log.warning("Cannot cache the converted model in %s (%s); it will be converted again next start",
                            entry, exc)
            else:
                info["openvino_model"] += f", cached in {entry}"
                # Compile from the file, like every later start (and with the blob cache): the
                # in-memory model's buffers are freed first.
                del model
                model = core.read_model(str(xml))
                config.update(blob_dir)
                _prune(root, entry)
            step("Compiling the model for this CPU", 0.85)
            t0 = time.perf_counter()
            compiled = core.compile_model(model, "CPU", config)
            del model
        info["openvino_compile_seconds"] = f"{time.perf_counter() - t0:.2f}"

        step("Checking the OpenVINO runtime on this CPU", 0.95)
        runtime = cls(compiled, label, info, from_cache=from_cache)
        try:
            runtime._self_check(net, ov_precision)
        except RuntimeError as exc:
            if from_cache:  # most likely the CPU plugin; but a damaged cache is cheap to rule out
                raise RuntimeError(f"{exc}; deleting {entry} makes the next start convert the model again") from exc
            raise
        return runtime

    def _self_check(self, net: M2FPNet, ov_precision: str) -> None:
        """Warm-up inference compared with PyTorch: raises if the CPU plugin fails or disagrees."""
        g = torch.Generator().manual_seed(0)
        x = torch.randn((1, 3, *CHECK_HW), generator=g)
        got = self.infer(x)
        net.eval()
        with torch.inference_mode():
            ref = net(x)
        tol = CHECK_TOLERANCE[ov_precision]
        for name, a, b in zip(("class logits", "mask logits"), got, ref, strict=True):
            b = b[0].float()
            if a.shape != b.shape:
                raise RuntimeError(f"OpenVINO {name} have shape {tuple(a.shape)}, PyTorch {tuple(b.shape)}")
            err = float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
            if not np.isfinite(err) or err > tol:
                raise RuntimeError(f"OpenVINO {name} differ from PyTorch by {err:.3g} (relative; allowed {tol:g})")
