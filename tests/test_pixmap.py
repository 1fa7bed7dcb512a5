"""calc_pixmap: exact == drizzle.utils.calc_pixmap; sparse/auto within tolerance."""

import copy
import logging

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from drizzle.utils import calc_pixmap as ref_calc_pixmap

from gpuresample import calc_pixmap
from gpuresample.synthetic import nircam_like_wcs, tan_output_wcs


def _tan_around(w, shape, scale_arcsec=0.031, rotation=0.0):
    ra, dec = w(shape[1] / 2, shape[0] / 2, with_bounding_box=False)
    out = WCS(naxis=2)
    out.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    out.wcs.crval = [float(ra), float(dec)]
    out.wcs.crpix = [shape[1] / 2 + 60, shape[0] / 2 + 60]
    c, s = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
    out.wcs.cd = scale_arcsec / 3600 * np.array([[-c, s], [s, c]])
    return out


@pytest.fixture(scope="module")
def nircam(request):
    from conftest import REALDATA

    if not (REALDATA / "nrcb1-wcs.asdf").is_file():
        pytest.skip(f"real WCS files not found in {REALDATA}")
    import asdf

    with asdf.open(REALDATA / "nrcb1-wcs.asdf") as af:
        w = copy.deepcopy(af["wcs"])
    return w


@pytest.mark.realdata
def test_exact_equals_drizzle_on_real_nircam(nircam):
    shape = (2048, 2048)
    out = _tan_around(nircam, shape, rotation=30.0)
    bbox_before = nircam.bounding_box.bounding_box()
    ours = calc_pixmap(nircam, out, shape=shape)
    ref = ref_calc_pixmap(nircam, out, shape=shape)
    np.testing.assert_array_equal(ours, ref)
    assert nircam.bounding_box.bounding_box() == bbox_before  # not modified


@pytest.mark.realdata
@pytest.mark.parametrize("order", [1, 3])
def test_auto_within_1e4_px_of_exact_on_real_nircam(nircam, order, caplog):
    shape = (2048, 2048)
    out = _tan_around(nircam, shape)
    exact = calc_pixmap(nircam, out, shape=shape)
    with caplog.at_level(logging.INFO, logger="gpuresample"):
        auto = calc_pixmap(nircam, out, shape=shape, stepsize="auto", order=order)
    assert "max interpolation error" in caplog.text or "evaluating every pixel" in caplog.text
    np.testing.assert_array_equal(np.isnan(auto), np.isnan(exact))
    err = np.nanmax(np.hypot(auto[..., 0] - exact[..., 0], auto[..., 1] - exact[..., 1]))
    assert err <= 1e-4


@pytest.mark.realdata
def test_sip_header_equals_drizzle(realdata):
    hdr = fits.Header.fromtextfile(realdata / "nrcb5_sip_wcs.hdr")
    w_in = WCS(hdr)
    w_out = WCS(fits.Header.fromtextfile(realdata / "nrcb5_output_wcs_psr_1p0.hdr"))
    shape = (hdr["NAXIS2"], hdr["NAXIS1"]) if "NAXIS2" in hdr else (2048, 2048)
    ours = calc_pixmap(w_in, w_out, shape=shape)
    np.testing.assert_array_equal(ours, ref_calc_pixmap(w_in, w_out, shape=shape))
    sparse = calc_pixmap(w_in, w_out, shape=shape, stepsize=16, order=3)
    assert np.max(np.abs(sparse - ours)) < 1e-4


def test_synthetic_gwcs_bbox_nan_pattern_and_steps():
    w = nircam_like_wcs(10.0, 20.0, roll=15.0, shape=(300, 400))
    out, _ = tan_output_wcs([w])
    shape = (310, 410)  # larger than the bounding box: the extra pixels are NaN
    exact = calc_pixmap(w, out, shape=shape)
    np.testing.assert_array_equal(exact, ref_calc_pixmap(w, out, shape=shape))
    assert np.all(np.isnan(exact[300:])) and np.all(np.isnan(exact[:, 400:]))
    for step, order, tol in [(4, 1, 2e-3), (8, 3, 1e-5), ("auto", 3, 1e-4), ("auto", 1, 1e-4)]:
        approx = calc_pixmap(w, out, shape=shape, stepsize=step, order=order)
        np.testing.assert_array_equal(np.isnan(approx), np.isnan(exact))
        assert np.nanmax(np.abs(approx - exact)) <= tol, (step, order)


def test_shape_from_bounding_box_and_errors():
    w = nircam_like_wcs(10.0, 20.0, shape=(50, 60))
    out, _ = tan_output_wcs([w])
    w.array_shape = None
    assert calc_pixmap(w, out).shape == (50, 60, 2)
    w.bounding_box = None
    with pytest.raises(ValueError, match="Cannot tell the input shape"):
        calc_pixmap(w, out)
    with pytest.raises(ValueError, match="stepsize must be"):
        calc_pixmap(w, out, shape=(5, 5), stepsize=0)
    with pytest.raises(ValueError, match="stepsize must be"):
        calc_pixmap(w, out, shape=(5, 5), stepsize="sometimes")
    with pytest.raises(ValueError, match="order must be 1 or 3"):
        calc_pixmap(w, out, shape=(5, 5), stepsize=2, order=2)
    with pytest.raises(TypeError, match=r"wcs_to must be a gwcs\.WCS or astropy\.wcs\.WCS"):
        calc_pixmap(w, object(), shape=(5, 5))
