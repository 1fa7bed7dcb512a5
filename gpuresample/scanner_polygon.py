"""drizzle's input-footprint polygon, computed on the host in double precision.

drizzle (``cdrizzlemap.c``) decides which input pixels of each row it visits
from a polygon: the input box is mapped to the output frame through the pixel
map, clipped to the output image, and the clipped polygon is mapped back to
the input frame by a golden-section inversion of the pixel map.  This module
reproduces those steps with the same arithmetic (:func:`scan_polygon`), so
that gpuresample can

* detect the configuration in which drizzle < 3.0 crashes (two vertices of the
  clipped polygon invert to the same input point, see
  :func:`inverted_footprint`), and
* give the kernels the same per-row decision (:mod:`gpuresample.scanner`
  scans the polygon's rows).

All coordinates are 0-based pixel positions; the input box is inclusive
``[xmin, xmax] x [ymin, ymax]`` and its outline runs along pixel edges
(``xmin - 0.5`` ...).  The output image spans ``[-0.5, nx - 0.5]``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["APPROX_ZERO", "MAX_INV_ERR", "VERTEX_ATOL", "FootprintPolygon", "inverted_footprint", "scan_polygon",
           "shrink_box"]

MAX_INV_ERR = 0.03  # pixmap inversion tolerance (input pixels), as drizzle
VERTEX_ATOL = 1.0e-12  # vertices closer than this are one vertex
APPROX_ZERO = 1.0e3 * 2.2250738585072014e-308  # 1000 * DBL_MIN
_GOLDEN = 0.6180339887498948482
_MAX_POLY = 8  # at most 2 * 4 vertices, as drizzle's fixed-size polygons


def shrink_box(pixmap, xmin, xmax, ymin, ymax):
    """Tighten an inclusive input box to the rows/columns with finite pixmap.

    Returns ``(xmin, xmax, ymin, ymax, ok)``; ``ok`` is False when fewer than
    two distinct rows or columns have a finite entry (drizzle refuses those).
    The box follows drizzle: the first valid pixel found scanning each row from
    the left gives ``xmin``, from the right (rows scanned top-down) ``xmax``.
    ``pixmap`` may also be a :class:`gpuresample.pixmap_model.LazyPixmap`
    (which knows its NaN pattern without the array).
    """
    if hasattr(pixmap, "shrink_box"):
        return pixmap.shrink_box(xmin, xmax, ymin, ymax)
    sub = pixmap[ymin : ymax + 1, xmin : xmax + 1]
    ok = ~(np.isnan(sub[..., 0]) | np.isnan(sub[..., 1]))
    rows = np.flatnonzero(ok.any(axis=1))
    if rows.size == 0:
        return xmin, xmax, ymin, ymax, False
    first = np.argmax(ok[rows], axis=1)
    last = ok.shape[1] - 1 - np.argmax(ok[rows, ::-1], axis=1)
    imin, imax = xmin + int(first.min()), xmin + int(last.max())
    jmin, jmax = ymin + int(rows[0]), ymin + int(rows[-1])
    # drizzle starts imax/jmax from imin/jmin, so a single valid pixel gives
    # imax == imin: both rules reject boxes narrower than 2.
    return imin, imax, jmin, jmax, (imin < imax and jmin < jmax)


class _PixmapInterpolator:
    """Bilinear interpolation of the pixmap, extrapolating at the borders."""

    def __init__(self, pixmap, box):
        self.pm = pixmap
        self.ny, self.nx = pixmap.shape[:2]
        self.box = box  # (xmin, xmax, ymin, ymax)

    def __call__(self, xin, yin):
        i0 = min(max(int(xin), 0), self.nx - 2)  # int() truncates toward 0, as C
        j0 = min(max(int(yin), 0), self.ny - 2)
        x = xin - i0
        y = yin - j0
        x1 = 1.0 - x
        y1 = 1.0 - y
        pm = self.pm
        f00, g00 = pm[j0, i0]
        f10, g10 = pm[j0, i0 + 1]
        f01, g01 = pm[j0 + 1, i0]
        f11, g11 = pm[j0 + 1, i0 + 1]
        xo = f00 * x1 * y1 + f10 * x * y1 + f01 * x1 * y + f11 * x * y
        yo = g00 * x1 * y1 + g10 * x * y1 + g01 * x1 * y + g11 * x * y
        if math.isnan(xo) or math.isnan(yo):
            return None
        return float(xo), float(yo)

    def map_point(self, xin, yin):
        i, j = int(xin), int(yin)
        if float(i) == xin and float(j) == yin:
            xmin, xmax, ymin, ymax = self.box
            if xmin <= i <= xmax and ymin <= j <= ymax:
                xo, yo = self.pm[j, i]
                return None if (math.isnan(xo) or math.isnan(yo)) else (float(xo), float(yo))
            return None
        return self(xin, yin)

    def invert(self, xout, yout):
        """Golden-section search for the input point mapping to (xout, yout)."""
        xmin, xmax, ymin, ymax = self.box
        xlo, xhi = xmin - 0.5, xmax + 0.5
        ylo, yhi = ymin - 0.5, ymax + 0.5
        dx, dy = xhi - xlo, yhi - ylo
        niter = 0
        while (dx > MAX_INV_ERR or dy > MAX_INV_ERR) and niter < 50:
            niter += 1
            x1 = xhi - _GOLDEN * dx
            x2 = xlo + _GOLDEN * dx
            y1 = yhi - _GOLDEN * dy
            y2 = ylo + _GOLDEN * dy
            d = []
            for px, py in ((x1, y1), (x1, y2), (x2, y1), (x2, y2)):
                r = self(px, py)
                if r is None:
                    return None
                ex, ey = r[0] - xout, r[1] - yout
                d.append(ex * ex + ey * ey)
            d11, d12, d21, d22 = d
            if d11 < d12 and d11 < d21 and d11 < d22:
                xhi, yhi = x2, y2
            elif d12 < d11 and d12 < d21 and d12 < d22:
                xhi, ylo = x2, y1
            elif d21 < d11 and d21 < d12 and d21 < d22:
                xlo, yhi = x1, y2
            else:
                xlo, ylo = x1, y1
            dx, dy = xhi - xlo, yhi - ylo
        if niter == 50:
            return None
        return 0.5 * (xlo + xhi), 0.5 * (ylo + yhi)


def _cross(a, b):
    return a[0] * b[1] - a[1] * b[0]


def _same(a, b):
    return abs(a[0] - b[0]) < VERTEX_ATOL and abs(a[1] - b[1]) < VERTEX_ATOL


def _append(poly, v):
    """Append unless equal to the last or first vertex (or the polygon is full)."""
    if poly and (_same(poly[-1], v) or _same(poly[0], v)):
        return
    if len(poly) < _MAX_POLY:
        poly.append(v)


def _orient_ccw(poly):
    n = len(poly)
    if n < 3:
        return poly
    cx = sum(v[0] for v in poly) / n
    cy = sum(v[1] for v in poly) / n
    a = (poly[0][0] - cx, poly[0][1] - cy)
    b = (poly[1][0] - cx, poly[1][1] - cy)
    if _cross(a, b) >= 0.0:
        return poly
    return poly[::-1]


def _simplify(poly):
    n = len(poly)
    if n < 3:
        return poly
    out = []
    for k in range(n):
        prev, cur, nxt = poly[k - 1], poly[k], poly[(k + 1) % n]
        dp = (nxt[0] - prev[0], nxt[1] - prev[1])
        dq = (cur[0] - prev[0], cur[1] - prev[1])
        if abs(_cross(dp, dq)) > APPROX_ZERO and math.hypot(*dp) > VERTEX_ATOL:
            out.append(cur)
    return out


def _inside(pt, w0, w1):
    # strictly left of the directed window edge w0 -> w1
    return (_cross(w1, pt) - _cross(w0, pt) - _cross(w1, w0)) > 0.0


def _clip(poly, window):
    """Sutherland-Hodgman clip of ``poly`` by the convex ``window``."""
    if len(poly) < 3:
        return None
    poly = _orient_ccw(poly)
    window = _orient_ccw(window)
    out = poly
    for k in range(len(window)):
        w0, w1 = window[k - 1], window[k]
        dw = (w1[0] - w0[0], w1[1] - w0[1])
        src, out = out, []
        for j in range(len(src)):
            p0, p1 = src[j - 1], src[j]
            dp = (p1[0] - p0[0], p1[1] - p0[1])
            in0 = _inside(p0, w0, w1)
            in1 = _inside(p1, w0, w1)
            if in0 != in1:
                d = _cross(dp, dw)
                app = _cross(p1, p0)
                aww = _cross(w1, w0)
                # d == 0 (parallel edges, or an overflowed cross product): C's
                # division gives inf/NaN there and drizzle drops the vertex
                vi = (math.nan, math.nan) if d == 0.0 else ((app * dw[0] - aww * dp[0]) / d,
                                                             (app * dw[1] - aww * dp[1]) / d)
                if math.isfinite(vi[0]) and math.isfinite(vi[1]):
                    _append(out, vi)
                if in1:
                    _append(out, p1)
            elif in0:
                _append(out, p1)
    return _simplify(_orient_ccw(out))


class FootprintPolygon:
    """Result of :func:`inverted_footprint`.

    ``vertices`` are the clipped polygon's vertices inverted to the input
    frame, in order, *without* dropping duplicates; ``has_duplicates`` tells
    whether two consecutive ones (or the last and the first) coincide within
    ``VERTEX_ATOL``, which is what crashes drizzle < 3.0.  ``valid`` is False
    when mapping or inversion failed (drizzle then scans the whole box).
    """

    def __init__(self, vertices, valid):
        self.vertices = vertices
        self.valid = valid
        self.has_duplicates = False
        if valid and len(vertices) > 1:
            self.has_duplicates = any(
                _same(vertices[k - 1], vertices[k]) for k in range(len(vertices))
            )


def _box_corners(box):
    """The input box's outline (along pixel edges), counter-clockwise from (xmin - 0.5, ymin - 0.5)."""
    xmin, xmax, ymin, ymax = box
    return [(xmin - 0.5, ymin - 0.5), (xmax + 0.5, ymin - 0.5), (xmax + 0.5, ymax + 0.5), (xmin - 0.5, ymax + 0.5)]


