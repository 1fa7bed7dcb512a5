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

import functools
import math

import numpy as np

__all__ = ["FAR", "LazyPixmap", "SplinePixmap"]

#: Coordinates beyond this are NaN (``gpuresample.pixmap_checks.MAX_PIXMAP_COORD``; kernels/pixmap.cu too).
FAR = float(2**26)


def _basis(nodes_eval, knots, k):
    """``(values (n, k+1), first coefficient index (n,))`` of the degree-``k`` basis at ``nodes_eval``."""
    from scipy.interpolate import BSpline

    dm = BSpline.design_matrix(nodes_eval, knots, k).tocsr()
    dm.sort_indices()
    n = nodes_eval.size
    counts = np.diff(dm.indptr)
    ncoef = knots.size - k - 1
    # each row's first coefficient (its first non-zero column), kept k+1 columns from the end
    lead = np.where(counts > 0, dm.indices[np.minimum(dm.indptr[:-1], max(dm.indices.size - 1, 0))], 0)
    first = np.minimum(lead, ncoef - k - 1).astype(np.int64)
    values = np.zeros((n, k + 1))
    rows = np.repeat(np.arange(n), counts)
    values[rows, dm.indices - first[rows]] = dm.data
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
        #: drizzle's scans of this map, ``{(out_shape, box): RowLimits}`` (pixmap_checks.scan_limits)
        self.scans = {}

    def shifted(self, dx, dy):
        """A copy whose map is ``self``'s minus ``(dx, dy)``."""
        new = object.__new__(SplinePixmap)
        new.__dict__.update(self.__dict__)
        new.offset = (self.offset[0] + float(dx), self.offset[1] + float(dy))
        new.scans = {}  # another map: another scan
        new.__dict__.pop("lazy_ok", None)  # it depends on the offset
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

    def value_at(self, j, i):
        """``(x, y)`` of input pixel ``(i, j)`` (0-based column, row) by :meth:`evaluate`'s arithmetic.

        The same products and sums in the same order as the whole-map
        evaluation, so the value is bitwise that entry of :meth:`evaluate`.
        """
        kk = self.k + 1
        by, bx = self.by[j].tolist(), self.bx[i].tolist()  # Python floats: the same IEEE products, faster
        r0, c0 = int(self.sy[j]), int(self.sx[i])
        vals = []
        for coef, off in zip((self.cx, self.cy), self.offset, strict=True):
            block = coef[r0 : r0 + kk, c0 : c0 + kk].tolist()
            acc = 0.0
            for a in range(kk):
                row, wy = block[a], by[a]
                for b in range(kk):
                    acc += wy * row[b] * bx[b]
            vals.append(acc - off)
        x, y = vals
        ox, oy = x + self.offset[0], y + self.offset[1]
        nan = not (abs(ox) <= FAR and abs(oy) <= FAR)
        if self.out_box is not None:
            xlo, xhi, ylo, yhi = self.out_box
            nan = nan or ox < xlo or ox > xhi or oy < ylo or oy > yhi
        if self.row_ok is not None and not (self.row_ok[j] and self.col_ok[i]):
            nan = True
        return (math.nan, math.nan) if nan else (x, y)

    def coefficient_bounds(self, rows, cols):
        """``(xlo, xhi, ylo, yhi)`` enclosing the map over input ``rows`` x ``cols`` (two inclusive
        ``(first, last)`` ranges), from the spline's coefficients; None when no safe bound exists.

        A B-spline's basis values are non-negative and sum to 1, so each map
        value is a convex combination of the coefficients it uses: their
        range bounds it (plus a rounding margin).  Checked, not assumed.
        """
        (j0, j1), (i0, i1) = rows, cols
        by, bx = self.by[j0 : j1 + 1], self.bx[i0 : i1 + 1]
        for basis in (by, bx):
            if basis.min() < 0 or np.abs(basis.sum(axis=1) - 1.0).max() > 1e-12:
                return None
        a0, a1 = int(self.sy[j0 : j1 + 1].min()), int(self.sy[j0 : j1 + 1].max()) + self.k
        b0, b1 = int(self.sx[i0 : i1 + 1].min()), int(self.sx[i0 : i1 + 1].max()) + self.k
        out = []
        for coef, off in zip((self.cx, self.cy), self.offset, strict=True):
            c = coef[a0 : a1 + 1, b0 : b1 + 1]
            lo, hi = float(c.min()), float(c.max())
            margin = 1e-9 * (abs(lo) + abs(hi)) + 1e-6
            out += [lo - margin - off, hi + margin - off]
        return tuple(out)

    @functools.cached_property
    def lazy_ok(self):
        """True when the map's NaN pixels are exactly the input bounding box's complement.

        No output bounding box is applied and no value can be beyond
        :data:`FAR` (the coefficients bound the map): then which pixels are
        NaN is known without evaluating any (:class:`LazyPixmap`).
        """
        if self.out_box is not None:
            return False
        ny, nx = self.shape
        bounds = self.coefficient_bounds((0, ny - 1), (0, nx - 1))
        if bounds is None:
            return False
        x_lo, x_hi, y_lo, y_hi = bounds
        ox, oy = self.offset
        return max(abs(x_lo + ox), abs(x_hi + ox), abs(y_lo + oy), abs(y_hi + oy)) < 0.5 * FAR


