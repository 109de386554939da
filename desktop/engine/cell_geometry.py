"""Where a photo's pixels sit on the network's output grid, and the mask logits at any pixel.

The reference resizes each mask in two bilinear steps: from the network's output (h/4, w/4) to
the padded input, crop to the resized photo (Hr, Wr), then to the photo (H, W). On a camera
photo the second step enlarges 5 to 12 times in each direction, so the photo's pixels fall
into *cells*: the pixels whose value is interpolated between the same four neighbours of the
resized grid. Inside a cell a mask's logit is a bilinear function of the pixel's position,
bounded by the four corner values; that is what lets :mod:`.postprocess_cells` decide whole
cells at once and touch single pixels only near a mask's outline or a class border.

Where single pixels are needed, their logits must be the very floats the reference path
computes, so that masks and the label map come out bit for bit the same. Two arithmetic forms
exist (see :mod:`.postprocess`): PyTorch's ``upsample_bilinear2d`` twice (for masks covering
most of the photo), or the bands of the composed resize matrices (for smaller windows). Both
are reproduced here for arbitrary pixel lists, checked against PyTorch in the tests (the masks'
signs are decided by these exact floats; the direct path pastes the same two interpolations in
plain float32, :func:`upsample_plain`, which :meth:`CellGeometry.plain` reproduces at any pixels):

- PyTorch's CPU kernel computes ``fma(t0, h0, t1 * h1)`` with ``t0 = fma(x00, w0, x01 * w1)``
  and ``t1 = fma(x10, w0, x11 * w1)`` (the compiler fuses multiply-adds); NumPy has no fused
  multiply-add, so it is done in float64 (the product of two float32 is exact there) and
  rounded once to float32;
- the band form is plain float32 products and sums in a fixed order, as NumPy does them.

:func:`upsample_bilinear` is the same kernel over a whole map (or a window of it), in NumPy
(float64 for the fused multiply-adds, so several times the cost of :func:`upsample_plain`): the
engine reproduces PyTorch's resize without importing PyTorch (the OpenVINO path never loads it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass(frozen=True)
class Axis:
    """PyTorch's bilinear resize of one axis, from ``n_in`` (resized) to ``n_out`` (photo) samples.

    For every output index: the two input indices ``i0 <= i1`` and float32 weights ``l0``,
    ``l1`` exactly as PyTorch computes them. Output indices sharing ``i0`` form cell ``i0``:
    ``first[i]`` and ``count[i]`` give their range (``first[n_in] == n_out``).
    """

    i0: np.ndarray
    i1: np.ndarray
    l0: np.ndarray
    l1: np.ndarray
    first: np.ndarray
    count: np.ndarray

    @classmethod
    def resize(cls, n_in: int, n_out: int) -> Axis:
        if n_in == n_out:  # PyTorch copies
            i0 = np.arange(n_out, dtype=np.int64)
            i1 = i0.copy()
            l1 = np.zeros(n_out, dtype=F32)
        else:
            scale = F32(n_in) / F32(n_out)
            dst = np.arange(n_out, dtype=F32)
            # One rounding of scale * (dst + 0.5) - 0.5, as the compiled kernel's fused multiply-add.
            exact = np.float64(scale) * (dst + F32(0.5)).astype(np.float64) - 0.5
            src = np.maximum(exact.astype(F32), F32(0.0))
            i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
            l1 = np.clip(src - i0.astype(F32), F32(0.0), F32(1.0)).astype(F32)
            i1 = i0 + (i0 < n_in - 1)
        l0 = (F32(1.0) - l1).astype(F32)
        first = np.searchsorted(i0, np.arange(n_in + 1), side="left").astype(np.int64)
        return cls(i0, i1, l0, l1, first, np.diff(first))

    @property
    def cells(self) -> int:
        return int(self.count.size)

    @property
    def widest(self) -> int:
        return int(self.count.max()) if self.count.size else 0

    def gauss_rule(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(cells, m) nodes and weights of the m-point Gauss rule of each cell's positions.

        A cell's "positions" are the weights ``l1`` of its pixels (in [0, 1]), each counted
        once; the rule sums every polynomial of degree < 2m over them exactly. Cells with at
        most m pixels get their pixels themselves (weight 1; unused slots weight 0), so for
        them the rule is the plain sum.
        """
        cells, widest = self.cells, max(self.widest, 1)
        slot = np.arange(widest)
        valid = slot[None, :] < self.count[:, None]
        idx = np.minimum(self.first[:-1, None] + slot[None, :], self.l1.size - 1)
        points = np.where(valid, self.l1[idx].astype(np.float64), 0.0)
        weights = valid.astype(np.float64)
        nodes = np.zeros((cells, m))
        out_w = np.zeros((cells, m))
        few = self.count <= m
        k = min(m, widest)
        nodes[few, :k] = points[few, :k]
        out_w[few, :k] = weights[few, :k]
        many = np.flatnonzero(~few)
        if many.size:
            nodes[many], out_w[many] = _gauss(points[many], weights[many], m)
        return nodes, out_w


