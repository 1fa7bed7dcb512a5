"""Pixel maps: where each input pixel centre lands in the output frame.

``pixmap[j, i] = (x, y)``: 0-based output pixel coordinates of the centre of
input pixel ``(i, j)`` (numpy index ``[j, i]``), obtained as
``wcs_to.world_to_pixel(wcs_from.pixel_to_world(i, j))``.  Input pixels
outside ``wcs_from``'s bounding box get NaN (drizzle then skips them); the
bounding box of ``wcs_to`` is ignored, so pixels that land off the output grid
keep their coordinates.  This is ``drizzle.utils.calc_pixmap`` with its
default ``disable_bbox="to"``, except that neither WCS object is modified.

Evaluation is done in batches of rows so that no full-size temporary beyond
the pixel map itself is created.  With ``stepsize > 1`` the transform is
evaluated on a sparse grid (every ``stepsize`` pixels, plus the last row and
column) and interpolated with a bilinear (``order=1``) or bicubic
(``order=3``) spline; ``stepsize="auto"`` picks the coarsest grid whose
interpolation error, measured against exact evaluation at random pixels, is
within ``tolerance`` output pixels.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np

__all__ = ["AUTO_STEPS", "WcsTransform", "bbox_intervals", "calc_pixmap", "pixmap_shape"]

log = logging.getLogger("gpuresample")

#: Sparse-grid spacings tried by ``stepsize="auto"``, coarsest first.
AUTO_STEPS = (64, 32, 16, 8, 4)

_BATCH_PIXELS = 1 << 18  # ~256k pixels per transform call: a few MB of temporaries


def _strip_units(values):
    return tuple(np.asarray(getattr(v, "value", v), dtype=np.float64) for v in values)


def _is_gwcs(obj):
    return type(obj).__module__.startswith("gwcs")


def bbox_intervals(wcs):
    """gwcs bounding box as ((xlo, xhi), (ylo, yhi)), or None."""
    bbox = getattr(wcs, "bounding_box", None) if _is_gwcs(wcs) else None
    if bbox is None:
        return None
    try:
        bbox = bbox.bounding_box(order="F")
    except AttributeError:
        bbox = tuple(bbox)
    if np.ndim(bbox) == 1:
        bbox = (bbox,)
    return tuple((float(lo), float(hi)) for lo, hi in bbox)


class WcsTransform:
    """Pixel -> world -> pixel, without touching either WCS object's state."""

    def __init__(self, wcs_from, wcs_to):
        for name, w, attr in (
            ("wcs_from", wcs_from, "pixel_to_world_values"),
            ("wcs_to", wcs_to, "world_to_pixel_values"),
        ):
            if not hasattr(w, attr):
                raise TypeError(
                    f"{name} must be a gwcs.WCS or astropy.wcs.WCS (an object with {attr}); "
                    f"got {type(w).__name__}"
                )
        self.wcs_from = wcs_from
        self.wcs_to = wcs_to
        self.bbox = bbox_intervals(wcs_from)

    def _world(self, x, y, with_bbox):
        w = self.wcs_from
        if _is_gwcs(w):
            return _strip_units(w(x, y, with_bounding_box=with_bbox))
        return _strip_units(w.pixel_to_world_values(x, y))

    def _pixel(self, world):
        w = self.wcs_to
        if _is_gwcs(w):
            return _strip_units(w.invert(*world, with_bounding_box=False))
        return _strip_units(w.world_to_pixel_values(*world))

    def exact(self, x, y):
        """Output (x, y) with wcs_from's bounding box applied (NaN outside)."""
        return self._pixel(self._world(x, y, True))

    def smooth(self, x, y):
        """Output (x, y) ignoring wcs_from's bounding box (for interpolation)."""
        return self._pixel(self._world(x, y, False))

    def outside_bbox(self, x, y):
        """True where (x, y) lies outside wcs_from's bounding box."""
        if self.bbox is None:
            return np.zeros(np.broadcast(x, y).shape, bool)
        (xlo, xhi), (ylo, yhi) = self.bbox[:2]
        return (x < xlo) | (x > xhi) | (y < ylo) | (y > yhi)


