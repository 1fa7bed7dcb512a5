"""good_bits parsing (stcal/astropy rules), weight maps and metadata blending."""

import numpy as np
import pytest
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from gpuresample import Image
from gpuresample.blend import blend_metadata
from gpuresample.dqflags import JWST_PIXEL_FLAGS, good_pixel_mask, parse_good_bits
from gpuresample.weights import driz_weight

DQ = np.arange(0, 1 << 12, dtype=np.uint32).reshape(64, 64)
DQ[0, 0] = (1 << 31) | 5


@pytest.mark.parametrize(
    "good_bits", [0, 4, "4,8", "4+8", "~DO_NOT_USE+NON_SCIENCE", "SATURATED+HOT", "~4", None, "~JUMP_DET"]
)
def test_good_pixel_mask_matches_astropy_bitmask(good_bits):
    if good_bits is None:
        expected = np.ones(DQ.shape, bool)
    else:
        expected = bitfield_to_boolean_mask(DQ, good_bits, good_mask_value=1, dtype=np.uint8,
                                            flag_name_map=JWST_PIXEL_FLAGS).astype(bool)
    np.testing.assert_array_equal(good_pixel_mask(DQ, good_bits), expected)


def test_parse_good_bits_values_and_errors():
    assert parse_good_bits("DO_NOT_USE+NON_SCIENCE") == 513
    assert parse_good_bits("~DO_NOT_USE+NON_SCIENCE") == ~513
    assert parse_good_bits(None) is None
    with pytest.raises(ValueError, match="good_bits"):
        parse_good_bits("BANANA")
    with pytest.raises(ValueError, match="good_bits"):
        parse_good_bits(True)


def _img(**kw):
    base = dict(data=np.ones((4, 4), np.float32), wcs=object(), dq=np.zeros((4, 4), np.uint32))
    base.update(kw)
    return Image(**base)


def test_weight_types():
    var = np.full((4, 4), 0.25, np.float32)
    var[0, 0] = 0.0  # -> weight 0, not inf
    var[0, 1] = np.nan
    dq = np.zeros((4, 4), np.uint32)
    dq[1, 1] = 1  # DO_NOT_USE
    dq[1, 2] = 4  # JUMP_DET is good under the jwst default
    img = _img(var_rnoise=var, var_sky=var * 2, dq=dq, exposure_time=100.0, measurement_time=90.0)
    w = driz_weight(img, "ivm", "~DO_NOT_USE+NON_SCIENCE")
    assert w.dtype == np.float32
    assert w[0, 0] == 0 and w[0, 1] == 0 and w[1, 1] == 0 and w[1, 2] == 4 and w[3, 3] == 4
    assert driz_weight(img, "ivm-sky", None)[3, 3] == 2
    assert driz_weight(img, "exptime", 0)[3, 3] == 90.0  # measurement time wins
    img.measurement_time = None
    assert driz_weight(img, "exptime", 0)[3, 3] == 100.0
    no_var = _img()
    np.testing.assert_array_equal(driz_weight(no_var, "ivm", 0), 1.0)  # equal weights, with a warning


def test_blend_rules():
    a = _img(start_time=10.0, end_time=11.0, exposure_time=5.0, group_id="g1", filename="a",
             meta={"instrument": "NIRCAM", "xoffset": 1.0})
    b = _img(start_time=9.0, end_time=12.0, exposure_time=5.0, group_id="g1", filename="b",
             meta={"instrument": "NIRCAM", "xoffset": 3.0})
    c = _img(start_time=20.0, end_time=21.0, exposure_time=7.0, group_id="g2", filename="c",
             meta={"instrument": "NIRCAM", "xoffset": 2.0})
    out = blend_metadata([a, b, c])
    assert out["start_time"] == 9.0 and out["end_time"] == 21.0
    assert out["exposure_time"] == 12.0  # once per exposure group
    assert out["xoffset"] == pytest.approx(2.0)  # mean
    assert out["instrument"] == "NIRCAM" and out["filename"] == "a"  # first
