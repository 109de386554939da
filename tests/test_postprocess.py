"""The frugal post-processing computes what the reference's full-resolution path computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from desktop.engine.config import load_config
from desktop.engine.postprocess import _Resizer, postprocess, resize_matrix
from desktop.engine.preprocess import Prepared, resized_shape


@pytest.mark.parametrize("size_in,size_out", [(160, 640), (192, 768), (750, 600), (972, 457), (1333, 1920), (507, 1000)])
def test_resize_matrix_is_pytorch_bilinear(size_in, size_out):
    x = torch.randn(2, 5, size_in)
    ref = F.interpolate(x[None], size=(5, size_out), mode="bilinear", align_corners=False)[0]
    ours = x @ torch.from_numpy(resize_matrix(size_in, size_out).astype(np.float32)).T
    assert float((ours - ref).abs().max()) < 1e-5


def _prepared(h: int, w: int) -> Prepared:
    rh, rw = resized_shape(h, w)
    ph, pw = -(-rh // 32) * 32, -(-rw // 32) * 32
    return Prepared(torch.zeros(1, 3, ph, pw), (h, w), (rh, rw))


def _reference_upsample(masks: torch.Tensor, prep: Prepared) -> torch.Tensor:
    x = F.interpolate(masks[None], size=prep.padded_hw, mode="bilinear", align_corners=False)
    x = x[:, :, : prep.resized_hw[0], : prep.resized_hw[1]]
    return F.interpolate(x, size=prep.image_hw, mode="bilinear", align_corners=False)[0]


@pytest.mark.parametrize("hw", [(1080, 1920), (480, 640), (457, 301)])
def test_windowed_upsampling_equals_full_resize(hw):
    """Inside the window: the reference's values; outside it: nothing positive is lost."""
    prep = _prepared(*hw)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    gen = torch.Generator().manual_seed(0)
    # A blob of positive logits in a negative field, the shape of a real part mask.
    low = -torch.rand(low_hw, generator=gen) * 4
    r, c = low_hw[0] // 3, low_hw[1] // 2
    low[r : r + 9, c : c + 5] = torch.rand(9, 5, generator=gen) * 6 - 1
    full = _reference_upsample(low[None], prep)[0]
    resizer = _Resizer.for_image(low_hw, prep)
    win = resizer.window((low > 0).numpy())
    y0, y1, x0, x1 = win
    inside = resizer.upsample(low, win)
    assert float((inside - full[y0:y1, x0:x1]).abs().max()) < 1e-4
    outside = full.clone()
    outside[y0:y1, x0:x1] = -1
    assert not bool((outside > 0).any())
    assert (y1 - y0) * (x1 - x0) < full.numel() / 10  # the point of it: a small window


def test_postprocess_without_confident_queries_is_empty(tiny_model_dir):
    """Near-uniform class scores (what untrained weights give): no instance, all background."""
    cfg = load_config(tiny_model_dir)
    prep = _prepared(300, 200)
    logits = torch.zeros(cfg.decoder.num_queries, cfg.decoder.num_classes + 1)
    masks = torch.randn(cfg.decoder.num_queries, prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    parsed = postprocess(logits, masks, prep, cfg)
    assert parsed.labels.shape == (300, 200) and not parsed.labels.any()
    assert parsed.parts == [] and parsed.persons == []
