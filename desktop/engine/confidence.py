"""The model's confidence per pixel: the winning class's score, the runner-up class and its score.

The label map is the argmax of the reference's ``semantic_outputs``: one channel per class,
where every instance of that class scoring at least ``parsing_ins_score_thr`` is pasted where
its mask probability times its score exceeds 0.5, and the pasted values are averaged
(:func:`desktop.engine.postprocess.postprocess` computes it without ever holding the channels).
The same channels say how sure the model is: the winning channel's value (the reference's
``semantic_max``) and the second-best channel's. A reviewer sees where the model hesitates
(a small margin), and the relabel tool offers the model's second choice first.

Holding those channels for a 48-megapixel photo would take 20 x 192 MB, so nothing here ever
builds them: :class:`ConfidenceProvider` keeps only the low-resolution mask logits of the
queries that can paste somewhere (score above 0.5, and a low-res logit above logit(0.5 /
score)), cropped to the part of the low-res map their pixels draw on (a few MB at most), and
computes the three maps for any grid of rows and columns (a window, every k-th pixel, a
screen's sample), a strip of rows at a time, with a running top-two over the classes in id
order. The time and memory are measured by ``bench/bench_confidence.py``.

The provider is not stored in the review workspace (:mod:`desktop.review.result_codec`):
measured on 1920x1080 photos, its inputs (float16, zlib) take 240-410 KB, more than the stored
result itself (about 210-245 KB), against a budget of about 100 KB a photo. Results read back
from a workspace have no confidence; their doubt score (computed when they were parsed) is
stored, and so are the uncertain pixels the doubt view highlights, as a 1-bit image
(:mod:`desktop.review.uncertain_store`, about 8 % of a stored result).

The arithmetic is the post-processing's direct path (:func:`_postprocess_direct`): the
same bilinear bands, products and sums in float32, in the same order; where that path falls
back to PyTorch's own interpolation (a window over half the image) or the cell-wise path runs
(large photos), values agree to float32 rounding.

Encoding (uint8, what :class:`~desktop.engine.result.ParsingResult` exposes):

- ``score``: the winning class's value ``s`` in 0..1 as ``round(255 * s)``; 0 where nothing
  was pasted (the label there is background with no evidence).
- ``runner_up``: the class id of the second-highest channel (ties go to the lower id, as the
  label map's argmax does); 0 where no second class was pasted (its value is 0), so a
  runner-up of background with ``runner_up_score`` 0 means "no alternative".
- ``runner_up_score``: that channel's value, ``round(255 * s)``.

NumPy only (no torch): results are read on threads and in processes without the model.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .postprocess import _composed_band

__all__ = ["ConfidenceMaps", "ConfidenceProvider", "confidence_of", "to_uint8"]

#: Pixels per strip of rows: the float32 temporaries of one strip stay a few MB.
STRIP_PIXELS = 1 << 20


class ConfidenceMaps(NamedTuple):
    """Three uint8 maps of one grid (see the module docstring for the encoding)."""

    score: np.ndarray
    runner_up: np.ndarray
    runner_up_score: np.ndarray


def _paste_logit(score: float) -> float:
    """A logit below which probability x ``score`` cannot exceed 0.5: logit(0.5 / score), lowered
    by a margin far above float32 rounding."""
    t = min(0.5 / score, 1.0) * (1.0 - 1e-4)
    return float(np.log(t / (1.0 - t))) - 1e-3 if t < 1.0 else float("inf")


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Scores in 0..1 (float32) as uint8 ``round(255 * s)``."""
    return np.rint(np.asarray(values, dtype=np.float32) * np.float32(255.0)).clip(0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _Band:
    """One axis of the reference's two-step resize (low-res -> padded input, crop, -> image),
    composed: each full-resolution index draws on at most K low-res indices ``idx`` with
    weights ``w`` (0 where fewer); ``lo``/``hi``: the first and last full-res index each
    low-res index weighs in."""

    idx: np.ndarray  # (full, K) int32
    w: np.ndarray  # (full, K) float32
    lo: np.ndarray  # (low,) int64
    hi: np.ndarray  # (low,) int64

    @classmethod
    def of(cls, low: int, padded: int, resized: int, full: int) -> _Band:
        """The post-processing's own bands (``_composed_band``): the same weights, so the same
        semantic scores the label map is made from."""
        idx, w, (lo, hi) = _composed_band(low, padded, resized, full)
        return cls(idx.astype(np.int32), w, lo, hi)

    @property
    def nbytes(self) -> int:
        return self.idx.nbytes + self.w.nbytes + self.lo.nbytes + self.hi.nbytes


@dataclass(frozen=True)
class _Query:
    """One pasted query: its low-res logits cropped to ``[ly0, ...) x [lx0, ...)``, the full-res
    window ``(y0, y1, x0, x1)`` outside which its probability is 0, and its pasted instances'
    (class, score)."""

    low: np.ndarray
    ly0: int
    lx0: int
    win: tuple[int, int, int, int]
    pasted: tuple[tuple[int, float], ...]


class ConfidenceProvider:
    """Computes the confidence maps of one parsed image for any grid of pixels (see the module
    docstring). Immutable but for the cache of :meth:`full`; safe to use from several threads."""

    def __init__(self, image_hw: tuple[int, int], num_classes: int, y_band: _Band, x_band: _Band,
                 queries: list[_Query]) -> None:
        self.image_hw = (int(image_hw[0]), int(image_hw[1]))
        self.num_classes = int(num_classes)
        self._y, self._x = y_band, x_band
        self._queries = queries
        members: dict[int, list[tuple[int, float]]] = {}
        for n, q in enumerate(queries):
            for label, score in q.pasted:
                members.setdefault(label, []).append((n, score))
        self._classes = sorted(members.items())  # class id order: the argmax's tie rule
        self._lock = threading.Lock()
        self._full: ConfidenceMaps | None = None

    @classmethod
    def from_outputs(cls, masks: np.ndarray, instance_scores: Mapping[tuple[int, int], float], *,
                     image_hw: tuple[int, int], resized_hw: tuple[int, int], padded_hw: tuple[int, int],
                     paste_threshold: float, num_classes: int) -> ConfidenceProvider:
        """From the raw mask logits ``masks`` ((Q, h/4, w/4), any array type NumPy reads),
        ``instance_scores`` ((query, class) -> score: every candidate the label map was made
        with, :attr:`Parsed.instance_scores`), the preparation's geometry, the model's
        ``parsing_ins_score_thr`` and its number of label classes (the person class, which
        is never pasted, is ``num_classes``)."""
        masks = np.asarray(masks, dtype=np.float32)
        low_h, low_w = masks.shape[-2:]
        y_band = _Band.of(low_h, padded_hw[0], resized_hw[0], image_hw[0])
        x_band = _Band.of(low_w, padded_hw[1], resized_hw[1], image_hw[1])
        pasted: dict[int, list[tuple[int, float]]] = {}
        for (q, label), score in instance_scores.items():
            # probability x score > 0.5 needs score > 0.5 (a probability is at most 1): an
            # instance scoring less is pasted nowhere, its class channel stays 0.
            if label < num_classes and score >= paste_threshold and score > 0.5:
                pasted.setdefault(int(q), []).append((int(label), float(score)))
        queries = []
        for q, members in sorted(pasted.items()):
            # Only where the logit exceeds logit(0.5 / score) can a pixel be pasted; a full-res
            # logit is a convex combination of low-res ones, so it can exceed that only within
            # the reach of the low-res pixels that do (with a margin for float rounding).
            reach = masks[q] > _paste_logit(max(s for _label, s in members))
            rows = np.flatnonzero(reach.any(1))
            if rows.size == 0:  # pasted nowhere
                continue
            cols = np.flatnonzero(reach.any(0))
            y0, y1 = int(y_band.lo[rows[0]]), int(y_band.hi[rows[-1]]) + 1
            x0, x1 = int(x_band.lo[cols[0]]), int(x_band.hi[cols[-1]]) + 1
            ly = y_band.idx[y0:y1]
            lx = x_band.idx[x0:x1]
            ly0, ly1 = int(ly.min()), int(ly.max()) + 1
            lx0, lx1 = int(lx.min()), int(lx.max()) + 1
            # A copy: a runtime may reuse its output buffer for the next photo.
            low = np.array(masks[q, ly0:ly1, lx0:lx1], dtype=np.float32, order="C", copy=True)
            queries.append(_Query(low, ly0, lx0, (y0, y1, x0, x1), tuple(sorted(members))))
        return cls(image_hw, num_classes, y_band, x_band, queries)

    def __getstate__(self) -> dict:
        """Packed (the session's result store): the inputs, without the lock and the cache."""
        state = dict(self.__dict__)
        state.pop("_lock")
        state["_full"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- public ----------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Memory held: the cropped logits, the bands and :meth:`full`'s maps once computed."""
        cached = self._full
        full = sum(m.nbytes for m in cached) if cached is not None else 0
        return sum(q.low.nbytes for q in self._queries) + self._y.nbytes + self._x.nbytes + full

    def window(self, y0: int, y1: int, x0: int, x1: int, step: int = 1) -> ConfidenceMaps:
        """The maps of rows ``y0:y1:step`` and columns ``x0:x1:step`` (clipped to the image)."""
        h, w = self.image_hw
        step = max(1, int(step))
        ys = np.arange(max(0, y0), min(h, y1), step)
        xs = np.arange(max(0, x0), min(w, x1), step)
        return self.sample(ys, xs)

    def sample(self, ys: np.ndarray, xs: np.ndarray) -> ConfidenceMaps:
        """The maps at the grid of rows ``ys`` and columns ``xs`` (any image indices, e.g. a
        zoomed view's screen sample): (len(ys), len(xs)) each."""
        score, _label, runner, runner_score = self._compute(ys, xs, with_label=False)
        return ConfidenceMaps(score, runner, runner_score)

    def top_class(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The winning class at the grid (the label map there, as the post-processing made it)."""
        return self._compute(ys, xs, with_label=True)[1]

    def full(self) -> ConfidenceMaps:
        """The maps of the whole image, computed on first use and kept (3 bytes per pixel: for
        photos up to ~12 megapixels; larger ones should use windows and samples)."""
        with self._lock:
            if self._full is None:
                h, w = self.image_hw
                self._full = self.window(0, h, 0, w)
            return self._full

    # -- arithmetic --------------------------------------------------------------------
    def _compute(self, ys: np.ndarray, xs: np.ndarray, with_label: bool) -> tuple:
        """(score, label or None, runner-up, runner-up score), uint8 at the grid. The float
        top two live only a strip of rows at a time (a 48-megapixel photo's would be 400 MB)."""
        ys = np.asarray(ys, dtype=np.int64).reshape(-1)
        xs = np.asarray(xs, dtype=np.int64).reshape(-1)
        h, w = self.image_hw
        if ys.size and (ys.min() < 0 or ys.max() >= h) or xs.size and (xs.min() < 0 or xs.max() >= w):
            raise IndexError(f"rows or columns outside the {w}x{h} image")
        if np.any(np.diff(ys) < 0) or np.any(np.diff(xs) < 0):
            # The strips rely on ascending grids (a query's rows and columns are then ranges).
            oy, ox = np.argsort(ys, kind="stable"), np.argsort(xs, kind="stable")
            maps = self._compute(ys[oy], xs[ox], with_label)
            iy, ix = np.argsort(oy), np.argsort(ox)
            return tuple(None if m is None else m[iy][:, ix] for m in maps)
        n, m = ys.size, xs.size
        score = np.zeros((n, m), dtype=np.uint8)
        label = np.zeros((n, m), dtype=np.uint8) if with_label else None
        runner = np.zeros((n, m), dtype=np.uint8)
        runner_score = np.zeros((n, m), dtype=np.uint8)
        if n == 0 or m == 0 or not self._classes:
            return score, label, runner, runner_score
        # Each query's columns in the grid: those inside its window (the probability is 0 outside).
        col_sel = [self._inside(xs, q.win[2], q.win[3]) for q in self._queries]
        strip = max(1, STRIP_PIXELS // max(m, 1))
        for r0 in range(0, n, strip):
            r1 = min(n, r0 + strip)
            best = np.zeros((r1 - r0, m), dtype=np.float32)
            best_id = label[r0:r1] if label is not None else np.zeros((r1 - r0, m), dtype=np.uint8)
            second = np.zeros((r1 - r0, m), dtype=np.float32)
            self._strip(ys[r0:r1], xs, col_sel, best, best_id, second, runner[r0:r1])
            score[r0:r1] = to_uint8(best)
            runner_score[r0:r1] = to_uint8(second)
        return score, label, runner, runner_score

    @staticmethod
    def _inside(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Positions of ``values`` in [lo, hi) (sorted grids give a slice's worth)."""
        return np.flatnonzero((values >= lo) & (values < hi))

    def _prob(self, q: _Query, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The query's probability at the grid (all inside its window), 0 where the logit is not
        positive: the post-processing's band resize (rows first, then columns, same products and
        sums in float32), then the sigmoid."""
        yi = self._y.idx[ys] - q.ly0
        yw = self._y.w[ys]
        rows = q.low[yi[:, 0]] * yw[:, 0, None]
        for k in range(1, yi.shape[1]):
            rows += q.low[yi[:, k]] * yw[:, k, None]
        xi = self._x.idx[xs] - q.lx0
        xw = self._x.w[xs]
        out = rows[:, xi[:, 0]] * xw[:, 0]
        for k in range(1, xi.shape[1]):
            out += rows[:, xi[:, k]] * xw[:, k]
        # The post-processing zeroes the probability where the logit is not positive; here
        # that is not needed: there the probability is at most 0.5, so probability x score
        # (score <= 1) never exceeds 0.5, and only pixels that do are used.
        with np.errstate(over="ignore"):
            np.negative(out, out=out)
            np.exp(out, out=out)
            out += np.float32(1.0)
            np.reciprocal(out, out=out)
        return out

    def _strip(self, ys: np.ndarray, xs: np.ndarray, col_sel: list[np.ndarray], best: np.ndarray,
               best_id: np.ndarray, second: np.ndarray, second_id: np.ndarray) -> None:
        """One strip of rows: every class's averaged pasted value, folded into the running top two
        (a strictly greater value wins, so ties stay with the lower class id)."""
        probs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        uses: dict[int, int] = {}
        for _label, members in self._classes:
            for qn, _score in members:
                uses[qn] = uses.get(qn, 0) + 1
        for label, members in self._classes:
            parts = []
            for qn, score in members:
                q = self._queries[qn]
                if qn not in probs:
                    rsel = self._inside(ys, q.win[0], q.win[1])
                    csel = col_sel[qn]
                    prob = self._prob(q, ys[rsel], xs[csel]) if rsel.size and csel.size else None
                    probs[qn] = (rsel, csel, prob)
                rsel, csel, prob = probs[qn]
                uses[qn] -= 1
                if not uses[qn]:
                    del probs[qn]
                if prob is not None:
                    parts.append((rsel, csel, prob, score))
            if not parts:
                continue
            # The class's values over the box around its members' grid windows.
            r0 = min(int(p[0][0]) for p in parts)
            r1 = max(int(p[0][-1]) for p in parts) + 1
            c0 = min(int(p[1][0]) for p in parts)
            c1 = max(int(p[1][-1]) for p in parts) + 1
            total = np.zeros((r1 - r0, c1 - c0), dtype=np.float32)
            count = np.zeros((r1 - r0, c1 - c0), dtype=np.uint8)
            for rsel, csel, prob, score in parts:
                product = prob * np.float32(score)
                hit = product > 0.5
                product *= hit  # the product where it exceeds 0.5, else 0
                box = np.s_[int(rsel[0]) - r0 : int(rsel[-1]) + 1 - r0, int(csel[0]) - c0 : int(csel[-1]) + 1 - c0]
                # Windows are contiguous ranges of a sorted grid: a box, not scattered pixels.
                total[box] += product
                count[box] += hit.view(np.uint8)
            avg = total / np.maximum(count, 1)
            b, bi = best[r0:r1, c0:c1], best_id[r0:r1, c0:c1]
            s, si = second[r0:r1, c0:c1], second_id[r0:r1, c0:c1]
            better = avg > b
            runner = ~better & (avg > s)
            np.copyto(s, avg, where=runner)
            np.copyto(si, np.uint8(label), where=runner)
            np.copyto(s, b, where=better)
            np.copyto(si, bi, where=better)
            np.copyto(b, avg, where=better)
            np.copyto(bi, np.uint8(label), where=better)


def confidence_of(masks, parsed, prepared, cfg) -> ConfidenceProvider:
    """The provider of a parse: the network's mask logits ``masks`` (Q, h/4, w/4), the
    post-processing's :class:`~desktop.engine.postprocess.Parsed` (its ``instance_scores``),
    the :class:`~desktop.engine.preprocess.Prepared` input and the model configuration."""
    return ConfidenceProvider.from_outputs(
        masks, parsed.instance_scores, image_hw=prepared.image_hw, resized_hw=prepared.resized_hw,
        padded_hw=prepared.padded_hw, paste_threshold=float(cfg.parsing_ins_score_thr),
        num_classes=int(cfg.num_parsing))
