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
   error is below 1e-8 per pixel, a tenth of float32 rounding. The sum is taken in float64,
   so the score is the reference's up to the rounding of the reference's own float32 sum
   (which itself changes with the number of threads).
2. **Label map** (per class). Each pasted instance's ``probability x score`` lies between
   its values at the cell's extreme corners; from these, each class's average has an
   interval per cell. A cell whose leading class is ahead of every other class's upper bound
   gets that class without a pixel being touched. The remaining cells (along class borders)
   are computed pixel by pixel with the reference's float arithmetic, for the classes that
   can still win there.

Masks come out as :class:`~.masks.RunMask` runs built from the cells; nothing full-size is made
but the label map itself. The grid work is many small operations on arrays of a few MB, so it
runs in one worker thread per core, each on its own queries (or classes), with PyTorch's own
intra-op threads off meanwhile: handing every small operation to a second thread costs more
than it gains, and far more on a loaded machine (measured: 7 ms per query on one thread,
30-170 ms with two intra-op threads while other processes ran).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from .cell_geometry import Bands, CellGeometry
from .masks import RunMask

#: A cell's corners may differ from its pixels' exact floats by a few units in the last place of
#: the query's largest logit; this relative margin is ten times that, so "clearly" is never wrong.
MARGIN = 1e-5
#: Largest corner spread (logit units) for the 2-node and the 4-node Gauss rules: their error is
#: below 2 max|sigmoid''''| (s/2)^4 / 4! and 2 max|sigmoid^(8)| (s/2)^8 / 8!: under 1e-8 per pixel.
SPREAD_2 = 0.05
SPREAD_4 = 0.5
#: Margins on probability x score (float32 rounding of sigmoid and product: a few 1e-7) and on
#: class averages (float32 sums of a few products).
PRODUCT_MARGIN = 1e-6
AVERAGE_MARGIN = 1e-5

_ZERO = torch.zeros(())

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Query:
    """One query's part in the post-processing: which arithmetic reproduces its logits, and
    what the first pass found."""

    index: int
    interpolated: bool  # the reference resizes it with two interpolations (else: bands)
    margin: float = 0.0
    n_pos: int = 0
    prob_sum: float = 0.0
    mask: RunMask | None = None


@contextlib.contextmanager
def _torch_single_threaded() -> Iterator[int]:
    """PyTorch's intra-op threads off (our own workers take the cores); yields how many there were."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


class _Grid:
    """One worker's scratch: a query's resized-grid logits and its cells' corner bounds."""

    def __init__(self, owner: CellPostprocess):
        self.owner = owner
        rh, rw = owner.geo.resized_hw
        self.padded = torch.empty((1, 1, *owner.padded_hw))
        self.edges = torch.empty((rh + 1, rw + 1))  # the logits, last row and column repeated
        self.h_low, self.h_high = torch.empty((rh + 1, rw)), torch.empty((rh + 1, rw))
        self.low, self.high = torch.empty((rh, rw)), torch.empty((rh, rw))
        self.a, self.b, self.c = torch.empty((rh, rw)), torch.empty((rh, rw)), torch.empty((rh, rw))
        self.edge = torch.empty((rh + 1, rw))
        self.m1 = torch.empty((rh, rw), dtype=torch.bool)
        self.m2 = torch.empty((rh, rw), dtype=torch.bool)
        self.m3 = torch.empty((rh, rw), dtype=torch.bool)

    def load(self, query: Query) -> np.ndarray:
        """Fill the logits and the corner bounds ``low``/``high`` for ``query``; returns the
        resized-grid logits (Hr, Wr) (a view, valid until the next load)."""
        rh, rw = self.owner.geo.resized_hw
        # The reference's first resize, by PyTorch's own kernel: these are its floats.
        torch._C._nn.upsample_bilinear2d(self.owner.masks[query.index][None, None], self.owner.padded_hw,
                                         False, None, None, out=self.padded)
        p = self.padded[0, 0, :rh, :rw]
        e = self.edges
        e[:rh, :rw] = p
        e[rh, :rw] = p[rh - 1]
        e[:, rw] = e[:, rw - 1]
        torch.minimum(e[:, :-1], e[:, 1:], out=self.h_low)
        torch.maximum(e[:, :-1], e[:, 1:], out=self.h_high)
        torch.minimum(self.h_low[:-1], self.h_low[1:], out=self.low)
        torch.maximum(self.h_high[:-1], self.h_high[1:], out=self.high)
        return e[:rh, :rw].numpy()


