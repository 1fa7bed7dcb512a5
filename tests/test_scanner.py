"""gpuresample.scanner reproduces drizzle's per-row decision of which input pixels it visits.

Oracle: drizzle's point kernel with unit data and weights, whose weight image
counts how many visited input pixels landed on each output pixel, and whose
(nmiss, nskip) count the rest.  A host re-implementation that visits exactly
``row_limits`` must give the same counts bitwise.
"""

import numpy as np
import pytest
from conftest import rotated_pixmap
from drizzle.resample import Drizzle as RefDrizzle

from gpuresample.scanner import row_limits


def _host_point_counts(pixmap, out_shape, lim):
    ny_out, nx_out = out_shape
    counts = np.zeros(out_shape, np.float64)
    nmiss = lim.nmiss_base
    for j in np.flatnonzero(lim.x2 >= lim.x1):
        row = pixmap[j, lim.x1[j] : lim.x2[j] + 1]
        x, y = row[:, 0], row[:, 1]
        bad = np.isnan(x) | np.isnan(y)
        # C round(): half away from zero
        ii = np.where(bad, -1, np.copysign(np.floor(np.abs(x) + 0.5), x)).astype(np.int64)
        jj = np.where(bad, -1, np.copysign(np.floor(np.abs(y) + 0.5), y)).astype(np.int64)
        on = ~bad & (ii >= 0) & (ii < nx_out) & (jj >= 0) & (jj < ny_out)
        nmiss += int(np.count_nonzero(~on))
        np.add.at(counts, (jj[on], ii[on]), 1.0)
    return counts, nmiss


CASES = [
    # (angle, scale, offset, curvature, NaN pattern)
    (0.0, 1.0, (10.0, 12.0), 0.0, None),
    (33.0, 1.0, (-4.0, 20.0), 1.5, None),
    (-61.0, 0.8, (40.0, -3.0), 2.5, None),
    (120.0, 1.3, (30.0, 35.0), 3.0, "border"),
    (15.0, 0.5, (5.0, 5.0), 4.0, None),
    (200.0, 1.0, (47.0, 22.0), 2.0, "border"),
    (89.0, 1.1, (20.0, 44.5), 0.0, None),
]


@pytest.mark.parametrize(("angle", "scale", "offset", "curv", "nan"), CASES)
def test_row_limits_reproduce_drizzle_coverage(angle, scale, offset, curv, nan):
    in_shape, out_shape = (40, 36), (48, 50)
    pm = rotated_pixmap(in_shape, angle, scale, offset, curvature=curv)
    if nan == "border":
        pm[:, :2] = np.nan
        pm[-1] = np.nan
    d = RefDrizzle(kernel="point", out_shape=out_shape, disable_ctx=True)
    nmiss, nskip = d.add_image(np.ones(in_shape, np.float32), exptime=1.0, pixmap=pm)
    lim = row_limits(pm, out_shape, 0, in_shape[1] - 1, 0, in_shape[0] - 1)
    counts, host_nmiss = _host_point_counts(pm, out_shape, lim)
    np.testing.assert_array_equal(counts.astype(np.float32), d.out_wht)
    assert (host_nmiss, lim.nskip) == (nmiss, nskip)
    assert np.any(d.out_wht > 0)


def _landing_but_unvisited(pm, out_shape, lim):
    """Input pixels whose centre lands on the output although drizzle does not visit them."""
    ny_out, nx_out = out_shape
    x, y = pm[..., 0], pm[..., 1]
    with np.errstate(invalid="ignore"):
        lands = (x >= -0.5) & (x < nx_out - 0.5) & (y >= -0.5) & (y < ny_out - 0.5)
    visited = np.zeros(pm.shape[:2], bool)
    for j in np.flatnonzero(lim.x2 >= lim.x1):
        visited[j, lim.x1[j] : lim.x2[j] + 1] = True
    return int(np.count_nonzero(lands & ~visited))


def test_random_distorted_footprints_match_drizzle():
    rng = np.random.default_rng(42)
    in_shape, out_shape = (40, 36), (44, 46)
    skipped_total = 0
    for _ in range(40):
        pm = rotated_pixmap(in_shape, rng.uniform(0, 360), rng.uniform(0.6, 1.4),
                            (rng.uniform(0, 46), rng.uniform(0, 44)), curvature=rng.uniform(0, 6))
        d = RefDrizzle(kernel="point", out_shape=out_shape, disable_ctx=True)
        nmiss, nskip = d.add_image(np.ones(in_shape, np.float32), exptime=1.0, pixmap=pm)
        lim = row_limits(pm, out_shape, 0, in_shape[1] - 1, 0, in_shape[0] - 1)
        counts, host_nmiss = _host_point_counts(pm, out_shape, lim)
        np.testing.assert_array_equal(counts.astype(np.float32), d.out_wht)
        assert (host_nmiss, lim.nskip) == (nmiss, nskip)
        skipped_total += _landing_but_unvisited(pm, out_shape, lim)
    # the scanner matters: drizzle leaves out some pixels that would land on the output
    assert skipped_total > 0
