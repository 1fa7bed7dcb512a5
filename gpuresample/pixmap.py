"""Pixel maps: where each input pixel centre lands in the output frame.

``pixmap[j, i] = (x, y)``: 0-based output pixel coordinates of the centre of
input pixel ``(i, j)`` (numpy index ``[j, i]``), obtained as
``wcs_to.world_to_pixel(wcs_from.pixel_to_world(i, j))``.  This is
``drizzle.utils.calc_pixmap`` (same signature and ``disable_bbox`` rules:
by default input pixels outside ``wcs_from``'s bounding box get NaN, which
drizzle then skips, and the bounding box of ``wcs_to`` is ignored, so pixels
that land off the output grid keep their coordinates), except that neither
WCS object is modified: the bounding boxes are applied or ignored through
gwcs's ``with_bounding_box`` argument.

Evaluation is done in batches of rows so that no full-size temporary beyond
the pixel map itself is created.  With ``stepsize > 1`` the transform is
evaluated on a sparse grid (every ``stepsize`` pixels, plus the last row and
column; as stcal, at least 10 evenly spaced nodes per axis, or every pixel
of a shorter axis) and interpolated with a bilinear (``order=1``) or bicubic
(``order=3``) spline; ``stepsize="auto"`` picks the coarsest grid whose
interpolation error, measured against exact evaluation at random pixels, is
within ``tolerance`` output pixels.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np

from .pixmap_model import SplinePixmap

__all__ = ["AUTO_STEPS", "DISABLE_BBOX", "WcsTransform", "bbox_intervals", "calc_pixmap", "pixmap_and_model",
           "pixmap_shape"]

log = logging.getLogger("gpuresample")

#: Sparse-grid spacings tried by ``stepsize="auto"``, coarsest first.
AUTO_STEPS = (64, 32, 16, 8, 4)

#: ``disable_bbox`` values (drizzle's): the WCS whose bounding box is ignored.
DISABLE_BBOX = ("to", "from", "both", "none")

#: A sparse grid has at least this many nodes per axis (or every pixel of a shorter axis), as stcal.
MIN_NODES = 10

_BATCH_PIXELS = 1 << 18  # ~256k pixels per transform call: a few MB of temporaries


def _strip_units(values):
    return tuple(np.asarray(getattr(v, "value", v), dtype=np.float64) for v in values)


def _is_gwcs(obj):
    return type(obj).__module__.startswith("gwcs")


def _intervals(bbox):
    """A bounding box (a ModelBoundingBox or a sequence of intervals) as a tuple of ``(lo, hi)`` in x, y order."""
    try:
        bbox = bbox.bounding_box(order="F")
    except AttributeError:
        bbox = tuple(bbox)
    if np.ndim(bbox) == 1:
        bbox = (bbox,)
    return tuple((float(lo), float(hi)) for lo, hi in bbox)


def bbox_intervals(wcs):
    """gwcs bounding box as ((xlo, xhi), (ylo, yhi)), or None (also for other WCS kinds, which ignore it)."""
    bbox = getattr(wcs, "bounding_box", None) if _is_gwcs(wcs) else None
    return None if bbox is None else _intervals(bbox)


def _check_disable_bbox(disable_bbox):
    if not isinstance(disable_bbox, str) or disable_bbox.strip().lower() not in DISABLE_BBOX:
        raise ValueError(f"disable_bbox must be one of {', '.join(map(repr, DISABLE_BBOX))}; got {disable_bbox!r}")
    return disable_bbox.strip().lower()


class WcsTransform:
    """Pixel -> world -> pixel, without touching either WCS object's state.

    ``disable_bbox`` as :func:`calc_pixmap`'s: which bounding box is ignored.
    Only gwcs applies bounding boxes (an astropy WCS has none, as in drizzle).
    """

    def __init__(self, wcs_from, wcs_to, disable_bbox="to"):
        for name, w, attr in (
            ("wcs_from", wcs_from, "pixel_to_world_values"),
            ("wcs_to", wcs_to, "world_to_pixel_values"),
        ):
            if not hasattr(w, attr):
                raise TypeError(
                    f"{name} must be a gwcs.WCS or astropy.wcs.WCS (an object with {attr}); "
                    f"got {type(w).__name__}"
                )
        disable_bbox = _check_disable_bbox(disable_bbox)
        self.wcs_from = wcs_from
        self.wcs_to = wcs_to
        self.use_from = disable_bbox in ("to", "none")
        self.use_to = disable_bbox in ("from", "none")
        #: the bounding boxes applied (None where ignored or absent)
        self.bbox = bbox_intervals(wcs_from) if self.use_from else None
        self.bbox_to = bbox_intervals(wcs_to) if self.use_to else None

    def _world(self, x, y, with_bbox):
        w = self.wcs_from
        if _is_gwcs(w):
            return _strip_units(w(x, y, with_bounding_box=with_bbox))
        return _strip_units(w.pixel_to_world_values(x, y))

    def _pixel(self, world, with_bbox):
        w = self.wcs_to
        if _is_gwcs(w):
            return _strip_units(w.invert(*world, with_bounding_box=with_bbox))
        return _strip_units(w.world_to_pixel_values(*world))

    def exact(self, x, y):
        """Output (x, y) with the bounding boxes in use applied (NaN outside)."""
        return self._pixel(self._world(x, y, self.use_from), self.use_to)

    def smooth(self, x, y):
        """Output (x, y) ignoring both bounding boxes (for interpolation)."""
        return self._pixel(self._world(x, y, False), False)

    def outside_bbox(self, x, y):
        """True where (x, y) lies outside wcs_from's bounding box (when it is applied)."""
        if self.bbox is None:
            return np.zeros(np.broadcast(x, y).shape, bool)
        (xlo, xhi), (ylo, yhi) = self.bbox[:2]
        return (x < xlo) | (x > xhi) | (y < ylo) | (y > yhi)

    def mask_to_bbox(self, ox, oy):
        """NaN (in place) both output coordinates outside wcs_to's bounding box, when it is applied.

        For sparse maps.  gwcs's ``invert`` NaNs both where the world
        coordinates fall outside the footprint's range, else the coordinate
        outside the box alone; drizzle skips a pixel with either one NaN, so
        this is the same to it.
        """
        if self.bbox_to is None:
            return
        (xlo, xhi), (ylo, yhi) = self.bbox_to[:2]
        out = (ox < xlo) | (ox > xhi) | (oy < ylo) | (oy > yhi)
        ox[out] = np.nan
        oy[out] = np.nan


