"""Drive one output product through its exposures (the middle layer).

:func:`drizzle_group` knows the order of work — pixel map, weights, science
drizzle, footprint-box variance drizzles, bookkeeping — but not how a kernel
computes (that is the backend's business behind :class:`Drizzle`) nor how the
user spelled the arguments (validated in :mod:`gpuresample.step`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .accumulator import Drizzle
from .exposure import VARIANCE_NAMES
from .parallel import VarianceHelper
from .pixmap import _bbox_intervals, calc_pixmap
from .result import ResampleResult
from .scanner import shrink_box
from .variance import VarianceAccumulator, error_from_variances, footprint_box, resample_variance_box
from .weights import driz_weight

__all__ = ["DrizzleParams", "drizzle_group", "input_limits"]

log = logging.getLogger("gpuresample")


@dataclass(frozen=True)
class DrizzleParams:
    """Validated parameters shared by every exposure of a run."""

    kernel: str
    pixfrac: float
    fillval: str
    weight_type: str
    good_bits: object
    enable_ctx: bool
    enable_var: bool
    enable_err: bool
    report_var: bool
    err_from: str  # "var" (mosaic) or "driz" (single: drizzle the err array)
    propagate_dq: bool
    pixmap_stepsize: object
    pixmap_order: int
    backend: str


def input_limits(shape, wcs):
    """Inclusive input box (xmin, xmax, ymin, ymax) from the WCS bounding box (stcal rule)."""
    ny, nx = shape
    bbox = _bbox_intervals(wcs)
    if bbox is None:
        return 0, nx - 1, 0, ny - 1
    (x1, x2), (y1, y2) = bbox[:2]
    xmin = max(0, int(x1 + 0.5))
    ymin = max(0, int(y1 + 0.5))
    xmax = max(xmin, min(nx - 1, int(x2 + 0.5)))
    ymax = max(ymin, min(ny - 1, int(y2 + 0.5)))
    return xmin, xmax, ymin, ymax


def _science(img):
    data = img.data
    if not img.subtracted and img.level is not None:
        data = data - img.level  # a new array: the input is never modified
    return data


class _Exposure:
    """What every stage needs of one exposure: weights, pixel map, input box, footprint box."""

    def __init__(self, img, grid, params, psr):
        self.img = img
        self.weight = driz_weight(img, params.weight_type, params.good_bits)
        self.pixmap = calc_pixmap(img.wcs, grid.wcs, shape=img.shape, stepsize=params.pixmap_stepsize,
                                  order=params.pixmap_order)
        self.limits = input_limits(img.shape, img.wcs)
        self.lands = shrink_box(self.pixmap, *self.limits)[4]
        self.box = footprint_box(self.pixmap, grid.shape, psr, *self.limits) if self.lands else None


def _variance_boxes(grid, params, psr):
    """``compute(img, names)``: one exposure's footprint-box variance drizzles."""

    def compute(img, names):
        ex = _Exposure(img, grid, params, psr)
        if ex.box is None:
            return {}
        return resample_variance_box(img, ex.pixmap, ex.weight, ex.box, psr, ex.limits, params.kernel,
                                     params.pixfrac, params.backend, names)

    return compute


