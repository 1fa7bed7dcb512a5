"""Tiled resampling: the output grid cut into tiles, each drizzled independently.

Why the tiles are exact
-----------------------
drizzle's output pixel only depends on the input pixels whose kernel lands on
it, so a tile can be computed from the inputs that reach it.  Two details of
drizzle's C code decide *how* that must be done to stay bitwise equal to the
untiled run:

* drizzle clips every input footprint against the output canvas and scans
  input rows inside the clipped polygon, and the pixel-map values enter its
  floating-point arithmetic.  Shifting the pixel map onto a tile-sized canvas
  or cutting an input sub-box therefore changes rounding and which pixels are
  scanned.  A tile run instead drizzles onto a canvas of the **full grid
  shape with the unchanged pixel maps**.  Memory stays tile-sized because the
  canvas is an anonymous memory map (pages the OS provides on first write)
  and nothing here touches the canvas outside the tile's neighbourhood: the
  fill value is written into the tile region only, and every finalisation
  (variance, error) runs on tile-sized arrays.
* An input pixel with weight 0 returns from drizzle's update before it
  touches data, weight, context or DQ.  A tile run passes the unchanged data
  and pixel map with a weight map that is zero for input pixels whose mapped
  centre lies farther than a safe *reach* from the tile.  Pixels of the tile
  then receive the same contributions, with the same values, in the same
  order: bitwise the same result.

On the kernel backends (CUDA, emulator) the tile's Drizzle is given
``window=region``: the kernels clip and count against the whole grid as
above but accumulate tile-sized sums and stage only the tile's outputs, so
device memory also scales with the tile (:func:`per_tile_device_bytes`).

Exposures whose footprint (plus reach) misses a tile are not drizzled for it,
but context bit k always means input k (the skipped inputs consume their
context ID).  Variances are drizzled on each exposure's footprint box exactly
as in :mod:`gpuresample.dispatch` (same box, masked weights) and combined
into tile-sized accumulators.

Pixel conventions: 0-based pixel indices, arrays ``(ny, nx)``; a tile region
is ``(y0, y1, x0, x1)`` with half-open bounds; output pixel ``i`` spans
``[i - 0.5, i + 0.5]``.

Completion record
-----------------
Every run keeps a boolean ``(ntiles_y, ntiles_x)`` mask of the tiles written
(``result.meta["tiles_complete"]``).  A tiled output on disk is written into
``<folder>.partial`` with ``tiles.json`` updated after every tile, and only
renamed to ``<folder>`` when every tile is complete; a failed run (a tile
raising, a worker process killed, the disk filling up) raises
:class:`gpuresample.TilingError` carrying the mask and never returns a
result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing as mp
import numbers
import os
import shutil
import signal
import tempfile
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .accumulator import CTX_PLANE_BITS, Drizzle
from .allocation import lazy_zeros, shared_array
from .dispatch import _Exposure, _input_row, _ratio_from_input, _science, product_meta
from .errors import OutputTooLargeError, TilingError
from .exposure import VARIANCE_NAMES
from .memory import device_estimate, estimate_memory
from .pixmap import calc_pixmap
from .result import ResampleResult
from .variance import VarianceAccumulator, error_from_variances, resample_variance_box

__all__ = [
    "KILL_TILE_ENV",
    "ExposureFootprint",
    "TileOutput",
    "auto_tile_shape",
    "check_tile_shape",
    "collect_plan",
    "drizzle_tile",
    "kernel_reach",
    "output_layout",
    "parse_tile",
    "partial_folder",
    "per_tile_bytes",
    "per_tile_device_bytes",
    "plan_one",
    "resample_tiled",
    "resolve_tile_workers",
    "tile_regions",
]

log = logging.getLogger("gpuresample")

#: Test hook: the tile with this index kills its own worker process (SIGKILL)
#: when it runs in a pool or dask worker, to exercise the failure path.
KILL_TILE_ENV = "GPURESAMPLE_TEST_KILL_TILE"
#: With the hook: kill only if this file does not exist yet (it is created
#: first), so a retried task succeeds.
KILL_ONCE_ENV = "GPURESAMPLE_TEST_KILL_ONCE"


def _maybe_kill(index):
    """The test hook (see ``KILL_TILE_ENV``); only ever called in worker processes."""
    if os.environ.get(KILL_TILE_ENV) != str(index):
        return
    once = os.environ.get(KILL_ONCE_ENV)
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


#: Tile size (pixels per side) used with a scheduler and no ``tile``.
DEFAULT_TILE = 2048

#: Smallest tile side ``tile="auto"`` goes down to before giving up.
MIN_AUTO_TILE = 64


# --------------------------------------------------------------------- tile plan
def parse_tile(tile):
    """Validate the ``tile`` argument of :func:`gpuresample.resample`.

    Parameters
    ----------
    tile : None, "auto", int or (int, int)
        None: no tiling; ``"auto"``: tile only when the untiled run would
        exceed ``allowed_memory``; an int ``n``: ``n x n`` tiles; a pair:
        ``(ny, nx)`` tiles (numpy order).

    Returns
    -------
    None, "auto" or tuple (ny, nx)

    Raises
    ------
    ValueError
        For anything else, or a side < 1 pixel.  (Tiles larger than the grid
        are checked by :func:`check_tile_shape` once the grid is known.)
    """
    if tile is None:
        return None
    if isinstance(tile, str):
        if tile.strip().lower() == "auto":
            return "auto"
        raise ValueError(f"tile must be None, 'auto', an int or (ny, nx); got {tile!r}")
    if isinstance(tile, numbers.Integral) and not isinstance(tile, bool):
        vals = (int(tile), int(tile))
    else:
        try:
            vals = tuple(tile)
        except TypeError:
            raise ValueError(f"tile must be None, 'auto', an int or (ny, nx); got {tile!r}") from None
        if len(vals) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in vals):
            raise ValueError(f"tile must be None, 'auto', an int or a pair of ints (ny, nx); got {tile!r}")
        vals = (int(vals[0]), int(vals[1]))
    if min(vals) < 1:
        raise ValueError(f"tile sides must be >= 1 pixel; got tile={tile!r}")
    return vals


def check_tile_shape(tile_shape, grid_shape):
    """Refuse a tile larger than the output grid (``ValueError`` naming ``tile``).

    A tile larger than the grid is almost certainly a mistake (e.g. ``(nx,
    ny)`` given for ``(ny, nx)``, or a tile size meant for another mosaic):
    it would silently run untiled.  A tile equal to the grid is allowed.
    """
    ty, tx = tile_shape
    ny, nx = grid_shape
    if ty > ny or tx > nx:
        raise ValueError(
            f"tile (ny, nx) = {tuple(tile_shape)} is larger than the output grid (ny, nx) = {tuple(grid_shape)}; "
            "use a smaller tile, or tile=None for an untiled run"
        )


def resolve_tile_workers(tile_workers):
    """Processes for the tile pool: "auto" -> the CPU count, else an int >= 1."""
    if tile_workers == "auto":
        return max(1, os.cpu_count() or 1)
    if isinstance(tile_workers, bool) or not isinstance(tile_workers, numbers.Integral) or tile_workers < 1:
        raise ValueError(f"tile_workers must be 'auto' or a positive integer; got {tile_workers!r}")
    return int(tile_workers)


def tile_regions(grid_shape, tile_shape):
    """Tiles of the grid in row-major order, as half-open ``(y0, y1, x0, x1)``.

    The last row/column of tiles is smaller when the tile does not divide
    the grid.
    """
    ny, nx = grid_shape
    ty, tx = tile_shape
    return [(y0, min(y0 + ty, ny), x0, min(x0 + tx, nx)) for y0 in range(0, ny, ty) for x0 in range(0, nx, tx)]


def _tile_grid_shape(grid_shape, tile_shape):
    return (-(-grid_shape[0] // tile_shape[0]), -(-grid_shape[1] // tile_shape[1]))


def kernel_reach(kernel, pixfrac, pscale_ratio, step):
    """Upper bound (output pixels) of how far an input pixel's kernel reaches from its mapped centre.

    Parameters
    ----------
    kernel : str
    pixfrac, pscale_ratio : float
    step : float
        Largest per-axis distance (output pixels) between the mapped centres
        of neighbouring input pixels of the exposure.

    Notes
    -----
    ``square``: drizzle interpolates the corners of the shrunken pixel from
    the neighbouring pixel centres (extrapolating half a pixel at the input's
    edges), so the corners lie within one ``step`` of the centre per axis.
    ``point`` hits the nearest pixel.  ``turbo`` and ``tophat`` have half-width
    ``pixfrac / (2 pscale_ratio)``, ``gaussian`` ``2.5 sigma`` with FWHM
    ``pixfrac / pscale_ratio`` (~1.06 pixfrac / pscale_ratio), ``lanczosN``
    ``N / pscale_ratio``.  Everything is padded generously (twice the
    radius, twice the step and two pixels): a larger reach only costs time,
    a smaller one would break the exactness of the tiles.
    """
    inv = 1.0 / pscale_ratio
    if kernel == "square":
        radius = step
    elif kernel == "point":
        radius = 0.5
    elif kernel in ("turbo", "tophat"):
        radius = 0.5 * pixfrac * inv
    elif kernel == "gaussian":
        radius = 2.5 * pixfrac * inv / 2.3548
    elif kernel in ("lanczos2", "lanczos3"):
        radius = int(kernel[-1]) * inv
    else:  # pragma: no cover - kernels are validated upstream
        raise ValueError(f"unknown kernel {kernel!r}")
    return 2.0 * radius + 2.0 * step + 2.0


def _pixmap_step(pixmap, limits):
    xmin, xmax, ymin, ymax = limits
    sub = pixmap[ymin : ymax + 1, xmin : xmax + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows/columns
        sx = np.nanmax(np.abs(np.diff(sub, axis=1))) if sub.shape[1] > 1 else 0.0
        sy = np.nanmax(np.abs(np.diff(sub, axis=0))) if sub.shape[0] > 1 else 0.0
    return float(np.nanmax([sx, sy, 0.0]))


@dataclass(frozen=True)
class ExposureFootprint:
    """Where exposure ``index`` lands on the output: mapped-centre bounds and kernel reach.

    ``xlo..xhi``, ``ylo..yhi`` are the extreme finite mapped centres of the
    input box (output pixel coordinates); ``lands`` is False when nothing
    maps to finite coordinates.
    """

    index: int
    lands: bool
    xlo: float = 0.0
    xhi: float = 0.0
    ylo: float = 0.0
    yhi: float = 0.0
    reach: float = 0.0

    def touches(self, region):
        """True when the footprint, grown by the reach, overlaps ``region`` (y0, y1, x0, x1)."""
        if not self.lands:
            return False
        y0, y1, x0, x1 = region
        r = self.reach
        return (self.xhi + r >= x0 - 0.5 and self.xlo - r <= x1 - 0.5
                and self.yhi + r >= y0 - 0.5 and self.ylo - r <= y1 - 0.5)


def plan_one(k, img, grid, params, psr):
    """Exposure k's :class:`ExposureFootprint` and metadata: ``(footprint, row, group_id, bunit)``.

    Maps the whole exposure (the same pixel map as the drizzle will use) to
    find the extreme mapped centres and the largest neighbour step.
    """
    from .dispatch import input_limits
    from .scanner import shrink_box

    row = _input_row(k, img)
    limits = input_limits(img.shape, img.wcs)
    pixmap = calc_pixmap(img.wcs, grid.wcs, shape=img.shape, stepsize=params.pixmap_stepsize,
                         order=params.pixmap_order)
    if not shrink_box(pixmap, *limits)[4]:
        return ExposureFootprint(k, False), row, img.group_id, img.bunit_data
    xmin, xmax, ymin, ymax = limits
    sub = pixmap[ymin : ymax + 1, xmin : xmax + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        xlo, xhi = float(np.nanmin(sub[..., 0])), float(np.nanmax(sub[..., 0]))
        ylo, yhi = float(np.nanmin(sub[..., 1])), float(np.nanmax(sub[..., 1]))
    reach = kernel_reach(params.kernel, params.pixfrac, psr, _pixmap_step(pixmap, limits))
    return ExposureFootprint(k, True, xlo, xhi, ylo, yhi, reach), row, img.group_id, img.bunit_data


def collect_plan(items):
    """``(footprints, rows, groups, first_bunit)`` from :func:`plan_one` results in input order.

    As the untiled dispatcher: exposure-group rows keep the first member,
    ``bunit`` is the first one found among the exposures that land.
    """
    footprints, rows, groups = [], [], {}
    first_bunit = None
    for fp, row, gid, bunit in items:
        footprints.append(fp)
        rows.append(row)
        groups.setdefault(gid, row)
        if not fp.lands:
            log.warning("%s: no pixel maps onto the output grid; skipped", row["filename"])
        elif first_bunit is None:
            first_bunit = bunit
    return footprints, rows, groups, first_bunit


def per_tile_bytes(tile_shape, grid_shape, footprints, n_inputs, max_input_pixels, params):
    """Peak bytes of one tile's run: the memory estimate of the canvas part it touches, and its copies.

    The canvas is full-size but only its pages near the tile are written; a
    page (4 KiB, 1024 float32) reaches beyond the tile's columns, so the
    touched width is padded by two pages' worth of pixels.
    """
    reach = max((f.reach for f in footprints if f.lands), default=0.0)
    margin = 2 * math.ceil(reach) + 2
    shape = (min(grid_shape[0], tile_shape[0] + margin), min(grid_shape[1], tile_shape[1] + margin + 2048))
    est = estimate_memory(shape, n_inputs, max_input_pixels, enable_ctx=params.enable_ctx,
                          enable_var=params.enable_var, propagate_dq=params.propagate_dq)
    # the tile's outputs are copied out of the canvas (and written by the parent)
    return est["total"] + 2 * _bytes_per_pixel(params, n_inputs) * tile_shape[0] * tile_shape[1]


def per_tile_device_bytes(tile_shape, grid_shape, n_inputs, max_input_pixels, params):
    """Peak device bytes of one tile's run on the CUDA backend.

    The kernels keep the tile alone on the device (``Drizzle(window=...)``);
    the variances are drizzled onto each exposure's footprint box (at most
    twice the input, as :func:`gpuresample.memory.estimate_memory` counts
    it), which does not shrink with the tile.
    """
    tile = device_estimate(tile_shape, max_input_pixels, propagate_dq=params.propagate_dq,
                           enable_ctx=params.enable_ctx)["total"]
    if not (params.enable_var or params.err_from == "driz"):
        return tile
    box = min(2 * int(max_input_pixels), int(grid_shape[0]) * int(grid_shape[1]))
    side = math.isqrt(box) + 1
    box_run = device_estimate((side, side), max_input_pixels, enable_ctx=False)["total"]
    return max(tile, box_run)


def _tile_needs(tile_shape, grid_shape, footprints, n_inputs, max_input_pixels, params, workers,
                allowed_bytes, device_bytes):
    """[(what, needed, allowed)] for the limits that apply (host: ``workers`` tiles at once; device: one per GPU)."""
    needs = []
    if allowed_bytes is not None:
        needs.append(("host", workers * per_tile_bytes(tile_shape, grid_shape, footprints, n_inputs,
                                                       max_input_pixels, params), allowed_bytes))
    if device_bytes is not None:
        needs.append(("device", per_tile_device_bytes(tile_shape, grid_shape, n_inputs, max_input_pixels, params),
                      device_bytes))
    return needs


def auto_tile_shape(grid_shape, allowed_bytes, footprints, n_inputs, max_input_pixels, params, workers=1,
                    device_bytes=None):
    """Largest square tile (power-of-two side, capped by the grid) whose run fits the limits.

    ``allowed_bytes`` limits host memory (``workers`` tiles run at once) and
    ``device_bytes`` device memory (CUDA backend, one tile per GPU); None
    means no limit.  Raises :class:`OutputTooLargeError` when even a
    ``MIN_AUTO_TILE`` tile does not fit.
    """
    side = 1 << max(0, math.ceil(math.log2(max(grid_shape))))
    while True:
        shape = (min(side, grid_shape[0]), min(side, grid_shape[1]))
        needs = _tile_needs(shape, grid_shape, footprints, n_inputs, max_input_pixels, params, workers,
                            allowed_bytes, device_bytes)
        over = [(what, need, lim) for what, need, lim in needs if need > lim]
        if not over:
            return shape
        if side <= MIN_AUTO_TILE:
            what, need, lim = over[0]
            raise OutputTooLargeError(
                f"tile='auto': even {shape} tiles need about {need / 2**20:.1f} MiB of {what} memory "
                f"({workers if what == 'host' else 1} at once) but only {lim / 2**20:.1f} MiB are allowed "
                "(the per-exposure working set does not shrink with the tile)",
                required=need, allowed=lim,
            )
        side //= 2


# --------------------------------------------------------------- one tile
def _tile_weights(weight, pixmap, region, reach):
    """``weight`` with 0 for input pixels whose mapped centre is farther than ``reach`` from ``region``."""
    y0, y1, x0, x1 = region
    x, y = pixmap[..., 0], pixmap[..., 1]
    with np.errstate(invalid="ignore"):
        near = (x >= x0 - 0.5 - reach) & (x <= x1 - 0.5 + reach)
        near &= (y >= y0 - 0.5 - reach) & (y <= y1 - 0.5 + reach)
    return np.where(near, weight, np.float32(0)).astype(np.float32, copy=False)


def _intersect(box, region):
    y0 = max(box[0], region[0])
    y1 = min(box[1], region[1])
    x0 = max(box[2], region[2])
    x1 = min(box[3], region[3])
    return (y0, y1, x0, x1) if y0 < y1 and x0 < x1 else None


def _trimmed_limits(pixmap, canvas_shape, limits, weight, kernel):
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
    from .scanner import row_limits

    xmin, xmax, ymin, ymax = limits
    w = weight[ymin : ymax + 1, xmin : xmax + 1] != 0
    rows = np.flatnonzero(w.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(w.any(axis=0))
    sub = (max(xmin, xmin + int(cols[0]) - 2), min(xmax, xmin + int(cols[-1]) + 2),
           max(ymin, ymin + int(rows[0]) - 2), min(ymax, ymin + int(rows[-1]) + 2))
    if sub == tuple(limits) or sub[1] <= sub[0] or sub[3] <= sub[2]:
        return limits
    if kernel == "tophat":
        return sub  # our tophat visits every pixel of the box: no scanner
    try:
        full = row_limits(pixmap, canvas_shape, *limits)
        part = row_limits(pixmap, canvas_shape, *sub)
    except ValueError:
        return limits
    if not (full.visited and part.visited):
        return limits
    c = np.arange(xmin, xmax + 1)
    j = np.arange(ymin, ymax + 1)
    scan_full = (c >= full.x1[j, None]) & (c <= full.x2[j, None]) & w
    scan_part = (c >= part.x1[j, None]) & (c <= part.x2[j, None]) & w
    scan_part &= (c >= sub[0]) & (c <= sub[1])
    scan_part &= ((j >= sub[2]) & (j <= sub[3]))[:, None]
    return sub if np.array_equal(scan_full, scan_part) else limits


def drizzle_tile(region, load, selected, n_inputs, grid, params, psr):
    """Drizzle the exposures in ``selected`` for one tile; return its arrays.

    Parameters
    ----------
    region : tuple
        ``(y0, y1, x0, x1)`` of the tile, half-open, 0-based output pixels.
    load : callable
        ``load(k)`` -> exposure k as a loaded :class:`gpuresample.Image`.
    selected : dict
        ``{k: reach}`` of the exposures that reach the tile (see
        :class:`ExposureFootprint`); the others are skipped, keeping their
        context bit.
    n_inputs : int
        Number of inputs of the product (context planes, bit numbering).
    grid, params, psr
        Output grid, :class:`gpuresample.dispatch.DrizzleParams`, pixel scale ratio.

    Returns
    -------
    dict
        Tile-sized arrays ``data``, ``wht`` and, as enabled, ``con``
        ``(nplanes, ty, tx)``, ``dq``, ``err``, ``var_*``; plus
        ``"any_weight"`` (bool).
    """
    y0, y1, x0, x1 = region
    shape = grid.shape
    out_img = lazy_zeros(shape, np.float32)
    # Pre-filling with the fill value and passing "INDEF" is what the untiled
    # dispatcher does (see drizzle_group); only the tile's region is filled.
    out_img[y0:y1, x0:x1] = np.float32(float(params.fillval))
    # window: the kernel backends stage and accumulate the tile alone (device
    # memory scales with the tile); the footprints are still clipped against
    # the whole grid, so the tile's pixels are those of the untiled run
    driz = Drizzle(kernel=params.kernel, fillval="INDEF", out_img=out_img, max_ctx_id=max(n_inputs, 1) - 1,
                   disable_ctx=not params.enable_ctx, backend=params.backend, allocator=lazy_zeros, window=region)
    tshape = (y1 - y0, x1 - x0)
    var_acc = VarianceAccumulator(tshape, params.weight_type) if params.enable_var else None
    err_driz = None
    if params.enable_err and params.err_from == "driz":
        # single=True: the err arrays drizzled like the data (see drizzle_group)
        err_img = lazy_zeros(shape, np.float32)
        err_img[y0:y1, x0:x1] = np.float32(float(params.fillval))
        err_driz = Drizzle(kernel=params.kernel, fillval="INDEF", out_img=err_img, disable_ctx=True,
                           backend=params.backend, allocator=lazy_zeros, window=region)
    for k in range(n_inputs):
        if k not in selected:
            driz.skip_context_id()
            continue
        img = load(k)
        ex = _Exposure(img, grid, params, psr)
        if not ex.lands:
            driz.skip_context_id()
            continue
        weight = _tile_weights(ex.weight, ex.pixmap, region, selected[k])
        limits = _trimmed_limits(ex.pixmap, shape, ex.limits, weight, params.kernel)
        if limits is None:
            # every weight is zero: drizzle would write nothing at all
            driz.skip_context_id()
            continue
        xmin, xmax, ymin, ymax = limits
        kw = dict(exptime=img.exposure_time, pixmap=ex.pixmap, pixel_scale_ratio=psr, iscale=1.0,
                  weight_map=weight, wht_scale=1.0, pixfrac=params.pixfrac, in_units="cps",
                  xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax)
        driz.add_image(_science(img), dq=img.dq if params.propagate_dq else None, **kw)
        if err_driz is not None and img.err is not None:
            err_driz.add_image(img.err, **kw)
        if var_acc is not None and ex.box is not None:
            # the exposure's own footprint box, as the untiled run: same clipping
            by0, by1, bx0, bx1 = ex.box
            shifted = ex.pixmap.copy()  # as resample_variance_box shifts it: same arithmetic
            shifted[..., 0] -= bx0
            shifted[..., 1] -= by0
            vlimits = _trimmed_limits(shifted, (by1 - by0, bx1 - bx0), ex.limits, weight, params.kernel)
            del shifted
            boxes = resample_variance_box(img, ex.pixmap, weight, ex.box, psr, vlimits, params.kernel,
                                          params.pixfrac, params.backend, VARIANCE_NAMES)
            clip = _intersect(ex.box, region)
            if clip is not None:
                sub = {n: a[clip[0] - by0 : clip[1] - by0, clip[2] - bx0 : clip[3] - bx0] for n, a in boxes.items()}
                var_acc.combine(img, (clip[0] - y0, clip[1] - y0, clip[2] - x0, clip[3] - x0), sub)
            del boxes
        del ex, img, weight
    out = {"data": driz.out_img[y0:y1, x0:x1].copy(), "wht": driz.out_wht[y0:y1, x0:x1].copy()}
    if params.enable_ctx:
        out["con"] = driz.out_ctx[:, y0:y1, x0:x1].copy()
    if params.propagate_dq:
        dq = driz.out_dq
        out["dq"] = dq[y0:y1, x0:x1].copy() if dq is not None else np.zeros(tshape, np.uint32)
    del driz, out_img
    if err_driz is not None:
        err = err_driz.out_img[y0:y1, x0:x1].copy()
        # the untiled run re-applies the fill to zero-weight pixels after every
        # image (drizzle's rule); pre-filling + "INDEF" differs only where the
        # weight ends at exactly 0, so apply the fill there once at the end
        err[err_driz.out_wht[y0:y1, x0:x1] == 0] = np.float32(float(params.fillval))
        out["err"] = (err / (1.0 if psr is None else psr)).astype(np.float32)
        del err_driz, err_img, err
    if var_acc is not None:
        covered = var_acc.covered
        variances = var_acc.finalize(psr)
        if params.enable_err:
            out["err"] = error_from_variances(variances, None, covered)
        if params.report_var:
            out.update(variances)
    out["any_weight"] = bool(np.any(out["wht"] > 0))
    return out


# ------------------------------------------------------------------ outputs
def _bytes_per_pixel(params, n_inputs):
    b = 8 + (4 * ((max(n_inputs, 1) - 1) // CTX_PLANE_BITS + 1) if params.enable_ctx else 0)
    b += 4 if params.propagate_dq else 0
    b += 4 if params.enable_err else 0
    b += 12 if params.report_var else 0
    return b


def output_layout(params, n_inputs, grid_shape):
    """{name: (shape, dtype)} of the arrays a tiled run produces."""
    ny, nx = grid_shape
    layout = {"data": ((ny, nx), np.float32), "wht": ((ny, nx), np.float32)}
    if params.enable_ctx:
        layout["con"] = (((max(n_inputs, 1) - 1) // CTX_PLANE_BITS + 1, ny, nx), np.int32)
    if params.propagate_dq:
        layout["dq"] = ((ny, nx), np.uint32)
    if params.enable_err:
        layout["err"] = ((ny, nx), np.float32)
    if params.report_var:
        for n in VARIANCE_NAMES:
            layout[n] = ((ny, nx), np.float32)
    return layout


class TileOutput:
    """Where the tiles of a run are written: RAM arrays or ``.npy`` files in a folder.

    Parameters
    ----------
    layout : dict
        ``{name: (shape, dtype)}`` (see :func:`output_layout`); 2-D arrays
        are ``(ny, nx)``, ``con`` is ``(nplanes, ny, nx)``.
    tiles_shape : tuple
        ``(ntiles_y, ntiles_x)`` of the completion mask.
    folder : path, optional
        None: arrays in RAM.  Otherwise the run writes ``<folder>.partial/``
        (``NAME.npy`` per array, pre-allocated so that a full disk fails at
        once, and ``tiles.json``, the completion record) and renames it to
        ``folder`` when every tile is written.  Tiles are written with
        ``pwrite`` (no mapping of the whole file, so the process never holds
        the mosaic; a full disk is an ``OSError``, not a crash).
    scratch : bool
        With a folder: remove the folder when the result is released (the
        arrays are returned as memory maps of files already unlinked).
    """

    def __init__(self, layout, tiles_shape, folder=None, scratch=False):
        self.layout = layout
        self.done = np.zeros(tiles_shape, bool)
        self.folder = None if folder is None else Path(folder)
        self.scratch = scratch
        self._fds = {}
        self._offsets = {}
        self.arrays = {}
        if self.folder is None:
            # shared with forked tile workers, which write their tiles in place;
            # uninitialised is fine: every pixel is written by exactly one tile
            self.arrays = {n: shared_array(shp, dt) for n, (shp, dt) in layout.items()}
            return
        if self.folder.exists():
            raise FileExistsError(f"tile output folder {self.folder} exists; choose a new one")
        self.partial = partial_folder(self.folder)
        if self.partial.exists():
            # an earlier run's incomplete output is the user's to inspect or remove
            raise FileExistsError(f"{self.partial} exists (an earlier run that did not finish; its tiles.json "
                                  "lists the tiles written): remove it or choose another tile_output")
        self.partial.mkdir(parents=True)
        try:
            for name, (shp, dt) in layout.items():
                path = self.partial / f"{name}.npy"
                header = _npy_header(shp, dt)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                self._fds[name] = fd
                os.write(fd, header)
                self._offsets[name] = len(header)
                size = len(header) + int(np.prod(shp)) * np.dtype(dt).itemsize
                try:
                    os.posix_fallocate(fd, 0, size)  # reserve the blocks now: a full disk fails here
                except OSError as exc:
                    raise TilingError(
                        f"cannot allocate {size / 2**20:.1f} MiB for {path}: {exc.strerror or exc} "
                        "(is the output folder full?)", tiles_complete=self.done.copy(),
                    ) from exc
            self._record()
        except BaseException:
            self.abort(remove=True)  # nothing was written yet
            raise

    def _record(self):
        if self.folder is None:
            return
        tmp = self.partial / "tiles.json.tmp"
        tmp.write_text(json.dumps({"tiles_shape": list(self.done.shape),
                                   "complete": self.done.astype(int).tolist(),
                                   "all_complete": bool(self.done.all())}))
        tmp.replace(self.partial / "tiles.json")

    def write(self, tile_index, region, arrays):
        """Copy one tile's arrays into the output and mark the tile complete."""
        self.put(tile_index, region, arrays)
        self.mark(tile_index)

    def mark(self, tile_index):
        """Record tile ``tile_index`` as complete (after its arrays are written)."""
        if self.folder is not None and not self.scratch:
            # a persistent record may only claim tiles whose data is on disk
            for fd in self._fds.values():
                os.fdatasync(fd)
        self.done.flat[tile_index] = True
        self._record()

    def put(self, tile_index, region, arrays):
        """Copy one tile's arrays into the output (also from a forked worker: shared maps, pwrite)."""
        y0, y1, x0, x1 = region
        if self.folder is None:
            for name in self.layout:
                self.arrays[name][..., y0:y1, x0:x1] = arrays[name]
        else:
            try:
                for name, (shp, dt) in self.layout.items():
                    self._pwrite(name, shp, dt, region, np.ascontiguousarray(arrays[name], dtype=dt))
            except OSError as exc:
                raise TilingError(
                    f"writing tile {tile_index} into {self.partial} failed: {exc.strerror or exc}",
                    tiles_complete=self.done.copy(),
                ) from exc

    def _pwrite(self, name, shp, dt, region, block):
        y0, y1, x0, x1 = region
        fd, base = self._fds[name], self._offsets[name]
        item = np.dtype(dt).itemsize
        ny, nx = shp[-2:]
        planes = block.reshape(-1, y1 - y0, x1 - x0)
        for p in range(planes.shape[0]):
            for r in range(y1 - y0):
                buf = memoryview(planes[p, r]).cast("B")
                pos = base + ((p * ny + y0 + r) * nx + x0) * item
                while buf:
                    n = os.pwrite(fd, buf, pos)
                    buf, pos = buf[n:], pos + n

    def finish(self):
        """All tiles written: {name: array} (RAM arrays, or read-only maps of the renamed files)."""
        if not self.done.all():
            raise TilingError(f"{int((~self.done).sum())} of {self.done.size} tiles are missing",
                              tiles_complete=self.done.copy())
        if self.folder is None:
            return self.arrays
        for fd in self._fds.values():
            os.fsync(fd)
            os.close(fd)
        self._fds = {}
        self.partial.replace(self.folder)
        out = {n: np.load(self.folder / f"{n}.npy", mmap_mode="r") for n in self.layout}
        if self.scratch:
            # the maps stay valid; nothing is left behind (as in_memory=False scratch)
            shutil.rmtree(self.folder, ignore_errors=True)
        return out

    def abort(self, remove=False):
        """Close the files; a folder output stays ``.partial`` (its record shows the missing tiles).

        ``remove``: delete the ``.partial`` folder too (it holds nothing worth keeping).
        """
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
        if self.folder is not None and (self.scratch or remove):
            shutil.rmtree(self.partial, ignore_errors=True)


