"""Raw network outputs -> label map, persons and parts, at the image's own size.

The reference upsamples all queries' mask logits to the full image before it selects
instances (100 x H x W floats: 3.7 s and gigabytes on a 1920x1080 photo). We do the same
arithmetic on far fewer pixels, with two exact shortcuts:

1. An instance's final score is its class probability times a mask score in [0, 1], and
   every threshold (0.1 for parts and persons, ``parsing_ins_score_thr`` for pasting) is at
   least 0.1. So only the top-k (query, class) pairs whose class probability reaches 0.1
   can survive; only their queries are upsampled.
2. The reference's resize (bilinear to the padded input, crop, bilinear to the image) is
   linear and separable: full = Ay @ low @ Ax.T with two small resize matrices that hold
   PyTorch's own bilinear weights. Each full-resolution value is a convex combination of
   low-resolution values, so it can only be positive (inside the mask) where some low-res
   value it draws on is positive. Every use of a mask (mask score, binary mask, pasting
   where probability x score > 0.5) involves only positive logits, so each query is
   upsampled inside the window its positive low-res pixels reach, not over the whole image.

In the worst case (a hundred kept instances, every window the whole image) the cost is a
few passes over the image per query, so those passes are kept few and cheap:

- each query is upsampled once, into a buffer of a small pool (a fresh full-image array costs
  more in page faults than the arithmetic done on it), and its probability is computed there,
  already 0 outside the mask (the reference thresholds the logit to -inf at 0): it gives the
  mask score's sum and is pasted from, as pixels outside the mask can never pass
  probability x score > 0.5 anyway (there probability <= 0.5, and score <= 1). A query pasted
  in a later class than the one it is scored in keeps its buffer until then;
- an instance that cannot reach any threshold (its score is at most its class probability)
  is not even upsampled; boxes and areas come from the windows, and a part's overlap with a
  person is counted only where their boxes meet, and not at all where it cannot beat the
  best one so far or is known (a person filling its box).

Everything is NumPy and OpenCV: the OpenVINO path never imports PyTorch (a second of start-up
and hundreds of MB), and the outputs may be arrays or CPU tensors. What PyTorch's arithmetic
decided is kept where it decides something:

- the candidates' order (instances of a class are pasted in it, and float sums depend on
  their order) is ``torch.topk``'s, reproduced step for step (:func:`topk_unsorted`);
- the masks (where the resized logit is > 0) are exactly the reference's: small windows use
  the bands (plain float32 products and sums, as before), windows over most of the image the
  reference's two interpolations in plain float32 (:func:`.cell_geometry.upsample_plain`, a
  few units in the last place from PyTorch's fused multiply-adds) with PyTorch's exact floats
  recomputed wherever a value is too close to 0 for its sign to be certain;
- probabilities are ``1 / (1 + exp(-x))`` with OpenCV's exp, class probabilities a float64
  softmax, sums are float64: each within a float32 rounding of PyTorch's, whose own vector
  kernels round differently (and its sums change with its thread count). So scores agree
  with the PyTorch code's to ~1e-7, and a label pixel can differ only where two classes'
  averages tie to a rounding (measured on the full-size model, ``bench/bench_postprocess.py``:
  none of 2.1 million pixels at 1920x1080, 1 of 12.2 million at 12 MP, 8 of 48 million at 48 MP).

Float work on pixels runs on worker threads (NumPy and OpenCV release the GIL): each query's
upsampling, scoring and pasting in strips of rows, one query after another in the reference's
order (see ``_postprocess_direct``).

The results are the reference's up to float rounding; the golden parity tests check it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .cell_geometry import Axis, Bands, CellGeometry, interpolation_block_rows, upsample_plain
from .config import ModelConfig
from .masks import RunMask
from .postprocess_cells import MARGIN, CellPostprocess, Query, sigmoid_, sigmoid_of_negated_
from .result import Part, Person, mask_bbox

if TYPE_CHECKING:
    from .preprocess import Prepared

TOPK = 100  # the reference's test_topk_per_image
MIN_INSTANCE_SCORE = 0.1  # parts need score >= 0.1, persons > 0.1
# Above this share of the image a window is resized as the reference does (two whole
# interpolations) rather than with the band gathers (measured with PyTorch: 5.9 ms for a whole
# 1920x1080 mask against 10 ms with the band gathers, one thread). The choice fixes the floats.
BANDS_MAX_FRACTION = 0.5
#: Sum blocks (of :func:`.cell_geometry.interpolation_block_rows`) per block of
#: :meth:`_Resizer.probabilities`.
_PROB_BLOCKS = 4
#: Photos at least this many times the network input's size in each direction go cell by cell
#: (:mod:`.postprocess_cells`): from there on, most pixels share their cell with others.
CELLS_MIN_UPSCALE = 2.0


@dataclass
class Instance:
    query: int
    label: int
    class_score: float
    score: float = 0.0
    mask: RunMask | None = None
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)
    area: int = 0


@dataclass
class Parsed:
    labels: np.ndarray  # (H, W) uint8
    persons: list[Person]
    parts: list[Part]
    #: Every candidate's score, (query, class) -> score, reported or not (background instances
    #: are pasted but never reported): what the label map was made with.
    instance_scores: dict[tuple[int, int], float] = field(default_factory=dict)


def usable_threads() -> int:
    """The cores this process may run on (the post-processing's default worker count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def class_probabilities(logits: np.ndarray) -> np.ndarray:
    """(Q, C+1) logits -> (Q, C+1) float32 softmax, computed in float64 and rounded once (within
    an ulp or two of PyTorch's float32 softmax, whose exact floats depend on its vector kernels)."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def topk_unsorted(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest of 1-D ``values`` in the order ``torch.topk(values, k,
    sorted=False)`` gives them on the CPU.

    The order matters: instances of one class are pasted in it, and float sums depend on
    their order. PyTorch selects with ``std::nth_element`` (introselect) on (value, index)
    pairs in index order, comparing values with ``>`` (NaN largest), unless ``64 k <= n`` (then
    a partial sort: descending order); this is libstdc++'s introselect, step for step.
    """
    n = int(values.size)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    v = [float("inf") if x != x else x for x in values.astype(np.float64).tolist()]  # NaN largest
    if 64 * k <= n:
        return np.argsort(-np.asarray(v), kind="stable")[:k]
    order = list(range(n))

    def comp(i: int, j: int) -> bool:  # comp(*a, *b) on positions
        return v[order[i]] > v[order[j]]

    def swap(i: int, j: int) -> None:
        order[i], order[j] = order[j], order[i]

    first, last, nth = 0, n, k - 1
    depth = 2 * (n.bit_length() - 1)  # std::__lg(n) * 2
    while last - first > 3:
        if depth == 0:  # introselect's fallback (never reached on real logits): a plain selection
            rest = sorted(order[first:last], key=lambda i: -v[i])
            order[first:last] = rest
            return np.asarray(order[:k], dtype=np.int64)
        depth -= 1
        # __unguarded_partition_pivot: median of (first + 1, mid, last - 1) moved to first.
        a, b, c = first + 1, first + (last - first) // 2, last - 1
        if comp(a, b):
            if comp(b, c):
                swap(first, b)
            elif comp(a, c):
                swap(first, c)
            else:
                swap(first, a)
        elif comp(a, c):
            swap(first, a)
        elif comp(b, c):
            swap(first, c)
        else:
            swap(first, b)
        lo, hi = first + 1, last
        pivot = v[order[first]]
        while True:
            while v[order[lo]] > pivot:
                lo += 1
            hi -= 1
            while pivot > v[order[hi]]:
                hi -= 1
            if not lo < hi:
                break
            swap(lo, hi)
            lo += 1
        if lo <= nth:
            first = lo
        else:
            last = lo
    # __insertion_sort(first, last)
    for i in range(first + 1, last):
        item = order[i]
        if v[item] > v[order[first]]:
            order[first + 1 : i + 1] = order[first:i]
            order[first] = item
        else:
            j = i
            while v[item] > v[order[j - 1]]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = item
    return np.asarray(order[:k], dtype=np.int64)


def _candidates(logits: np.ndarray, cfg: ModelConfig) -> list[Instance]:
    """The top-k (query, class) pairs that can still reach an instance threshold."""
    scores = class_probabilities(logits)[:, :-1]  # drop "no object"
    num_classes = scores.shape[1]
    flat = scores.ravel()
    top_idx = topk_unsorted(flat, TOPK)
    top_scores = flat[top_idx]
    keep = top_scores >= min(MIN_INSTANCE_SCORE, cfg.parsing_ins_score_thr)
    return [
        Instance(query=int(i) // num_classes, label=int(i) % num_classes, class_score=float(s))
        for s, i in zip(top_scores[keep].tolist(), top_idx[keep].tolist(), strict=True)
    ]


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) matrix R with R @ x == F.interpolate(x, out_size, 'bilinear', align_corners=False).

    Same source-index arithmetic as PyTorch: src = (dst + 0.5) * in / out - 0.5, clamped at 0.
    """
    i0, i1, v0, v1 = _resize_entries(in_size, out_size)
    m = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(m, (rows, i0), v0)
    np.add.at(m, (rows, i1), v1)
    return m


def _resize_entries(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two entries of each row of :func:`resize_matrix`: columns i0 <= i1, values v0, v1
    (where i0 == i1, v0 is the row's single entry and v1 is 0)."""
    # float32 index arithmetic, as PyTorch's CPU kernel does it (float64 moves weights by ~1e-4).
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)
    dst = np.arange(out_size, dtype=f32)
    # One rounding of scale * (dst + 0.5) - 0.5, as the compiled kernel's fused multiply-add does.
    exact = np.float64(scale) * (dst + f32(0.5)).astype(np.float64) - 0.5
    src = np.maximum(exact.astype(f32), f32(0.0)).astype(np.float64)
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = src - i0
    same = i0 == i1
    return i0, i1, np.where(same, (1.0 - w1) + w1, 1.0 - w1), np.where(same, 0.0, w1)


