"""Inference back-ends: run the network on a prepared input tensor.

``TorchRuntime`` is the reference path and always available. It runs under
``torch.inference_mode`` with BatchNorm folded into the convolutions (one pass less
over every backbone activation). Channels-last memory was tried and rejected: it moves
mask logits by up to 0.025 on the golden photos (the pixel decoder's resampling ops take
other kernels), far outside the parity tolerance.
"""

from __future__ import annotations

import logging
from typing import Protocol

import torch

from .network import M2FPNet

log = logging.getLogger(__name__)


class Runtime(Protocol):
    name: str
    precision: str
    timings: dict[str, float]  # extra stages of the last ``infer`` (OpenVINO: "compile")

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, H, W) normalised input -> (class logits (Q, C+1), mask logits (Q, H/4, W/4))."""
        ...

    def release_memory(self) -> None:
        """Free what the runtime keeps between images (called when the app goes idle)."""
        ...


class TorchRuntime:
    """Eager PyTorch, float32 (``exact``) or bfloat16 autocast (``fast``) where the CPU has it."""

    name = "torch"

    def __init__(self, net: M2FPNet, precision: str = "exact"):
        net.eval()
        net.fold_batchnorm()
        self.net = net
        self.precision = precision
        self.timings: dict[str, float] = {}

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            x = images.contiguous()
            if self.precision == "fast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits, masks = self.net(x)
            else:
                logits, masks = self.net(x)
        return logits[0].float(), masks[0].float()

    def release_memory(self) -> None:
        """Nothing to do: PyTorch frees intermediates as it goes."""
