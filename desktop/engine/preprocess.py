"""Image -> normalised, padded input tensor, exactly as the reference pipeline prepares it.

Short side to 640 and long side at most 1333 (``int(x + 0.5)``), Pillow bilinear resize
(what torchvision's ``Resize`` does on a PIL image), subtract the pixel mean, divide by
the std, zero-pad right and bottom to a multiple of 32.

NumPy only (no torch): with OpenVINO and a cached conversion, parsing never imports torch
(1-2 s of a start); the PyTorch runtime wraps the array with ``torch.from_numpy`` (no copy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .config import ModelConfig


@dataclass(frozen=True)
class Prepared:
    """The network input and the geometry needed to map outputs back to the image."""

    tensor: np.ndarray  # (1, 3, Hp, Wp) float32, C-contiguous
    image_hw: tuple[int, int]
    resized_hw: tuple[int, int]

    @property
    def padded_hw(self) -> tuple[int, int]:
        return (int(self.tensor.shape[-2]), int(self.tensor.shape[-1]))


def resized_shape(h: int, w: int, short: int = 640, long: int = 1333) -> tuple[int, int]:
    """The reference's ResizeShortestEdge arithmetic: (new_h, new_w)."""
    size = short * 1.0
    scale = size / min(h, w)
    if h < w:
        newh, neww = size, scale * w
    else:
        newh, neww = scale * h, size
    if max(newh, neww) > long:
        scale = long * 1.0 / max(newh, neww)
        newh = newh * scale
        neww = neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def input_shape(h: int, w: int, cfg: ModelConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """((resized h, w), (padded h, w)) of the network input for an (h, w) image."""
    new_h, new_w = resized_shape(h, w, cfg.min_size, cfg.max_size)
    div = cfg.size_divisibility
    return (new_h, new_w), (-(-new_h // div) * div, -(-new_w // div) * div)


def prepare(rgb: np.ndarray, cfg: ModelConfig) -> Prepared:
    """``rgb``: (H, W, 3) uint8, already upright (EXIF applied) and RGB."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    (new_h, new_w), (pad_h, pad_w) = input_shape(h, w, cfg)
    img = Image.fromarray(rgb, "RGB")
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    arr = np.asarray(img)
    mean = np.asarray(cfg.pixel_mean, dtype=np.float32)
    inv_std = 1.0 / np.asarray(cfg.pixel_std, dtype=np.float32)
    out = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
    # Normalise straight into the padded buffer, channel by channel: no full-size temporaries.
    for c in range(3):
        np.subtract(arr[:, :, c], mean[c], out=out[0, c, :new_h, :new_w], dtype=np.float32)
        out[0, c, :new_h, :new_w] *= inv_std[c]
    return Prepared(out, (h, w), (new_h, new_w))