@dataclass
class _Resizer:
    """The reference's two-step mask resize, as bands of its two matrices (H x h4, W x w4):
    each output row (column) draws on at most K low-res rows (columns)."""

    y_idx: np.ndarray  # (H, K) low-res row indices
    y_w: np.ndarray  # (H, K) float32 weights (0 where a row has fewer than K)
    x_idx: np.ndarray  # (W, K)
    x_w: np.ndarray  # (W, K)
    y_reach: tuple[np.ndarray, np.ndarray]  # first/last full-res row each low-res row weighs in
    x_reach: tuple[np.ndarray, np.ndarray]
    padded_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    image_hw: tuple[int, int]
    #: The first interpolation's axes (low-res -> padded input) and the second's (resized -> image).
    low_axes: tuple[Axis, Axis] = field(repr=False, default=None)  # type: ignore[assignment]
    geo: CellGeometry = field(repr=False, default=None)  # type: ignore[assignment]
    local: threading.local = field(default_factory=threading.local, repr=False)  # per-thread scratch

    @classmethod
    def for_image(cls, low_hw: tuple[int, int], prep: Prepared) -> _Resizer:
        padded_hw, resized_hw, image_hw = _geometry(prep)
        (y_idx, y_w, y_reach), (x_idx, x_w, x_reach) = (
            _composed_band(*sizes) for sizes in zip(low_hw, padded_hw, resized_hw, image_hw, strict=True)
        )
        axes = (Axis.resize(low_hw[0], padded_hw[0]), Axis.resize(low_hw[1], padded_hw[1]))
        return cls(y_idx, y_w, x_idx, x_w, y_reach, x_reach, padded_hw, resized_hw, image_hw, axes,
                   CellGeometry.for_image(resized_hw, image_hw))

    @property
    def bands(self) -> Bands:
        return Bands(self.y_idx, self.y_w, self.x_idx, self.x_w)

    def interpolated(self, win: tuple[int, int, int, int]) -> bool:
        """Whether the reference resizes a mask with this window by two whole interpolations."""
        y0, y1, x0, x1 = win
        return (y1 - y0) * (x1 - x0) > BANDS_MAX_FRACTION * self.image_hw[0] * self.image_hw[1]

    def window(self, low_mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """(y0, y1, x0, x1): the full-res window outside which the logits cannot be > 0."""
        rows = np.flatnonzero(low_mask.any(1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(low_mask.any(0))
        y0, y1 = int(self.y_reach[0][rows[0]]), int(self.y_reach[1][rows[-1]]) + 1
        x0, x1 = int(self.x_reach[0][cols[0]]), int(self.x_reach[1][cols[-1]]) + 1
        return y0, y1, x0, x1

    def probabilities(self, low: np.ndarray, win: tuple[int, int, int, int], out: np.ndarray,
                      pool: ThreadPoolExecutor | None = None, strips: int = 1
                      ) -> tuple[np.ndarray, np.ndarray, int, float]:
        """The reference's probabilities of ``low`` resized, inside ``win``, with the logit
        thresholded at 0 (sigmoid where the logit is > 0, else 0), in flat buffer ``out``; where
        the logit is > 0 (a bool array in this thread's scratch); their count and sum (float64).

        The logits are :meth:`upsample`'s; where they are > 0 is the reference's own answer: for
        the two interpolations in plain float32, the plain floats' sign where they are clearly
        away from 0, the reference's exact floats where not. Over most of the image, all of it
        is done block by block while each block of the resize is in the caches, in ``strips``
        bands of blocks at once (all but the first on ``pool``): the blocks and the order of
        their sums are the same whatever the strips, and so are the results.
        """
        y0, y1, x0, x1 = win
        size = (y1 - y0) * (x1 - x0)
        if not self.interpolated(win):
            prob = self._bands(low, win, out)
            inside = np.greater(prob, 0.0, out=_scratch(self._scratch("inside", size, np.bool_), prob))
            n_pos = int(np.count_nonzero(inside))
            sigmoid_(prob)
            np.multiply(prob, inside, out=prob)
            return prob, inside, n_pos, cv2.sumElems(prob.T if prob.flags.f_contiguous else prob)[0]
        width = x1 - x0
        inside = self._scratch("inside", size, np.bool_).reshape(y1 - y0, width)
        margin = np.float32(float(np.abs(low).max()) * MARGIN + 1e-30)
        sums: dict[int, float] = {}  # per group of ``sum_rows`` rows (by first row), added in row order
        counts: dict[int, int] = {}

        def finish(r0: int, r1: int, block: np.ndarray) -> None:  # while the block is in the caches
            # ``block`` holds the negated logits -x (see below): inside where -x < 0.
            shape = block.shape
            ins = np.less(block, 0.0, out=inside[r0:r1])
            magnitude = np.abs(block, out=self._block_scratch("magnitude", block.size, np.float32).reshape(shape))
            near = np.less_equal(magnitude, margin, out=self._block_scratch("near", block.size, np.bool_).reshape(shape))
            if np.count_nonzero(near):  # |x| <= margin: the sign is the reference's exact float's
                ys, xs = np.divmod(np.flatnonzero(near), width)
                ins[ys, xs] = self.geo.exact(low, *self.low_axes, ys + (r0 + y0), xs + x0) > 0
            sigmoid_of_negated_(block)
            # 0 outside the mask (a region: the masked write runs through whole stretches).
            outside = np.logical_not(ins, out=self._block_scratch("outside", block.size, np.bool_).reshape(shape))
            np.copyto(block, 0.0, where=outside)
            for k in range(0, block.shape[0], sum_rows):  # sums by the same rows whatever the blocks
                sums[r0 + k] = cv2.sumElems(block[k : k + sum_rows])[0]
            counts[r0] = int(np.count_nonzero(ins))

        rh, rw = self.resized_hw
        # Only the crop of the padded input is used; negated (exactly: -(a b + c d) == (-a) b +
        # (-c) d in float32), so that the sigmoid's exp(-x) needs no pass of its own.
        padded = upsample_plain(low, *self.low_axes, out=self._scratch("padded", rh * rw).reshape(rh, rw),
                                window=(0, rh, 0, rw))
        np.negative(padded, out=padded)
        prob = out[:size].reshape(y1 - y0, width)
        # Blocks of 256K values (1 MB, still in the caches): each costs some twenty calls, each
        # handing the GIL over; in blocks of 64K values two threads were slower than one (1.49 s
        # against 1.28 s at 1920x1080, 2 cores). The sums are still taken by 64K values, so the
        # floats are those of 64K blocks.
        sum_rows = interpolation_block_rows(width)
        step = _PROB_BLOCKS * sum_rows
        blocks = -(-(y1 - y0) // step)
        parts = max(1, min(strips if pool is not None else 1, blocks))
        bounds = [y0 + (blocks * k // parts) * step for k in range(parts)] + [y1]

        def strip(a: int, b: int) -> None:
            upsample_plain(padded, self.geo.rows, self.geo.cols, out=prob[a - y0 : b - y0], window=(a, b, x0, x1),
                           each_block=lambda r0, r1, block: finish(r0 + a - y0, r1 + a - y0, block), block_rows=step)

        others = [pool.submit(strip, a, b) for a, b in zip(bounds[1:-1], bounds[2:], strict=True)] if pool else []
        strip(bounds[0], bounds[1])
        for future in others:
            future.result()
        total = 0.0
        for r0 in sorted(sums):
            total += sums[r0]
        return prob, inside, sum(counts.values()), total

    def upsample(self, low: np.ndarray, win: tuple[int, int, int, int], out: np.ndarray | None = None) -> np.ndarray:
        """The resized ``low`` inside ``win``: from the bands (the reference's floats, bit for bit),
        or, for a window over most of the image (see :meth:`interpolated`), by the reference's
        two interpolations in plain float32 (:func:`.cell_geometry.upsample_plain`: within a few
        units in the last place of its floats; :meth:`probabilities` gives their exact sign).

        ``out``: a flat float32 buffer of at least the window's size to hold the result (else
        one is made); the result may be a column-major view of it.
        """
        y0, y1, x0, x1 = win
        size = (y1 - y0) * (x1 - x0)
        if out is None:
            out = np.empty(size, dtype=np.float32)
        if self.interpolated(win):
            return self._interpolate(low, win, out[:size].reshape(y1 - y0, x1 - x0))
        return self._bands(low, win, out)

    def _bands(self, low: np.ndarray, win: tuple[int, int, int, int], out: np.ndarray) -> np.ndarray:
        """The reference's floats inside ``win`` from the bands (a column-major view of ``out``).

        A dense matrix product would spend ~100x more multiplications on zeros; with the bands
        the cost is a few passes over the window, like the reference's two interpolations.
        """
        y0, y1, x0, x1 = win
        size = (y1 - y0) * (x1 - x0)
        # Rows first (on the small low-res width), then columns on the transposed result, so
        # that every gather copies whole contiguous rows.
        y_idx, y_w = self.y_idx[y0:y1], self.y_w[y0:y1]
        cols = np.ascontiguousarray(low.T)  # (w4, h4)
        rows_t = cols[:, y_idx[:, 0]] * y_w[:, 0]
        for k in range(1, y_idx.shape[1]):
            rows_t += cols[:, y_idx[:, k]] * y_w[:, k]  # (w4, wy): small
        x_idx, x_w = self.x_idx[x0:x1], self.x_w[x0:x1, :, None]
        shape = (x1 - x0, y1 - y0)
        out_t = np.take(rows_t, x_idx[:, 0], axis=0, out=out[:size].reshape(shape), mode="clip")
        out_t *= x_w[:, 0]
        term = self._scratch("term", size).reshape(shape)
        for k in range(1, x_idx.shape[1]):
            np.take(rows_t, x_idx[:, k], axis=0, out=term, mode="clip")
            term *= x_w[:, k]
            out_t += term  # (wx, wy)
        return out_t.T

    def _interpolate(self, low: np.ndarray, win: tuple[int, int, int, int], out: np.ndarray,
                     each_block: Callable[[int, int, np.ndarray], None] | None = None) -> np.ndarray:
        """The reference's resize of one (h4, w4) map inside ``win`` (to the padded input, crop,
        to the image), in plain float32 (``each_block``: see :func:`.cell_geometry.upsample_plain`)."""
        rh, rw = self.resized_hw
        # Only the crop of the padded input is used.
        padded = upsample_plain(low, *self.low_axes, out=self._scratch("padded", rh * rw).reshape(rh, rw),
                                window=(0, rh, 0, rw))
        return upsample_plain(padded, self.geo.rows, self.geo.cols, out=out, window=win, each_block=each_block)

    def _block_scratch(self, name: str, size: int, dtype: type) -> np.ndarray:
        """A flat scratch buffer of this thread for one block (grown as needed, never larger)."""
        buffers = self.local.__dict__.setdefault("blocks", {})
        buf = buffers.get(name)
        if buf is None or buf.size < size:
            buf = buffers[name] = np.empty(size, dtype=dtype)
        return buf[:size]

    def _scratch(self, name: str, size: int, dtype: type = np.float32) -> np.ndarray:
        """A flat scratch buffer of this thread, reusing the memory of earlier calls (fresh memory
        costs more in page faults than the arithmetic done on it)."""
        buffers = self.local.__dict__.setdefault("buffers", {})
        buf = buffers.get(name)
        if buf is None or buf.size < size:
            buf = buffers[name] = np.empty(max(size, self.image_hw[0] * self.image_hw[1] // 2), dtype=dtype)
        return buf[:size]


def _geometry(prep: Prepared) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(padded, resized, image) sizes of ``prep``; only the input's shape is read (a tensor or an
    array)."""
    shape = prep.tensor.shape
    return (int(shape[-2]), int(shape[-1])), tuple(prep.resized_hw), tuple(prep.image_hw)


def _composed_band(low: int, padded: int, resized: int, full: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The band of M = resize_matrix(resized, full) @ resize_matrix(low, padded)[:resized] and its
    reach: each row's non-zero columns (ascending, padded to the widest row with the last one)
    and weights (float32, padded with 0), and for each column the first and last row where it
    is non-zero.

    Both factors have at most two entries per row, so each row of M has at most four, computed
    as the dense ``v0 * S[i0] + v1 * S[i1]`` would (same products, same sums), without the
    dense (full x low) matrices.
    """
    a, b, u, t = (e[:resized] for e in _resize_entries(low, padded))  # S = step 1, cropped
    i0, i1, v0, v1 = _resize_entries(resized, full)
    cols = np.stack([a[i0], b[i0], a[i1], b[i1]], axis=1)  # (full, 4) candidate columns

    def s(k: np.ndarray) -> np.ndarray:  # S[k, cols] (t is 0 where a == b)
        return np.where(cols == a[k][:, None], u[k][:, None], 0.0) + np.where(cols == b[k][:, None], t[k][:, None], 0.0)

    values = v0[:, None] * s(i0) + v1[:, None] * s(i1)
    order = np.argsort(cols, axis=1, kind="stable")
    cols, values = np.take_along_axis(cols, order, 1), np.take_along_axis(values, order, 1)
    valid = values != 0
    valid[:, 1:] &= cols[:, 1:] != cols[:, :-1]  # a repeated column has the same value
    # Compact each row's valid entries to the left, in order.
    pos = np.cumsum(valid, axis=1) - 1
    k = int(valid.sum(1).max())
    rows, slots = np.nonzero(valid)
    idx = np.zeros((full, k), dtype=np.int64)
    w = np.zeros((full, k), dtype=np.float32)
    idx[rows, pos[rows, slots]] = cols[rows, slots]
    w[rows, pos[rows, slots]] = values[rows, slots]
    last = idx[np.arange(full), valid.sum(1) - 1]
    idx = np.where(np.arange(k) < valid.sum(1)[:, None], idx, last[:, None])
    lo = np.full(low, full, dtype=np.int64)
    hi = np.full(low, -1, dtype=np.int64)
    np.minimum.at(lo, cols[rows, slots], rows)
    np.maximum.at(hi, cols[rows, slots], rows)
    lo[hi < 0], hi[hi < 0] = 0, full - 1  # columns no row draws on, as argmax over no True gives
    return idx, w, (lo, hi)


def _scratch(buf: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A view of flat ``buf`` with the shape (and column-major order, if so) of ``like``."""
    if like.ndim == 2 and not like.flags.c_contiguous and like.flags.f_contiguous:
        return buf[: like.size].reshape(like.shape[::-1]).T
    return buf[: like.size].reshape(like.shape)


def mask_score(prob_sum: float, n_pos: int) -> float:
    """The reference's ``(prob * binary).sum() / (binary.sum() + 1e-6)`` from the sum and the
    count, in float32 as there (the count made float32, plus float32(1e-6), divided)."""
    f32 = np.float32
    return float(f32(prob_sum) / (f32(n_pos) + f32(1e-6)))


def postprocess(logits: Any, masks: Any, prep: Prepared, cfg: ModelConfig, *, method: str = "auto",
                threads: int | None = None) -> Parsed:
    """``logits``: (Q, C+1) for one image; ``masks``: (Q, h/4, w/4) mask logits: NumPy arrays
    (anything ``np.asarray`` turns into float32, a CPU tensor too). Only the shape of
    ``prep.tensor`` is read.

    ``method``: "direct" (every query over its window, full-size scratch), "cells" (cell by
    cell, for photos much larger than the network input; see :mod:`.postprocess_cells`), or
    "auto": cells from :data:`CELLS_MIN_UPSCALE` times the network input's size on. Both give
    the same label map, masks, boxes, areas and links; scores agree to float32 rounding.
    ``threads``: worker threads (default: the usable cores); results do not depend on it."""
    logits = np.asarray(logits, dtype=np.float32)
    masks = np.ascontiguousarray(np.asarray(masks, dtype=np.float32))
    h, w = prep.image_hw
    num_parsing = cfg.num_parsing
    thr = cfg.parsing_ins_score_thr
    workers = max(1, int(threads or usable_threads()))

    def kept(label: int, score: float) -> bool:
        """Whether an instance is reported (persons > 0.1, parts >= 0.1, never background)."""
        if label == num_parsing:
            return score > MIN_INSTANCE_SCORE
        return label != 0 and score >= MIN_INSTANCE_SCORE

    def pasted(label: int, score: float) -> bool:
        """Whether an instance is pasted into the label map (never persons)."""
        return label != num_parsing and score >= thr

    # A score is at most its class probability: an instance that fails both tests with its
    # class probability as score can never be kept or pasted, and is not even upsampled.
    candidates = [i for i in _candidates(logits, cfg) if kept(i.label, i.class_score) or pasted(i.label, i.class_score)]
    by_query: dict[int, list[Instance]] = {}
    for inst in candidates:
        by_query.setdefault(inst.query, []).append(inst)

    resizer = _Resizer.for_image((masks.shape[-2], masks.shape[-1]), prep)
    windows = {q: resizer.window(masks[q] > 0) for q in by_query}
    rh, rw = prep.resized_hw
    if method not in ("auto", "direct", "cells"):
        raise ValueError(f"method must be auto, direct or cells, not {method!r}")
    if method == "cells" and (h < rh or w < rw):
        raise ValueError("the cell-wise post-processing needs a photo at least the network input's size")
    if method == "cells" or (method == "auto" and h >= CELLS_MIN_UPSCALE * rh and w >= CELLS_MIN_UPSCALE * rw):
        labels = _postprocess_cells(candidates, by_query, windows, masks, resizer, kept, pasted, workers)
    else:
        labels = _postprocess_direct(candidates, by_query, windows, masks, resizer, kept, pasted, workers)

    person_insts = sorted((i for i in candidates if i.mask is not None and i.label == num_parsing), key=lambda i: -i.score)
    part_insts = sorted((i for i in candidates if i.mask is not None and i.label != num_parsing), key=lambda i: -i.score)
    persons = [Person(id=n + 1, score=i.score, mask=i.mask, bbox=i.bbox, area=i.area) for n, i in enumerate(person_insts)]
    names = cfg.classes
    parts = [
        Part(
            id=n + 1,
            label=inst.label,
            name=names[inst.label] if inst.label < len(names) else str(inst.label),
            score=inst.score,
            mask=inst.mask,
            bbox=inst.bbox,
            area=inst.area,
            person_id=_owner(inst.mask, inst.bbox, inst.area, persons),
        )
        for n, inst in enumerate(part_insts)
    ]
    persons = [
        Person(p.id, p.score, p.mask, p.bbox, p.area, tuple(pt.id for pt in parts if pt.person_id == p.id)) for p in persons
    ]
    return Parsed(labels, persons, parts, {(i.query, i.label): i.score for i in candidates})


def _postprocess_cells(candidates: list[Instance], by_query: dict[int, list[Instance]], windows: dict, masks: np.ndarray,
                       resizer: _Resizer, kept, pasted, workers: int) -> np.ndarray:
    """A photo much larger than the network input: cell by cell (see :mod:`.postprocess_cells`).
    Sets every candidate's score and, for those kept, mask, box and area; returns the label map."""
    cells = CellPostprocess(masks, resizer.padded_hw, resizer.resized_hw, resizer.image_hw, resizer.bands,
                            workers=workers)
    queries: dict[int, Query] = {}
    for q, win in windows.items():
        if win is not None:  # no positive pixel anywhere: mask score 0, nothing kept or pasted
            labels = tuple(sorted(i.label for i in by_query[q] if pasted(i.label, i.class_score)))
            queries[q] = Query(q, interpolated=resizer.interpolated(win), labels=labels)

    def scored(query: Query) -> list[tuple[int, float]]:
        """(On a worker, once the query's mask score is known.) Its instances' scores and, for
        those kept, masks, boxes and areas; returns its pasted instances (class id, score)."""
        score = mask_score(query.prob_sum, query.n_pos)
        out = []
        for inst in by_query[query.index]:
            inst.score = inst.class_score * score
            if kept(inst.label, inst.score):
                inst.mask, inst.bbox, inst.area = query.mask, query.mask.bbox, query.n_pos
            if pasted(inst.label, inst.score):
                out.append((inst.label, inst.score))
        return out

    def classes() -> list[tuple[int, list[tuple[Query, float]]]]:
        """The pasted classes, ascending, each with its instances in paste order."""
        out = []
        for label in sorted({i.label for i in candidates}):
            members = [(queries[i.query], i.score) for i in candidates
                       if i.label == label and i.query in queries and pasted(i.label, i.score)]
            if members:
                out.append((label, members))
        return out

    return cells.run(list(queries.values()), scored, classes)


def _postprocess_direct(candidates: list[Instance], by_query: dict[int, list[Instance]], windows: dict, masks: np.ndarray,
                        resizer: _Resizer, kept, pasted, workers: int) -> np.ndarray:
    """A photo about the network input's size: every query upsampled over its window (full-size
    scratch buffers, a few MB here). Sets scores, masks, boxes and areas; returns the label map.

    Queries are scored and pasted one after another, in the reference's order; each query's
    upsampling and scoring (most of the float work), and its pasting, run in ``workers`` strips
    of rows at once. Whole queries on separate threads gained nothing here (2 cores): the
    hundreds of calls per query each hand the GIL over, and a third thread (the pasting)
    competed with the two scoring ones; strips of large blocks keep both cores on one query."""
    h, w = resizer.image_hw
    # Worker threads for the strips of each query's blocks (and of its pasting): NumPy and
    # OpenCV release the GIL in every pass over the pixels.
    with ThreadPoolExecutor(workers - 1, thread_name_prefix="postprocess") if workers > 1 else nullcontext() as strip_pool:
        pool = _Buffers(h * w)

        def score_query(q: int) -> np.ndarray:
            """Upsample query q once: the scores of all its instances, the masks of those kept, and
            its probability inside the window (0 outside the mask), in a buffer of ``pool``."""
            y0, y1, x0, x1 = windows[q]
            prob, inside, n_pos, prob_sum = resizer.probabilities(masks[q], windows[q], pool.take(), strip_pool, workers)
            score = mask_score(prob_sum, n_pos)
            bbox = None
            for inst in by_query[q]:
                inst.score = inst.class_score * score
                if kept(inst.label, inst.score):
                    if bbox is None:
                        bbox = _window_bbox(inside, y0, x0)
                    inst.mask = RunMask.from_crop(inside, x0, y0, (h, w))
                    inst.bbox, inst.area = bbox, n_pos
            return prob

        # The order in which queries are first needed (a query's first instance, lowest class).
        labels_in_order = sorted({i.label for i in candidates})
        order: list[int] = []
        for label in labels_in_order:
            for inst in candidates:
                if inst.label == label and windows[inst.query] is not None and inst.query not in order:
                    order.append(inst.query)
        probs = (score_query(q) for q in order)

        # A query pasted in a later class than the one it was scored in keeps its buffer until then.
        saved: dict[int, tuple[np.ndarray, list[int]]] = {}  # query -> (prob, [uses left])
        hit_buf = np.empty(h * w, dtype=bool)

        # Class by class (so only one class's paste buffers are in use at a time), in id order: the
        # argmax over class channels, with channels never pasted at 0 and ties to the lower id
        # (as torch.argmax does), is a running maximum with a strict comparison.
        best = np.zeros((h, w), dtype=np.float32)
        labels = np.zeros((h, w), dtype=np.uint8)
        total = np.zeros((h, w), dtype=np.float32)  # zero outside the class being pasted
        count = np.zeros((h, w), dtype=np.uint8)
        scored: set[int] = set()
        for label in labels_in_order:
            pasted_box = None  # (y0, y1, x0, x1) around this class's pasted windows
            for inst in (i for i in candidates if i.label == label):
                q = inst.query
                win = windows[q]
                if win is None:  # no positive pixel anywhere: mask score 0, nothing kept or pasted
                    continue
                if q not in scored:  # the query's first instance (lowest class)
                    scored.add(q)
                    prob = next(probs)
                    uses = sum(1 for i in by_query[q] if i is not inst and pasted(i.label, i.score))
                    if uses:
                        saved[q] = (prob, [uses])
                    last_use = not uses
                elif pasted(inst.label, inst.score):
                    prob, left = saved[q]
                    left[0] -= 1
                    last_use = left[0] == 0
                    if last_use:
                        del saved[q]
                else:
                    continue
                if pasted(inst.label, inst.score):
                    win_slice = np.s_[win[0] : win[1], win[2] : win[3]]
                    _paste_strips(prob, np.float32(inst.score), count[win_slice], total[win_slice], last_use,
                                  strip_pool, workers)
                    pasted_box = win if pasted_box is None else _union(pasted_box, win)
                if last_use:
                    pool.give(prob)
            if pasted_box is not None:
                # Outside the box the average is 0, which never beats ``best`` (>= 0).
                box = np.s_[pasted_box[0] : pasted_box[1], pasted_box[2] : pasted_box[3]]
                np.maximum(count[box], 1, out=count[box])
                avg = np.divide(total[box], count[box], out=total[box])
                better = np.greater(avg, best[box], out=hit_buf[: avg.size].reshape(avg.shape))
                np.maximum(best[box], avg, out=best[box])  # where(better, avg, best)
                np.copyto(labels[box], np.uint8(label), where=better)  # regions: runs through stretches
                total[box] = 0
                count[box] = 0
        for _ in probs:  # none left: the workers are done
            pass
        return labels


#: Values per block in :func:`_paste` (its scratch stays in the caches).
_PASTE_BLOCK = 1 << 16


def _paste(prob: np.ndarray, score: np.float32, count: np.ndarray, total: np.ndarray, *, in_place: bool) -> None:
    """Paste ``prob * score`` into a class channel where it is > 0.5: ``count`` += 1 and
    ``total`` += the value there (``count``, ``total``: the window's part of the class's
    full-size arrays). Block by block in ``prob``'s memory order so the products and hits stay
    in the caches; ``in_place``: the products may overwrite ``prob``. The hits are regions (a
    smooth probability above a level), where NumPy's masked add runs through whole stretches at
    a time: cheaper than zeroing the misses and adding everything."""
    column_major = prob.ndim == 2 and not prob.flags.c_contiguous
    if column_major:  # blocks of columns
        prob, count, total = prob.T, count.T, total.T
    rows = prob.shape[0]
    step = max(1, _PASTE_BLOCK // max(prob.shape[1], 1))
    scratch = np.empty((min(step, rows), prob.shape[1]), dtype=np.float32)
    hits = np.empty(scratch.shape, dtype=bool)
    for r0 in range(0, rows, step):
        r1 = min(r0 + step, rows)
        product = np.multiply(prob[r0:r1], score, out=prob[r0:r1] if in_place else scratch[: r1 - r0])
        hit = np.greater(product, 0.5, out=hits[: r1 - r0])
        np.add(count[r0:r1], hit.view(np.uint8), out=count[r0:r1])
        np.add(total[r0:r1], product, out=total[r0:r1], where=hit)  # the value where > 0.5


def _paste_strips(prob: np.ndarray, score: np.float32, count: np.ndarray, total: np.ndarray, in_place: bool,
                  pool: ThreadPoolExecutor | None, strips: int) -> None:
    """:func:`_paste` in ``strips`` bands of ``prob``'s memory order at once, all but the first on
    ``pool`` (each pixel gets the same operations, whatever the bands)."""
    if pool is None or strips <= 1:
        _paste(prob, score, count, total, in_place=in_place)
        return
    axis = 0 if prob.flags.c_contiguous else 1
    n = prob.shape[axis]
    bounds = [n * k // strips for k in range(strips + 1)]
    parts = [np.s_[a:b] if axis == 0 else np.s_[:, a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    others = [pool.submit(_paste, prob[p], score, count[p], total[p], in_place=in_place) for p in parts[1:]]
    _paste(prob[parts[0]], score, count[parts[0]], total[parts[0]], in_place=in_place)
    for future in others:
        future.result()


class _Buffers:
    """Flat float32 buffers of one size, handed out and given back (thread-safe): a query's
    probability lives in one from its scoring to its last paste."""

    def __init__(self, size: int):
        self.size = size
        self.free: list[np.ndarray] = []
        self.lock = threading.Lock()

    def take(self) -> np.ndarray:
        with self.lock:
            if self.free:
                return self.free.pop()
        return np.empty(self.size, dtype=np.float32)

    def give(self, view: np.ndarray) -> None:
        """Give back the buffer ``view`` (a view of one of ours) lives in."""
        base = view if view.base is None else view.base
        if base.ndim == 1 and base.size == self.size:
            with self.lock:
                self.free.append(base)


def _window_bbox(inside: np.ndarray, y0: int, x0: int) -> tuple[int, int, int, int]:
    """``mask_bbox`` of a mask that is ``inside`` from (y0, x0) on and empty elsewhere; without a
    scan when ``inside`` touches all four sides of its window (the usual large mask)."""
    rows, cols = inside.shape
    if inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any():
        return (x0, y0, cols, rows)
    bx, by, bw, bh = mask_bbox(inside)
    return (bx + x0, by + y0, bw, bh) if bw else (0, 0, 0, 0)


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The smallest (y0, y1, x0, x1) box around two boxes."""
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _owner(mask: RunMask, bbox: tuple[int, int, int, int], area: int, persons: list[Person]) -> int | None:
    """The person whose mask overlaps ``mask`` most (the higher score on a tie), or None.

    Overlaps are counted on the masks' runs (no pixel is visited), and not at all where they
    cannot beat the best so far (an overlap is at most either area) or the boxes do not meet.
    """
    best_id, best_overlap = None, 0
    x, y, bw, bh = bbox
    for person in persons:  # ordered by descending score
        if best_overlap >= min(area, person.area):
            continue
        px, py, pw, ph = person.bbox
        if max(x, px) >= min(x + bw, px + pw) or max(y, py) >= min(y + bh, py + ph):
            continue
        overlap = mask.intersection_area(person.mask)
        if overlap > best_overlap:
            best_id, best_overlap = person.id, overlap
    return best_id
