"""What of one exposure reaches an output window (the input restriction of a tile).

drizzle's output pixel only depends on the input pixels whose kernel lands on
it, so a tile can be computed from the inputs that reach it.  Two details of
drizzle's C code decide *how* that must be done to stay bitwise equal to the
untiled run (see :mod:`gpuresample.tiling` for the whole argument):

* the pixel map must not be shifted or cut (its values enter drizzle's
  floating-point arithmetic and its footprint clipping), so the input box and
  the map stay those of the whole exposure;
* an input pixel with weight 0 returns from drizzle's update before it
  touches data, weight, context or DQ: zeroing the weights of the pixels that
  cannot reach the window removes them without changing anything else.

Pixel conventions: 0-based; regions/boxes are half-open ``(y0, y1, x0, x1)``;
input limits are drizzle's inclusive ``(xmin, xmax, ymin, ymax)``; output
pixel ``i`` spans ``[i - 0.5, i + 0.5]``.
"""

from __future__ import annotations

import numpy as np

from .scanner import row_limits

__all__ = ["intersect", "masked_weights", "trimmed_limits"]


def masked_weights(weight, pixmap, region, reach):
    """``weight`` with 0 for input pixels whose mapped centre is farther than ``reach`` from ``region``.

    NaN map entries compare False and get weight 0 too (drizzle skips them anyway).
    """
    y0, y1, x0, x1 = region
    x, y = pixmap[..., 0], pixmap[..., 1]
    with np.errstate(invalid="ignore"):
        near = (x >= x0 - 0.5 - reach) & (x <= x1 - 0.5 + reach)
        near &= (y >= y0 - 0.5 - reach) & (y <= y1 - 0.5 + reach)
    return np.where(near, weight, np.float32(0)).astype(np.float32, copy=False)


def intersect(box, region):
    """The overlap of two half-open ``(y0, y1, x0, x1)`` boxes, or None when they do not overlap."""
    y0 = max(box[0], region[0])
    y1 = min(box[1], region[1])
    x0 = max(box[2], region[2])
    x1 = min(box[3], region[3])
    return (y0, y1, x0, x1) if y0 < y1 and x0 < x1 else None


def _nonzero_box(weight, limits):
    """The inclusive box of the non-zero weights inside ``limits``, padded by two pixels; None if all zero."""
    xmin, xmax, ymin, ymax = limits
    w = weight[ymin : ymax + 1, xmin : xmax + 1] != 0
    rows = np.flatnonzero(w.any(axis=1))
    if rows.size == 0:
        return None, w
    cols = np.flatnonzero(w.any(axis=0))
    sub = (max(xmin, xmin + int(cols[0]) - 2), min(xmax, xmin + int(cols[-1]) + 2),
           max(ymin, ymin + int(rows[0]) - 2), min(ymax, ymin + int(rows[-1]) + 2))
    return sub, w


def _same_scan(pixmap, canvas_shape, limits, sub, w):
    """True when drizzle scans the same non-zero-weight pixels with box ``sub`` as with ``limits``."""
    xmin, xmax, ymin, ymax = limits
    try:
        full = row_limits(pixmap, canvas_shape, *limits)
        part = row_limits(pixmap, canvas_shape, *sub)
    except ValueError:
        return False
    if not (full.visited and part.visited):
        return False
    c = np.arange(xmin, xmax + 1)
    j = np.arange(ymin, ymax + 1)
    scan_full = (c >= full.x1[j, None]) & (c <= full.x2[j, None]) & w
    scan_part = (c >= part.x1[j, None]) & (c <= part.x2[j, None]) & w
    scan_part &= (c >= sub[0]) & (c <= sub[1])
    scan_part &= ((j >= sub[2]) & (j <= sub[3]))[:, None]
    return bool(np.array_equal(scan_full, scan_part))


def trimmed_limits(pixmap, canvas_shape, limits, weight, kernel):
    """A smaller input box that drizzle scans identically where the weights are non-zero, or ``limits``.

    drizzle visits every input pixel of the box (work that masked pixels
    still cost).  Rows and columns whose weights are all zero can be left out
    of the box when that does not change which non-zero pixels drizzle
    scans: the box shrinks to the non-zero pixels plus two masked pixels on
    each side (so the square kernel's corner interpolation, which looks at
    the neighbours, sees the same pixels), and drizzle's per-row scan limits
    (reproduced by :func:`gpuresample.scanner.row_limits`) are compared for
    both boxes over the non-zero pixels: any difference keeps the full box.
    Returns None when every weight is zero (nothing to drizzle).
    """
    sub, w = _nonzero_box(weight, limits)
    if sub is None:
        return None
    if sub == tuple(limits) or sub[1] <= sub[0] or sub[3] <= sub[2]:
        return limits
    if kernel == "tophat":
        return sub  # our tophat visits every pixel of the box: no scanner
    return sub if _same_scan(pixmap, canvas_shape, limits, sub, w) else limits