def _gauss(points: np.ndarray, weights: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """m-point Gauss rules of the discrete measures (rows of ``points`` with ``weights``), by the
    Stieltjes procedure (three-term recurrence) and the Golub-Welsch eigenproblem, in float64."""
    n = points.shape[0]
    alpha = np.zeros((n, m))
    beta = np.zeros((n, m))
    p_prev = np.zeros_like(points)
    p = np.ones_like(points)
    norm_prev = np.ones(n)
    for j in range(m):
        norm = (weights * p * p).sum(1)
        alpha[:, j] = (weights * points * p * p).sum(1) / norm
        beta[:, j] = norm if j == 0 else norm / norm_prev
        p_prev, p = p, (points - alpha[:, j : j + 1]) * p - (beta[:, j : j + 1] if j else 0.0) * p_prev
        norm_prev = norm
    jacobi = np.zeros((n, m, m))
    jacobi[:, np.arange(m), np.arange(m)] = alpha
    off = np.sqrt(beta[:, 1:])
    jacobi[:, np.arange(m - 1), np.arange(1, m)] = off
    jacobi[:, np.arange(1, m), np.arange(m - 1)] = off
    values, vectors = np.linalg.eigh(jacobi)
    return values, beta[:, :1] * vectors[:, 0, :] ** 2


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 ``a * b + c`` rounded once (the product of two float32 is exact in float64)."""
    return (a.astype(np.float64) * b + c).astype(F32)


#: Values per block in :func:`upsample_bilinear` and :func:`upsample_plain` (a block stays in the caches).
_BLOCK_VALUES = 1 << 16


def upsample_bilinear(src: np.ndarray, rows: Axis, cols: Axis, out: np.ndarray | None = None,
                      window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """PyTorch's ``upsample_bilinear2d(src, (rows.n_out, cols.n_out), align_corners=False)`` of one
    (h, w) float32 map, bit for bit, inside ``window`` (y0, y1, x0, x1; default: all of it).

    Separable: every source row is interpolated along x once (``t``, as the kernel's inner fused
    multiply-add computes it), then each output row is one fused multiply-add of two rows of
    ``t``; in float64 (several times the cost of :func:`upsample_plain`), in row blocks.
    """
    y0, y1, x0, x1 = window if window is not None else (0, rows.i0.size, 0, cols.i0.size)
    ci0, ci1, cl0, cl1 = cols.i0[x0:x1], cols.i1[x0:x1], cols.l0[x0:x1], cols.l1[x0:x1]
    needed = np.unique(np.concatenate([rows.i0[y0:y1], rows.i1[y0:y1]]))  # source rows used
    t = np.zeros((src.shape[0], x1 - x0), dtype=F32)
    t[needed] = fma32(src[needed][:, ci0], cl0, src[needed][:, ci1] * cl1)
    if out is None:
        out = np.empty((y1 - y0, x1 - x0), dtype=F32)
    step = max(1, _BLOCK_VALUES // max(x1 - x0, 1))
    wide = np.empty((min(step, y1 - y0), x1 - x0), dtype=np.float64)
    for r0 in range(y0, y1, step):
        r1 = min(r0 + step, y1)
        block = wide[: r1 - r0]
        second = t[rows.i1[r0:r1]]
        np.multiply(second, rows.l1[r0:r1, None], out=second)
        np.multiply(t[rows.i0[r0:r1]], rows.l0[r0:r1, None].astype(np.float64), out=block)
        np.add(block, second, out=block)
        np.copyto(out[r0 - y0 : r1 - y0], block, casting="same_kind")
    return out


def upsample_plain(src: np.ndarray, rows: Axis, cols: Axis, out: np.ndarray | None = None,
                   window: tuple[int, int, int, int] | None = None,
                   each_block: Callable[[int, int, np.ndarray], None] | None = None,
                   block_rows: int | None = None) -> np.ndarray:
    """The same resize as :func:`upsample_bilinear` with every product and sum rounded to float32
    on its own (no fused multiply-add): ``t = s[r, i0] l0 + s[r, i1] l1`` along x, then
    ``t[i0] l0 + t[i1] l1`` along y. Within a few units in the last place of PyTorch's floats,
    at a fraction of the cost of reproducing its fused multiply-adds in float64;
    :meth:`CellGeometry.plain` gives the same floats at any pixels.

    Computed in blocks of output rows, in this thread's scratch memory; ``each_block(r0, r1,
    rows)`` is called with each block of the result (rows r0:r1 of the window) while it is still
    in the caches; ``block_rows``: rows per block (default :func:`interpolation_block_rows`).
    """
    y0, y1, x0, x1 = window if window is not None else (0, rows.i0.size, 0, cols.i0.size)
    width = x1 - x0
    ci0, ci1, cl0, cl1 = cols.i0[x0:x1], cols.i1[x0:x1], cols.l0[x0:x1], cols.l1[x0:x1]
    if out is None:
        out = np.empty((y1 - y0, width), dtype=F32)
    step = block_rows or interpolation_block_rows(width)
    scratch = _thread_buffer("rows", min(step, y1 - y0) * width).reshape(-1, width)
    l0, l1 = rows.l0[:, None], rows.l1[:, None]
    # The source rows interpolated along x (``t``): all at once if they fit in the caches, else
    # block by block, so that a block's rows are still in the caches when the block reads them
    # (a source row on a block border is then interpolated twice, to the same floats).
    lo, hi = int(rows.i0[y0]), int(rows.i1[y1 - 1]) + 1  # source rows used (both ascending)
    whole = (hi - lo) * width <= _BLOCK_VALUES * 4
    if whole:
        t = _interpolate_columns(src[lo:hi], ci0, ci1, cl0, cl1)
    for r0 in range(y0, y1, step):
        r1 = min(r0 + step, y1)
        block = out[r0 - y0 : r1 - y0]
        if not whole:
            lo, hi = int(rows.i0[r0]), int(rows.i1[r1 - 1]) + 1
            t = _interpolate_columns(src[lo:hi], ci0, ci1, cl0, cl1)
        np.take(t, rows.i0[r0:r1] - lo, axis=0, out=block, mode="clip")
        np.multiply(block, l0[r0:r1], out=block)
        second = np.take(t, rows.i1[r0:r1] - lo, axis=0, out=scratch[: r1 - r0], mode="clip")
        np.multiply(second, l1[r0:r1], out=second)
        np.add(block, second, out=block)
        if each_block is not None:
            each_block(r0 - y0, r1 - y0, block)
    return out


def _interpolate_columns(part: np.ndarray, ci0: np.ndarray, ci1: np.ndarray, cl0: np.ndarray, cl1: np.ndarray
                         ) -> np.ndarray:
    """``part[:, ci0] cl0 + part[:, ci1] cl1`` in float32, in this thread's scratch memory."""
    shape = (part.shape[0], ci0.size)
    t = _thread_buffer("t", part.shape[0] * ci0.size).reshape(shape)
    t2 = _thread_buffer("t2", part.shape[0] * ci0.size).reshape(shape)
    np.take(part, ci0, axis=1, out=t, mode="clip")
    np.multiply(t, cl0, out=t)
    np.take(part, ci1, axis=1, out=t2, mode="clip")
    np.multiply(t2, cl1, out=t2)
    return np.add(t, t2, out=t)


