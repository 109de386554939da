"""Post-processing without PyTorch: the NumPy pieces reproduce what PyTorch computed.

The engine's OpenVINO path must not need torch, so post-processing is NumPy (and OpenCV). Where
the old PyTorch code's floats decided something (the order of the top-k candidates, the first
interpolation of each mask, the signs of the resized logits) they are reproduced exactly; where
they could not be (PyTorch's vectorised exp and float32 sums) they agree to a float32 rounding.
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from desktop.engine.cell_geometry import Axis, upsample_bilinear
from desktop.engine.config import load_config
from desktop.engine.postprocess import class_probabilities, postprocess, topk_unsorted
from desktop.engine.postprocess_cells import sigmoid_
from desktop.engine.preprocess import resized_shape


def test_importing_postprocessing_does_not_import_torch():
    code = (
        "import sys\n"
        "import desktop.engine.postprocess, desktop.engine.postprocess_cells, desktop.engine.cell_geometry\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("n", [168, 2100, 2200, 150])
def test_topk_order_is_torchs(n):
    """Same indices in the same order as ``torch.topk(sorted=False)``: random values, values with
    many ties (what a softmax of similar logits gives) and k close to n."""
    rng = np.random.default_rng(n)
    for trial in range(40):
        if trial % 3 == 0:
            values = rng.random(n).astype(np.float32)
        elif trial % 3 == 1:
            values = rng.integers(0, 12, n).astype(np.float32) / 11  # many equal values
        else:
            values = np.exp(rng.normal(0, 3, n)).astype(np.float32)
        k = min(100, n)
        expected = torch.topk(torch.from_numpy(values), k, sorted=False).indices.numpy()
        assert topk_unsorted(values, k).tolist() == expected.tolist()


def test_topk_with_a_large_input_is_the_k_largest_in_descending_order():
    values = np.random.default_rng(0).permutation(10_000).astype(np.float32)
    expected = torch.topk(torch.from_numpy(values), 100, sorted=False).indices.numpy()
    assert topk_unsorted(values, 100).tolist() == expected.tolist()


def test_class_probabilities_agree_with_torch_softmax():
    logits = np.random.default_rng(1).normal(0, 6, (100, 22)).astype(np.float32)
    ours = class_probabilities(logits)
    ref = torch.softmax(torch.from_numpy(logits), -1).numpy()
    assert ours.dtype == np.float32
    # PyTorch's softmax is itself off by up to ~2e-6 relative (its fast exp), ours by one rounding.
    assert np.allclose(ours, ref, rtol=5e-6, atol=0) and np.abs(ours - ref).max() <= 5e-7


def test_sigmoid_is_close_to_torchs_and_the_same_wherever_a_value_sits():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(-120, 120, 200_001), rng.normal(0, 4, 300_000)]).astype(np.float32)
    ours = sigmoid_(x.copy())
    ref = torch.sigmoid(torch.from_numpy(x)).numpy()
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    normal = x > -80  # below, float32's subnormal range: ours is 0
    assert np.all(np.abs(ours - exact)[normal] <= 2.5e-7 * exact[normal]) and np.abs(ours - exact).max() <= 1e-37 + 2.5e-7
    assert np.all(np.abs(ours - ref)[normal] <= 4e-7 * ref[normal])
    assert not np.isnan(ours).any() and ours.min() >= 0 and ours.max() <= 1
    # Reversed, as a column-major 2-D array, one by one: the same floats.
    assert np.array_equal(sigmoid_(x[::-1].copy())[::-1], ours)
    grid = x[:500_000].reshape(1000, 500)
    assert np.array_equal(sigmoid_(np.asfortranarray(grid)), ours[:500_000].reshape(1000, 500))
    assert np.array_equal(np.concatenate([sigmoid_(x[i : i + 1].copy()) for i in range(0, 1000)]), ours[:1000])
    with pytest.raises(ValueError):
        sigmoid_(grid[:, ::2])


@pytest.mark.parametrize("src,out", [((160, 288), (640, 1152)), ((640, 1138), (1080, 1920)), ((640, 853), (3024, 4032)),
                                     ((7, 9), (7, 9)), ((128, 96), (457, 301))])
def test_upsample_bilinear_is_pytorchs_kernel_bit_for_bit(src, out):
    x = np.random.default_rng(src[0]).normal(0, 3, src).astype(np.float32)
    ref = torch._C._nn.upsample_bilinear2d(torch.from_numpy(x)[None, None], out, False, None, None)[0, 0].numpy()
    rows, cols = Axis.resize(src[0], out[0]), Axis.resize(src[1], out[1])
    assert np.array_equal(upsample_bilinear(x, rows, cols).view(np.int32), ref.view(np.int32))
    win = (out[0] // 5, out[0] // 2 + 1, out[1] // 3, out[1])
    part = upsample_bilinear(x, rows, cols, window=win)
    assert np.array_equal(part.view(np.int32), ref[win[0] : win[1], win[2] : win[3]].view(np.int32))


class _ArrayPrepared:
    """A prepared input whose network input is a NumPy array (the OpenVINO path's)."""

    def __init__(self, h: int, w: int, rh: int, rw: int):
        self.image_hw, self.resized_hw = (h, w), (rh, rw)
        self.tensor = np.zeros((1, 3, -(-rh // 32) * 32, -(-rw // 32) * 32), dtype=np.float32)


@pytest.mark.parametrize("geometry,method", [((480, 640, None, None), "direct"), ((1500, 1100, 300, 220), "cells")])
def test_results_do_not_depend_on_threads_or_input_types(tiny_model_dir, geometry, method):
    """NumPy arrays or tensors, one worker thread or three: the same label map, scores, masks."""
    cfg = load_config(tiny_model_dir)
    h, w, rh, rw = geometry
    if rh is None:
        rh, rw = resized_shape(h, w)
    prep = _ArrayPrepared(h, w, rh, rw)
    q, c = cfg.decoder.num_queries, cfg.decoder.num_classes
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 1, (q, c + 1)).astype(np.float32)
    logits[np.arange(q), rng.integers(0, c, q)] += 8  # confident queries
    low = rng.normal(0, 1, (q, prep.tensor.shape[-2] // 4, prep.tensor.shape[-1] // 4)).astype(np.float32)
    masks = np.stack([cv2.blur(m, (7, 7)) * 6 + rng.normal(0, 0.5) for m in low]).astype(np.float32)  # smooth
    one = postprocess(logits, masks, prep, cfg, method=method, threads=1)
    three = postprocess(torch.from_numpy(logits), torch.from_numpy(masks), prep, cfg, method=method, threads=3)
    assert one.labels.shape == (h, w) and len(np.unique(one.labels)) > 2 and len(one.parts) > 3
    assert np.array_equal(one.labels, three.labels) and one.instance_scores == three.instance_scores
    for a, b in zip(one.persons + one.parts, three.persons + three.parts, strict=True):
        assert a.mask == b.mask and a.bbox == b.bbox and a.score == b.score