def _clipped_output_polygon(interp, corners, out_shape):
    """The mapped input box clipped to the output image ``[-0.5, n - 0.5]``; None when mapping or clipping fails."""
    mapped = []
    for cx, cy in corners:
        m = interp.map_point(cx, cy)
        if m is None:
            return None
        mapped.append(m)
    ny, nx = out_shape
    window = [(-0.5, -0.5), (nx - 0.5, -0.5), (nx - 0.5, ny - 0.5), (-0.5, ny - 0.5)]
    return _clip(mapped, window)


def inverted_footprint(pixmap, out_shape, xmin, xmax, ymin, ymax):
    """Clip the input box to the output image and invert it to the input frame.

    Parameters
    ----------
    pixmap : ndarray, shape (ny, nx, 2), float64
        Output (x, y) of each input pixel centre.
    out_shape : tuple
        ``(ny_out, nx_out)`` of the output image.
    xmin, xmax, ymin, ymax : int
        Inclusive input box *after* :func:`shrink_box`.
    """
    box = (xmin, xmax, ymin, ymax)
    interp = _PixmapInterpolator(pixmap, box)
    clipped = _clipped_output_polygon(interp, _box_corners(box), out_shape)
    if clipped is None:
        return FootprintPolygon([], False)
    inv = []
    for v in clipped:
        r = interp.invert(*v)
        if r is None:
            return FootprintPolygon([], False)
        inv.append(r)
    return FootprintPolygon(inv, True)


def scan_polygon(pixmap, out_shape, box):
    """The input-frame polygon whose rows drizzle's scanner walks, as drizzle builds it.

    ``box`` is the inclusive input box ``(xmin, xmax, ymin, ymax)`` after
    :func:`shrink_box`.  As drizzle: the input box itself when its corners
    cannot be mapped or the clipping fails; else the clipped polygon
    inverted to the input frame and oriented counter-clockwise -- or, when an
    inversion fails, the vertices inverted so far, unoriented.
    """
    interp = _PixmapInterpolator(pixmap, box)
    corners = _box_corners(box)
    clipped = _clipped_output_polygon(interp, corners, out_shape)
    if clipped is None:
        return corners
    poly = []
    for v in clipped:
        r = interp.invert(*v)
        if r is None:
            return poly  # drizzle keeps the vertices inverted so far, unoriented
        _append(poly, r)
    return _orient_ccw(poly)