def pixmap_shape(wcs_from, shape=None):
    """Input array shape ``(ny, nx)``: ``shape``, ``wcs_from.array_shape`` or its bounding box."""
    if shape is None:
        shape = getattr(wcs_from, "array_shape", None)
    if shape is None:
        bbox = bbox_intervals(wcs_from)
        if bbox is not None and len(bbox) >= 2:
            shape = tuple(math.ceil(hi + 0.5) for _, hi in bbox[:2][::-1])
    if shape is None:
        raise ValueError(
            "Cannot tell the input shape: pass shape=(ny, nx), or set wcs_from.array_shape "
            "or its bounding_box"
        )
    shape = tuple(int(n) for n in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (ny, nx) with positive sizes; got {shape}")
    return shape


def _row_batches(shape):
    """Yield (r0, r1, row coordinates, column coordinates) covering ``shape``."""
    ny, nx = shape[:2]
    batch = max(1, _BATCH_PIXELS // nx)
    xs = np.arange(nx, dtype=np.float64)
    for r0 in range(0, ny, batch):
        r1 = min(r0 + batch, ny)
        yield r0, r1, np.arange(r0, r1, dtype=np.float64), xs


def _exact_into(tr, out):
    for r0, r1, ys, xs in _row_batches(out.shape):
        y, x = np.meshgrid(ys, xs, indexing="ij")
        out[r0:r1, :, 0], out[r0:r1, :, 1] = tr.exact(x, y)


def _nodes(n, step):
    nodes = np.arange(0, n, step, dtype=np.float64)
    if nodes[-1] != n - 1:
        nodes = np.append(nodes, n - 1)
    return nodes


class _SparseMap:
    """Spline interpolation of the transform evaluated on a sparse grid."""

    def __init__(self, tr, shape, step, order):
        from scipy.interpolate import RectBivariateSpline

        ny, nx = shape
        self.tr = tr
        self.ynodes = _nodes(ny, step)
        self.xnodes = _nodes(nx, step)
        k = order
        if self.ynodes.size <= k or self.xnodes.size <= k:
            raise _NeedExact(f"grid of {self.ynodes.size}x{self.xnodes.size} nodes is too small")
        yy, xx = np.meshgrid(self.ynodes, self.xnodes, indexing="ij")
        gx, gy = tr.smooth(xx, yy)
        if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
            raise _NeedExact("the transform is not finite on the whole sparse grid")
        self.sx = RectBivariateSpline(self.ynodes, self.xnodes, gx, kx=k, ky=k, s=0)
        self.sy = RectBivariateSpline(self.ynodes, self.xnodes, gy, kx=k, ky=k, s=0)

    def at(self, x, y):
        return self.sx.ev(y, x), self.sy.ev(y, x)

    def fill(self, out):
        for r0, r1, ys, xs in _row_batches(out.shape):
            out[r0:r1, :, 0] = self.sx(ys, xs)
            out[r0:r1, :, 1] = self.sy(ys, xs)
            if self.tr.bbox is not None:
                yy, xx = np.meshgrid(ys, xs, indexing="ij")
                out[r0:r1][self.tr.outside_bbox(xx, yy)] = np.nan


class _NeedExact(Exception):
    pass


def _max_error(tr, sparse, shape, nsamples, rng):
    ny, nx = shape
    x = rng.integers(0, nx, nsamples).astype(np.float64)
    y = rng.integers(0, ny, nsamples).astype(np.float64)
    ex, ey = tr.exact(x, y)
    ix, iy = sparse.at(x, y)
    ok = np.isfinite(ex) & np.isfinite(ey)
    if not ok.any():
        return math.inf
    return float(np.max(np.hypot(ix[ok] - ex[ok], iy[ok] - ey[ok])))


def calc_pixmap(
    wcs_from, wcs_to, shape=None, stepsize=1, order=1, *, tolerance=1e-4, nsamples=1000, seed=0
):
    """Map every input pixel centre to output pixel coordinates.

    Parameters
    ----------
    wcs_from, wcs_to : gwcs.WCS or astropy.wcs.WCS
        Input and output WCS (any APE 14 low-level WCS works).  Neither is
        modified.
    shape : tuple of int, optional
        Input shape ``(ny, nx)``; default ``wcs_from.array_shape``, else the
        extent of ``wcs_from.bounding_box``.
    stepsize : int or "auto"
        1 evaluates every pixel (exact).  ``n > 1`` evaluates every ``n``-th
        pixel (and the last row/column) and interpolates.  ``"auto"`` tries
        the spacings in ``AUTO_STEPS`` (64, 32, 16, 8, 4 pixels) and keeps the coarsest one whose
        error is at most ``tolerance``, else evaluates exactly; the measured
        error is logged at INFO level.
    order : {1, 3}
        Interpolation order for ``stepsize != 1`` (bilinear or bicubic).
    tolerance : float
        ``"auto"`` only: largest acceptable interpolation error, in output
        pixels (Euclidean distance).
    nsamples : int
        ``"auto"`` only: random input pixels (at least 1000 recommended) at
        which the interpolation is checked against exact evaluation.
    seed : int
        ``"auto"`` only: seed of the random sample, for reproducible runs.

    Returns
    -------
    pixmap : ndarray, shape (ny, nx, 2), float64
        ``pixmap[..., 0]`` is output x, ``pixmap[..., 1]`` output y.
    """
    shape = pixmap_shape(wcs_from, shape)
    if order not in (1, 3):
        raise ValueError(f"order must be 1 or 3; got {order!r}")
    auto = isinstance(stepsize, str)
    if auto:
        if stepsize.strip().lower() != "auto":
            raise ValueError(f"stepsize must be a positive integer or 'auto'; got {stepsize!r}")
    elif not isinstance(stepsize, numbers.Integral) or isinstance(stepsize, bool) or stepsize < 1:
        raise ValueError(f"stepsize must be a positive integer or 'auto'; got {stepsize!r}")
    if not (isinstance(tolerance, numbers.Real) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number; got {tolerance!r}")
    tr = WcsTransform(wcs_from, wcs_to)
    out = np.empty((*shape, 2), dtype=np.float64)

    if not auto and stepsize == 1:
        _exact_into(tr, out)
        return out

    steps = AUTO_STEPS if auto else (int(stepsize),)
    rng = np.random.default_rng(seed)
    for step in steps:
        if step >= max(shape):
            continue
        try:
            sparse = _SparseMap(tr, shape, step, order)
        except _NeedExact as exc:
            if not auto:
                raise ValueError(f"stepsize={stepsize} cannot be used here: {exc}") from None
            log.info("pixmap: sparse grid with stepsize=%d unusable (%s)", step, exc)
            continue
        if auto:
            err = _max_error(tr, sparse, shape, max(int(nsamples), 1), rng)
            if err > tolerance:
                log.debug("pixmap: stepsize=%d order=%d max error %.3g px > %g", step, order, err, tolerance)
                continue
            log.info(
                "pixmap: stepsize=%d order=%d, max interpolation error %.3g px at %d random pixels",
                step, order, err, nsamples,
            )
        sparse.fill(out)
        return out
    log.info("pixmap: no sparse grid met the %g px tolerance; evaluating every pixel", tolerance)
    _exact_into(tr, out)
    return out
