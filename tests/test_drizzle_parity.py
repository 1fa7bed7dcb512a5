"""gpuresample.Drizzle(backend="cpu") equals drizzle.resample.Drizzle bitwise."""

import zlib

import numpy as np
import pytest
from conftest import rotated_pixmap
from drizzle.resample import Drizzle as RefDrizzle

from gpuresample import DRIZZLE_KERNELS, Drizzle

IN_SHAPE = (23, 31)
OUT_SHAPE = (41, 47)
N_INPUTS = 35  # > 32: a second context plane is needed


def _inputs(seed, psr):
    """N_INPUTS random exposures: NaN pixmap entries, zero weights, dq, data2.

    Offsets put some footprints partly outside the output grid (clipped edges).
    NaN patterns rotate between scattered entries, a NaN border (as a bounding
    box produces) and none.  Note: drizzle silently skips a *whole* input when
    its footprint is clipped and the pixmap inversion meets a NaN, so scattered
    NaNs drop some inputs entirely -- bitwise parity covers that quirk too.
    """
    rng = np.random.default_rng(seed)
    for k in range(N_INPUTS):
        angle = rng.uniform(0, 360)
        off = (OUT_SHAPE[1] / 2 + rng.uniform(-18, 18), OUT_SHAPE[0] / 2 + rng.uniform(-16, 16))
        pm = rotated_pixmap(IN_SHAPE, angle, psr, off, curvature=0.3 * (k % 2))
        if k % 3 == 0:
            pm[rng.random(IN_SHAPE) < 0.02] = np.nan
        elif k % 3 == 1:
            pm[:, :2] = np.nan
            pm[-1, :] = np.nan
        data = rng.normal(3.0, 1.0, IN_SHAPE).astype(np.float32)
        wht = rng.uniform(0.2, 2.0, IN_SHAPE).astype(np.float32)
        wht[rng.random(IN_SHAPE) < 0.05] = 0.0
        dq = rng.integers(0, 1 << 12, IN_SHAPE).astype(np.uint32)
        data2 = rng.uniform(0.1, 1.0, IN_SHAPE).astype(np.float32)
        yield dict(data=data, exptime=10.0 + k, pixmap=pm, weight_map=wht, dq=dq, data2=data2,
                   iscale=1.0 + 0.01 * k, wht_scale=1.0 + 0.1 * (k % 3))


