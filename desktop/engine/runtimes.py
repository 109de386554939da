"""Inference back-ends: run the network on a prepared input array.

Both runtimes take the (1, 3, H, W) float32 input as a NumPy array (a torch tensor is accepted
too) and return NumPy arrays, so parsing with OpenVINO never needs torch; this module imports
torch only when a ``TorchRuntime`` is made.

``TorchRuntime`` is the reference path and always available. It runs under
``torch.inference_mode`` with BatchNorm folded into the convolutions (one pass less
over every backbone activation). Channels-last memory was tried and rejected: it moves
mask logits by up to 0.025 on the golden photos (the pixel decoder's resampling ops take
other kernels), far outside the parity tolerance.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from .network import M2FPNet

log = logging.getLogger(__name__)


class Runtime(Protocol):
    name: str
    precision: str
    timings: dict[str, float]  # extra stages of the last ``infer`` (OpenVINO: "compile")

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, 3, H, W) normalised input -> (class logits (Q, C+1), mask logits (Q, H/4, W/4)), float32."""
        ...

    def release_memory(self) -> None:
        """Free what the runtime keeps between images (called when the app goes idle)."""
        ...


def as_array(images: Any) -> np.ndarray:
    """``images`` (a NumPy array or a CPU torch tensor) as a C-contiguous float32 array, no
    copy when it already is one (torch tensors share their memory)."""
    if not isinstance(images, np.ndarray) and hasattr(images, "detach"):
        images = images.detach().numpy()
    return np.ascontiguousarray(images, dtype=np.float32)


@functools.cache
def torch_version() -> str:
    """The installed PyTorch's version without importing it (the cache key needs it on every
    start): read from ``torch/version.py``, else the package metadata, else "unknown"."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    try:
        import importlib.util  # noqa: PLC0415

        spec = importlib.util.find_spec("torch")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
            if m := re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M):
                return m.group(1)
    except (OSError, ImportError, ValueError):
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        return version("torch")
    except (PackageNotFoundError, ValueError):
        return "unknown"


class TorchRuntime:
    """Eager PyTorch, float32 (``exact``) or bfloat16 autocast (``fast``) where the CPU has it."""

    name = "torch"

    def __init__(self, net: M2FPNet, precision: str = "exact"):
        net.eval()
        net.fold_batchnorm()
        self.net = net
        self.precision = precision
        self.timings: dict[str, float] = {}

    def infer(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        import torch  # noqa: PLC0415 - already imported by whoever built the network

        with torch.inference_mode():
            x = torch.from_numpy(as_array(images))
            if self.precision == "fast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits, masks = self.net(x)
            else:
                logits, masks = self.net(x)
        return logits[0].float().numpy(), masks[0].float().numpy()

    def release_memory(self) -> None:
        """Nothing to do: PyTorch frees intermediates as it goes."""
