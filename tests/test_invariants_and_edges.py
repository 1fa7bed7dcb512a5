"""Flux conservation, total weight and tiny / edge inputs."""

import numpy as np
import pytest
from conftest import rotated_pixmap
from drizzle.resample import Drizzle as RefDrizzle

from gpuresample import FLUX_CONSERVING_KERNELS, KERNELS, Drizzle


@pytest.mark.parametrize("kernel", FLUX_CONSERVING_KERNELS)
@pytest.mark.parametrize("pixfrac", [1.0, 0.5])
def test_flux_and_weight_conserved(kernel, pixfrac):
    """Footprint well inside the output: sum(img*wht) == sum(data*w), sum(wht) == sum(w)."""
    rng = np.random.default_rng(5)
    shape = (30, 40)
    pm = rotated_pixmap(shape, 23.0, 1.0, (40, 35), curvature=0.5)
    data = rng.uniform(1, 10, shape).astype(np.float32)
    w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    d = Drizzle(kernel=kernel, out_shape=(70, 80))
    d.add_image(data, exptime=1.0, pixmap=pm, weight_map=w, pixfrac=pixfrac)
    good = d.out_wht > 0
    flux_out = np.sum(d.out_img[good].astype(np.float64) * d.out_wht[good])
    flux_in = np.sum(data.astype(np.float64) * w)
    # turbo/square distribute each pixel's weight exactly; float32 storage -> 1e-5
    assert flux_out == pytest.approx(flux_in, rel=1e-5)
    assert np.sum(d.out_wht, dtype=np.float64) == pytest.approx(np.sum(w, dtype=np.float64), rel=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1)])
@pytest.mark.parametrize("kernel", KERNELS)
def test_tiny_inputs_fail_clearly(shape, kernel):
    d = Drizzle(kernel=kernel, out_shape=(10, 10))
    pm = np.dstack(np.indices(shape, dtype=np.float64)[::-1])
    with pytest.raises(ValueError, match="at least 2x2 pixels"):
        d.add_image(np.ones(shape, np.float32), exptime=1.0, pixmap=pm)
    assert d.ctx_id == 0 and d.total_exptime == 0.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_two_by_two_input_works(kernel):
    d = Drizzle(kernel=kernel, out_shape=(6, 6))
    pm = np.dstack(np.indices((2, 2), dtype=np.float64)[::-1]) + 2.0
    d.add_image(np.ones((2, 2), np.float32), exptime=1.0, pixmap=pm)
    assert np.any(d.out_wht > 0)


@pytest.mark.parametrize("kernel", ["square", "point", "turbo", "gaussian", "lanczos3"])
@pytest.mark.parametrize("offset", [(-10.0, 5.0), (25.0, 26.0), (3.0, -12.5)])
def test_footprint_partly_outside_matches_drizzle(kernel, offset):
    shape = (20, 24)
    pm = rotated_pixmap(shape, 35.0, 1.0, offset, curvature=1.0)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    ref = RefDrizzle(kernel=kernel, out_shape=(30, 30))
    ours = Drizzle(kernel=kernel, out_shape=(30, 30))
    assert ref.add_image(data, exptime=1.0, pixmap=pm) == ours.add_image(data, exptime=1.0, pixmap=pm)
    assert np.any(ours.out_wht > 0)
    np.testing.assert_array_equal(ours.out_img, ref.out_img)
    np.testing.assert_array_equal(ours.out_wht, ref.out_wht)


@pytest.mark.parametrize("kernel", KERNELS)
def test_footprint_entirely_outside(kernel):
    shape = (8, 8)
    pm = rotated_pixmap(shape, 0.0, 1.0, (100.0, 100.0))
    d = Drizzle(kernel=kernel, out_shape=(10, 10))
    d.add_image(np.ones(shape, np.float32), exptime=1.0, pixmap=pm)
    assert not np.any(d.out_wht) and np.all(np.isnan(d.out_img))
    assert d.ctx_id == 1 and d.total_exptime == 1.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_nonfinite_data_gets_zero_weight(kernel):
    """Deviation from drizzle (documented): NaN/inf data or weight never poisons a pixel."""
    shape = (12, 12)
    pm = rotated_pixmap(shape, 10.0, 1.0, (8, 8))
    data = np.ones(shape, np.float32)
    data[3, 4] = np.nan
    data[6, 6] = np.inf
    w = np.ones(shape, np.float32)
    w[8, 2] = np.nan
    before = data.copy()
    d = Drizzle(kernel=kernel, out_shape=(16, 16))
    d.add_image(data, exptime=1.0, pixmap=pm, weight_map=w)
    good = d.out_wht > 0
    assert np.all(np.isfinite(d.out_img[good]))
    np.testing.assert_array_equal(data, before)  # inputs are never modified


def test_huge_finite_data_is_kept():
    """Values whose float32 sum overflows are still finite: they keep their weight."""
    shape = (6, 6)
    data = np.ones(shape, np.float32)
    data[2, 2] = data[3, 3] = np.float32(2e38)  # sum(data) overflows to inf
    pm = np.dstack(np.indices(shape, dtype=np.float64)[::-1])
    d = Drizzle(kernel="point", out_shape=shape)
    d.add_image(data, exptime=1.0, pixmap=pm)
    np.testing.assert_array_equal(d.out_img, data)
    assert np.all(d.out_wht == 1)
