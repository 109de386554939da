"""The native deformable-attention kernel for OpenVINO: find it, or build it once.

Why: the deformable sampling is the part of M2FP that OpenVINO's stock operations run worst
(an EmbeddingBag reference kernel fed by index arithmetic: about 0.1 s per encoder layer at
1080p). ``native/ms_deform_attn.cpp`` does it in one pass at about 0.03 s per layer, which
is 0.4-0.5 s per photo (see its header and README "Speed").

Where the library comes from, first found wins:

1. the packaged app's own copy (``build_exe.spec`` compiles it into the bundle);
2. ``<cache>/native/<key>/``, built earlier on this machine; the key covers the source,
   the OpenVINO version and the platform, so an upgrade builds again;
3. a build now, when a C++ compiler (``$CXX``, ``c++``, ``g++`` or ``clang++``) and
   OpenVINO's headers (the ``openvino`` wheel ships them) are there: about 5 s, once.
   Written to a temporary name, then renamed: a crash never leaves half a library.

Without it OpenVINO runs the same network from stock operations (slower, same results), and
one log line says why. ``M2FP_NATIVE_KERNEL=0`` turns it off (to compare, or to rule it out
when troubleshooting). A library that fails once (it does not load, or the converted model
disagrees with PyTorch) is marked broken in the cache and not tried again.

This module does not import openvino or torch at import time: it only finds and builds files.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..userdirs import user_dir

log = logging.getLogger(__name__)

DISABLE_ENV_VAR = "M2FP_NATIVE_KERNEL"
CACHE_ENV_VAR = "M2FP_CACHE_DIR"
DIR_ENV_VAR = "M2FP_NATIVE_DIR"
SOURCE = Path(__file__).resolve().parent / "native" / "ms_deform_attn.cpp"
# Where the packaged app carries its copy (relative to the bundle's root).
BUNDLE_SUBDIR = "m2fp_native"
BUILD_TIMEOUT_S = 300
BUILD_FAILED = "build-failed.txt"  # beside a failed build's target: the compiler's complaint


def library_name() -> str:
    if sys.platform == "win32":
        return "m2fp_msda.dll"
    return "libm2fp_msda.dylib" if sys.platform == "darwin" else "libm2fp_msda.so"


@dataclass(frozen=True)
class Kernel:
    """A built kernel library. ``digest`` (SHA-256 of the file) goes into the converted
    model's cache key: a model converted with one build is never run with another."""

    path: Path
    digest: str


_lock = threading.Lock()


# find()'s reason when the kernel can be built but is not yet.
NOT_BUILT = "not built yet"


def find(*, build: bool, context: str = "") -> tuple[Kernel | None, str]:
    """(the kernel, "") or (None, why there is none). ``build``: compile it if it is missing
    (seconds, once per machine and OpenVINO version); otherwise only look, and say
    :data:`NOT_BUILT` when a build would be tried (a compiler and the headers are there).
    ``context``: what a failure recorded with :func:`mark_broken` holds for (the code that
    uses the kernel): a failure is not held against the kernel once that code changes."""
    if os.environ.get(DISABLE_ENV_VAR, "").strip() == "0":
        return None, f"turned off by {DISABLE_ENV_VAR}=0"
    with _lock:
        candidates = _candidates()
        for path in candidates:
            if path.is_file():
                kernel = _kernel(path)
                marker = _broken_marker(kernel, context)
                if marker.exists():
                    return None, f"{path} failed before: {marker.read_text(errors='replace').strip()}"
                return kernel, ""
        target = candidates[-1]
        failed = target.with_name(BUILD_FAILED)
        if failed.exists():  # once per machine and version: no compile at every start
            return None, failed.read_text(errors="replace").strip()
        try:
            if not build:
                build_command(target)  # raises when no build is possible here
                return None, NOT_BUILT
            return _kernel(_build(target)), ""
        except BuildError as exc:
            if exc.recorded:
                try:
                    failed.write_text(str(exc)[:500], encoding="utf-8")
                except OSError:
                    pass
            return None, str(exc)


def mark_broken(kernel: Kernel, reason: str, context: str = "") -> None:
    """Do not use this build again on this machine with this ``context`` (it did not load, or
    the model converted with it failed or computed wrong)."""
    marker = _broken_marker(kernel, context)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(reason[:500], encoding="utf-8")
    except OSError:
        pass


class BuildError(RuntimeError):
    """Why the kernel could not be built (no compiler, no headers, a compile error).
    ``recorded``: a compile that failed, remembered so it is not tried at every start."""

    def __init__(self, message: str, *, recorded: bool = False):
        super().__init__(message)
        self.recorded = recorded


