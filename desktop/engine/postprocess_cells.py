"""Post-processing of a photo much larger than the network input, by cells of the resized grid.

The straightforward post-processing (``postprocess._postprocess_direct``) computes every kept
query's probability at every pixel of its window: on a 48-megapixel photo with a hundred
queries, 4.6 billion values, in full-size float buffers. Here the work follows the network's
output grid instead. The photo's pixels fall into *cells* (see :mod:`.cell_geometry`): inside
a cell each query's logit is a bilinear function of position, bounded by the cell's four
corner values, so most cells are decided without looking at their pixels:

1. **Scores and masks** (per query). A cell whose corners are all clearly positive is inside
   the mask, one whose corners are all clearly negative outside; only cells that straddle 0
   (about 1 % of them, along the outline) are evaluated pixel by pixel, with the reference's
   own float arithmetic where a value is too close to 0 to trust a cheaper one. The mask
   score is the mean sigmoid over the mask; inside a cell it is summed with a Gauss rule for
   the cell's pixel positions (2 or 4 nodes per direction instead of up to 12 pixels), whose
   error is below 1e-8 per pixel, a tenth of float32 rounding; a cell whose every logit is
   above 20 (a trained model's mask interiors) has a sigmoid of exactly 1 at every pixel, and
   its pixels are counted. The sum is taken in float64, so the score is the reference's up to
   the rounding of the reference's own float32 sum (which itself changes with the number of
   threads).
2. **Label map** (per class). Each pasted instance's ``probability x score`` lies between
   its values at the cell's extreme corners; from these, each class's average has an
   interval per cell. These are added up in step 1, while each query's grid is at hand, and
   a class's intervals are folded into the leader's as soon as its queries are all done. A
   cell whose leading class is ahead of every other class's upper bound gets that class
   without a pixel being touched. The remaining cells (along class borders) are computed
   pixel by pixel with the reference's float arithmetic, for the classes that can still win
   there (from the cells' corners: no query's grid is computed again).

"The reference's float arithmetic" is that of ``postprocess._postprocess_direct``: the masks'
signs are PyTorch's exact floats (:meth:`CellPostprocess.exact`), the pasted values the direct
path's own floats (:meth:`CellPostprocess.pasted`), so both paths give the same label map bit
for bit. The grid is the reference's first interpolation in plain float32, as the direct path
computes it; the margins above cover its rounding.

Masks come out as :class:`~.masks.RunMask` runs built from the cells; nothing full-size is made
but the label map itself. The grid work is many small NumPy and OpenCV operations on arrays of
a few MB (no PyTorch: the OpenVINO path never loads it), so it runs in one worker thread per
core, each on its own queries (or classes): handing every small operation to a second thread
costs more than it gains, and far more on a loaded machine (measured with PyTorch's intra-op
threads: 7 ms per query on one thread, 30-170 ms with two while other processes ran). The
operations work on blocks of 64K values (a block's dozen passes stay in the caches): blocks
of 16K made four times the calls, each handing the GIL over, and the same work took 2.1 s
against 1.7 s (two workers, the 12-megapixel benchmark of ``bench/bench_postprocess.py``).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from .cell_geometry import Axis, Bands, CellGeometry, upsample_plain
from .masks import RunMask

#: A cell's corners may differ from its pixels' exact floats by a few units in the last place of
#: the query's largest logit; this relative margin is ten times that, so "clearly" is never wrong.
MARGIN = 1e-5
#: Largest corner spread (logit units) for the 2-node and the 4-node Gauss rules: their error is
#: below 2 max|sigmoid''''| (s/2)^4 / 4! and 2 max|sigmoid^(8)| (s/2)^8 / 8!: under 1e-8 per pixel.
SPREAD_2 = 0.05
SPREAD_4 = 0.5
#: Logits above this give a sigmoid of exactly 1 in float32 (``1 + exp(-x)`` rounds to 1 from
#: x > 16.7 on): a cell whose corners are all above it is counted, not evaluated.
SATURATED = 20.0
#: Margins on probability x score (float32 rounding of sigmoid and product: a few 1e-7) and on
#: class averages (float32 sums of a few products).
PRODUCT_MARGIN = 1e-6
AVERAGE_MARGIN = 1e-5

#: Values per block in :meth:`CellPostprocess._dense_rule`.
_RULE_BLOCK = 1 << 16
#: Pixel slots per chunk in :meth:`CellPostprocess._pixels` and :meth:`CellPostprocess._label_pixels`.
_PIXEL_CHUNK = 1 << 20
_LABEL_CHUNK = 1 << 20
#: Values per block in :func:`sigmoid_` (its four passes stay in the caches).
_SIGMOID_BLOCK = 1 << 16

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Query:
    """One query's part in the post-processing: which arithmetic reproduces its logits, and
    what the first pass found."""

    index: int
    interpolated: bool  # the reference resizes it with two interpolations (else: bands)
    #: The classes it may be pasted in (those of its instances whose class probability alone
    #: reaches the paste threshold: a score is at most its class probability).
    labels: tuple[int, ...] = ()
    margin: float = 0.0
    n_pos: int = 0
    prob_sum: float = 0.0
    mask: RunMask | None = None


def sigmoid_(x: np.ndarray) -> np.ndarray:
    """The logistic function of float32 ``x`` (C- or column-major-contiguous), in place; returns ``x``.

    ``1 / (1 + exp(-x))`` in float32, with OpenCV's exponential (a third of NumPy's time; every
    value gets the same arithmetic wherever it sits in the array, so the same logit always
    gives the same probability, whichever path computes it). Within an ulp or two of PyTorch's
    sigmoid (whose vector kernel rounds differently): the engine's own results are consistent
    with each other, and equal PyTorch's up to that rounding. Done in blocks that stay in the
    caches; very negative logits give exactly 0 (exp overflows to inf).
    """
    return _sigmoid(x, negate=True)


def sigmoid_of_negated_(x: np.ndarray) -> np.ndarray:
    """:func:`sigmoid_` of ``-x``, in place, bit for bit: for a caller that has the negated logits
    at hand (one pass fewer)."""
    return _sigmoid(x, negate=False)


def _sigmoid(x: np.ndarray, negate: bool) -> np.ndarray:
    if not (x.flags.c_contiguous or x.flags.f_contiguous) or x.dtype != np.float32:
        raise ValueError("sigmoid_ needs a contiguous float32 array")
    flat = x.reshape(-1) if x.flags.c_contiguous else x.T.reshape(-1)  # views
    one = np.float32(1.0)
    with np.errstate(over="ignore"):
        for start in range(0, flat.size, _SIGMOID_BLOCK):
            block = flat[start : start + _SIGMOID_BLOCK]
            if negate:
                np.negative(block, out=block)
            cv2.exp(block[None], block[None])
            np.add(block, one, out=block)
            np.divide(one, block, out=block)
    return x


class _Grid:
    """One worker's scratch: a query's resized-grid logits and its cells' corner bounds."""

    def __init__(self, owner: CellPostprocess):
        self.owner = owner
        rh, rw = owner.geo.resized_hw
        f32 = np.float32
        self.edges = np.empty((rh + 1, rw + 1), f32)  # the logits, last row and column repeated
        # The corner bounds, computed over the edges' shape; ``low`` and ``high`` are their cells.
        self._low, self._high = np.empty_like(self.edges), np.empty_like(self.edges)
        self.low, self.high = self._low[:rh, :rw], self._high[:rh, :rw]
        self.a, self.b, self.c = np.empty((rh, rw), f32), np.empty((rh, rw), f32), np.empty((rh, rw), f32)
        self.m1 = np.empty((rh, rw), dtype=bool)
        self.m2 = np.empty((rh, rw), dtype=bool)
        self.m3 = np.empty((rh, rw), dtype=bool)
        self._rule: tuple[np.ndarray, ...] = ()

    def rule_scratch(self, rows: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scratch for :meth:`CellPostprocess._dense_rule`'s blocks of ``rows`` cell rows (plus one)
        and ``width`` columns (contiguous)."""
        size = (rows + 1) * width
        if not self._rule or self._rule[0].size < size:
            self._rule = tuple(np.empty(size, np.float32) for _ in range(4))
        return tuple(b[:size].reshape(rows + 1, width) for b in self._rule)  # type: ignore[return-value]

    def load(self, query: Query) -> np.ndarray:
        """Fill the logits and the corner bounds ``low``/``high`` for ``query``; returns the
        resized-grid logits (Hr, Wr) (a view, valid until the next load)."""
        rh, rw = self.owner.geo.resized_hw
        e = self.edges
        # The reference's first resize (PyTorch's kernel, bit for bit), cropped to the resized input.
        upsample_plain(self.owner.masks[query.index], *self.owner.low_axes, out=e[:rh, :rw], window=(0, rh, 0, rw))
        e[rh, :rw] = e[rh - 1, :rw]
        e[:, rw] = e[:, rw - 1]
        # The least and greatest of each cell's four corners: a 2x2 erosion and dilation anchored
        # at the cell's first corner (exact; a fifth of the time of four NumPy passes).
        cv2.erode(e, _CORNERS, dst=self._low, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        cv2.dilate(e, _CORNERS, dst=self._high, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        return e[:rh, :rw]


#: The structuring element of a cell's corners (for :meth:`_Grid.load`).
_CORNERS = np.ones((2, 2), np.uint8)


class CellPostprocess:
    """The cell-wise computation for one image; see the module docstring."""

    def __init__(self, masks: np.ndarray, padded_hw: tuple[int, int], resized_hw: tuple[int, int],
                 image_hw: tuple[int, int], bands: Bands, workers: int = 1):
        self.masks = masks  # (Q, h4, w4) float32 logits, contiguous
        self.padded_hw = padded_hw
        self.low_axes = (Axis.resize(masks.shape[-2], padded_hw[0]), Axis.resize(masks.shape[-1], padded_hw[1]))
        self.geo = CellGeometry.for_image(resized_hw, image_hw)
        self.bands = bands
        self.image_hw = image_hw
        rows, cols = self.geo.rows, self.geo.cols
        # The 2-node rule on the grid: column nodes (Wr,) and the four weight grids (Hr, Wr).
        ny, wy = rows.gauss_rule(2)
        nx, wx = cols.gauss_rule(2)
        # The row nodes as whole grids too: a broadcast column costs twice a plain product.
        mu = [np.repeat(ny[:, a, None].astype(np.float32), nx.shape[0], axis=1) for a in range(2)]
        self.rule2 = [(nx[:, b].astype(np.float32),
                       [(mu[a], (wy[:, a, None] * wx[None, :, b]).astype(np.float32)) for a in range(2)])
                      for b in range(2)]
        self.rule4 = tuple(a.astype(np.float32) for a in (*rows.gauss_rule(4), *cols.gauss_rule(4)))
        self._workers = max(1, workers)

    def _map(self, fn: Callable[[_Grid, T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(grid, item)`` for every item, results in order, on the workers (each with its own
        scratch grid); results are handed over as they come, not all kept."""
        items = list(items)
        if self._workers <= 1 or len(items) <= 1:
            grid = _Grid(self)
            for item in items:
                yield fn(grid, item)
            return
        local = threading.local()

        def run(item: T) -> R:
            if not hasattr(local, "grid"):
                local.grid = _Grid(self)
            return fn(local.grid, item)

        with ThreadPoolExecutor(self._workers, thread_name_prefix="postprocess") as pool:
            yield from pool.map(run, items)

    def run(self, queries: list[Query], scored: Callable[[Query], list[tuple[int, float]]],
            classes: Callable[[], list[tuple[int, list[tuple[Query, float]]]]]) -> np.ndarray:
        """Both passes; returns the label map.

        Pass 1, query by query on the workers: each query gets its count, sum and mask; then
        ``scored(query)`` (called on the worker) gives its pasted instances, (class id, score),
        whose bounds on their classes' averages are added while the query's grid is at hand
        (loading it again for them cost as much as a third of the work). Pass 2: ``classes()``
        gives the pasted classes ((class id, [(query, score), ...] in paste order), ascending
        ids), whose undecided cells are computed pixel by pixel.
        """
        for query in queries:
            query.margin = float(np.abs(self.masks[query.index]).max()) * MARGIN + 1e-30
        bounds = _ClassBounds(self.geo.grid, queries)

        def first_pass(grid: _Grid, query: Query) -> None:
            self._score_and_mask(grid, query)
            for label, score in scored(query):
                bounds.add(grid, query.margin, label, score)
            bounds.done(query)

        # Lowest class first, so that classes are complete (and folded) early, few at a time.
        list(self._map(first_pass, sorted(queries, key=lambda q: min(q.labels, default=1 << 16))))
        return self._label_map(classes(), bounds)

    # -- pass 1: scores and masks ---------------------------------------------------------------
    def _score_and_mask(self, grid: _Grid, query: Query) -> None:
        p = grid.load(query)
        m = query.margin
        low, high = grid.low, grid.high
        pos = np.greater(low, m, out=grid.m1)  # whole cells inside the mask
        spread = np.subtract(high, low, out=grid.a)
        smooth = np.logical_and(np.less_equal(spread, SPREAD_2, out=grid.m2), pos, out=grid.m2)
        total = self._dense_rule(grid, smooth)
        # Row sums in float32 (853 terms: relative error ~1e-7, random), their total in float64.
        prob_sum = float(np.multiply(total, smooth, out=grid.c).sum(axis=1).sum(dtype=np.float64))
        # Inside, but too curved for the 2-node rule. Where even the lowest corner is above
        # SATURATED, every pixel's sigmoid is exactly 1 in float32 (as pixel by pixel): the pixels
        # are counted (a trained model's mask interiors, where its logits run to tens). Elsewhere:
        # the 4-node rule, or pixel by pixel.
        curved = np.logical_and(np.greater(spread, SPREAD_2, out=grid.m3), pos, out=grid.m3)
        saturated = np.logical_and(np.greater(low, SATURATED, out=grid.m2), curved, out=grid.m2)
        if saturated.any():
            rows, cols = self.geo.rows, self.geo.cols
            prob_sum += float(rows.count @ (saturated @ cols.count))  # exact: integers
            curved = np.logical_and(curved, np.logical_not(saturated, out=saturated), out=curved)
        ci, cj = _where(curved)
        wide = spread[ci, cj] > SPREAD_4
        prob_sum += self._gathered_rule(grid.edges, ci[~wide], cj[~wide])
        prob_sum += self._pixels(query, p, ci[wide], cj[wide], only_sum=True, lowest=low[ci[wide], cj[wide]])[1]
        # Cells the outline crosses: pixel by pixel.
        mixed = np.logical_and(np.less_equal(low, m, out=grid.m3), np.greater_equal(high, -m, out=grid.m2), out=grid.m3)
        ci, cj = _where(mixed)
        _, part, pieces = self._pixels(query, p, ci, cj, only_sum=False)
        query.prob_sum = prob_sum + part
        query.mask = self._mask_runs(pos, pieces)
        query.n_pos = query.mask.area

    def _dense_rule(self, grid: _Grid, smooth: np.ndarray) -> np.ndarray:
        """(Hr, Wr): every ``smooth`` cell's sum of sigmoid over its pixels by the 2-node rule (in
        ``grid.b``; 0 outside the rows and columns the smooth cells span, where nothing is needed).

        At each node, ``weight / (1 + exp(-value))`` with the value interpolated between the
        cell's corners; block by block of cell rows, so the dozens of passes stay in the caches.
        A person in a camera photo spans a fraction of it: only the blocks around the mask are
        computed.
        """
        e = grid.edges
        total = grid.b
        total[...] = 0.0
        rows_in, cols_in = np.flatnonzero(smooth.any(1)), np.flatnonzero(smooth.any(0))
        if rows_in.size == 0:
            return total
        c0, c1 = int(cols_in[0]), int(cols_in[-1]) + 1
        width = c1 - c0
        step = max(1, _RULE_BLOCK // width)
        dx, edge, dy, value = grid.rule_scratch(step, width)
        with np.errstate(over="ignore"):
            for r0 in range(int(rows_in[0]), int(rows_in[-1]) + 1, step):
                r1 = min(r0 + step, int(rows_in[-1]) + 1)
                n, cells = r1 - r0, np.s_[r0:r1, c0:c1]
                corners = e[r0 : r1 + 1, c0 : c1 + 1]
                out = total[cells]
                np.subtract(corners[:, 1:], corners[:, :-1], out=dx[: n + 1])
                for lam, rows in self.rule2:
                    ed = np.multiply(dx[: n + 1], lam[c0:c1], out=edge[: n + 1])
                    ed += corners[:, :-1]  # the corner rows at the node's column position
                    np.subtract(ed[1:], ed[:-1], out=dy[:n])
                    np.negative(ed, out=ed)
                    for mu, weight in rows:
                        v = np.multiply(dy[:n], mu[cells], out=value[:n])
                        np.subtract(ed[:-1], v, out=v)  # minus the value at the node
                        cv2.exp(v, v)
                        v += np.float32(1.0)
                        out += np.divide(weight[cells], v, out=v)
        return total

    def _gathered_rule(self, edges: np.ndarray, ci: np.ndarray, cj: np.ndarray) -> float:
        """Sum of sigmoid over cells (ci, cj) by the 4-node rule; ``edges``: the resized-grid
        logits with the last row and column repeated (so every cell has four corners)."""
        if ci.size == 0:
            return 0.0
        ny, wy, nx, wx = self.rule4
        flat, at = edges.reshape(-1), ci * edges.shape[1] + cj  # flat gathers: a third of the time
        c00, c01 = flat[at][:, None], flat[at + 1][:, None]
        at += edges.shape[1]
        c10, c11 = flat[at][:, None], flat[at + 1][:, None]
        lam = nx[cj]  # (n, 4)
        top = c00 + lam * (c01 - c00)
        bottom = c10 + lam * (c11 - c10)
        value = top[:, None, :] + ny[ci][:, :, None] * (bottom - top)[:, None, :]  # (n, 4, 4)
        sig = sigmoid_(np.ascontiguousarray(value, dtype=np.float32))
        per_cell = np.einsum("nab,na,nb->n", sig, wy[ci], wx[cj])
        return float(per_cell.sum(dtype=np.float64))

    def _pixels(self, query: Query, p: np.ndarray, ci: np.ndarray, cj: np.ndarray, only_sum: bool,
                lowest: np.ndarray | None = None) -> tuple[int, float, tuple[np.ndarray, np.ndarray] | None]:
        """Cells (ci, cj) pixel by pixel: the number of positive pixels, the sum of their
        sigmoids, and (unless ``only_sum``) the positive pixels as runs (column-major positions).
        ``lowest``: the cells' lowest corners, if known; where they are all above twice the
        margin, every pixel is positive and none is close to 0 (the checks are skipped).

        Chunk by chunk of cells, so that each chunk's dozen passes stay in the caches (a real
        model's masks can send a third of a 48-megapixel photo's cells here); the positive
        pixels' sigmoids are summed at the end, in one piece, in cell order."""
        n, total, starts, ends = 0, 0.0, [], []
        for group in self.geo.size_groups(ci, cj):
            slots = int(self.geo.rows.count[ci[group]].max()) * int(self.geo.cols.count[cj[group]].max())
            step = max(1, _PIXEL_CHUNK // max(slots, 1))
            # The positive pixels' sigmoids, in cell order (at most every pixel of the cells).
            sigmoids = np.empty(int((self.geo.rows.count[ci[group]] * self.geo.cols.count[cj[group]]).sum()),
                                dtype=np.float32)
            filled = 0
            for chunk in (group[k : k + step] for k in range(0, group.size, step)):
                gi, gj = ci[chunk], cj[chunk]
                ys, xs, valid = self.geo.cell_slots(gi, gj)
                value = np.ascontiguousarray(self.geo.approximate_cells(p, gi, gj, ys, xs))  # flat writes below
                if lowest is not None and float(lowest[chunk].min()) > 2 * query.margin:
                    positive = valid  # each pixel within a tenth of the margin of a value above it
                else:
                    close = np.flatnonzero(valid & (np.abs(value) <= query.margin))
                    if close.size:  # too close to 0 to trust: the reference path's own floats
                        k, rest = np.divmod(close, value.shape[1] * value.shape[2])
                        a, b = np.divmod(rest, value.shape[2])
                        value.reshape(-1)[close] = self.exact(query, ys[k, a, 0], xs[k, 0, b])
                    positive = valid & (value > 0)
                inside = sigmoid_(value[positive].astype(np.float32, copy=False))
                sigmoids[filled : filled + inside.size] = inside
                filled += inside.size
                if not only_sum:
                    run_starts, run_ends = self._column_runs(positive, gi, gj)
                    starts.append(run_starts)
                    ends.append(run_ends)
            n += filled
            total += float(sigmoids[:filled].sum(dtype=np.float64))
        if only_sum or not starts:
            return n, total, None
        return n, total, (np.concatenate(starts), np.concatenate(ends))

    def _column_runs(self, positive: np.ndarray, gi: np.ndarray, gj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The runs of ``positive`` (cells (gi, gj) as (cells, rows, columns) slots) down each pixel
        column of each cell: their starts and ends as column-major positions in the photo."""
        bits = np.zeros((gi.size, positive.shape[2], positive.shape[1] + 2), dtype=np.int8)
        bits[:, :, 1:-1] = positive.transpose(0, 2, 1)
        step = np.diff(bits, axis=2)
        sc, sx, sa = np.unravel_index(np.flatnonzero(step == 1), step.shape)
        ea = np.flatnonzero(step == -1) % step.shape[2]
        h = self.image_hw[0]
        x = self.geo.cols.first[gj[sc]] + sx
        y0 = self.geo.rows.first[gi[sc]]
        return x * h + y0 + sa, x * h + y0 + ea

    def _mask_runs(self, pos: np.ndarray, pieces: tuple[np.ndarray, np.ndarray] | None) -> RunMask:
        """The mask made of the whole cells ``pos`` (Hr, Wr) and the runs ``pieces`` in others."""
        rows, cols = self.geo.rows, self.geo.cols
        h = self.image_hw[0]
        # Where runs of whole cells start and end down each cell column: the changes between
        # neighbouring cell rows, and the first and last rows.
        k, j = _where(pos[1:] ^ pos[:-1])
        begins = pos[k + 1, j]
        top, bottom = np.flatnonzero(pos[0]), np.flatnonzero(pos[-1])
        start_i = np.concatenate([np.zeros(top.size, np.int64), k[begins] + 1])
        start_j = np.concatenate([top, j[begins]])
        end_i = np.concatenate([k[~begins] + 1, np.full(bottom.size, pos.shape[0], np.int64)])
        end_j = np.concatenate([j[~begins], bottom])
        order_s = np.lexsort((start_i, start_j))
        order_e = np.lexsort((end_i, end_j))
        j, i_start, i_end = start_j[order_s], start_i[order_s], end_i[order_e]
        # Each run of whole cells down cell column j, in every pixel column of that cell column,
        # in column-major order (so merging with the outline's runs is a merge of sorted lists).
        per_column = np.bincount(j, minlength=cols.cells)
        width = cols.count
        # For pixel column x (in cell column c), the runs of c: repeat c's block of runs per column.
        block_start = np.concatenate([[0], np.cumsum(per_column)])[:-1]
        reps = np.repeat(per_column, width)  # runs per pixel column
        x = np.repeat(np.arange(width.sum()), reps)
        cell_col = np.repeat(np.repeat(np.arange(cols.cells), width), reps)
        nth = np.arange(x.size) - np.repeat(np.cumsum(reps) - reps, reps)
        run = block_start[cell_col] + nth
        starts, ends = [x * h + rows.first[i_start[run]]], [x * h + rows.first[i_end[run]]]
        if pieces is not None:
            starts.append(pieces[0])
            ends.append(pieces[1])
        return RunMask.from_intervals(self.image_hw, np.concatenate(starts), np.concatenate(ends))

    def exact(self, query: Query, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The reference's logits (float32, bit for bit) at pixels (ys, xs): what decides a mask."""
        if query.interpolated:
            return self.geo.exact(self.masks[query.index], *self.low_axes, ys, xs)
        return self.bands.values(self.masks[query.index], ys, xs)

    def pasted(self, query: Query, ci: np.ndarray, cj: np.ndarray, cell: np.ndarray, ys: np.ndarray, xs: np.ndarray
               ) -> np.ndarray:
        """The direct path's logits (``postprocess._Resizer.upsample``) at pixels (ys, xs) of cells
        (ci, cj) (pixel k in cell ``cell[k]``), bit for bit: what is pasted."""
        if query.interpolated:
            return self.geo.plain_in_cells(self.masks[query.index], *self.low_axes, ci, cj, cell, ys, xs)
        return self.bands.values(self.masks[query.index], ys, xs)

    # -- pass 2: the label map ------------------------------------------------------------------
    def _label_map(self, classes: list[tuple[int, list[tuple[Query, float]]]], bounds: _ClassBounds) -> np.ndarray:
        """The reference's label map: the class with the largest average pasted value (ties to
        the lower id; 0 where nothing is pasted), cells first, then the undecided cells' pixels."""
        lead_low, lead_class = bounds.lead_low, bounds.lead_class
        won = lead_low > bounds.other_high
        decided = won | (np.maximum(bounds.lead_high, bounds.other_high) <= 0)
        cell_label = np.where(won, lead_class, np.uint8(0))
        rows, cols = self.geo.rows, self.geo.cols
        labels = np.repeat(np.repeat(cell_label, rows.count, axis=0), cols.count, axis=1)
        ci, cj = _where(~decided)
        if ci.size:
            self._label_pixels(labels, ci, cj, classes, bounds.highs, lead_low[ci, cj])
        return labels

    def _label_pixels(self, labels: np.ndarray, ci: np.ndarray, cj: np.ndarray,
                      classes: list[tuple[int, list[tuple[Query, float]]]], highs: dict[int, np.ndarray],
                      lead_low: np.ndarray) -> None:
        """The undecided cells pixel by pixel, chunk by chunk of cells (a trained model's class
        borders cross millions of a 48-megapixel photo's pixels: their coordinates alone took
        hundreds of MB at once)."""
        step = max(1, _LABEL_CHUNK // max(self.geo.rows.widest * self.geo.cols.widest, 1))
        for k in range(0, ci.size, step):
            self._label_cells(labels, ci[k : k + step], cj[k : k + step], classes, highs, lead_low[k : k + step])

    def _label_cells(self, labels: np.ndarray, ci: np.ndarray, cj: np.ndarray,
                     classes: list[tuple[int, list[tuple[Query, float]]]], highs: dict[int, np.ndarray],
                     lead_low: np.ndarray) -> None:
        """Cells (ci, cj) pixel by pixel, with the reference's float arithmetic: for each class
        that can still win there, its instances' pasted values summed in paste order and
        averaged; then the running maximum over classes in id order (ties keep the lower id)."""
        ys, xs, valid = self.geo.cell_slots(ci, cj)  # one group is fine: a few edge cells are larger
        cell, a, b = np.nonzero(valid)
        ys, xs = ys[cell, a, 0], xs[cell, 0, b]
        # A class can still win where its upper bound reaches the leader's lower bound, and it
        # pastes something there (a class pasting nothing averages 0: it never wins, as in the
        # reference, whose running maximum starts at 0 and needs to be beaten).
        contending = []
        for label, members in classes:
            high = highs[label][ci, cj]
            where = np.flatnonzero(((high >= lead_low) & (high > 0))[cell])
            if where.size:
                contending.append((label, members, where))

        def average(_: _Grid, item: tuple[int, list[tuple[Query, float]], np.ndarray]) -> np.ndarray:
            _, members, where = item
            y, x = ys[where], xs[where]
            # The cells these pixels lie in, renumbered from 0.
            used, in_cell = np.unique(cell[where], return_inverse=True)
            total = np.zeros(where.size, dtype=np.float32)
            count = np.zeros(where.size, dtype=np.uint8)
            for query, score in members:
                logit = self.pasted(query, ci[used], cj[used], in_cell, y, x)
                logit[~(logit > 0)] = -math.inf  # the reference thresholds the logit at 0
                product = sigmoid_(np.ascontiguousarray(logit)) * np.float32(score)
                hit = product > 0.5
                total += np.where(hit, product, np.float32(0.0))
                count += hit
            return total / np.maximum(count, 1)

        best = np.zeros(ys.size, dtype=np.float32)
        out = np.zeros(ys.size, dtype=np.uint8)
        for (label, _, where), avg in zip(contending, self._map(average, contending), strict=True):
            better = avg > best[where]
            best[where] = np.maximum(best[where], avg)
            out[where[better]] = label
        labels[ys, xs] = out


class _ClassSums:
    """One class's sums over its pasted instances, per cell, from which :meth:`bounds` bounds the
    class's average pasted value (added to by several workers: hold ``lock``)."""

    def __init__(self, shape: tuple[int, int]):
        self.lock = threading.Lock()
        f32 = np.float32
        self.n_sure, self.n_maybe = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)  # at most 100 instances
        self.sum_low, self.sum_high, self.top = np.zeros(shape, f32), np.zeros(shape, f32), np.zeros(shape, f32)

    def add(self, grid: _Grid, margin: float, score: float) -> None:
        """Add an instance of score ``score`` whose query's corner bounds are loaded in ``grid``.

        An instance surely hits a cell (pastes a value > 0.5 at each of its pixels) where even
        its lowest corner gives ``score x sigmoid > 0.5``, possibly where its highest one does.
        """
        f32 = np.float32
        s = f32(score)
        # s * sigmoid(x) -/+ margin > 0.5 where x exceeds these logits (inf: never).
        sure_above = margin + _logit((0.5 + PRODUCT_MARGIN) / float(s))
        maybe_above = -margin + _logit((0.5 - PRODUCT_MARGIN) / float(s))
        # Only where a hit is possible (a sure hit is a possible one), block by block of cell
        # rows, so the passes stay in the caches.
        possible_all = np.greater(grid.high, maybe_above, out=grid.m3)
        rows_in, cols_in = np.flatnonzero(possible_all.any(1)), np.flatnonzero(possible_all.any(0))
        if rows_in.size == 0:
            return
        c0, c1 = int(cols_in[0]), int(cols_in[-1]) + 1
        step = max(1, _RULE_BLOCK // (c1 - c0))
        for r0 in range(int(rows_in[0]), int(rows_in[-1]) + 1, step):
            r1 = min(r0 + step, int(rows_in[-1]) + 1)
            n, rows = r1 - r0, np.s_[r0:r1, c0:c1]
            possible = possible_all[rows]
            sure = np.greater(grid.low[rows], sure_above, out=_block(grid.m2, n, c1 - c0))
            np.add(self.n_sure[rows], sure, out=self.n_sure[rows], casting="unsafe")
            np.add(self.n_maybe[rows], possible, out=self.n_maybe[rows], casting="unsafe")
            low = sigmoid_(np.subtract(grid.low[rows], f32(margin), out=_block(grid.a, n, c1 - c0)))
            self.sum_low[rows] += np.multiply(np.multiply(low, sure, out=low), s, out=low)
            high = sigmoid_(np.add(grid.high[rows], f32(margin), out=_block(grid.b, n, c1 - c0)))
            product = _block(grid.c, n, c1 - c0)
            self.sum_high[rows] += np.multiply(np.multiply(high, sure, out=product), s, out=product)
            np.maximum(self.top[rows], np.multiply(np.multiply(high, possible, out=high), s, out=high), out=self.top[rows])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per cell, bounds (low, high) on the class's average pasted value (0 where it pastes
        nothing). Where every instance is sure or surely not, the average lies between the
        means of the sure hits' lowest and highest values; elsewhere it is 0 (no hit) or at
        least 0.5 (some hit), and at most the highest possible value."""
        f32 = np.float32
        n_sure = self.n_sure
        certain = self.n_maybe == n_sure  # a sure hit is a possible one
        count = np.maximum(n_sure, 1).astype(f32)
        low_c = np.where(certain, self.sum_low / count - f32(PRODUCT_MARGIN), np.where(n_sure > 0, f32(0.5), f32(0.0)))
        high_c = np.where(certain, self.sum_high / count + f32(PRODUCT_MARGIN), self.top + f32(PRODUCT_MARGIN))
        nothing = (n_sure == 0) & certain
        low_c = np.maximum(low_c - f32(AVERAGE_MARGIN), f32(0.0))
        high_c = high_c + f32(AVERAGE_MARGIN)
        low_c[nothing] = 0.0
        high_c[nothing] = 0.0
        return low_c.astype(f32), high_c.astype(f32)


class _ClassBounds:
    """Per cell, bounds on the leading class's average pasted value and on every other class's,
    built while pass 1 runs: each class's sums (:class:`_ClassSums`) are turned into bounds as
    soon as all its queries are done, and folded in ascending class order (ties keep the lower
    id), so only the few classes under way hold sums at a time (each is some 8 MB)."""

    def __init__(self, shape: tuple[int, int], queries: list[Query]):
        self.shape = shape
        self.left = Counter(label for query in queries for label in query.labels)  # queries not done
        self.order = sorted(self.left)  # the classes to fold, in this order
        self.next = 0
        self.sums: dict[int, _ClassSums] = {}
        self.ready: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        self.lock = threading.Lock()  # left, next, sums, ready
        self.fold_lock = threading.Lock()  # the folded bounds below
        self.lead_low = np.full(shape, -1.0, dtype=np.float32)
        self.lead_high = np.zeros(shape, dtype=np.float32)
        self.other_high = np.zeros(shape, dtype=np.float32)
        self.lead_class = np.zeros(shape, dtype=np.uint8)
        #: Per class, its upper bounds (rounded up to float16): where it can still win.
        self.highs: dict[int, np.ndarray] = {}

    def add(self, grid: _Grid, margin: float, label: int, score: float) -> None:
        """Add a pasted instance of class ``label`` whose query's bounds are loaded in ``grid``."""
        with self.lock:
            sums = self.sums.get(label)
            if sums is None:
                sums = self.sums[label] = _ClassSums(self.shape)
        with sums.lock:
            sums.add(grid, margin, score)

    def done(self, query: Query) -> None:
        """``query``'s instances are all added: the classes it was the last of are folded in."""
        finished = []
        with self.lock:
            for label in query.labels:
                self.left[label] -= 1
                if self.left[label] == 0:
                    finished.append((label, self.sums.pop(label, None)))
        for label, sums in finished:  # no other worker adds to them any more
            bounds = sums.bounds() if sums is not None else None
            with self.lock:
                self.ready[label] = bounds
        if finished:
            self._fold()

    def _fold(self) -> None:
        with self.fold_lock:
            while True:
                with self.lock:
                    if self.next >= len(self.order) or self.order[self.next] not in self.ready:
                        return
                    label = self.order[self.next]
                    bounds = self.ready.pop(label)
                    self.next += 1
                if bounds is not None:
                    self._fold_class(label, *bounds)

    def _fold_class(self, label: int, low_c: np.ndarray, high_c: np.ndarray) -> None:
        better = low_c > self.lead_low
        self.other_high = np.where(better, np.maximum(self.other_high, self.lead_high), np.maximum(self.other_high, high_c))
        self.lead_high = np.where(better, high_c, self.lead_high)
        self.lead_low = np.where(better, low_c, self.lead_low)
        self.lead_class[better] = label
        self.highs[label] = _round_up_f16(high_c)


def _block(scratch: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A contiguous (rows, cols) array in the memory of a scratch grid."""
    return scratch.reshape(-1)[: rows * cols].reshape(rows, cols)


def _where(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``numpy.nonzero`` of a 2-D bool array, ten times faster (a flat scan, then the indices)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _logit(p: float) -> float:
    """The logit of a probability (inf from 1 on, -inf from 0 down)."""
    if p >= 1.0:
        return math.inf
    if p <= 0.0:
        return -math.inf
    return math.log(p / (1.0 - p))


def _round_up_f16(a: np.ndarray) -> np.ndarray:
    """``a`` as float16, each value rounded up (an upper bound stays an upper bound)."""
    b = a.astype(np.float16)
    low = b.astype(np.float32) < a
    b[low] = np.nextafter(b[low], np.float16(np.inf))
    return b
