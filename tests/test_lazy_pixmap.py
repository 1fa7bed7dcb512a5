"""The host never makes the whole pixel map when a kernel backend expands it (issue 12, item 3).

With calc_pixmap's sparse map (jwst's default ``pixmap_stepsize="auto"``)
the host evaluates the WCS on the sparse grid only: drizzle's scan of the
input box reads :class:`LazyPixmap` at the few pixels it needs (bitwise the
full map's entries), the box's NaN shrinking comes from the model's
separable bounding box, and the variance footprint box from the spline's
coefficient bounds (a superset).  Everything here must equal what the full
host map gives.
"""

from __future__ import annotations

import numpy as np
import pytest

import gpuresample.pixmap as pixmap_mod
from gpuresample import Drizzle, resample
from gpuresample.pixmap import pixmap_and_model, pixmap_shape
from gpuresample.pixmap_checks import scan_limits
from gpuresample.pixmap_model import LazyPixmap, SplinePixmap
from gpuresample.scanner import shrink_box
from gpuresample.synthetic import dithered_scene, tan_output_wcs
from gpuresample.variance import footprint_box


@pytest.fixture(scope="module")
def synthetic():
    exp = dithered_scene(n_exposures=1, shape=(300, 260), nstars=5, ngal=5)[0]
    wcs_out, shape = tan_output_wcs([exp["wcs"]])[:2]
    pm, model = pixmap_and_model(exp["wcs"], wcs_out, shape=(300, 260), stepsize="auto", order=3, tolerance=1e-2)
    return pm, model, shape


@pytest.fixture
def nircam(realdata):
    import asdf

    with asdf.open(realdata / "nrcb1-wcs.asdf") as af:
        wcs = af["wcs"]
    if wcs.array_shape is None:
        wcs.array_shape = pixmap_shape(wcs)
    wcs_out, shape = tan_output_wcs([wcs])[:2]
    pm, model = pixmap_and_model(wcs, wcs_out, shape=pixmap_shape(wcs), stepsize="auto", order=3)
    return pm, model, shape


def _boxes(ny, nx):
    return [(0, nx - 1, 0, ny - 1), (3, nx - 8, 5, ny - 2), (nx // 3, nx // 2, ny // 4, ny // 2)]


def _grids(shape):
    ny, nx = shape
    # the whole grid, and grids that clip the footprint (drizzle's scan then inverts edges)
    return [shape, (ny // 2, nx), (ny, nx // 3 + 1), (ny // 3, nx // 2)]


def _assert_lazy_equals_full(pm, model, shape):
    lazy = LazyPixmap(model)
    ny, nx = model.shape
    rng = np.random.default_rng(1)
    for j, i in zip(rng.integers(0, ny, 300), rng.integers(0, nx, 300), strict=True):
        got, want = np.array(lazy[j, i]), pm[j, i]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])  # bitwise
    for box in _boxes(ny, nx):
        assert shrink_box(lazy, *box) == shrink_box(pm, *box)
        for grid in _grids(shape):
            for kernel in ("square", "point"):
                a, b = scan_limits(lazy, grid, box, kernel), scan_limits(pm, grid, box, kernel)
                np.testing.assert_array_equal(a.x1, b.x1)
                np.testing.assert_array_equal(a.x2, b.x2)
                assert (a.nskip, a.nmiss_base, a.visited) == (b.nskip, b.nmiss_base, b.visited)
            exact = footprint_box(pm, grid, 1.0, *box)
            bound = footprint_box(lazy, grid, 1.0, *box)
            if exact is not None:  # the bound encloses the exact box
                assert bound[0] <= exact[0] and bound[1] >= exact[1]
                assert bound[2] <= exact[2] and bound[3] >= exact[3]


def test_lazy_map_equals_the_full_map(synthetic):
    pm, model, shape = synthetic
    assert model.lazy_ok
    _assert_lazy_equals_full(pm, model, shape)


@pytest.mark.realdata
def test_lazy_map_equals_the_full_map_on_nircam(nircam):
    """The real NIRCam GWCS: its bounding box makes NaN rows/columns the lazy map knows without values."""
    pm, model, shape = nircam
    assert model.lazy_ok and model.row_ok is not None
    _assert_lazy_equals_full(pm, model, shape)


def test_models_that_need_the_whole_map(synthetic):
    """An output bounding box (value-dependent NaNs) or values near the far limit: no lazy map."""
    _, model, _ = synthetic
    boxed = model.shifted(0, 0)
    boxed.out_box = (0.0, 100.0, 0.0, 100.0)
    assert not boxed.lazy_ok
    far = model.shifted(0, 0)
    far.cx = model.cx + 0.6 * 2.0**26  # raw values past half the far limit (pixmap_checks.MAX_PIXMAP_COORD)
    assert not far.lazy_ok
    with pytest.raises(ValueError, match="needs the whole map"):
        LazyPixmap(boxed)


@pytest.mark.parametrize("backend", ["emulator", "cpu"])
def test_drizzle_takes_the_model_instead_of_the_map(synthetic, backend):
    """``add_image(pixmap=None, pixmap_model=...)``: the same outputs as with the map itself."""
    pm, model, shape = synthetic
    data = np.random.default_rng(2).normal(1.0, 0.1, model.shape).astype(np.float32)
    outs = []
    for kw in (dict(pixmap=pm, pixmap_model=model), dict(pixmap=None, pixmap_model=model)):
        d = Drizzle(kernel="square", out_shape=shape, backend=backend)
        d.add_image(data, exptime=1.0, **kw)
        outs.append((d.out_img, d.out_wht, d.out_ctx))
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)
    d = Drizzle(kernel="square", out_shape=shape, backend=backend)
    with pytest.raises(ValueError, match="'pixmap' is required"):
        d.add_image(data, exptime=1.0, pixmap=None)


def test_resample_on_a_kernel_backend_never_makes_the_host_map(monkeypatch):
    """An untiled resample() on the emulator evaluates the WCS on the sparse grids only; its products
    equal the CPU backend's (which makes every map on the host)."""
    scene = dithered_scene(3, (128, 128), nstars=8, ngal=8)
    cpu = resample(scene, backend="cpu", propagate_dq=True)

    def refuse(*args, **kwargs):
        raise AssertionError("the host made a whole pixel map")

    monkeypatch.setattr(pixmap_mod._SparseMap, "fill", refuse)
    monkeypatch.setattr(SplinePixmap, "evaluate", refuse)
    monkeypatch.setattr(pixmap_mod, "_exact_into", refuse)
    emu = resample(scene, backend="emulator", propagate_dq=True)
    for name, b in cpu.arrays().items():
        a = getattr(emu, name)
        if name in ("con", "dq"):
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
            good = ~np.isnan(b)
            np.testing.assert_allclose(a[good], b[good], rtol=1e-5, atol=1e-6 * np.abs(b[good]).max(), err_msg=name)
