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
few passes over the image per query, so those passes are kept few and cheap, with the same
float operations in the same order as the straightforward code (same values, same sums):

- each query is upsampled once, into a reused buffer (a fresh full-image tensor costs more
  in page faults than the arithmetic done on it), and its probability is computed there,
  already 0 outside the mask (sigmoid of the logit thresholded to -inf at 0): it gives the
  mask score's sum and is pasted from, as pixels outside the mask can never pass
  probability x score > 0.5 anyway (there probability <= 0.5, and score <= 1). Only a query
  pasted in a later class than the one it is scored in keeps a copy;
- float arithmetic runs in PyTorch (on the parser's threads); comparisons, counts and
  bitwise updates in NumPy (exact, and several times faster than PyTorch's comparison
  kernels); no masked writes (slow on scattered masks), dense passes instead;
- an instance that cannot reach any threshold (its score is at most its class probability)
  is not even upsampled; boxes and areas come from the windows, and a part's overlap with a
  person is counted only where their boxes meet, and not at all where it cannot beat the
  best one so far or is known (a person filling its box).

The results are the reference's up to float rounding; the golden parity tests check it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from .cell_geometry import Bands
from .config import ModelConfig
from .masks import RunMask
from .postprocess_cells import CellPostprocess, Query
from .preprocess import Prepared
from .result import Part, Person, mask_bbox

TOPK = 100  # the reference's test_topk_per_image
MIN_INSTANCE_SCORE = 0.1  # parts need score >= 0.1, persons > 0.1
# Above this share of the image a window is resized with F.interpolate (measured: 5.9 ms for
# a whole 1920x1080 mask against 10 ms with the band gathers, one thread).
BANDS_MAX_FRACTION = 0.5
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


def _candidates(logits: torch.Tensor, cfg: ModelConfig) -> list[Instance]:
    """The top-k (query, class) pairs that can still reach an instance threshold."""
    scores = F.softmax(logits.float(), dim=-1)[:, :-1]  # drop "no object"
    num_classes = scores.shape[1]
    k = min(TOPK, scores.numel())
    top_scores, top_idx = scores.flatten().topk(k, sorted=False)
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

    y_idx: torch.Tensor  # (H, K) low-res row indices
    y_w: torch.Tensor  # (H, K) weights (0 where a row has fewer than K)
    x_idx: torch.Tensor  # (W, K)
    x_w: torch.Tensor  # (W, K)
    y_reach: tuple[np.ndarray, np.ndarray]  # first/last full-res row each low-res row weighs in
    x_reach: tuple[np.ndarray, np.ndarray]
    padded_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    image_hw: tuple[int, int]
    buffers: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # see _buffer

    @classmethod
    def for_image(cls, low_hw: tuple[int, int], prep: Prepared) -> _Resizer:
        (y_idx, y_w, y_reach), (x_idx, x_w, x_reach) = (
            _composed_band(*sizes) for sizes in zip(low_hw, prep.padded_hw, prep.resized_hw, prep.image_hw, strict=True)
        )
        return cls(y_idx, y_w, x_idx, x_w, y_reach, x_reach, prep.padded_hw, prep.resized_hw, prep.image_hw)

    def window(self, low_mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """(y0, y1, x0, x1): the full-res window outside which the logits cannot be > 0."""
        rows = np.flatnonzero(low_mask.any(1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(low_mask.any(0))
        y0, y1 = int(self.y_reach[0][rows[0]]), int(self.y_reach[1][rows[-1]]) + 1
        x0, x1 = int(self.x_reach[0][cols[0]]), int(self.x_reach[1][cols[-1]]) + 1
        return y0, y1, x0, x1

    def upsample(self, low: torch.Tensor, win: tuple[int, int, int, int]) -> torch.Tensor:
        """The reference's resized ``low`` inside ``win``, computed from the bands.

        A dense matrix product would spend ~100x more multiplications on zeros; with the bands
        the cost is a few passes over the window, like the reference's two interpolations.
        The result lives in this resizer's buffers: the next call overwrites it.
        """
        y0, y1, x0, x1 = win
        if (y1 - y0) * (x1 - x0) > BANDS_MAX_FRACTION * self.image_hw[0] * self.image_hw[1]:
            # Most of the image: PyTorch's own two interpolations are faster than gathers.
            return self._interpolate(low)[y0:y1, x0:x1]
        # Rows first (on the small low-res width), then columns on the transposed result, so
        # that every gather copies whole contiguous rows.
        y_idx, y_w = self.y_idx[y0:y1], self.y_w[y0:y1]
        cols = low.T.contiguous()  # (w4, h4)
        rows_t = cols[:, y_idx[:, 0]] * y_w[:, 0]
        for k in range(1, y_idx.shape[1]):
            rows_t += cols[:, y_idx[:, k]] * y_w[:, k]  # (w4, wy): small
        x_idx, x_w = self.x_idx[x0:x1], self.x_w[x0:x1, :, None]
        shape = (x1 - x0, y1 - y0)
        out_t = torch.index_select(rows_t, 0, x_idx[:, 0], out=self._buffer("band", shape)).mul_(x_w[:, 0])
        term = self._buffer("term", shape)
        for k in range(1, x_idx.shape[1]):
            out_t += torch.index_select(rows_t, 0, x_idx[:, k], out=term).mul_(x_w[:, k])  # (wx, wy)
        return out_t.T

    def _interpolate(self, low: torch.Tensor) -> torch.Tensor:
        """The reference's resize of one (h4, w4) map: to the padded input, crop, to the image.

        ``F.interpolate`` with an ``out`` buffer (the same kernel, sizes and scales).
        """
        bilinear = torch._C._nn.upsample_bilinear2d
        x = bilinear(low[None, None], self.padded_hw, False, None, None, out=self._buffer("padded", (1, 1, *self.padded_hw)))
        x = x[:, :, : self.resized_hw[0], : self.resized_hw[1]]
        return bilinear(x, self.image_hw, False, None, None, out=self._buffer("image", (1, 1, *self.image_hw)))[0, 0]

    def _buffer(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A float32 scratch tensor of ``shape`` (contiguous), reusing the memory of earlier calls."""
        numel = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.numel() < numel:
            buf = self.buffers[name] = torch.empty(max(numel, self.image_hw[0] * self.image_hw[1] // 2))
        return buf[:numel].view(shape)


def _composed_band(low: int, padded: int, resized: int, full: int) -> tuple[torch.Tensor, torch.Tensor, tuple[np.ndarray, np.ndarray]]:
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
    return torch.from_numpy(idx), torch.from_numpy(w), (lo, hi)


def _out_like(buf: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A view of flat ``buf`` laid out as PyTorch lays out an element-wise op's result on the 2-D
    ``t`` (column-major for a transposed ``t``, else row-major), so a sum over it adds the same
    numbers in the same order as a sum over that result."""
    rows, cols = t.shape
    if rows > 1 and cols > 1 and t.stride(0) < t.stride(1):
        return buf[: rows * cols].view(cols, rows).T
    return buf[: rows * cols].view(rows, cols)


def _scratch(buf: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A view of flat ``buf`` with the shape (and column-major order, if so) of ``like``."""
    if like.ndim == 2 and not like.flags.c_contiguous and like.flags.f_contiguous:
        return buf[: like.size].reshape(like.shape[::-1]).T
    return buf[: like.size].reshape(like.shape)


def postprocess(logits: torch.Tensor, masks: torch.Tensor, prep: Prepared, cfg: ModelConfig, *,
                method: str = "auto") -> Parsed:
    """``logits``: (Q, C+1) for one image; ``masks``: (Q, h/4, w/4) mask logits.

    ``method``: "direct" (every query over its window, full-size scratch), "cells" (cell by
    cell, for photos much larger than the network input; see :mod:`.postprocess_cells`), or
    "auto": cells from :data:`CELLS_MIN_UPSCALE` times the network input's size on. Both give
    the same label map, masks, boxes, areas and links; scores agree to float32 rounding."""
    h, w = prep.image_hw
    num_parsing = cfg.num_parsing
    thr = cfg.parsing_ins_score_thr

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

    masks = masks.float().contiguous()
    resizer = _Resizer.for_image((masks.shape[-2], masks.shape[-1]), prep)
    windows = {q: resizer.window(masks[q].numpy() > 0) for q in by_query}
    rh, rw = prep.resized_hw
    if method not in ("auto", "direct", "cells"):
        raise ValueError(f"method must be auto, direct or cells, not {method!r}")
    if method == "cells" and (h < rh or w < rw):
        raise ValueError("the cell-wise post-processing needs a photo at least the network input's size")
    if method == "cells" or (method == "auto" and h >= CELLS_MIN_UPSCALE * rh and w >= CELLS_MIN_UPSCALE * rw):
        labels = _postprocess_cells(candidates, by_query, windows, masks, resizer, prep, kept, pasted)
    else:
        labels = _postprocess_direct(candidates, by_query, windows, masks, resizer, prep, kept, pasted)

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


def _postprocess_cells(candidates: list[Instance], by_query: dict[int, list[Instance]], windows: dict, masks: torch.Tensor,
                       resizer: _Resizer, prep: Prepared, kept, pasted) -> np.ndarray:
    """A photo much larger than the network input: cell by cell (see :mod:`.postprocess_cells`).
    Sets every candidate's score and, for those kept, mask, box and area; returns the label map."""
    h, w = prep.image_hw
    cells = CellPostprocess(masks, prep.padded_hw, prep.resized_hw, prep.image_hw,
                            Bands.of(resizer.y_idx, resizer.y_w, resizer.x_idx, resizer.x_w))
    queries: dict[int, Query] = {}
    for q, win in windows.items():
        if win is not None:  # no positive pixel anywhere: mask score 0, nothing kept or pasted
            y0, y1, x0, x1 = win
            queries[q] = Query(q, interpolated=(y1 - y0) * (x1 - x0) > BANDS_MAX_FRACTION * h * w)

    def scored(_: list[Query]) -> list[tuple[int, list[tuple[Query, float]]]]:
        for q, query in queries.items():
            # The reference's (prob * binary).sum() / (binary.sum() + 1e-6), in float32 as there.
            mask_score = float(torch.tensor(np.float32(query.prob_sum)) / (torch.tensor(query.n_pos) + 1e-6))
            for inst in by_query[q]:
                inst.score = inst.class_score * mask_score
                if kept(inst.label, inst.score):
                    inst.mask, inst.bbox, inst.area = query.mask, query.mask.bbox, query.n_pos
        classes = []
        for label in sorted({i.label for i in candidates}):
            members = [(queries[i.query], i.score) for i in candidates
                       if i.label == label and i.query in queries and pasted(i.label, i.score)]
            if members:
                classes.append((label, members))
        return classes

    return cells.run(list(queries.values()), scored)


def _postprocess_direct(candidates: list[Instance], by_query: dict[int, list[Instance]], windows: dict, masks: torch.Tensor,
                        resizer: _Resizer, prep: Prepared, kept, pasted) -> np.ndarray:
    """A photo about the network input's size: every query upsampled over its window (full-size
    scratch buffers, a few MB here). Sets scores, masks, boxes and areas; returns the label map."""
    h, w = prep.image_hw
    # Scratch for one window at a time (a window is at most the image).
    prob_buf = torch.empty(h * w)  # for sub-windows of the interpolated image
    pasted_buf = torch.empty(h * w)
    hit_buf = np.empty(h * w, dtype=bool)

    def score_query(q: int) -> np.ndarray:
        """Upsample query q once: the scores of all its instances, the masks of those kept, and
        its probability inside the window (0 outside the mask), valid until the next call."""
        y0, y1, x0, x1 = windows[q]
        logit = resizer.upsample(masks[q], windows[q])  # a buffer: ours to modify
        positive = logit.numpy()
        inside = np.greater(positive, 0.0, out=_scratch(hit_buf, positive))
        n_pos = int(np.count_nonzero(inside))
        if n_pos < inside.size:
            F.threshold_(logit, 0.0, -math.inf)  # sigmoid(-inf) == 0 exactly
        # In place where that keeps the layout (and so the sum's order) of logit.sigmoid().
        dense = logit.is_contiguous() or logit.T.is_contiguous()
        prob = logit.sigmoid_() if dense else torch.sigmoid(logit, out=_out_like(prob_buf, logit))
        # The reference's (prob * binary).sum() / (binary.sum() + 1e-6), in float32 as there.
        mask_score = float(prob.sum() / (torch.tensor(n_pos) + 1e-6))
        bbox = None
        for inst in by_query[q]:
            inst.score = inst.class_score * mask_score
            if kept(inst.label, inst.score):
                if bbox is None:
                    bbox = _window_bbox(inside, y0, x0)
                inst.mask = RunMask.from_crop(inside, x0, y0, (h, w))
                inst.bbox, inst.area = bbox, n_pos
        return prob.numpy()

    # A query pasted after the class it was scored in is pasted from a copy of its probability
    # (the copies' memory is reused: fresh memory is slow to touch).
    saved: dict[int, tuple[np.ndarray, np.ndarray, list[int]]] = {}  # query -> (memory, prob, [uses])

    def save(q: int, prob: np.ndarray, uses: int) -> None:
        if uses:
            memory = spare.pop() if spare else np.empty(h * w, dtype=np.float32)
            saved[q] = (memory, _scratch(memory, prob), [uses])
            np.copyto(saved[q][1], prob)

    spare: list[np.ndarray] = []

    # Class by class (so only one class's paste buffers are in use at a time), in id order: the
    # argmax over class channels, with channels never pasted at 0 and ties to the lower id
    # (as torch.argmax does), is a running maximum with a strict comparison.
    best = np.zeros((h, w), dtype=np.float32)
    labels = np.zeros((h, w), dtype=np.uint8)
    total = np.zeros((h, w), dtype=np.float32)  # zero outside the class being pasted
    best_t, total_t = torch.from_numpy(best), torch.from_numpy(total)
    count = np.zeros((h, w), dtype=np.uint8)
    scored: set[int] = set()
    for label in sorted({i.label for i in candidates}):
        pasted_box = None  # (y0, y1, x0, x1) around this class's pasted windows
        for inst in (i for i in candidates if i.label == label):
            q = inst.query
            win = windows[q]
            if win is None:  # no positive pixel anywhere: mask score 0, nothing kept or pasted
                continue
            if q not in scored:  # the query's first instance (lowest class)
                scored.add(q)
                prob = score_query(q)
                save(q, prob, sum(1 for i in by_query[q] if i is not inst and pasted(i.label, i.score)))
                last_use = True  # any later instance has its copy
            elif pasted(inst.label, inst.score):
                _, prob, uses = saved[q]
                uses[0] -= 1
                last_use = uses[0] == 0
                if last_use:
                    spare.append(saved.pop(q)[0])  # free again after this paste
            if not pasted(inst.label, inst.score):
                continue
            # Paste into the class channel where prob * score > 0.5, then average. Float
            # arithmetic in PyTorch (two threads), comparisons and counts in NumPy (faster);
            # masked writes are slow on scattered masks, so dense passes instead.
            win_slice = np.s_[win[0] : win[1], win[2] : win[3]]
            prob_t = torch.from_numpy(prob)
            product = torch.mul(prob_t, inst.score, out=prob_t if last_use else _out_like(pasted_buf, prob_t))
            hit = np.greater(product.numpy(), 0.5, out=_scratch(hit_buf, prob))
            np.add(count[win_slice], hit.view(np.uint8), out=count[win_slice])
            total_t[win_slice].add_(F.threshold_(product, 0.5, 0.0))  # product where > 0.5, else 0
            pasted_box = win if pasted_box is None else _union(pasted_box, win)
        if pasted_box is not None:
            # Outside the box the average is 0, which never beats ``best`` (>= 0).
            box = np.s_[pasted_box[0] : pasted_box[1], pasted_box[2] : pasted_box[3]]
            torch.from_numpy(count[box]).clamp_(min=1)
            avg = np.divide(total[box], count[box], out=total[box])
            better = np.greater(avg, best[box], out=hit_buf[: avg.size].reshape(avg.shape))
            torch.maximum(best_t[box], total_t[box], out=best_t[box])  # where(better, avg, best)
            _set_where(labels[box], label, better, pasted_buf.numpy().view(np.uint8))
            total_t[box].zero_()
            count[box] = 0

    return labels


def _window_bbox(inside: np.ndarray, y0: int, x0: int) -> tuple[int, int, int, int]:
    """``mask_bbox`` of a mask that is ``inside`` from (y0, x0) on and empty elsewhere; without a
    scan when ``inside`` touches all four sides of its window (the usual large mask)."""
    rows, cols = inside.shape
    if inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any():
        return (x0, y0, cols, rows)
    bx, by, bw, bh = mask_bbox(inside)
    return (bx + x0, by + y0, bw, bh) if bw else (0, 0, 0, 0)


def _set_where(a: np.ndarray, value: int, where: np.ndarray, scratch: np.ndarray) -> None:
    """``a[where] = value`` for uint8 ``a`` as three dense bitwise passes, a ^ ((a ^ value) &
    (0 - where)) (``scratch``: a flat uint8 buffer; ``where`` is overwritten)."""
    flip = np.bitwise_xor(a, np.uint8(value), out=scratch[: a.size].reshape(a.shape))
    np.bitwise_and(flip, np.negative(where.view(np.uint8), out=where.view(np.uint8)), out=flip)
    np.bitwise_xor(a, flip, out=a)


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