def drizzle_group(get, n_inputs, grid, params, progress=None, alloc=None, workers=1):
    """Resample exposures ``get(0) .. get(n_inputs - 1)`` onto ``grid``.

    ``get(k)`` returns exposure k as a loaded :class:`Image` (reading a file
    input only then, so one exposure is in memory at a time).  ``progress`` is
    called with ``(index, image, seconds)`` after each exposure.
    ``alloc(shape, dtype, fill)`` provides the canvas-sized arrays (RAM or
    scratch memory maps).  With ``workers >= 2`` a helper process drizzles the
    flat-field and Poisson variances of the next exposure meanwhile; the
    results do not depend on ``workers``.
    """
    shape = grid.shape
    psr = grid.pixel_scale_ratio
    alloc = alloc or (lambda shp, dt, fill: np.full(shp, fill, dt))
    # Pre-filling the output with the fill value and passing "INDEF" is the
    # same as drizzle's re-fill of zero-weight pixels after every image (a
    # zero-weight pixel takes the first contribution verbatim), without that
    # whole-canvas pass per exposure.
    # The other arrays come from ``alloc`` through Drizzle, which then has no
    # caller-supplied weight/context to cross-check (a whole-canvas scan).
    driz = Drizzle(
        kernel=params.kernel, fillval="INDEF", out_img=alloc(shape, np.float32, float(params.fillval)),
        max_ctx_id=max(n_inputs, 1) - 1, disable_ctx=not params.enable_ctx, backend=params.backend,
        allocator=alloc,
    )
    err_driz = None
    if params.enable_err and params.err_from == "driz":
        err_driz = Drizzle(kernel=params.kernel, fillval=params.fillval, out_shape=shape,
                           disable_ctx=True, backend=params.backend, allocator=alloc)
    first = get(0)
    if psr is None:
        psr = _ratio_from_input(first, grid)
    var_acc = helper = None
    main_names = VARIANCE_NAMES
    # Kernel backends (cuda, emulator) drizzle sqrt(var) in the same pass as the
    # science data; the CPU backend uses separate footprint-box drizzles.
    same_pass = params.enable_var and getattr(driz._backend, "same_pass_linear", False)
    if params.enable_var:
        var_acc = VarianceAccumulator(shape, params.weight_type, alloc=alloc)
        if workers >= 2 and n_inputs > 1 and not same_pass:
            main_names = ("var_rnoise",)
            helper = VarianceHelper(n_inputs, get, _variance_boxes(grid, params, psr),
                                    tuple(n for n in VARIANCE_NAMES if n not in main_names))

    groups = {}
    rows = []
    first_bunit = None
    try:
        for k in range(n_inputs):
            t0 = time.perf_counter()
            img = first if k == 0 else get(k)
            first = None
            ex = _Exposure(img, grid, params, psr)
            # keep scalars only: holding the image would keep its arrays alive
            groups.setdefault(img.group_id, _input_row(k, img))
            rows.append(_input_row(k, img))
            if not ex.lands:
                # nothing of this input maps to finite output coordinates
                log.warning("%s: no pixel maps onto the output grid; skipped", img.filename)
                driz.skip_context_id()
                if helper is not None:
                    helper.result(k)
                if progress is not None:
                    progress(k, img, time.perf_counter() - t0)
                continue
            xmin, xmax, ymin, ymax = ex.limits
            kw = dict(exptime=img.exposure_time, pixmap=ex.pixmap, pixel_scale_ratio=psr, iscale=1.0,
                      weight_map=ex.weight, wht_scale=1.0, pixfrac=params.pixfrac, in_units="cps",
                      xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax)
            names = [n for n in VARIANCE_NAMES if getattr(img, n) is not None] if same_pass else []
            if names:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # sqrt of negative variance -> NaN
                    roots = [np.sqrt(getattr(img, n)) for n in names]
                driz.add_image(_science(img), dq=img.dq if params.propagate_dq else None, linear=roots, **kw)
            else:
                driz.add_image(_science(img), dq=img.dq if params.propagate_dq else None, **kw)
            if err_driz is not None and img.err is not None:
                err_driz.add_image(img.err, **kw)
            if var_acc is not None and same_pass:
                if ex.box is not None and names:
                    y0, y1, x0, x1 = ex.box
                    var_acc.combine(img, ex.box, {n: driz.last_linear[k][y0:y1, x0:x1] ** 2
                                                  for k, n in enumerate(names)})
            elif var_acc is not None:
                boxes = {}
                if ex.box is not None:
                    boxes = resample_variance_box(img, ex.pixmap, ex.weight, ex.box, psr, ex.limits,
                                                  params.kernel, params.pixfrac, params.backend, main_names)
                if helper is not None:
                    boxes.update(helper.result(k))
                if ex.box is not None:
                    var_acc.combine(img, ex.box, boxes)
            if first_bunit is None:
                first_bunit = img.bunit_data
            if progress is not None:
                progress(k, img, time.perf_counter() - t0)
            del ex, img
    finally:
        if helper is not None:
            helper.close()

    if not rows:
        raise ValueError("no inputs to resample")
    result = ResampleResult(data=driz.out_img, wht=driz.out_wht, wcs=grid.wcs,
                            con=driz.out_ctx if params.enable_ctx else None,
                            dq=driz.out_dq if params.propagate_dq else None, inputs=rows)
    if var_acc is not None:
        variances = var_acc.finalize(psr)
        if params.enable_err:
            result.err = error_from_variances(variances, alloc, var_acc.covered)
        if params.report_var:
            for name in VARIANCE_NAMES:
                setattr(result, name, variances[name])
        del variances
    elif err_driz is not None:
        scale = 1.0 if psr is None else psr
        result.err = (err_driz.out_img / scale).astype(np.float32)
    result.meta = product_meta(groups, rows, params, psr, grid, first_bunit)
    return result


