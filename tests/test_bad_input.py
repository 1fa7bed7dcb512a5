"""Every bad input raises a clear error naming the argument, before state changes."""

import numpy as np
import pytest

from gpuresample import Drizzle

SHAPE = (10, 12)


def _good():
    pm = np.dstack(np.indices(SHAPE, dtype=np.float64)[::-1]) + 2.0
    return dict(data=np.ones(SHAPE, np.float32), exptime=1.0, pixmap=pm)


def _state(d):
    return (d.ctx_id, d.total_exptime, d.out_img.copy(), d.out_wht.copy(), d.out_ctx.copy())


BAD_ADD = [
    ({"data": np.ones((2, *SHAPE), np.float32)}, ValueError, "'data' must be a 2-D"),
    ({"pixmap": np.zeros((*SHAPE, 3))}, ValueError, "'pixmap' must have shape"),
    ({"pixmap": np.zeros((SHAPE[0], SHAPE[1] + 1, 2))}, ValueError, "'pixmap' must have shape"),
    ({"pixmap": np.zeros((2, *SHAPE))}, ValueError, "'pixmap' must have shape"),
    ({"pixmap": np.full((*SHAPE, 2), np.nan)}, ValueError, "'pixmap' has too few finite"),
    ({"weight_map": np.ones((3, 3), np.float32)}, ValueError, "'weight_map' shape"),
    ({"dq": np.zeros((3, 3), np.uint32)}, ValueError, "'dq' shape"),
    ({"dq": np.zeros(SHAPE, np.float32)}, TypeError, "'dq' must be an integer"),
    ({"dq": np.zeros(SHAPE, np.uint64)}, TypeError, "'dq' must be an integer"),
    ({"dq": np.zeros(SHAPE, np.int64)}, TypeError, "'dq' must be an integer"),
    ({"data2": np.ones((3, 3), np.float32)}, ValueError, r"'data2\[0\]' shape"),
    ({"data2": [np.ones(SHAPE, np.float32), np.ones((3, 3), np.float32)]}, ValueError, r"'data2\[1\]'"),
    ({"exptime": 0.0}, ValueError, "'exptime' must be finite and > 0"),
    ({"exptime": -3.0}, ValueError, "'exptime' must be finite and > 0"),
    ({"exptime": np.nan}, ValueError, "'exptime' must be finite"),
    ({"exptime": np.inf}, ValueError, "'exptime' must be finite"),
    ({"pixfrac": 0.0}, ValueError, "'pixfrac' must be finite and in"),
    ({"pixfrac": 1.5}, ValueError, "'pixfrac' must be finite and in"),
    ({"pixfrac": np.nan}, ValueError, "'pixfrac' must be finite and in"),
    ({"pixfrac": "big"}, ValueError, "'pixfrac' must be a number"),
    ({"pixel_scale_ratio": 0.0}, ValueError, "'pixel_scale_ratio'"),
    ({"wht_scale": -1.0}, ValueError, "'wht_scale'"),
    ({"iscale": np.inf}, ValueError, "'iscale' must be finite"),
    ({"in_units": "electrons"}, ValueError, "'in_units'"),
    ({"xmin": 5, "xmax": 5}, ValueError, "input box"),
]


@pytest.mark.parametrize(("change", "exc", "match"), BAD_ADD)
def test_bad_add_image_argument(change, exc, match):
    d = Drizzle(out_shape=(16, 16))
    d.add_image(**_good())  # some state to protect
    before = _state(d)
    kw = {**_good(), **change}
    with pytest.raises(exc, match=match):
        d.add_image(**kw)
    after = _state(d)
    assert before[:2] == after[:2]  # drizzle advances the context ID here; we must not
    for a, b in zip(before[2:], after[2:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_data2_count_mismatch_across_calls():
    d = Drizzle(out_shape=(16, 16))
    d.add_image(data2=np.ones(SHAPE, np.float32), **_good())
    with pytest.raises(ValueError, match="'data2' is required"):
        d.add_image(**_good())
    with pytest.raises(ValueError, match="'data2' has 2 arrays"):
        d.add_image(data2=[np.ones(SHAPE, np.float32)] * 2, **_good())
    assert d.ctx_id == 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"kernel": "boxcar"}, ValueError, "Unknown kernel 'boxcar'"),
        ({"kernel": 3}, ValueError, "kernel must be a string"),
        ({"fillval": "banana"}, ValueError, "fillval must be 'INDEF', 'NaN' or a number"),
        ({"fillval": [1]}, ValueError, "fillval must be"),
        ({"fillval2": "x1"}, ValueError, "fillval2 must be"),
        ({"fillval": float("inf")}, ValueError, "fillval must be finite"),
        ({"out_dq": np.zeros((4, 4), np.float64)}, TypeError, "'out_dq' must be an integer"),
        ({"out_shape": (4, 4), "out_img": np.zeros((5, 5), np.float32)}, ValueError, "Inconsistent shapes"),
        ({"out_shape": (0, 4)}, ValueError, "'out_shape'"),
        ({"out_ctx": np.zeros((2, 2, 2, 2), np.int32)}, ValueError, "'out_ctx' must be a 2-D or 3-D"),
        ({"begin_ctx_id": -1}, ValueError, "'begin_ctx_id'"),
        ({"begin_ctx_id": 5, "max_ctx_id": 2}, ValueError, "'max_ctx_id'"),
        ({"exptime": 5.0}, ValueError, "'exptime' must be 0.0 for the first"),
        ({"exptime": -1.0}, ValueError, "'exptime' must be finite and >= 0"),
        ({"backend": "tpu"}, ValueError, "Unknown backend 'tpu'"),
    ],
)
def test_bad_constructor_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Drizzle(**kwargs)


def test_small_pixfrac_switches_to_point_with_warning():
    ref = Drizzle(kernel="point", out_shape=(16, 16))
    ref.add_image(**_good())
    d = Drizzle(kernel="square", out_shape=(16, 16))
    with pytest.warns(UserWarning, match="using the 'point' kernel"):
        d.add_image(pixfrac=0.001, **_good())
    np.testing.assert_array_equal(d.out_img, ref.out_img)