class CellPostprocess:
    """The cell-wise computation for one image; see the module docstring."""

    def __init__(self, masks: torch.Tensor, padded_hw: tuple[int, int], resized_hw: tuple[int, int],
                 image_hw: tuple[int, int], bands: Bands):
        self.masks = masks  # (Q, h4, w4) float32 logits, contiguous
        self.padded_hw = padded_hw
        self.geo = CellGeometry.for_image(resized_hw, image_hw)
        self.bands = bands
        self.image_hw = image_hw
        rows, cols = self.geo.rows, self.geo.cols
        # The 2-node rule on the grid: column nodes (Wr,) and the four weight grids (Hr, Wr).
        ny, wy = rows.gauss_rule(2)
        nx, wx = cols.gauss_rule(2)
        self.rule2 = [(torch.from_numpy(nx[:, b].astype(np.float32)),
                       [(torch.from_numpy(ny[:, a, None].astype(np.float32)),
                         torch.from_numpy((wy[:, a, None] * wx[None, :, b]).astype(np.float32))) for a in range(2)])
                      for b in range(2)]
        self.rule4 = tuple(a.astype(np.float32) for a in (*rows.gauss_rule(4), *cols.gauss_rule(4)))
        self._workers = 1

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

    def run(self, queries: list[Query], scores: Callable[[list[Query]], list[tuple[int, list[tuple[Query, float]]]]]
            ) -> np.ndarray:
        """Both passes: ``queries`` get their counts, sums and masks; ``scores`` turns them into the
        pasted classes ((class id, [(query, score), ...] in paste order), ascending ids); returns
        the label map."""
        with _torch_single_threaded() as threads:
            self._workers = max(1, threads)
            for query in queries:
                query.margin = float(self.masks[query.index].abs().max()) * MARGIN + 1e-30
            list(self._map(self._score_and_mask, queries))
            return self._label_map(scores(queries))

    # -- pass 1: scores and masks ---------------------------------------------------------------
    def _score_and_mask(self, grid: _Grid, query: Query) -> None:
        p = grid.load(query)
        m = query.margin
        low, high = grid.low, grid.high
        pos = torch.gt(low, m, out=grid.m1)  # whole cells inside the mask
        spread = torch.sub(high, low, out=grid.a)
        smooth = torch.le(spread, SPREAD_2, out=grid.m2).logical_and_(pos)
        total = self._dense_rule(grid)
        # Row sums in float32 (853 terms: relative error ~1e-7, random), their total in float64.
        prob_sum = float(torch.mul(total, smooth, out=grid.c).sum(dim=1).double().sum())
        # Inside, but too curved for the 2-node rule: the 4-node rule, or pixel by pixel.
        ci, cj = _where(torch.gt(spread, SPREAD_2, out=grid.m3).logical_and_(pos).numpy())
        wide = spread.numpy()[ci, cj] > SPREAD_4
        prob_sum += self._gathered_rule(grid.edges.numpy(), ci[~wide], cj[~wide])
        prob_sum += self._pixels(query, p, ci[wide], cj[wide], only_sum=True)[1]
        # Cells the outline crosses: pixel by pixel.
        mixed = torch.le(low, m, out=grid.m3).logical_and_(torch.ge(high, -m, out=grid.m2))
        ci, cj = _where(mixed.numpy())
        _, part, pieces = self._pixels(query, p, ci, cj, only_sum=False)
        query.prob_sum = prob_sum + part
        query.mask = self._mask_runs(pos.numpy(), pieces)
        query.n_pos = query.mask.area

    def _dense_rule(self, grid: _Grid) -> torch.Tensor:
        """(Hr, Wr): every cell's sum of sigmoid over its pixels by the 2-node rule (in ``grid.b``)."""
        e = grid.edges
        total = grid.b.zero_()
        for lam, rows in self.rule2:
            torch.lerp(e[:, :-1], e[:, 1:], lam, out=grid.edge)  # along the corner rows
            for mu, weight in rows:
                value = torch.lerp(grid.edge[:-1], grid.edge[1:], mu, out=grid.c)
                total.addcmul_(value.sigmoid_(), weight)
        return total

    def _gathered_rule(self, edges: np.ndarray, ci: np.ndarray, cj: np.ndarray) -> float:
        """Sum of sigmoid over cells (ci, cj) by the 4-node rule; ``edges``: the resized-grid
        logits with the last row and column repeated (so every cell has four corners)."""
        if ci.size == 0:
            return 0.0
        ny, wy, nx, wx = self.rule4
        c00, c01 = edges[ci, cj][:, None], edges[ci, cj + 1][:, None]
        c10, c11 = edges[ci + 1, cj][:, None], edges[ci + 1, cj + 1][:, None]
        lam = nx[cj]  # (n, 4)
        top = c00 + lam * (c01 - c00)
        bottom = c10 + lam * (c11 - c10)
        value = top[:, None, :] + ny[ci][:, :, None] * (bottom - top)[:, None, :]  # (n, 4, 4)
        sig = torch.from_numpy(value).sigmoid_().numpy()
        per_cell = np.einsum("nab,na,nb->n", sig, wy[ci], wx[cj])
        return float(per_cell.sum(dtype=np.float64))

    def _pixels(self, query: Query, p: np.ndarray, ci: np.ndarray, cj: np.ndarray, only_sum: bool
                ) -> tuple[int, float, tuple[np.ndarray, np.ndarray] | None]:
        """Cells (ci, cj) pixel by pixel: the number of positive pixels, the sum of their
        sigmoids, and (unless ``only_sum``) the positive pixels as runs (column-major positions)."""
        n, total, starts, ends = 0, 0.0, [], []
        for group in self.geo.size_groups(ci, cj):
            gi, gj = ci[group], cj[group]
            ys, xs, valid = self.geo.cell_slots(gi, gj)
            value = self.geo.approximate_cells(p, gi, gj, ys, xs)
            close = valid & (np.abs(value) <= query.margin)
            if close.any():  # too close to 0 to trust: the reference path's own floats
                at = np.nonzero(close)
                value[close] = self.exact(query, p, ys[at[0], at[1], 0], xs[at[0], 0, at[2]])
            positive = valid & (value > 0)
            n += int(np.count_nonzero(positive))
            sig = torch.from_numpy(np.ascontiguousarray(value)).sigmoid_().numpy()
            total += float(sig[positive].sum(dtype=np.float64))
            if only_sum:
                continue
            # Runs down each pixel column of each cell.
            bits = np.zeros((gi.size, positive.shape[2], positive.shape[1] + 2), dtype=np.int8)
            bits[:, :, 1:-1] = positive.transpose(0, 2, 1)
            step = np.diff(bits, axis=2)
            sc, sx, sa = np.unravel_index(np.flatnonzero(step == 1), step.shape)
            ea = np.flatnonzero(step == -1) % step.shape[2]
            h = self.image_hw[0]
            x = self.geo.cols.first[gj[sc]] + sx
            y0 = self.geo.rows.first[gi[sc]]
            starts.append(x * h + y0 + sa)
            ends.append(x * h + y0 + ea)
        if only_sum or not starts:
            return n, total, None
        return n, total, (np.concatenate(starts), np.concatenate(ends))

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

    def exact(self, query: Query, p: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The reference path's logits (float32, bit for bit) at pixels (ys, xs)."""
        if query.interpolated:
            return self.geo.interpolated(p, ys, xs)
        return self.bands.values(self.masks[query.index].numpy(), ys, xs)

    # -- pass 2: the label map ------------------------------------------------------------------
    def _label_map(self, classes: list[tuple[int, list[tuple[Query, float]]]]) -> np.ndarray:
        """The reference's label map: the class with the largest average pasted value (ties to
        the lower id; 0 where nothing is pasted), cells first, then the undecided cells' pixels."""
        grid = self.geo.grid
        lead_low = torch.full(grid, -1.0)
        lead_high = torch.zeros(grid)
        other_high = torch.zeros(grid)
        lead_class = torch.zeros(grid, dtype=torch.uint8)
        highs: dict[int, np.ndarray] = {}
        for (label, _), (low_c, high_c) in zip(classes, self._map(self._class_bounds, classes), strict=True):
            better = low_c > lead_low
            other_high = torch.where(better, torch.maximum(other_high, lead_high), torch.maximum(other_high, high_c))
            lead_high = torch.where(better, high_c, lead_high)
            lead_low = torch.where(better, low_c, lead_low)
            lead_class.masked_fill_(better, label)
            highs[label] = _round_up_f16(high_c.numpy())
        won = lead_low > other_high
        decided = (won | (torch.maximum(lead_high, other_high) <= 0)).numpy()
        cell_label = lead_class.masked_fill_(~won, 0).numpy()
        rows, cols = self.geo.rows, self.geo.cols
        labels = np.repeat(np.repeat(cell_label, rows.count, axis=0), cols.count, axis=1)
        ci, cj = _where(~decided)
        if ci.size:
            self._label_pixels(labels, ci, cj, classes, highs, lead_low.numpy()[ci, cj])
        return labels

    def _class_bounds(self, grid: _Grid, item: tuple[int, list[tuple[Query, float]]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per cell, bounds on one class's average pasted value (0 where it pastes nothing).

        An instance surely hits a cell (pastes a value > 0.5 at each of its pixels) where even
        its lowest corner gives ``score x sigmoid > 0.5``, possibly where its highest one does.
        Where every instance is sure or surely not, the average lies between the means of the
        sure hits' lowest and highest values; elsewhere it is 0 (no hit) or at least 0.5 (some
        hit), and at most the highest possible value.
        """
        _, members = item
        shape = self.geo.grid
        n_sure, n_maybe = torch.zeros(shape), torch.zeros(shape)
        sum_low, sum_high, top = torch.zeros(shape), torch.zeros(shape), torch.zeros(shape)
        for query, score in members:
            grid.load(query)
            m = query.margin
            s = float(np.float32(score))
            # s * sigmoid(x) -/+ margin > 0.5 where x exceeds these logits (inf: never).
            sure_above = m + _logit((0.5 + PRODUCT_MARGIN) / s)
            maybe_above = -m + _logit((0.5 - PRODUCT_MARGIN) / s)
            sure = torch.gt(grid.low, sure_above, out=grid.m2)
            possible = torch.gt(grid.high, maybe_above, out=grid.m3)
            n_sure += sure
            n_maybe += possible
            low = torch.sub(grid.low, m, out=grid.a).sigmoid_()
            sum_low.add_(torch.where(sure, low, _ZERO, out=grid.c), alpha=s)
            high = torch.add(grid.high, m, out=grid.b).sigmoid_()
            sum_high.add_(torch.where(sure, high, _ZERO, out=grid.c), alpha=s)
            torch.maximum(top, torch.where(possible, high, _ZERO, out=grid.c).mul_(s), out=top)
        n_maybe -= n_sure
        certain = n_maybe == 0
        count = n_sure.clamp(min=1)
        low_c = torch.where(certain, sum_low / count - PRODUCT_MARGIN, torch.where(n_sure > 0, 0.5, 0.0))
        high_c = torch.where(certain, sum_high / count + PRODUCT_MARGIN, top + PRODUCT_MARGIN)
        nothing = (n_sure == 0) & certain
        return ((low_c - AVERAGE_MARGIN).clamp_(min=0.0).masked_fill_(nothing, 0.0),
                (high_c + AVERAGE_MARGIN).masked_fill_(nothing, 0.0))

    def _label_pixels(self, labels: np.ndarray, ci: np.ndarray, cj: np.ndarray,
                      classes: list[tuple[int, list[tuple[Query, float]]]], highs: dict[int, np.ndarray],
                      lead_low: np.ndarray) -> None:
        """The undecided cells pixel by pixel, with the reference's float arithmetic: for each
        class that can still win there, its instances' pasted values summed in paste order and
        averaged; then the running maximum over classes in id order (ties keep the lower id)."""
        ys, xs, valid = self.geo.cell_slots(ci, cj)  # few cells: one group is fine
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

        def average(grid: _Grid, item: tuple[int, list[tuple[Query, float]], np.ndarray]) -> np.ndarray:
            _, members, where = item
            y, x = ys[where], xs[where]
            total = np.zeros(where.size, dtype=np.float32)
            count = np.zeros(where.size, dtype=np.uint8)
            for query, score in members:
                logit = self.exact(query, grid.load(query), y, x)
                logit[~(logit > 0)] = -math.inf  # the reference thresholds the logit at 0
                product = torch.from_numpy(logit).sigmoid_().numpy() * np.float32(score)
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