def product_meta(groups, rows, params, psr, grid, bunit):
    """The resample keywords of a product (``ResampleResult.meta``)."""
    meta = _time_meta(groups)
    meta.update(
        pixfrac=params.pixfrac, kernel=params.kernel, fillval=params.fillval,
        weight_type=params.weight_type, pixel_scale_ratio=psr, ndrizzled=len(rows),
        pointings=len(groups), pixelarea_steradians=grid.pixel_area_sr,
        pixelarea_arcsecsq=grid.pixel_area_arcsec2, bunit_data=bunit,
        s_region=output_s_region(grid),
    )
    return meta


def _ratio_from_input(img, grid):
    """Pixel scale ratio for a user output grid: output scale / first input's (stcal rule)."""
    from .output_grid import mean_pixel_area

    area = img.pixelarea_steradians
    if not area or area <= 0:
        area = mean_pixel_area(img.wcs, img.shape)
    pscale_in = math.degrees(math.sqrt(area)) * 3600.0
    psr = grid.pixel_scale / pscale_in
    log.info("pixel scale ratio (output/input) from the first input: %.6g", psr)
    return psr


def _input_row(k, img):
    return {"index": k, "filename": img.filename, "group_id": img.group_id,
            "exposure_time": img.exposure_time, "measurement_time": img.measurement_time,
            "start_time": img.start_time, "end_time": img.end_time, "duration": img.duration,
            "shape": img.shape}


def _time_meta(groups):
    """Exposure times summed once per exposure group; min start, max end (stcal rules)."""
    rows = list(groups.values())
    starts = [r["start_time"] for r in rows if r["start_time"] is not None]
    ends = [r["end_time"] for r in rows if r["end_time"] is not None]
    durations = [r["duration"] for r in rows if r["duration"] is not None]
    total = float(sum(r["exposure_time"] for r in rows))
    known = all(r["measurement_time"] is not None for r in rows)
    return {
        "exposure_time": total,
        "effective_exposure_time": total,
        "measurement_time": float(sum(r["measurement_time"] for r in rows)) if known else None,
        "start_time": min(starts) if starts else None,
        "end_time": max(ends) if ends else None,
        # None (no DURATION card) when no input knows its duration, not 0 s
        "duration": float(sum(durations)) if durations else None,
    }


def output_s_region(grid):
    """S_REGION of the output grid's outline (corners of its bounding box)."""
    ny, nx = grid.shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = grid.wcs(x, y, with_bounding_box=False)[:2]
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        return None
    ra = np.mod(ra, 360.0)
    return "POLYGON ICRS  " + " ".join(f"{a:.9f} {d:.9f}" for a, d in zip(ra, dec, strict=True))