def pixmap_shape(wcs_from, shape=None):
    """Input array shape ``(ny, nx)``, by drizzle's rules.

    ``shape``, else ``wcs_from.array_shape``, else the extent of
    ``wcs_from.bounding_box`` (any WCS kind: a gwcs bounding box or a
    sequence of ``(lo, hi)`` intervals in x, y order set on an astropy WCS):
    ``ceil(hi + 0.5)`` per axis.  ``ValueError`` when none is set.
    """
    if shape is None:
        shape = getattr(wcs_from, "array_shape", None)
    if shape is None:
        bbox = getattr(wcs_from, "bounding_box", None)
        intervals = () if bbox is None else _intervals(bbox)
        if len(intervals) > 1:  # drizzle: a 1-D bounding box does not give a shape
            shape = tuple(math.ceil(hi + 0.5) for _, hi in intervals[::-1])
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
    """Sparse-grid nodes along an axis of ``n`` pixels: every ``step`` pixels and the last one.

    At least ``min(MIN_NODES, n)`` of them (stcal's rule): evenly spaced, so
    that the spacing stays below ``step``, when ``step`` gives fewer.
    """
    nodes = np.arange(0, n, step, dtype=np.float64)
    if nodes[-1] != n - 1:
        nodes = np.append(nodes, n - 1)
    if nodes.size < min(MIN_NODES, n):
        nodes = np.linspace(0.0, n - 1.0, min(MIN_NODES, n))
    return nodes


class _SparseMap:
    """Spline interpolation of the transform evaluated on a sparse grid of ``(ynodes, xnodes)``."""

    def __init__(self, tr, ynodes, xnodes, order):
        from scipy.interpolate import RectBivariateSpline

        self.tr = tr
        k = order
        yy, xx = np.meshgrid(ynodes, xnodes, indexing="ij")
        gx, gy = tr.smooth(xx, yy)
        if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
            raise _NeedExact("the transform is not finite on the whole sparse grid")
        self.sx = RectBivariateSpline(ynodes, xnodes, gx, kx=k, ky=k, s=0)
        self.sy = RectBivariateSpline(ynodes, xnodes, gy, kx=k, ky=k, s=0)

    def at(self, x, y):
        return self.sx.ev(y, x), self.sy.ev(y, x)

    def fill(self, out):
        for r0, r1, ys, xs in _row_batches(out.shape):
            ox, oy = out[r0:r1, :, 0], out[r0:r1, :, 1]
            ox[...] = self.sx(ys, xs)
            oy[...] = self.sy(ys, xs)
            self.tr.mask_to_bbox(ox, oy)
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


