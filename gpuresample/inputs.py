"""The exposures of a run: what ``resample()`` accepts as inputs, opened and checked, and the grid they span.

Files (and the members of associations) are opened — and so checked — all
before anything is read or allocated; with ``in_memory=False`` a file
exposure is represented by a stub (WCS, metadata, a zero-byte stand-in for
the data) and read only when the exposure loop reaches it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from .drizzle_loop import input_limits
from .exposure import as_exposure
from .output_grid import footprint_of, grid_from_inputs, load_output_wcs, sregion_vertices
from .pixmap import WcsTransform
from .readers import expand_inputs

__all__ = ["input_items", "load_inputs", "output_grid", "warn_no_overlap"]

log = logging.getLogger("gpuresample")


def input_items(inputs):
    """The list of inputs: one path (a file or an association) or an iterable of dicts, Images or paths."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]  # one file or one association
    if inputs is None or isinstance(inputs, (bytes, dict)) or not hasattr(inputs, "__iter__"):
        raise TypeError("inputs must be a list of model dicts, gpuresample.Image objects or file paths")
    items = list(inputs)
    if not items:
        raise ValueError("inputs is empty: nothing to resample")
    return items


def _check_units(images):
    units = {i.bunit_data for i in images if i.bunit_data}
    if len(units) > 1:
        per = ", ".join(f"{i.filename}: {i.bunit_data}" for i in images if i.bunit_data)
        raise ValueError(f"inputs have mixed units (bunit_data): {per}")


def load_inputs(items, in_memory, weight_type=None):
    """``(images, lazy)``: every input as an :class:`~gpuresample.Image` (stubs for deferred files).

    ``lazy`` maps the index of each file input read later (``in_memory=False``)
    to its lazy exposure.  Raises for unreadable files, bad dicts, mixed units
    and (``weight_type="exptime"``) inputs without an exposure time.
    """
    expanded = []
    for item in items:
        if isinstance(item, (str, Path)):
            expanded.extend(expand_inputs([item])[0])
        else:
            expanded.append(item)
    lazy = {}
    images = []
    for k, item in enumerate(expanded):
        if hasattr(item, "load") and hasattr(item, "stub"):  # a lazy exposure from gpuresample.readers
            if in_memory:
                item = item.load()
            else:
                lazy[k] = item
                item = item.stub()
        images.append(as_exposure(item, k, weight_type))
        if k in lazy:  # the reading later gets the exposure time decided here (no second warning)
            lazy[k].scalars["exposure_time"] = images[-1].exposure_time
    _check_units(images)
    return images, lazy


def _footprint(img):
    wi = img.wcsinfo or {}
    if wi.get("s_region"):
        return np.vstack(sregion_vertices(wi["s_region"]))
    return footprint_of(img.wcs, img.shape)


def output_grid(images, opts):
    """The output grid of the run: ``opts.output_wcs``, else built from the footprints (stcal's rules)."""
    if opts.output_wcs is not None:
        given = opts.ignored_grid_args
        if given:
            log.info("output_wcs given: ignoring %s", ", ".join(given))
        grid = load_output_wcs(opts.output_wcs, opts.output_shape)
    else:
        ref = images[0]
        grid = grid_from_inputs(
            [_footprint(img) for img in images], ref.wcs, ref.shape, ref.wcsinfo,
            pixel_scale_ratio=opts.pixel_scale_ratio, pixel_scale=opts.pixel_scale, rotation=opts.rotation,
            crpix=opts.crpix, crval=opts.crval, output_shape=opts.output_shape,
        )
    log.info("output grid (ny, nx) = %s, pixel scale %.6g arcsec", grid.shape, grid.pixel_scale)
    return grid


def warn_no_overlap(images, grid):
    """Warn for each input whose footprint misses the output grid entirely."""
    ny, nx = grid.shape
    for k, img in enumerate(images):
        xmin, xmax, ymin, ymax = input_limits(img.shape, img.wcs)
        gx, gy = np.meshgrid(np.linspace(xmin, xmax, 9), np.linspace(ymin, ymax, 9))
        ox, oy = WcsTransform(img.wcs, grid.wcs).smooth(gx, gy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no overlap
            hit = (np.nanmax(ox) > -0.5 and np.nanmin(ox) < nx - 0.5
                   and np.nanmax(oy) > -0.5 and np.nanmin(oy) < ny - 0.5)
        if not hit:
            log.warning("input %d (%s) does not overlap the output grid", k, img.filename)
