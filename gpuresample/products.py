"""The bookkeeping of one resampled product: input rows, exposure times, resample keywords.

jwst/stcal rules: exposure times are summed once per exposure group (the
detectors of one exposure share its time); the start is the earliest, the
end the latest; the pixel scale ratio of a user-supplied output grid is the
output scale over the first input's.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .output_grid import mean_pixel_area

__all__ = ["input_row", "output_s_region", "product_meta", "ratio_from_input", "time_meta"]

log = logging.getLogger("gpuresample")


def input_row(k, img):
    """The scalars kept of input ``k`` (``ResampleResult.inputs``): never its arrays."""
    return {"index": k, "filename": img.filename, "group_id": img.group_id,
            "exposure_time": img.exposure_time, "measurement_time": img.measurement_time,
            "start_time": img.start_time, "end_time": img.end_time, "duration": img.duration,
            "shape": img.shape}


def ratio_from_input(img, grid):
    """Pixel scale ratio for a user output grid: output scale / first input's (stcal rule)."""
    area = img.pixelarea_steradians
    if not area or area <= 0:
        area = mean_pixel_area(img.wcs, img.shape)
    pscale_in = math.degrees(math.sqrt(area)) * 3600.0
    psr = grid.pixel_scale / pscale_in
    log.info("pixel scale ratio (output/input) from the first input: %.6g", psr)
    return psr


def time_meta(groups):
    """Exposure times summed once per exposure group; min start, max end (stcal rules).

    ``groups`` maps each exposure group to the :func:`input_row` of its first member.
    """
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


def product_meta(groups, rows, params, psr, grid, bunit):
    """The resample keywords of a product (``ResampleResult.meta``)."""
    meta = time_meta(groups)
    meta.update(
        pixfrac=params.pixfrac, kernel=params.kernel, fillval=params.fillval,
        weight_type=params.weight_type, pixel_scale_ratio=psr, ndrizzled=len(rows),
        pointings=len(groups), pixelarea_steradians=grid.pixel_area_sr,
        pixelarea_arcsecsq=grid.pixel_area_arcsec2, bunit_data=bunit,
        s_region=output_s_region(grid),
    )
    return meta


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
