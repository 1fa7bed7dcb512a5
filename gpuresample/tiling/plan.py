"""Planning a tiled run: the tiles, where each exposure lands, and how much memory a tile needs.

Pixel conventions: 0-based pixel indices, arrays ``(ny, nx)``; a tile region
is ``(y0, y1, x0, x1)`` with half-open bounds; output pixel ``i`` spans
``[i - 0.5, i + 0.5]``.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..drizzle_loop import input_limits
from ..errors import OutputTooLargeError
from ..memory import params_device_estimate, params_estimate
from ..params import bytes_per_pixel
from ..pixmap import calc_pixmap
from ..products import input_row
from ..scanner import shrink_box

__all__ = [
    "MIN_AUTO_TILE",
    "ExposureFootprint",
    "auto_tile_shape",
    "check_tile_shape",
    "collect_plan",
    "kernel_reach",
    "per_tile_bytes",
    "per_tile_device_bytes",
    "plan_one",
    "tile_grid_shape",
    "tile_needs",
    "tile_regions",
]

log = logging.getLogger("gpuresample")

#: Smallest tile side ``tile="auto"`` goes down to before giving up.
MIN_AUTO_TILE = 64


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




def tile_regions(grid_shape, tile_shape):
    """Tiles of the grid in row-major order, as half-open ``(y0, y1, x0, x1)``.

    The last row/column of tiles is smaller when the tile does not divide
    the grid.
    """
    ny, nx = grid_shape
    ty, tx = tile_shape
    return [(y0, min(y0 + ty, ny), x0, min(x0 + tx, nx)) for y0 in range(0, ny, ty) for x0 in range(0, nx, tx)]


def tile_grid_shape(grid_shape, tile_shape):
    """``(ntiles_y, ntiles_x)``: the shape of the completion mask."""
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
    row = input_row(k, img)
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
    est = params_estimate(shape, n_inputs, max_input_pixels, params)
    # the tile's outputs are copied out of the canvas (and written by the parent)
    return est["total"] + 2 * bytes_per_pixel(params, n_inputs) * tile_shape[0] * tile_shape[1]


def per_tile_device_bytes(tile_shape, grid_shape, n_inputs, max_input_pixels, params):
    """Peak device bytes of one tile's run on the CUDA backend.

    The kernels keep the tile alone on the device (``Drizzle(window=...)``),
    with the variance arrays in the same pass; the exposure's inputs do not
    shrink with the tile.  ``grid_shape`` and ``n_inputs`` are accepted for
    symmetry with :func:`per_tile_bytes`.
    """
    return params_device_estimate(tile_shape, max_input_pixels, params)["total"]


def tile_needs(tile_shape, grid_shape, footprints, n_inputs, max_input_pixels, params, workers,
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
        needs = tile_needs(shape, grid_shape, footprints, n_inputs, max_input_pixels, params, workers,
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