class LazyPixmap:
    """A :class:`SplinePixmap` read as the ``(ny, nx, 2)`` map it describes, without making that map.

    What the host needs of a map that the device expands (drizzle's scan of
    the input box, the NaN shrinking of the box, a bound on the footprint):
    ``lazy[j, i]`` is one pixel's ``(x, y)`` (memoized; bitwise the full
    map's entry), :meth:`shrink_box` and :meth:`bounds` use the model's
    separable NaN pattern and coefficients, :meth:`materialize` makes the
    whole map when a host stage needs it.  Only for models whose
    :attr:`SplinePixmap.lazy_ok` is True.
    """

    def __init__(self, model):
        if not model.lazy_ok:
            raise ValueError("this pixel-map model needs the whole map (an output bounding box, or far values)")
        self.model = model
        ny, nx = model.shape
        self.shape = (ny, nx, 2)
        self._values = {}

    def __getitem__(self, key):
        j, i = key
        v = self._values.get((j, i))
        if v is None:
            v = self._values[(j, i)] = self.model.value_at(int(j), int(i))
        return v

    def _ok(self, flags, lo, hi):
        idx = np.arange(lo, hi + 1)
        return idx if flags is None else idx[flags[lo : hi + 1].astype(bool)]

    def shrink_box(self, xmin, xmax, ymin, ymax):
        """:func:`gpuresample.scanner_polygon.shrink_box` of the map: the rows/columns inside the
        input bounding box (every other entry is finite, :attr:`SplinePixmap.lazy_ok`)."""
        rows = self._ok(self.model.row_ok, ymin, ymax)
        cols = self._ok(self.model.col_ok, xmin, xmax)
        if rows.size == 0 or cols.size == 0:
            return xmin, xmax, ymin, ymax, False
        imin, imax, jmin, jmax = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
        return imin, imax, jmin, jmax, (imin < imax and jmin < jmax)

    def bounds(self, xmin, xmax, ymin, ymax):
        """``(xlo, xhi, ylo, yhi)`` enclosing every finite map value of the inclusive box (a
        superset of the exact range), or None when none is finite."""
        rows = self._ok(self.model.row_ok, ymin, ymax)
        cols = self._ok(self.model.col_ok, xmin, xmax)
        if rows.size == 0 or cols.size == 0:
            return None
        return self.model.coefficient_bounds((int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1])))

    def materialize(self):
        """The whole map ``(ny, nx, 2)`` float64 on the host (:meth:`SplinePixmap.evaluate`)."""
        return self.model.evaluate()

