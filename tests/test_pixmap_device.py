"""Pixel maps made on the device from the sparse grid (issue 12, item 3), proven on the emulator.

The host evaluates the WCS only on calc_pixmap's sparse grid; the kernel
backends upload the spline's separable form (:class:`SplinePixmap`, a few
kB) and ``kernels/pixmap.cu`` expands it per input pixel.  The expanded map
must equal the CPU's sparse map to <= 1e-9 px (it does bitwise here: the
same sums in the same order), with the same NaN pixels.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

from gpuresample import Drizzle
from gpuresample.backends import get_backend
from gpuresample.gpu.device import STATS
from gpuresample.pixmap import calc_pixmap, pixmap_and_model, pixmap_shape
from gpuresample.pixmap_model import SplinePixmap
from gpuresample.synthetic import dithered_scene, tan_output_wcs

#: the emulator's default mode runs blocks in order (bitwise reproducible); CI also runs these tests
#: with GPURESAMPLE_EMULATOR_THREADS=4 (.ci/run), where float atomics add in a varying order
SEQUENTIAL = os.environ.get("GPURESAMPLE_EMULATOR_THREADS", "1") == "1"


@pytest.fixture(scope="module")
def synthetic():
    exp = dithered_scene(n_exposures=1, shape=(300, 260), nstars=5, ngal=5)[0]
    wcs_out, shape = tan_output_wcs([exp["wcs"]])[:2]
    return exp, wcs_out, shape


@pytest.fixture
def nircam(realdata):
    """The real NIRCam GWCS (distortion, a bounding box) onto a TAN grid."""
    import asdf

    with asdf.open(realdata / "nrcb1-wcs.asdf") as af:
        wcs = af["wcs"]
    if wcs.array_shape is None:  # our loaded copy only
        wcs.array_shape = pixmap_shape(wcs)
    wcs_out, shape = tan_output_wcs([wcs])[:2]
    return wcs, wcs_out, shape


def _expanded(monkeypatch):
    """The device buffers the emulator's expand_pixmap launches wrote (read after each launch)."""
    module = get_backend("emulator").kernels.module
    real = module.launch
    seen = []

    def spy(name, grid, block, args):
        real(name, grid, block, args)
        if name == "expand_pixmap":
            seen.append(np.array(args[-1], copy=True))

    monkeypatch.setattr(module, "launch", spy)
    return seen


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("stepsize", ["auto", 16])
def test_host_reference_equals_the_sparse_map(synthetic, order, stepsize):
    exp, wcs_out, _ = synthetic
    pm, model = pixmap_and_model(exp["wcs"], wcs_out, shape=(300, 260), stepsize=stepsize, order=order,
                                 tolerance=1e-2)
    assert isinstance(model, SplinePixmap) and model.nbytes < pm.nbytes / 40
    np.testing.assert_array_equal(model.evaluate(), pm)
    np.testing.assert_array_equal(calc_pixmap(exp["wcs"], wcs_out, shape=(300, 260), stepsize=stepsize,
                                              order=order, tolerance=1e-2), pm)
    shifted = model.shifted(3.5, -2.0).evaluate()
    np.testing.assert_allclose(shifted[..., 0], pm[..., 0] - 3.5, rtol=0, atol=1e-12)
    np.testing.assert_allclose(shifted[..., 1], pm[..., 1] + 2.0, rtol=0, atol=1e-12)


def test_exact_maps_have_no_model(synthetic):
    exp, wcs_out, _ = synthetic
    assert pixmap_and_model(exp["wcs"], wcs_out, shape=(300, 260), stepsize=1)[1] is None


@pytest.mark.realdata
@pytest.mark.parametrize("order", [1, 3])
def test_device_expansion_equals_the_cpu_sparse_map(nircam, order, monkeypatch):
    """The real NIRCam GWCS with its bounding box: the emulator's expanded map == the host's, NaNs too."""
    wcs, wcs_out, shape = nircam
    ny, nx = pixmap_shape(wcs)
    pm, model = pixmap_and_model(wcs, wcs_out, shape=(ny, nx), stepsize="auto", order=order)
    assert model is not None
    seen = _expanded(monkeypatch)
    d = Drizzle(kernel="square", out_shape=shape, backend="emulator")
    data = np.ones((ny, nx), np.float32)
    d.add_image(data, exptime=1.0, pixmap=pm, pixmap_model=model)
    assert len(seen) == 1
    dev = seen[0].reshape(ny, nx, 2)
    np.testing.assert_array_equal(np.isnan(dev), np.isnan(pm))
    assert np.nanmax(np.abs(dev - pm)) <= 1e-9


@pytest.mark.parametrize("kernel", ["square", "point", "turbo", "gaussian", "lanczos3", "tophat"])
def test_a_model_changes_nothing_but_the_bytes(synthetic, kernel):
    """Same outputs bitwise with and without the model; 16 B per input pixel less over the bus."""
    exp, wcs_out, shape = synthetic
    pm, model = pixmap_and_model(exp["wcs"], wcs_out, shape=(300, 260), stepsize="auto", order=3)
    outs, h2d = [], []
    for m in (model, None, model):  # the first run uploads the per-device constants (lanczos table)
        d = Drizzle(kernel=kernel, out_shape=shape, backend="emulator")
        before = STATS.snapshot()
        warns = pytest.warns() if kernel not in ("square", "point", "turbo") else contextlib.nullcontext()
        with np.errstate(all="ignore"), warns:
            d.add_image(exp["data"], exptime=1.0, pixmap=pm, pixmap_model=m, pixel_scale_ratio=1.0)
        h2d.append(STATS.since(before)["h2d_bytes"])
        outs.append((d.out_img.copy(), d.out_wht.copy(), d.out_ctx.copy()))
    for a, b in zip(*outs[1:], strict=True):
        if SEQUENTIAL:
            np.testing.assert_array_equal(a, b)
        else:  # concurrent emulator: float atomics add in a different order each run
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert h2d[1] - h2d[2] == pm.nbytes - model.nbytes


def test_a_model_of_another_shape_is_refused(synthetic):
    exp, wcs_out, shape = synthetic
    pm, model = pixmap_and_model(exp["wcs"], wcs_out, shape=(300, 260), stepsize="auto", order=3)
    d = Drizzle(out_shape=shape, backend="emulator")
    with pytest.raises(ValueError, match=r"'pixmap_model' describes a \(300, 260\) input"):
        d.add_image(exp["data"][:200], exptime=1.0, pixmap=pm[:200], pixmap_model=model)
    with pytest.raises(TypeError, match="'pixmap_model' must be a SplinePixmap"):
        d.add_image(exp["data"], exptime=1.0, pixmap=pm, pixmap_model=pm)