def _compare(ref, ours):
    for name in ("out_img", "out_wht", "out_ctx", "out_dq"):
        a, b = getattr(ref, name), getattr(ours, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(b, a, err_msg=name)  # NaN == NaN here: bitwise
    assert len(ours.out_img2) == len(ref.out_img2)
    for a, b in zip(ref.out_img2, ours.out_img2, strict=True):
        np.testing.assert_array_equal(b, a, err_msg="out_img2")
    assert ours.total_exptime == ref.total_exptime
    assert ours.ctx_id == ref.ctx_id


@pytest.mark.parametrize("kernel", DRIZZLE_KERNELS)
@pytest.mark.parametrize("pixfrac", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("psr", [0.5, 1.0, 1.5])
def test_bitwise_equal_to_drizzle(kernel, pixfrac, psr):
    ref = RefDrizzle(kernel=kernel, out_shape=OUT_SHAPE)
    ours = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, backend="cpu")
    for kw in _inputs(zlib.crc32(f"{kernel}{pixfrac}{psr}".encode()), psr):
        r1 = ref.add_image(pixfrac=pixfrac, pixel_scale_ratio=psr, **kw)
        r2 = ours.add_image(pixfrac=pixfrac, pixel_scale_ratio=psr, **kw)
        assert r1 == r2  # (nmiss, nskip)
    assert ours.out_ctx.shape == (2, *OUT_SHAPE)
    assert np.any(ours.out_ctx[1])  # the 33rd+ inputs landed in plane 1
    contributed = sum(np.any(ours.out_ctx[k // 32] & np.int32(np.uint32(1 << (k % 32)).view(np.int32)))
                      for k in range(N_INPUTS))
    assert contributed >= 20
    _compare(ref, ours)


@pytest.mark.parametrize(
    ("fillval", "fillval2"), [(None, None), ("INDEF", "INDEF"), (0, "nan"), ("-1.5", 7.0), ("NaN", None)]
)
def test_fill_values_and_counts_units(fillval, fillval2):
    ref = RefDrizzle(kernel="square", out_shape=OUT_SHAPE, fillval=fillval, fillval2=fillval2)
    ours = Drizzle(kernel="square", out_shape=OUT_SHAPE, fillval=fillval, fillval2=fillval2)
    for k, kw in enumerate(_inputs(7, 1.0)):
        if k == 4:
            break
        ref.add_image(in_units="counts", **kw)
        ours.add_image(in_units="counts", **kw)
    assert ours.fillval == ref.fillval and ours.fillval2 == ref.fillval2
    _compare(ref, ours)


def test_preallocated_outputs_and_context_growth():
    """Caller-supplied arrays are used in place; IDs past max_ctx_id add planes."""
    out_img = np.zeros(OUT_SHAPE, np.float32)
    out_wht = np.zeros(OUT_SHAPE, np.float32)
    out_ctx = np.zeros(OUT_SHAPE, np.int32)
    ref = RefDrizzle(out_img=out_img.copy(), out_wht=out_wht.copy(), out_ctx=out_ctx.copy(),
                     begin_ctx_id=30, fillval="INDEF")
    ours = Drizzle(out_img=out_img, out_wht=out_wht, out_ctx=out_ctx, begin_ctx_id=30, fillval="INDEF")
    assert ours.out_img is out_img  # float32 arrays are not copied
    for k, kw in enumerate(_inputs(3, 1.0)):
        if k == 6:
            break
        kw.pop("data2")
        ref.add_image(**kw)
        ours.add_image(**kw)
    assert ours.out_ctx.shape[0] == ref.out_ctx.shape[0] == 2
    # bit 31 of plane 0 makes an int32 negative, as in drizzle
    assert np.any(ours.out_ctx[0] < 0)
    for name in ("out_img", "out_wht", "out_ctx"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(ref, name))


def test_disable_ctx_and_no_shape():
    kw = next(_inputs(11, 1.0))
    ref = RefDrizzle(disable_ctx=True, out_shape=OUT_SHAPE)
    ours = Drizzle(disable_ctx=True, out_shape=OUT_SHAPE)
    ref.add_image(**kw)
    ours.add_image(**kw)
    assert ours.out_ctx is None and ours.ctx_id is None
    np.testing.assert_array_equal(ours.out_img, ref.out_img)


def test_shape_inferred_from_pixmap_is_ny_nx():
    """Without any shape the output covers the pixmap (drizzle 3.0 swaps nx/ny)."""
    pm = rotated_pixmap((20, 30), 0.0, 1.0, (14.5, 9.5))
    d = Drizzle()
    d.add_image(np.ones((20, 30), np.float32), exptime=1.0, pixmap=pm)
    assert d.out_shape == (20, 30)
    assert np.count_nonzero(d.out_wht) > 0.9 * 20 * 30


@pytest.mark.parametrize("kernel", DRIZZLE_KERNELS)
def test_linear_arrays_are_fresh_drizzles(kernel):
    """add_image(linear=[a]) leaves a drizzled alone (fill NaN) with the data's weights in last_linear."""
    kw = next(_inputs(5, 1.0))
    kw.pop("data2")
    extra = np.sqrt(np.abs(kw["data"])).astype(np.float32)
    d = Drizzle(kernel=kernel, out_shape=OUT_SHAPE)
    d.add_image(linear=[extra], **kw)
    ref = RefDrizzle(kernel=kernel, out_shape=OUT_SHAPE, fillval="NaN", disable_ctx=True)
    ref.add_image(extra, **{k: v for k, v in kw.items() if k not in ("data", "dq")})
    np.testing.assert_array_equal(d.last_linear[0], ref.out_img)
    with pytest.raises(ValueError, match=r"'linear\[0\]' shape"):
        d.add_image(linear=[extra[:3]], **kw)
