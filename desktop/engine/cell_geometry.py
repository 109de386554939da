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
are reproduced here for arbitrary pixel lists, checked against PyTorch in the tests:

- PyTorch's CPU kernel computes ``fma(t0, h0, t1 * h1)`` with ``t0 = fma(x00, w0, x01 * w1)``
  and ``t1 = fma(x10, w0, x11 * w1)`` (the compiler fuses multiply-adds); NumPy has no fused
  multiply-add, so it is done in float64 (the product of two float32 is exact there) and
  rounded once to float32;
- the band form is plain float32 products and sums in a fixed order, as NumPy does them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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
        r, c = self.rows, self.cols
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

    @classmethod
    def of(cls, y_idx: torch.Tensor, y_w: torch.Tensor, x_idx: torch.Tensor, x_w: torch.Tensor) -> Bands:
        return cls(y_idx.numpy(), y_w.numpy(), x_idx.numpy(), x_w.numpy())

    def values(self, low: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The band form's logits at pixels (ys, xs), bit for bit: rows first (each low-res
        column's values at the pixel's row, summed band entry by band entry), then columns."""
        out = None
        y_idx, y_w = self.y_idx[ys], self.y_w[ys]
        for kx in range(self.x_idx.shape[1]):
            cx = self.x_idx[xs, kx]
            rows = low[y_idx[..., 0], cx] * y_w[..., 0]
            for ky in range(1, y_idx.shape[-1]):
                rows = rows + low[y_idx[..., ky], cx] * y_w[..., ky]
            term = rows * self.x_w[xs, kx]
            out = term if out is None else out + term
        return out
