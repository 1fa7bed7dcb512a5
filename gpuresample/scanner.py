"""drizzle's per-row scan of the input-footprint polygon: which input pixels of each row it visits.

drizzle (``cdrizzlemap.c``) walks the left and right edge chains of the
footprint polygon (built by :func:`gpuresample.scanner_polygon.scan_polygon`)
from bottom to top and visits, in each input row, the pixels between them.
:func:`row_limits` reproduces that decision bitwise, for the kernels that
use it (square, point, turbo, gaussian, lanczos).  The polygon itself
(:func:`shrink_box`, :func:`inverted_footprint`) lives in
:mod:`gpuresample.scanner_polygon` and is importable from here too.
"""

from __future__ import annotations

import math

import numpy as np

from .scanner_polygon import MAX_INV_ERR, VERTEX_ATOL, FootprintPolygon, inverted_footprint, scan_polygon, shrink_box

__all__ = ["FootprintPolygon", "RowLimits", "inverted_footprint", "row_limits", "shrink_box"]


class _Edge:
    __slots__ = ("c", "m", "v1", "v2")

    def __init__(self, v1, v2, position):
        self.v1, self.v2 = v1, v2
        dy = v2[1] - v1[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.m = float(np.float64(v2[0] - v1[0]) / np.float64(dy))
            b = float(np.float64(v1[0] * v2[1] - v1[1] * v2[0]) / np.float64(dy))
        # shift the intercept so that whole pixels fit inside the edge
        self.c = b - math.copysign(0.5 + 0.5 * abs(self.m), float(position))


class _Scanner:
    """drizzle's polygon scanner: left/right edge chains from bottom to top."""

    def __init__(self, poly, box):
        self.xmin, self.xmax, self.ymin, self.ymax = box
        self.left = self.right = None
        n = len(poly)
        if n < 3:
            self.valid = False
            return
        self.valid = True
        ys = [v[1] for v in poly]
        min_left = 0
        min_y = ys[0]
        for k in range(1, n):
            if ys[k] < min_y:
                min_left, min_y = k, ys[k]
        i1, i2 = (min_left - 1) % n, (min_left + 1) % n
        min_right = i1 if ys[i1] < ys[i2] else i2
        if ys[min_right] <= min_y * (1.0 + math.copysign(VERTEX_ATOL, min_y)):
            if poly[min_left][0] > poly[min_right][0]:
                min_left, min_right = min_right, min_left
        else:
            min_right = min_left
        max_right = 0
        max_y = ys[0]
        for k in range(1, n):
            if ys[k] > max_y:
                max_right, max_y = k, ys[k]
        i1, i2 = (max_right - 1) % n, (max_right + 1) % n
        max_left = i1 if ys[i1] > ys[i2] else i2
        if ys[max_left] >= max_y * (1.0 - math.copysign(VERTEX_ATOL, max_y)):
            if poly[max_left][0] > poly[max_right][0]:
                max_left, max_right = max_right, max_left
        else:
            max_left = max_right
        if max_left > min_left:
            min_left += n
        self.left_edges = []
        for k in range(min_left - max_left):
            a = (min_left - k) % n
            self.left_edges.append(_Edge(poly[a], poly[(a - 1) % n], -1))
        if max_right < min_right:
            max_right += n
        self.right_edges = []
        for k in range(max_right - min_right):
            a = (min_right + k) % n
            self.right_edges.append(_Edge(poly[a], poly[(a + 1) % n], 1))
        self.li = self.ri = 0
        self.left = bool(self.left_edges)
        self.right = bool(self.right_edges)
        # a polygon of zero height (an input touching the output along a line)
        # can leave a chain empty: drizzle then reads an edge it never set
        self.empty_chain = not (self.left and self.right)
        self.undefined = False
        self.min_y, self.max_y = min_y, max_y

    def limits(self, y):
        """(status, x1, x2) for input row ``y`` (call with increasing y); status as drizzle."""
        if self.ymax >= self.ymin and (y < 0 or y > self.ymax):
            return 2, 0, 0
        pyb, pyt = y - 0.5, y + 0.5
        if pyt <= self.min_y or pyb >= self.max_y + 1:
            return 2, 0, 0
        if not (self.left and self.right):
            # drizzle reads uninitialised memory here when a chain was empty from
            # the start; we end the scan (visit nothing), flagged for the CPU backend
            self.undefined = self.undefined or self.empty_chain
            return 1, 0, 0
        # the edges at the row's bottom, then at its top (drizzle's order of evaluation)
        if not self._advance(pyb, top=False):
            return 1, 0, 0
        xlb, xrb = self._edge_x(y)
        if not self._advance(pyt, top=True):
            return 1, 0, 0
        xlt, xrt = self._edge_x(y)
        if self.xmax >= self.xmin:
            xlb, xlt = max(xlb, self.xmin), max(xlt, self.xmin)
            xrb, xrt = min(xrb, self.xmax), min(xrt, self.xmax)
        return _row_span(xlb, xrb, xlt, xrt)

    def _advance(self, py, top):
        """Move both chains to the edge reaching ``py``; False (the scan ends) when one runs out.

        ``top``: the row's top, compared with an edge's upper vertex + 0.5 +
        ``MAX_INV_ERR``; else its bottom, compared with the vertex itself.
        """
        li = _edge_reaching(self.left_edges, self.li, py, top)
        ri = None if li is None else _edge_reaching(self.right_edges, self.ri, py, top)
        if ri is None:
            self.left = self.right = False
            return False
        self.li, self.ri = li, ri
        return True

    def _edge_x(self, y):
        """x of the current left and right edges at row ``y``, widened by ``MAX_INV_ERR``."""
        el, er = self.left_edges[self.li], self.right_edges[self.ri]
        return el.m * y + el.c - MAX_INV_ERR, er.m * y + er.c + MAX_INV_ERR


def _edge_reaching(edges, k, py, top):
    """Index of the first edge from ``k`` on that reaches ``py`` (see ``_Scanner._advance``), None if none."""
    while py > (edges[k].v2[1] + 0.5 + MAX_INV_ERR if top else edges[k].v2[1]):
        if k == len(edges) - 1:
            return None
        k += 1
    return k


def _row_span(xlb, xrb, xlt, xrt):
    """(status, x1, x2) from the edge positions at the row's bottom and top, as drizzle rounds them."""
    if xlt >= xrt:
        x1, x2 = _cround(xlb), _cround(xrb)
        if xlb >= xrb:
            return 3, x1, x2
    elif xlb >= xrb:
        x1, x2 = _cround(xlt), _cround(xrt)
    else:
        # C's ternaries, not max/min: with one side NaN (a horizontal edge: inf * 0) C takes the
        # other side, where Python's max/min would keep the NaN (found by benchmarks/fuzz.py)
        x1, x2 = _cround(xlb if xlb > xlt else xlt), _cround(xrb if xrb < xrt else xrt)
    return 0, x1, x2


#: C's (int) of NaN on x86-64
_NAN_INT = -(2**31)


def _cround(x):
    """C ``(int) round(x)``: half away from zero (NaN -> INT_MIN as on x86-64)."""
    if math.isnan(x):
        return _NAN_INT
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


class RowLimits:
    """Which input pixels drizzle visits: ``x1[j]..x2[j]`` (inclusive) of row ``j``.

    ``x1[j] > x2[j]`` marks a row that is not visited.  ``nmiss_base`` and
    ``nskip`` are drizzle's counts from the scan alone (pixels skipped
    inside visited rows because their pixmap is NaN or they land off the
    output are counted by the kernel).  ``visited`` is False when drizzle
    processes nothing at all (its scanner could not be set up).
    """

    def __init__(self, ny):
        self.x1 = np.zeros(ny, np.int64)
        self.x2 = np.full(ny, -1, np.int64)
        self.nskip = 0
        self.nmiss_base = 0
        self.visited = True
        #: first visited row whose left limit came from a NaN edge position (drizzle's
        #: C code then loops from INT_MIN: it reads outside the input), or None
        self.nan_row = None
        #: first row whose *right* limit is NaN's INT_MIN: drizzle visits no pixel of
        #: it (as we do) but its 32-bit miss count overflows, so drizzle's counters
        #: are not defined for the image (docs/differences.rst); or None
        self.wrapped_row = None
        #: True when drizzle's own scan is undefined (an empty edge chain; see
        #: ``_Scanner``): every backend then visits nothing, with these counts
        self.undefined = False


def row_limits(pixmap, out_shape, xmin, xmax, ymin, ymax):
    """drizzle's per-row input limits for the square/point/turbo/gaussian/lanczos kernels.

    ``xmin..ymax`` is the inclusive input box as passed to drizzle (before its
    NaN shrinking, which is applied here).  Returns :class:`RowLimits`.
    """
    ny = pixmap.shape[0]
    res = RowLimits(ny)
    xmin, xmax, ymin, ymax, ok = shrink_box(pixmap, xmin, xmax, ymin, ymax)
    if not ok:
        raise ValueError("too few valid pixels in the pixel map")
    box = (xmin, xmax, ymin, ymax)
    poly = scan_polygon(pixmap, out_shape, box)
    scan = _Scanner(poly, box)
    if not scan.valid:
        res.visited = False
        return res
    y_lo = max(0, int(scan.min_y + 0.5 + 2.0 * MAX_INV_ERR))
    y_hi = min(ymax, int(scan.max_y + 2.0 * MAX_INV_ERR))
    width = xmax - xmin
    res.nskip = (ymax - ymin) - (y_hi - y_lo)
    res.nmiss_base = res.nskip * width
    for j in range(y_lo, y_hi + 1):
        status, x1, x2 = scan.limits(j)
        res.undefined = scan.undefined
        if status == 1:
            res.nskip += y_hi + 1 - j
            res.nmiss_base += (y_hi + 1 - j) * width
            break
        if status in (2, 3):
            res.nmiss_base += width
            res.nskip += 1
            continue
        if res.nan_row is None and x1 == _NAN_INT:
            res.nan_row = j  # drizzle then loops from INT_MIN: it reads outside the input
        elif res.wrapped_row is None and x2 == _NAN_INT:
            res.wrapped_row = j  # drizzle visits nothing there; its miss count wraps around
        res.nmiss_base += width - (x2 + 1 - x1)
        res.x1[j], res.x2[j] = x1, x2
    return res
