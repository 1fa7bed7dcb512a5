"""Python API polish (issue 14, item 4): exposure times, one argument order for saving, the in_memory text."""

import logging

import numpy as np
import pytest
from astropy.wcs import WCS

import gpuresample


def _image(**kw):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype, wcs.wcs.crval = ["RA---TAN", "DEC--TAN"], [53.16, -27.78]
    wcs.wcs.crpix, wcs.wcs.cdelt = [16.5, 16.5], [-0.031 / 3600, 0.031 / 3600]
    return gpuresample.Image(data=np.ones((32, 32), np.float32), wcs=wcs, filename="a_cal.fits", **kw)


def test_exptime_weights_need_an_exposure_time():
    """Before, a missing exposure time silently weighted the input by 1 s."""
    with pytest.raises(ValueError, match=r"input 0 \(a_cal.fits\): has no exposure time.*weight_type='exptime'"):
        gpuresample.resample([_image()], weight_type="exptime", backend="cpu")


def test_exptime_weights_from_the_measurement_time_alone():
    res = gpuresample.resample([_image(measurement_time=100.0)], weight_type="exptime", backend="cpu")
    np.testing.assert_allclose(np.nanmax(res.wht), 100.0, rtol=1e-6)


def test_ivm_without_exposure_time_uses_1s_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="gpuresample"):
        res = gpuresample.resample([_image()], backend="cpu")
    assert res.meta["exposure_time"] == 1.0
    assert any("a_cal.fits): no exposure time; using 1 s" in r.getMessage() for r in caplog.records)


def test_file_without_exposure_time_is_refused_for_exptime(tmp_path):
    from astropy.io import fits

    img = _image()
    hdr = img.wcs.to_header()
    path = tmp_path / "noexp.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(img.data, hdr, name="SCI")]).writeto(path)
    with pytest.raises(ValueError, match=r"noexp.fits\): has no exposure time"):
        gpuresample.resample([str(path)], weight_type="exptime", backend="cpu")
    assert gpuresample.resample([str(path)], backend="cpu").meta["exposure_time"] == 1.0


def test_save_and_preview_take_the_file_first(tmp_path):
    res = gpuresample.resample([_image(exposure_time=10.0)], backend="cpu")
    out = gpuresample.write_product(tmp_path / "a_i2d.fits", res)
    assert res.save(tmp_path / "b_i2d.fits").exists()
    back = gpuresample.read_product(out)
    np.testing.assert_array_equal(back.data, res.data.astype(np.float32))
    assert gpuresample.save_preview(tmp_path / "a.png", res).exists()
    assert res.save_preview(tmp_path / "b.png").exists()
    with pytest.raises(TypeError, match=r"save_preview\(path, result\): the file comes first"):
        gpuresample.save_preview(res, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_in_memory_text_says_what_is_read_when():
    doc = " ".join(gpuresample.resample.__doc__.split())
    assert "opened and checked up front" in doc and "read only when their exposure is drizzled" in doc


def test_the_jwst_step_without_jwst_says_what_to_install():
    try:
        import jwst  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("jwst is installed here (tests/test_step_vs_jwst.py runs the step)")
    with pytest.raises(ImportError, match=r"needs jwst 3.0 \(pip install 'gpuresample\[jwst\]'\)"):
        gpuresample.ResampleStep  # noqa: B018