def _cache_dir() -> Path:
    """``$M2FP_NATIVE_DIR`` (the tests share one build) or the user cache's ``native`` folder."""
    override = os.environ.get(DIR_ENV_VAR)
    return Path(override) if override else user_dir("cache", CACHE_ENV_VAR) / "native"


def _candidates() -> list[Path]:
    """Where the library may be, in order; the last is where a build goes."""
    out = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        out.append(Path(bundle) / BUNDLE_SUBDIR / library_name())
    return [*out, _cache_dir() / _build_key() / library_name()]


def _broken_marker(kernel: Kernel, context: str) -> Path:
    key = hashlib.sha256(f"{kernel.digest}\0{context}".encode()).hexdigest()[:16]
    return _cache_dir() / f"broken-{key}.txt"


@functools.lru_cache(maxsize=1)
def _build_key() -> str:
    """What a build depends on: the source, the OpenVINO version, the platform."""
    import openvino  # noqa: PLC0415 - only when the kernel is wanted

    h = hashlib.sha256()
    try:
        h.update(SOURCE.read_bytes())
    except OSError:  # a frozen app without the source: only the bundled copy can be used
        h.update(b"no source")
    h.update(f"\0{openvino.get_version()}\0{sys.platform}\0{platform.machine()}".encode())
    return h.hexdigest()[:16]


def _kernel(path: Path) -> Kernel:
    return Kernel(path, hashlib.sha256(path.read_bytes()).hexdigest())


def _compiler() -> str | None:
    env = os.environ.get("CXX", "").strip()
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _openvino_files() -> tuple[Path, Path, Path | None]:
    """(include folder, libopenvino, libtbb or None) of the installed openvino wheel."""
    import openvino  # noqa: PLC0415

    root = Path(openvino.__file__).resolve().parent
    include, libs = root / "include", root / "libs"
    if not (include / "openvino" / "core" / "op_extension.hpp").is_file():
        raise BuildError(f"the openvino package has no C++ headers ({include})")
    if sys.platform == "darwin":
        core_patterns, tbb_patterns = ("libopenvino.*.dylib", "libopenvino.dylib"), ("libtbb.*.dylib", "libtbb.dylib")
    else:
        core_patterns, tbb_patterns = ("libopenvino.so.*", "libopenvino.so"), ("libtbb.so.*", "libtbb.so")
    cores = sorted(p for pattern in core_patterns for p in libs.glob(pattern))
    if not cores:
        raise BuildError(f"no OpenVINO library to link against in {libs}")
    tbbs = sorted(p for pattern in tbb_patterns for p in libs.glob(pattern))
    return include, cores[0], (tbbs[0] if tbbs and (include / "tbb").is_dir() else None)


def build_command(output: Path) -> list[str]:
    """The compiler command that builds the library into ``output`` (raises BuildError when
    this machine cannot: Windows, no compiler, no headers)."""
    if sys.platform == "win32":
        raise BuildError("building it on Windows is not supported (the packaged app carries it)")
    cxx = _compiler()
    if cxx is None:
        raise BuildError("no C++ compiler found (install g++ or clang++, or set CXX)")
    if not SOURCE.is_file():
        raise BuildError(f"its source {SOURCE} is missing")
    include, libopenvino, libtbb = _openvino_files()
    # TBB: the kernel splits its work over the threads OpenVINO's CPU plugin runs (its TBB
    # arena); without TBB it runs on one thread (still correct).
    threading_model = "OV_THREAD_TBB" if libtbb else "OV_THREAD_SEQ"
    cmd = [cxx, "-O3", "-std=c++17", "-shared", "-fPIC", f"-DOV_THREAD={threading_model}",
           "-I", str(include), str(SOURCE), "-o", str(output), str(libopenvino)]
    if libtbb:
        cmd.append(str(libtbb))
    if sys.platform == "darwin":
        cmd += ["-Wl,-rpath,@loader_path"]
    return cmd


def _build(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"cannot create {target.parent} ({exc})") from exc
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    cmd = build_command(tmp)
    log.info("Building the native deformable-attention kernel: %s", " ".join(cmd))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"the compiler did not run ({exc})", recorded=True) from exc
    if done.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        errors = [line for line in done.stderr.splitlines() if "error" in line.lower()] or done.stderr.splitlines()
        raise BuildError(f"the compiler failed: {errors[0].strip() if errors else f'exit {done.returncode}'}",
                         recorded=True)
    os.replace(tmp, target)
    return target
