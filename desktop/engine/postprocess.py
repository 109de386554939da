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

The results are the reference's up to float rounding; the golden parity tests check it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .config import ModelConfig
from .preprocess import Prepared
from .result import Part, Person, mask_bbox

TOPK = 100  # the reference's test_topk_per_image
MIN_INSTANCE_SCORE = 0.1  # parts need score >= 0.1, persons > 0.1
# Above this share of the image a window is resized with F.interpolate (measured: 5.9 ms for
# a whole 1920x1080 mask against 10 ms with the band gathers, one thread).
BANDS_MAX_FRACTION = 0.5


@dataclass
class Instance:
    query: int
    label: int
    class_score: float
    score: float = 0.0
    mask: np.ndarray | None = None


@dataclass
class Parsed:
    labels: np.ndarray  # (H, W) uint8
    persons: list[Person]
    parts: list[Part]


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
    m = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(m, (rows, i0), 1.0 - w1)
    np.add.at(m, (rows, i1), w1)
    return m


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

    @classmethod
    def for_image(cls, low_hw: tuple[int, int], prep: Prepared) -> _Resizer:
        mats = []
        for low, padded, resized, full in zip(low_hw, prep.padded_hw, prep.resized_hw, prep.image_hw, strict=True):
            step1 = resize_matrix(low, padded)[:resized]  # to the padded input, cropped to the image
            mats.append(resize_matrix(resized, full) @ step1)  # then to the original size
        return cls(
            *_band(mats[0]),
            *_band(mats[1]),
            _span(mats[0] != 0),
            _span(mats[1] != 0),
            prep.padded_hw,
            prep.resized_hw,
            prep.image_hw,
        )

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
        out_t = torch.index_select(rows_t, 0, x_idx[:, 0]) * x_w[:, 0]
        for k in range(1, x_idx.shape[1]):
            out_t += torch.index_select(rows_t, 0, x_idx[:, k]) * x_w[:, k]  # (wx, wy)
        return out_t.T

    def _interpolate(self, low: torch.Tensor) -> torch.Tensor:
        """The reference's resize of one (h4, w4) map: to the padded input, crop, to the image."""
        x = F.interpolate(low[None, None], size=self.padded_hw, mode="bilinear", align_corners=False)
        x = x[:, :, : self.resized_hw[0], : self.resized_hw[1]]
        return F.interpolate(x, size=self.image_hw, mode="bilinear", align_corners=False)[0, 0]