def partial_folder(folder):
    """Where a tiled run writes ``folder`` until every tile is complete."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".partial")


def _npy_header(shape, dtype):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


# ------------------------------------------------------------------ executors
# A runner plans the exposures (``plan(n)`` -> plan_one results in order) and
# drizzles tiles (``tiles(tasks)`` -> (index, arrays) as they finish).
_POOL_STATE = {}
# One fork pool at a time per process: its state above is what the forked
# workers inherit, so a second tiled run from another thread waits.
_POOL_LOCK = threading.Lock()

_DIED = "a tile worker process died (killed or out of memory); the mosaic is incomplete"


class _SerialRunner:
    def __init__(self, load, n, grid, params, psr):
        self.args = (load, n, grid, params, psr)

    def plan(self, n):
        load, _, grid, params, psr = self.args
        return [plan_one(k, load(k), grid, params, psr) for k in range(n)]

    def tiles(self, tasks, out):
        load, n, grid, params, psr = self.args
        for index, (region, selected) in enumerate(tasks):
            yield index, drizzle_tile(region, load, selected, n, grid, params, psr)

    def close(self):
        pass


def _pool_plan(k):
    s = _POOL_STATE
    return plan_one(k, s["load"](k), s["grid"], s["params"], s["psr"])


def _pool_tile(index, region, selected):
    s = _POOL_STATE
    if os.getpid() != s["parent"]:
        _maybe_kill(index)
    arrays = drizzle_tile(region, s["load"], selected, s["n"], s["grid"], s["params"], s["psr"])
    # write in place (shared maps / pwrite into the output files): only the
    # flag travels back; the parent marks the tile complete when it arrives
    any_weight = arrays.pop("any_weight")
    s["out"].put(index, region, arrays)
    return index, {"any_weight": any_weight, "written": True}


def _results(pool, futures):
    try:
        for fut in as_completed(futures):
            yield fut.result()
    except BrokenProcessPool as exc:
        raise TilingError(_DIED) from exc


class _ForkRunner:
    """Pools of forked processes (CPU backend): the inputs are inherited, not pickled.

    The tile pool is forked after the output exists, so the workers write
    their tiles straight into it.
    """

    def __init__(self, load, n, grid, params, psr, workers):
        _POOL_LOCK.acquire()  # released by close()
        _POOL_STATE.update(load=load, n=n, grid=grid, params=params, psr=psr, parent=os.getpid())
        self.workers = workers
        self.pool = None

    def _new_pool(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("fork"))

    def plan(self, n):
        self._new_pool()
        try:
            return list(self.pool.map(_pool_plan, range(n), chunksize=max(1, n // (4 * self.workers))))
        except BrokenProcessPool as exc:
            raise TilingError(_DIED) from exc

    def tiles(self, tasks, out):
        _POOL_STATE["out"] = out
        self._new_pool()
        futures = [self.pool.submit(_pool_tile, i, region, sel) for i, (region, sel) in enumerate(tasks)]
        yield from _results(self.pool, futures)

    def close(self):
        try:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            _POOL_STATE.clear()
            _POOL_LOCK.release()


def _init_kernel_worker(devices, backend):
    """Spawned worker start-up: pin this process to one GPU (one process per device)."""
    if backend == "cuda":
        import cupy

        cupy.cuda.Device(devices.get()).use()


def _spawn_plan(k, source, grid, params, psr):
    from .dask import _load_from

    return plan_one(k, _load_from({k: source})(k), grid, params, psr)


def _spawn_tile(index, region, selected, sources, n, grid, params, psr):
    from .dask import _load_from

    _maybe_kill(index)
    return index, drizzle_tile(region, _load_from(sources), selected, n, grid, params, psr)


def _gpu_count():
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


class _SpawnRunner:
    """Freshly spawned processes (kernel backends: CUDA must not be forked once initialised).

    With the CUDA backend each worker takes one device (``workers`` is capped
    at the number of GPUs); each task receives the exposures it needs.
    """

    def __init__(self, sources, n, grid, params, psr, workers):
        self.args = (sources, n, grid, params, psr)
        ctx = mp.get_context("spawn")
        devices = ctx.Queue()
        if params.backend == "cuda":
            ndev = _gpu_count()
            workers = min(workers, ndev)
            for i in range(ndev):
                devices.put(i)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_kernel_worker,
                                        initargs=(devices, params.backend))

    def plan(self, n):
        sources, _, grid, params, psr = self.args
        try:
            return list(self.pool.map(_spawn_plan, range(n), sources, [grid] * n, [params] * n, [psr] * n))
        except BrokenProcessPool as exc:
            raise TilingError(_DIED) from exc

    def tiles(self, tasks, out):
        sources, n, grid, params, psr = self.args
        futures = [self.pool.submit(_spawn_tile, i, region, sel, {k: sources[k] for k in sel}, n, grid, params, psr)
                   for i, (region, sel) in enumerate(tasks)]
        yield from _results(self.pool, futures)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------ the run
def resample_tiled(load, sources, n_inputs, grid, params, tile_shape, *, workers=1, scheduler=None,
                   folder=None, scratch_dir=None, allowed_bytes=None, max_input_pixels=None, device_bytes=None,
                   progress=None):
    """Resample a mosaic tile by tile; bitwise the untiled result on the CPU backend.

    Parameters
    ----------
    load : callable
        ``load(k)`` -> exposure k, loaded (in this process / forked workers).
    sources : list
        What another process needs to load exposure k (an :class:`Image` or a
        :class:`gpuresample.asdf_io.LazyExposure`): used by dask and by the
        spawned workers of the kernel backends.
    n_inputs : int
    grid : OutputGrid
    params : DrizzleParams
    tile_shape : "auto" or (ny, nx)
        ``"auto"`` picks the largest tile that fits ``allowed_bytes`` and
        ``device_bytes``.
    workers : int
        Processes of the local pool (1: tiles run in this process).  The CPU
        backend forks them (inputs inherited); the kernel backends spawn
        them, and with CUDA each worker is pinned to its own GPU (at most one
        worker per GPU).
    scheduler : distributed.Client, optional
        Run the tiles on a dask cluster instead (see :mod:`gpuresample.dask`).
    folder : path, optional
        Persistent on-disk output (``.npy`` files, see :class:`TileOutput`).
    scratch_dir : path, optional
        With no ``folder``: stream the output into scratch files in this folder
        (removed once mapped) instead of RAM.
    allowed_bytes, device_bytes : float, optional
        Host memory for the tiles running at once, and device memory for one
        tile (CUDA backend); None: no limit.
    progress : callable, optional
        ``progress(done, total, label)`` after each tile is written.
    """
    if tile_shape != "auto":
        check_tile_shape(tile_shape, grid.shape)  # before any work
    psr = grid.pixel_scale_ratio
    if psr is None:
        psr = _ratio_from_input(load(0), grid)
    if scheduler is not None:
        from .dask import DaskRunner

        runner = DaskRunner(scheduler, sources, n_inputs, grid, params, psr)
    elif workers > 1 and params.backend != "cpu":
        runner = _SpawnRunner(sources, n_inputs, grid, params, psr, workers)
    elif workers > 1 and "fork" in mp.get_all_start_methods():
        runner = _ForkRunner(load, n_inputs, grid, params, psr, workers)
    else:
        runner = _SerialRunner(load, n_inputs, grid, params, psr)
    try:
        return _run_tiles(runner, n_inputs, grid, params, psr, tile_shape, workers=workers,
                          distributed=scheduler is not None, folder=folder, scratch_dir=scratch_dir,
                          allowed_bytes=allowed_bytes, max_input_pixels=max_input_pixels,
                          device_bytes=device_bytes, progress=progress)
    finally:
        runner.close()


class _NoWeight(Exception):
    """Internal: every tile came back without a positive weight."""


def _run_tiles(runner, n_inputs, grid, params, psr, tile_shape, *, workers, distributed, folder, scratch_dir,
               allowed_bytes, max_input_pixels, device_bytes=None, progress=None):
    footprints, rows, groups, first_bunit = collect_plan(runner.plan(n_inputs))
    at_once = 1 if distributed else workers
    if tile_shape == "auto":
        tile_shape = auto_tile_shape(grid.shape, allowed_bytes, footprints, n_inputs, max_input_pixels, params,
                                     workers=at_once, device_bytes=device_bytes)
        log.info("tile='auto': %s tiles", tile_shape)
    check_tile_shape(tile_shape, grid.shape)
    for what, need, lim in _tile_needs(tile_shape, grid.shape, footprints, n_inputs, max_input_pixels, params,
                                       at_once, allowed_bytes, device_bytes):
        if need > lim:
            per = f"{at_once} tiles at once" if what == "host" else "one tile per GPU"
            raise OutputTooLargeError(
                f"tile={tuple(tile_shape)} needs about {need / 2**20:.1f} MiB of {what} memory ({per}) but "
                f"allowed_memory allows {lim / 2**20:.1f} MiB; use smaller tiles or tile='auto'",
                required=need, allowed=lim)
    regions = tile_regions(grid.shape, tile_shape)
    tasks = [(reg, {f.index: f.reach for f in footprints if f.touches(reg)}) for reg in regions]
    log.info("%d tiles of (ny, nx) = %s; %d exposure-tile pairs", len(tasks), tile_shape,
             sum(len(s) for _, s in tasks))
    scratch = folder is None and scratch_dir is not None
    if scratch:
        folder = Path(tempfile.mkdtemp(prefix="gpuresample-tiles-", dir=scratch_dir)) / "out"
    tiles_shape = _tile_grid_shape(grid.shape, tile_shape)
    out = None
    any_weight = False
    try:
        out = TileOutput(output_layout(params, n_inputs, grid.shape), tiles_shape, folder=folder, scratch=scratch)
        for index, arrays in runner.tiles(tasks, out):
            any_weight |= arrays.pop("any_weight")
            if not arrays.pop("written", False):
                out.put(index, tasks[index][0], arrays)
            out.mark(index)
            del arrays
            if progress is not None:
                (y0, y1, x0, x1) = tasks[index][0]
                progress(int(out.done.sum()), len(tasks), f"tile {index} [{y0}:{y1}, {x0}:{x1}]")
        if not any_weight:
            out.abort(remove=True)  # an empty mosaic is no output: leave no folder that looks complete
            raise _NoWeight
        arrays = out.finish()
    except _NoWeight:
        raise ValueError("no input pixel landed on the output grid with a positive weight") from None
    except BaseException as exc:
        # the parent's record is the truth: a forked worker's error carries its own, stale, copy of the mask
        done = out.done.copy() if out is not None else np.zeros(tiles_shape, bool)
        if out is not None:
            out.abort()  # close the files; a persistent folder stays .partial with its record
        if isinstance(exc, TilingError):
            exc.tiles_complete = done
            raise
        if isinstance(exc, Exception):
            raise TilingError(f"a tile failed ({type(exc).__name__}: {exc}); {int(done.sum())} of "
                              f"{done.size} tiles complete", tiles_complete=done) from exc
        raise  # KeyboardInterrupt...
    finally:
        if scratch:
            shutil.rmtree(folder.parent, ignore_errors=True)
    result = ResampleResult(data=arrays["data"], wht=arrays["wht"], wcs=grid.wcs, con=arrays.get("con"),
                            dq=arrays.get("dq"), err=arrays.get("err"), inputs=rows)
    for name in VARIANCE_NAMES:
        setattr(result, name, arrays.get(name))
    result.meta = product_meta(groups, rows, params, psr, grid, first_bunit)
    result.meta.update(tile_shape=tuple(tile_shape), tiles_complete=out.done.copy(),
                       output_dir=None if (folder is None or scratch) else str(folder))
    return result

