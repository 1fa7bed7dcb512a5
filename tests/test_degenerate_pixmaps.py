"""Pixel maps that crash drizzle 3.0's C code or leave its result undefined (found by fuzzing, issue 13).

Each case ran ``drizzle.resample.Drizzle.add_image`` into a segmentation
fault, a raw ``ZeroDivisionError`` in our scanner port, or counters that
differed between the CPU backend and the emulator.  Every backend must now
take the same decision: a defined result (equal on all backends), or one
``ValueError`` naming ``pixmap``.
"""

import warnings

import numpy as np
import pytest

from gpuresample import Drizzle
from gpuresample.pixmap_checks import MAX_PIXMAP_COORD

BACKENDS = ["cpu", "emulator"]
KERNELS = ["square", "point", "turbo", "gaussian", "lanczos2", "lanczos3"]


def _grid(ny, nx, sx, x0, sy, y0):
    y, x = np.indices((ny, nx), dtype=float)
    return np.dstack([x * sx + x0, y * sy + y0])


def _add(backend, kernel, pixmap, out_shape):
    d = Drizzle(kernel=kernel, out_shape=out_shape, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-conserving kernels
        counts = d.add_image(np.ones(pixmap.shape[:2], "f4"), exptime=1, pixmap=pixmap, pixel_scale_ratio=1)
    return counts, d.out_img.copy(), d.out_wht.copy()


def _same_everywhere(kernel, pixmap, out_shape):
    (c0, img0, wht0), (c1, img1, wht1) = (_add(b, kernel, pixmap, out_shape) for b in BACKENDS)
    assert c0 == c1
    # the kernels' float64 sums vs drizzle's float running means (test_gpu_kernels' tolerances)
    np.testing.assert_array_equal(wht0 != 0, wht1 != 0)
    np.testing.assert_allclose(wht0, wht1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(img0, img1, rtol=1e-5, atol=1e-5, equal_nan=True)
    return c0


@pytest.mark.parametrize("kernel", KERNELS)
def test_far_coordinates_land_nowhere(kernel):
    """One coordinate of 1e15: drizzle's 32-bit rounding crashed (turbo), the GPU's saturates.  Now NaN."""
    pm = _grid(5, 4, 1.1, -1.5, 1.7, 2.5)
    pm[3, 1, 0] = 1e15
    before = pm.copy()
    nmiss, _ = _same_everywhere(kernel, pm, (4, 5))
    np.testing.assert_array_equal(pm, before)  # the caller's map is not modified
    assert nmiss >= 1  # the far pixel is a miss
    # the same result as marking that pixel NaN, which is what it became
    nan = before.copy()
    nan[3, 1, 0] = np.nan
    assert _add("cpu", kernel, nan, (4, 5))[0] == (nmiss, _add("cpu", kernel, pm, (4, 5))[0][1])


@pytest.mark.parametrize("value", [MAX_PIXMAP_COORD * 1.5, 1e30, -1e300, np.inf])
def test_values_beyond_the_limit_are_nan(value):
    pm = _grid(4, 4, 1.0, 0.0, 1.0, 0.0)
    pm[1, 2, 0] = value  # raised ZeroDivisionError in the scanner port for 1e30
    _same_everywhere("square", pm, (5, 5))
    inside = pm.copy()
    inside[1, 2, 0] = MAX_PIXMAP_COORD * 0.5  # within the limit: still a position
    _same_everywhere("point", inside, (5, 5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_nan_edge_in_the_scan_is_refused(backend, kernel):
    """A corner that folds the footprint outline: drizzle's scan yields a NaN column limit
    (INT_MIN) and its C code reads outside the input (segmentation fault)."""
    pm = _grid(5, 6, 1.6, -0.45, 1.4, 0.3)
    pm[4, 0, 1] = -0.5
    d = Drizzle(kernel=kernel, out_shape=(2, 6), backend=backend)
    with pytest.raises(ValueError, match="'pixmap' is degenerate: drizzle's scan of input row 0 starts"):
        d.add_image(np.ones((5, 6), "f4"), exptime=1, pixmap=pm, pixel_scale_ratio=1)
    assert not np.any(d.out_wht) and np.all(np.isnan(d.out_img))  # nothing changed


@pytest.mark.parametrize("kernel", KERNELS)
def test_zero_height_footprint_visits_nothing(kernel):
    """The input touches the output only along a line: drizzle's scanner gets an empty edge chain and
    reads an edge it never set (its counts varied); every backend now visits nothing."""
    pm = _grid(2, 5, 1.25, 0.15, 1.9, 2.0)
    pm[0, 4, 1] = 0.5
    counts = _same_everywhere(kernel, pm, (1, 4))
    assert counts == (8, 2)  # every box pixel a miss (drizzle's width arithmetic), both rows skipped


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_zero_jacobian_where_drizzle_estimates_the_ratio_is_refused(backend):
    """pixel_scale_ratio=None and two input pixels mapped to one point where drizzle looks: drizzle's C
    refused with a 'pscale_ratio' error, the emulator raised ZeroDivisionError (long fuzz run)."""
    pm = _grid(2, 7, 1.63, -1.9, 2.2, 0.2)
    pm[0, 0] = pm[0, 1] = (-0.5, 0.2)
    d = Drizzle(kernel="gaussian", out_shape=(7, 6), backend=backend)
    with pytest.raises(ValueError, match=r"degenerate at input pixel \(0, 0\).*pass 'pixel_scale_ratio'"):
        d.add_image(np.ones((2, 7), "f4"), exptime=1, pixmap=pm, pixel_scale_ratio=None)


def test_drizzles_context_planes_map_is_defined_everywhere():
    """drizzle's own test_context_planes map (near-identity TAN, -1e-15 offsets) has a horizontal scan
    edge at row 0.  The port once read its NaN end as the row's right limit (Python's min keeps a NaN,
    C's ternary does not) and called drizzle's counters undefined there; now every backend and drizzle
    itself visit row 0 and return the same (nmiss, nskip) = (-10, 0)."""
    import drizzle.resample

    y, x = np.indices((10, 10), dtype=float)
    pm = np.dstack([x, y])
    pm[0, :, 1] = [-1e-15, -7.5e-15, -2.1e-15, -3e-15, -1e-15, -4e-15, -2e-15, -6e-15, -1e-15, -3e-15]
    pm[0, 0, 0] = -7.8e-16
    from gpuresample.scanner import row_limits

    lim = row_limits(pm, (10, 10), 0, 9, 0, 9)
    assert lim.wrapped_row is None and lim.x2.tolist() == [9] * 10
    counts = _same_everywhere("square", pm, (10, 10))
    ref = drizzle.resample.Drizzle(kernel="square", out_shape=(10, 10))
    assert counts == ref.add_image(np.ones((10, 10), "f4"), exptime=1, pixmap=pm) == (-10, 0)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_horizontal_scan_edge_takes_the_other_side(kernel):
    """Fuzz case 4006 (benchmarks/fuzz.py, seed 0): output points outside the input's footprint invert to
    three vertices on one input row, so the scan's right chain starts on a horizontal edge, whose x is
    inf * 0 = NaN at row 0.  drizzle's C takes the edge at the row's top there (its ternaries pick the
    non-NaN side); the port took the NaN and the kernel backends skipped row 0 (weights off by 4x, a miss
    count of 2**31 + 4)."""
    x = [4.403251936705428e-32, 1.2539251210014417, 2.5078502420028834, 3.7617753630043254,
         5.015700484005767, 6.269625605007208]
    pm = np.dstack([np.array([x, x]), np.array([[0.5] * 6, [0.8] * 5 + [2.5]])])
    from gpuresample.scanner import row_limits

    lim = row_limits(pm, (5, 5), 0, 5, 0, 1)
    assert (lim.x1.tolist(), lim.x2.tolist(), lim.nmiss_base, lim.wrapped_row) == ([0, 0], [3, 4], 1, None)
    assert _same_everywhere(kernel, pm, (5, 5))[1] == 0