def _band(m: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's non-zero columns and weights, padded to the widest row with zero weights."""
    nz = m != 0
    k = int(nz.sum(1).max())
    idx = np.zeros((m.shape[0], k), dtype=np.int64)
    w = np.zeros((m.shape[0], k), dtype=np.float32)
    for row in range(m.shape[0]):
        cols = np.flatnonzero(nz[row])
        idx[row, : cols.size] = cols
        idx[row, cols.size :] = cols[-1]
        w[row, : cols.size] = m[row, cols]
    return torch.from_numpy(idx), torch.from_numpy(w)


def _span(nz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each column of a boolean matrix, the first and last row that is True."""
    lo = np.argmax(nz, axis=0)
    hi = nz.shape[0] - 1 - np.argmax(nz[::-1], axis=0)
    return lo, hi


def postprocess(logits: torch.Tensor, masks: torch.Tensor, prep: Prepared, cfg: ModelConfig) -> Parsed:
    """``logits``: (Q, C+1) for one image; ``masks``: (Q, h/4, w/4) mask logits."""
    h, w = prep.image_hw
    num_parsing = cfg.num_parsing
    thr = cfg.parsing_ins_score_thr
    candidates = _candidates(logits, cfg)
    by_query: dict[int, list[Instance]] = {}
    for inst in candidates:
        by_query.setdefault(inst.query, []).append(inst)

    masks = masks.float()
    resizer = _Resizer.for_image((masks.shape[-2], masks.shape[-1]), prep)
    positive = (masks > 0).numpy()
    windows = {q: resizer.window(positive[q]) for q in by_query}
    pending = {q: len(insts) for q, insts in by_query.items()}  # instances not yet handled
    upsampled: dict[int, tuple[torch.Tensor, torch.Tensor, float]] = {}  # only while still pending

    def query_maps(q: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(binary, prob, mask score) of query q inside its window; computed once per query."""
        if q in upsampled:
            return upsampled[q]
        logit = resizer.upsample(masks[q], windows[q])
        binary = logit > 0
        prob = logit.sigmoid()
        maps = (binary, prob, float((prob * binary).sum() / (binary.sum() + 1e-6)))
        if pending[q] > 1:
            upsampled[q] = maps
        return maps

    # Class by class (so only one class's paste buffers exist at a time), in id order: the
    # argmax over class channels, with channels never pasted at 0 and ties to the lower id
    # (as torch.argmax does), is a running maximum with a strict comparison.
    best = torch.zeros((h, w), dtype=torch.float32)
    labels = torch.zeros((h, w), dtype=torch.uint8)
    for label in sorted({i.label for i in candidates}):
        is_person = label == num_parsing
        total = count = None
        for inst in (i for i in candidates if i.label == label):
            q = inst.query
            win = windows[q]
            if win is None:  # no positive pixel anywhere: mask score 0, nothing kept or pasted
                continue
            binary, prob, mask_score = query_maps(q)
            pending[q] -= 1
            if pending[q] == 0:
                upsampled.pop(q, None)
            inst.score = inst.class_score * mask_score
            y0, y1, x0, x1 = win
            if (is_person and inst.score > MIN_INSTANCE_SCORE) or (
                not is_person and label != 0 and inst.score >= MIN_INSTANCE_SCORE
            ):
                inst.mask = np.zeros((h, w), dtype=bool)
                inst.mask[y0:y1, x0:x1] = binary.numpy()
            if not is_person and inst.score >= thr:
                # Paste into the class channel where prob * score > 0.5, then average.
                if total is None:
                    total = torch.zeros((h, w), dtype=torch.float32)
                    count = torch.zeros((h, w), dtype=torch.uint8)
                pasted = prob * inst.score
                hit = pasted > 0.5
                total[y0:y1, x0:x1] += pasted.masked_fill_(~hit, 0.0)
                count[y0:y1, x0:x1] += hit
        if total is not None:
            avg = total.div_(count.clamp_(min=1))
            better = avg > best
            best = torch.where(better, avg, best)
            labels[better] = label
            del total, count, avg, better

    person_insts = sorted((i for i in candidates if i.mask is not None and i.label == num_parsing), key=lambda i: -i.score)
    part_insts = sorted((i for i in candidates if i.mask is not None and i.label != num_parsing), key=lambda i: -i.score)
    persons = [
        Person(id=n + 1, score=i.score, mask=i.mask, bbox=mask_bbox(i.mask), area=int(i.mask.sum()))
        for n, i in enumerate(person_insts)
    ]
    names = cfg.classes
    parts = []
    for n, inst in enumerate(part_insts):
        parts.append(
            Part(
                id=n + 1,
                label=inst.label,
                name=names[inst.label] if inst.label < len(names) else str(inst.label),
                score=inst.score,
                mask=inst.mask,
                bbox=mask_bbox(inst.mask),
                area=int(inst.mask.sum()),
                person_id=_owner(inst.mask, persons),
            )
        )
    persons = [
        Person(p.id, p.score, p.mask, p.bbox, p.area, tuple(pt.id for pt in parts if pt.person_id == p.id)) for p in persons
    ]
    return Parsed(labels.numpy(), persons, parts)


def _owner(mask: np.ndarray, persons: list[Person]) -> int | None:
    """The person whose mask overlaps ``mask`` most (the higher score on a tie), or None."""
    best_id, best_overlap = None, 0
    x, y, bw, bh = mask_bbox(mask)
    if bw == 0:
        return None
    window = mask[y : y + bh, x : x + bw]
    for person in persons:  # ordered by descending score
        overlap = int(np.count_nonzero(window & person.mask[y : y + bh, x : x + bw]))
        if overlap > best_overlap:
            best_id, best_overlap = person.id, overlap
    return best_id