def _check_args(stepsize, order, tolerance):
    """True for ``stepsize="auto"``; raise ``ValueError`` for a bad ``stepsize``, ``order`` or ``tolerance``."""
    if order not in (1, 3):
        raise ValueError(f"order must be 1 or 3; got {order!r}")
    auto = isinstance(stepsize, str)
    if auto:
        if stepsize.strip().lower() != "auto":
            raise ValueError(f"stepsize must be a positive integer or 'auto'; got {stepsize!r}")
    # jwst's step spec makes it a float (default 1.0): a whole number of pixels is accepted as such
    elif (isinstance(stepsize, bool) or not isinstance(stepsize, numbers.Real) or not math.isfinite(stepsize)
          or stepsize < 1 or stepsize != int(stepsize)):
        raise ValueError(f"stepsize must be a positive integer or 'auto'; got {stepsize!r}")
    if not (isinstance(tolerance, numbers.Real) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number; got {tolerance!r}")
    return auto


def _sparse_grids(shape, steps, order):
    """Yield ``(step, ynodes, xnodes)`` for the distinct sparse grids that a spline of ``order`` can use.

    A grid with every pixel as a node on both axes is no cheaper than exact
    evaluation, and one with at most ``order`` nodes on an axis cannot carry
    the spline (an axis of 1 to 3 pixels): neither is yielded.
    """
    seen = set()
    for step in steps:
        ynodes, xnodes = _nodes(shape[0], step), _nodes(shape[1], step)
        key = (ynodes.size, xnodes.size)
        if key in seen or key == tuple(shape) or min(key) <= order:
            log.debug("pixmap: no sparse grid of %dx%d nodes for stepsize=%d", *key, step)
            continue
        seen.add(key)
        yield step, ynodes, xnodes


def calc_pixmap(
    wcs_from, wcs_to, shape=None, disable_bbox="to", *, stepsize=1, order=1, tolerance=1e-4, nsamples=1000, seed=0
):
    """Map every input pixel centre to output pixel coordinates.

    ``drizzle.utils.calc_pixmap`` (drizzle 3.0's signature), plus optional
    sparse evaluation (``stepsize``, ``order``, as stcal's ``calc_pixmap``).

    Parameters
    ----------
    wcs_from, wcs_to : gwcs.WCS or astropy.wcs.WCS
        Input and output WCS (any APE 14 low-level WCS works).  Neither is
        modified.
    shape : tuple of int, optional
        Input shape ``(ny, nx)``; default ``wcs_from.array_shape``, else the
        extent of ``wcs_from.bounding_box`` (``ceil(hi + 0.5)`` per axis;
        also an astropy WCS with a ``bounding_box`` attribute set), else
        ``ValueError``.
    disable_bbox : {"to", "from", "both", "none"}
        Whose bounding box is ignored (drizzle's meaning).  Where a gwcs
        bounding box is applied, coordinates outside it are NaN: the input
        pixels outside ``wcs_from``'s, or the output coordinates outside
        ``wcs_to``'s.  An astropy WCS has no bounding box to apply.
    stepsize : int or "auto"
        1 evaluates every pixel (exact).  ``n > 1`` evaluates every ``n``-th
        pixel (and the last row/column; at least 10 evenly spaced nodes per
        axis, or every pixel of a shorter axis) and interpolates; an image
        too small for that (an axis of fewer pixels than ``order`` + 1, or 10
        or fewer pixels on both axes), or whose transform is not finite on
        the whole sparse grid, is evaluated exactly.  ``"auto"`` tries the
        spacings in ``AUTO_STEPS`` (64, 32, 16, 8, 4 pixels) and keeps the
        coarsest one whose error is at most ``tolerance``, else evaluates
        exactly; the measured error is logged at INFO level.
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
    return pixmap_and_model(wcs_from, wcs_to, shape, disable_bbox, stepsize=stepsize, order=order,
                            tolerance=tolerance, nsamples=nsamples, seed=seed)[0]


def pixmap_and_model(
    wcs_from, wcs_to, shape=None, disable_bbox="to", *, stepsize=1, order=1, tolerance=1e-4, nsamples=1000, seed=0,
    full=True,
):
    """:func:`calc_pixmap` and, where the map came from a sparse grid, its :class:`~gpuresample.pixmap_model.
    SplinePixmap` (None for an exact map): what a kernel backend uploads instead of the map.

    With ``full=False`` the map itself is not made when the model can stand
    in for it on the host (:attr:`SplinePixmap.lazy_ok`): ``(None, model)``;
    the host then evaluated the WCS only on the sparse grid (and at the
    random pixels of the ``"auto"`` error check).
    """
    shape = pixmap_shape(wcs_from, shape)
    auto = _check_args(stepsize, order, tolerance)
    tr = WcsTransform(wcs_from, wcs_to, disable_bbox)
    out = np.empty((*shape, 2), dtype=np.float64)

    if not auto and stepsize == 1:
        _exact_into(tr, out)
        return out, None

    rng = np.random.default_rng(seed)
    for step, ynodes, xnodes in _sparse_grids(shape, AUTO_STEPS if auto else (int(stepsize),), order):
        try:
            sparse = _SparseMap(tr, ynodes, xnodes, order)
        except _NeedExact as exc:
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
        model = SplinePixmap(sparse.sx, sparse.sy, shape, in_box=tr.bbox, out_box=tr.bbox_to)
        if not full and model.lazy_ok:
            return None, model
        sparse.fill(out)
        return out, model
    if auto:
        log.info("pixmap: no sparse grid met the %g px tolerance; evaluating every pixel", tolerance)
    else:
        log.info("pixmap: stepsize=%s unusable here; evaluating every pixel", stepsize)
    _exact_into(tr, out)
    return out, None