def interpolation_block_rows(width: int) -> int:
    """The rows per block of :func:`upsample_plain` for a window ``width`` wide."""
    return max(1, _BLOCK_VALUES // max(width, 1))


_local = threading.local()


def _thread_buffer(name: str, size: int) -> np.ndarray:
    """A flat float32 scratch buffer of this thread (fresh memory costs more in page faults than
    the arithmetic done on it), valid until the next call with the same name."""
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.size < size:
        buf = buffers[name] = np.empty(size, dtype=F32)
    return buf[:size]


@dataclass
class CellGeometry:
    """The cells of one photo: its rows and columns as cells of the resized grid."""

    rows: Axis
    cols: Axis
    image_hw: tuple[int, int]
    resized_hw: tuple[int, int]

    @classmethod
    def for_image(cls, resized_hw: tuple[int, int], image_hw: tuple[int, int]) -> CellGeometry:
        return cls(Axis.resize(resized_hw[0], image_hw[0]), Axis.resize(resized_hw[1], image_hw[1]),
                   image_hw, resized_hw)

    @property
    def grid(self) -> tuple[int, int]:
        return (self.rows.cells, self.cols.cells)

    def size_groups(self, ci: np.ndarray, cj: np.ndarray) -> list[np.ndarray]:
        """Cells (ci, cj) as index groups of similar size: the cells at the photo's edges hold a
        few more pixels (the resize clamps there), and padding every cell to their size would
        double the pixel work."""
        typical_r = -(-self.image_hw[0] // max(self.resized_hw[0], 1))
        typical_c = -(-self.image_hw[1] // max(self.resized_hw[1], 1))
        small = (self.rows.count[ci] <= typical_r) & (self.cols.count[cj] <= typical_c)
        return [g for g in (np.flatnonzero(small), np.flatnonzero(~small)) if g.size]

    def cell_slots(self, ci: np.ndarray, cj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pixels of cells (ci, cj), each cell padded to the largest of them: rows (n, r, 1),
        columns (n, 1, c) and validity (n, r, c)."""
        rows, cols = self.rows, self.cols
        a = np.arange(max(int(rows.count[ci].max(initial=1)), 1))
        b = np.arange(max(int(cols.count[cj].max(initial=1)), 1))
        ys = np.minimum(rows.first[ci][:, None] + a, self.image_hw[0] - 1)[:, :, None]
        xs = np.minimum(cols.first[cj][:, None] + b, self.image_hw[1] - 1)[:, None, :]
        valid = (a[None, :, None] < rows.count[ci][:, None, None]) & (b[None, None, :] < cols.count[cj][:, None, None])
        return ys, xs, valid

    def approximate_cells(self, p: np.ndarray, ci: np.ndarray, cj: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The logits at the pixels of cells (ci, cj) (``ys`` (n, r, 1), ``xs`` (n, 1, c) from
        :meth:`cell_slots`) from the resized-grid logits ``p``, in plain float32: within a few
        units in the last place of the exact ones."""
        rh, rw = p.shape
        i1, j1 = np.minimum(ci + 1, rh - 1), np.minimum(cj + 1, rw - 1)
        x0, x1 = self.cols.l0[xs], self.cols.l1[xs]
        t0 = p[ci, cj][:, None, None] * x0 + p[ci, j1][:, None, None] * x1
        t1 = p[i1, cj][:, None, None] * x0 + p[i1, j1][:, None, None] * x1
        return t0 * self.rows.l0[ys] + t1 * self.rows.l1[ys]

    def interpolated(self, p: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """PyTorch's ``upsample_bilinear2d(p, image_hw)`` at pixels (ys, xs), bit for bit."""
        return _fused_at(p, self.rows, self.cols, ys, xs)

    def plain(self, p: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """:func:`upsample_plain` ``(p, image_hw)`` at pixels (ys, xs), bit for bit."""
        return _plain_at(p, self.rows, self.cols, ys, xs)

    def plain_in_cells(self, low: np.ndarray, low_rows: Axis, low_cols: Axis, ci: np.ndarray, cj: np.ndarray,
                       cell: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """:meth:`plain` of the resized grid ``upsample_plain(low, low_rows, low_cols)`` (cropped),
        at pixels (ys, xs) of cells (ci, cj) (pixel k lies in cell ``cell[k]``), bit for bit,
        without computing the grid: the cells' four corner values from ``low``, then the pixels.
        For scattered cells, far cheaper than the whole grid."""
        r, c = self.rows, self.cols
        gy = np.stack([ci, r.i1[r.first[ci]]])  # the grid rows and columns the cells draw on
        gx = np.stack([cj, c.i1[c.first[cj]]])
        p = _plain_at(low, low_rows, low_cols, gy[:, None], gx[None, :])[:, :, cell]  # (2, 2, pixels)
        x0, x1 = c.l0[xs], c.l1[xs]
        t0 = p[0, 0] * x0 + p[0, 1] * x1
        t1 = p[1, 0] * x0 + p[1, 1] * x1
        return t0 * r.l0[ys] + t1 * r.l1[ys]

    def exact(self, low: np.ndarray, low_rows: Axis, low_cols: Axis, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The reference's two interpolations of the network's map ``low`` (to the padded input
        by ``low_rows``/``low_cols``, crop, to the photo) at pixels (ys, xs), bit for bit, without
        computing either resized map: each pixel's four resized-grid values, then the pixel."""
        r, c = self.rows, self.cols
        ys, xs = np.broadcast_arrays(ys, xs)
        gy = np.stack([r.i0[ys], r.i1[ys]])  # resized-grid rows and columns each pixel draws on
        gx = np.stack([c.i0[xs], c.i1[xs]])
        p = _fused_at(low, low_rows, low_cols, gy[:, None], gx[None, :])  # (2, 2, ...) grid values
        x0, x1 = c.l0[xs], c.l1[xs]
        t0 = fma32(p[0, 0], x0, p[0, 1] * x1)
        t1 = fma32(p[1, 0], x0, p[1, 1] * x1)
        return fma32(t0, r.l0[ys], t1 * r.l1[ys])


def _plain_at(p: np.ndarray, r: Axis, c: Axis, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """:func:`upsample_plain` of ``p`` (axes ``r``, ``c``) at output pixels (ys, xs): the same
    float32 products and sums, in the same order, so the same floats."""
    yi0, yi1, xi0, xi1 = r.i0[ys], r.i1[ys], c.i0[xs], c.i1[xs]
    x0, x1 = c.l0[xs], c.l1[xs]
    t0 = p[yi0, xi0] * x0 + p[yi0, xi1] * x1
    t1 = p[yi1, xi0] * x0 + p[yi1, xi1] * x1
    return t0 * r.l0[ys] + t1 * r.l1[ys]


def _fused_at(p: np.ndarray, r: Axis, c: Axis, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """PyTorch's ``upsample_bilinear2d`` of ``p`` (axes ``r``, ``c``) at output pixels (ys, xs)."""
    yi0, yi1, xi0, xi1 = r.i0[ys], r.i1[ys], c.i0[xs], c.i1[xs]
    x0, x1 = c.l0[xs], c.l1[xs]
    t0 = fma32(p[yi0, xi0], x0, p[yi0, xi1] * x1)
    t1 = fma32(p[yi1, xi0], x0, p[yi1, xi1] * x1)
    return fma32(t0, r.l0[ys], t1 * r.l1[ys])


@dataclass
class Bands:
    """The composed resize as bands (see ``postprocess._composed_band``), in NumPy."""

    y_idx: np.ndarray
    y_w: np.ndarray
    x_idx: np.ndarray
    x_w: np.ndarray

    def values(self, low: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The band form's logits at pixels (ys, xs), bit for bit: rows first (each low-res
        column's values at the pixel's row, summed band entry by band entry), then columns.

        The rows step is done once per distinct pixel row, for every low-res column (a small
        table), and each pixel gathers its columns from it: the same products and sums in the
        same order as pixel by pixel, at a fraction of the gathers."""
        ys, xs = np.broadcast_arrays(ys, xs)
        shape = ys.shape
        ys, xs = ys.reshape(-1), xs.reshape(-1)
        rows_used, row_of = np.unique(ys, return_inverse=True)
        y_idx, y_w = self.y_idx[rows_used], self.y_w[rows_used]
        table = low[y_idx[:, 0]] * y_w[:, 0, None]  # (distinct rows, low-res columns)
        for ky in range(1, y_idx.shape[-1]):
            table = table + low[y_idx[:, ky]] * y_w[:, ky, None]
        out = None
        flat, width = table.reshape(-1), table.shape[1]
        at = row_of * width
        for kx in range(self.x_idx.shape[1]):
            term = flat[at + self.x_idx[xs, kx]] * self.x_w[xs, kx]
            out = term if out is None else out + term
        return out.reshape(shape)
