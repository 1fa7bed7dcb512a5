"""A sparse pixel map as the device expands it: the tensor-product spline, separated per row and column.

:func:`gpuresample.calc_pixmap` with ``stepsize != 1`` evaluates the WCS on
a sparse grid and interpolates it with a bicubic (or bilinear) spline
(``scipy.interpolate.RectBivariateSpline``, ``s=0``).  On a regular pixel
grid that spline separates: with ``K = order + 1`` non-zero B-spline basis
values per axis,

    x_out[j, i] = sum_a sum_b By[j, a] * Cx[sy[j] + a, sx[i] + b] * Bx[i, b]

(the same for y_out with ``Cy``), where ``By``/``sy`` depend on the input row
``j`` only and ``Bx``/``sx`` on the column ``i`` only.  A
:class:`SplinePixmap` holds exactly these arrays, a few kB for a 2048²
exposure instead of the 64 MiB float64 map, and the input bounding box as
per-row/per-column flags (a box is separable too).  The kernel backends
upload it and expand the map on the device (``kernels/pixmap.cu``), so the
map never crosses the bus; :meth:`SplinePixmap.evaluate` is the same formula
on the host (the reference the tests hold the device to, ≤ 1e-9 px from the
host's own sparse map).

Pixel conventions: 0-based input pixels ``(i, j)`` = (column, row), maps
shaped ``(ny, nx, 2)`` with ``[..., 0]`` = output x.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FAR", "SplinePixmap"]

#: Coordinates beyond this are NaN (``gpuresample.pixmap_checks.MAX_PIXMAP_COORD``; kernels/pixmap.cu too).
FAR = float(2**26)


def _basis(nodes_eval, knots, k):
    """``(values (n, k+1), first coefficient index (n,))`` of the degree-``k`` basis at ``nodes_eval``."""
    from scipy.interpolate import BSpline

    dm = BSpline.design_matrix(nodes_eval, knots, k).tocsr()
    dm.sort_indices()
    n = nodes_eval.size
    counts = np.diff(dm.indptr)
    values = np.zeros((n, k + 1))
    first = np.zeros(n, np.int64)
    ncoef = knots.size - k - 1
    for r in range(n):  # n is one axis of the image: a few thousand rows at most
        cols = dm.indices[dm.indptr[r] : dm.indptr[r + 1]]
        vals = dm.data[dm.indptr[r] : dm.indptr[r + 1]]
        start = min(int(cols[0]) if counts[r] else 0, ncoef - k - 1)
        values[r, cols - start] = vals
        first[r] = start
    return values, first


class SplinePixmap:
    """The separable form of one sparse pixel map (see the module docstring).

    Attributes: ``shape`` ``(ny, nx)`` of the input; ``k`` (K - 1, the
    degree); ``by``, ``sy`` (rows) and ``bx``, ``sx`` (columns); ``cx``,
    ``cy`` the coefficient arrays ``(n_coef_y, n_coef_x)``; ``row_ok`` /
    ``col_ok`` (uint8, or None) the input bounding box; ``out_box``
    ``(xlo, xhi, ylo, yhi)`` of the output WCS's bounding box where applied,
    else None; ``offset`` ``(x0, y0)`` subtracted from the result (a shifted
    map, e.g. an inferred output origin).
    """

    def __init__(self, spline_x, spline_y, shape, in_box=None, out_box=None):
        ny, nx = shape
        ty, tx = spline_x.get_knots()
        k = int(spline_x.degrees[0])
        self.shape = (int(ny), int(nx))
        self.k = k
        self.by, self.sy = _basis(np.arange(ny, dtype=np.float64), ty, k)
        self.bx, self.sx = _basis(np.arange(nx, dtype=np.float64), tx, k)
        ncy, ncx = ty.size - k - 1, tx.size - k - 1
        self.cx = np.ascontiguousarray(spline_x.get_coeffs().reshape(ncy, ncx))
        self.cy = np.ascontiguousarray(spline_y.get_coeffs().reshape(ncy, ncx))
        self.row_ok = self.col_ok = None
        if in_box is not None:
            (xlo, xhi), (ylo, yhi) = in_box[:2]
            cols, rows = np.arange(nx), np.arange(ny)
            self.col_ok = ((cols >= xlo) & (cols <= xhi)).astype(np.uint8)
            self.row_ok = ((rows >= ylo) & (rows <= yhi)).astype(np.uint8)
        self.out_box = None if out_box is None else tuple(float(v) for lim in out_box[:2] for v in lim)
        self.offset = (0.0, 0.0)

    def shifted(self, dx, dy):
        """A copy whose map is ``self``'s minus ``(dx, dy)``."""
        new = object.__new__(SplinePixmap)
        new.__dict__.update(self.__dict__)
        new.offset = (self.offset[0] + float(dx), self.offset[1] + float(dy))
        return new

    @property
    def nbytes(self):
        """Bytes of the arrays a device needs (what crosses the bus instead of the map)."""
        arrays = (self.by, self.sy, self.bx, self.sx, self.cx, self.cy, self.row_ok, self.col_ok)
        return sum(a.nbytes for a in arrays if a is not None)

    def evaluate(self, rows=None):
        """The map ``(ny, nx, 2)`` float64 on the host, by the device's formula (``rows``: a slice)."""
        rows = slice(None) if rows is None else rows
        by, sy = self.by[rows], self.sy[rows]
        kk = self.k + 1
        out = np.empty((by.shape[0], self.shape[1], 2))
        for c, coef in enumerate((self.cx, self.cy)):
            acc = np.zeros((by.shape[0], self.shape[1]))
            for a in range(kk):
                for b in range(kk):
                    acc += by[:, a, None] * coef[sy[:, None] + a, self.sx[None, :] + b] * self.bx[None, :, b]
            out[..., c] = acc - self.offset[c]
        ox, oy = out[..., 0] + self.offset[0], out[..., 1] + self.offset[1]
        far = ~((np.abs(ox) <= FAR) & (np.abs(oy) <= FAR))  # pixmap_checks.MAX_PIXMAP_COORD, NaN too
        if self.out_box is not None:
            xlo, xhi, ylo, yhi = self.out_box
            far |= (ox < xlo) | (ox > xhi) | (oy < ylo) | (oy > yhi)
        out[far] = np.nan
        if self.row_ok is not None:
            out[~self.row_ok[rows].astype(bool)] = np.nan
            out[:, ~self.col_ok.astype(bool)] = np.nan
        return out
