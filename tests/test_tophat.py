"""The tophat kernel against an independent brute-force reference."""

import numpy as np
import pytest
from conftest import rotated_pixmap

from gpuresample import Drizzle

IN_SHAPE = (9, 11)
OUT_SHAPE = (19, 21)


def brute_force_tophat(images, out_shape, pixfrac, psr):
    """Loop over every input pixel and every output pixel (no shortcuts).

    Returns (img, wht, ctx, dq, img2) as float64 sums divided at the end.
    """
    ny, nx = out_shape
    sw = np.zeros(out_shape)
    swd = np.zeros(out_shape)
    sw2d2 = np.zeros(out_shape)
    ctx = np.zeros(out_shape, np.int64)
    dq = np.zeros(out_shape, np.int64)
    r = pixfrac / (2.0 * psr)
    for k, im in enumerate(images):
        pm, data, wht, dqin, d2 = im["pixmap"], im["data"], im["weight_map"], im["dq"], im["data2"]
        for j in range(data.shape[0]):
            for i in range(data.shape[1]):
                x, y = pm[j, i]
                if not (np.isfinite(x) and np.isfinite(y)):
                    continue
                w = float(wht[j, i])
                for jj in range(ny):
                    for ii in range(nx):
                        if (x - ii) ** 2 + (y - jj) ** 2 <= r * r and w != 0:
                            sw[jj, ii] += w
                            swd[jj, ii] += w * float(data[j, i])
                            sw2d2[jj, ii] += w * w * float(d2[j, i])
                            dq[jj, ii] |= int(dqin[j, i])
                            if w > 0:
                                ctx[jj, ii] |= 1 << k
    with np.errstate(invalid="ignore", divide="ignore"):
        img = np.where(sw != 0, swd / sw, np.nan)
        img2 = np.where(sw != 0, sw2d2 / sw**2, np.nan)
    return img, sw, ctx, dq, img2


@pytest.mark.parametrize("pixfrac", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("psr", [0.5, 1.0, 1.5])
def test_tophat_matches_brute_force(pixfrac, psr):
    rng = np.random.default_rng(int(pixfrac * 100 + psr * 10))
    images = []
    for k in range(3):
        off = (10 + rng.uniform(-3, 3), 9 + rng.uniform(-3, 3))
        pm = rotated_pixmap(IN_SHAPE, rng.uniform(0, 90), psr, off)
        pm[rng.random(IN_SHAPE) < 0.05] = np.nan
        wht = rng.uniform(0.5, 2.0, IN_SHAPE).astype(np.float32)
        wht[rng.random(IN_SHAPE) < 0.1] = 0
        images.append(dict(
            pixmap=pm, data=rng.normal(5, 1, IN_SHAPE).astype(np.float32), weight_map=wht,
            dq=rng.integers(0, 64, IN_SHAPE).astype(np.uint32),
            data2=rng.uniform(0.1, 1, IN_SHAPE).astype(np.float32),
        ))
        if k == 0:  # put an exact hit on a distance == radius boundary (inclusive)
            images[0]["pixmap"][0, 0] = (0.0, pixfrac / (2 * psr))  # exactly r from pixel (0, 0)
            images[0]["weight_map"][0, 0] = 1.0
    d = Drizzle(kernel="tophat", out_shape=OUT_SHAPE)
    for im in images:
        d.add_image(exptime=1.0, pixfrac=pixfrac, pixel_scale_ratio=psr, **im)
    img, wht, ctx, dq, img2 = brute_force_tophat(images, OUT_SHAPE, pixfrac, psr)
    assert np.any(wht > 0)
    np.testing.assert_array_equal(d.out_wht > 0, wht > 0)
    # float32 storage of the running mean: rtol 1e-6 (a few float32 ulp)
    np.testing.assert_allclose(d.out_wht, wht, rtol=1e-6)
    np.testing.assert_allclose(d.out_img, img, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(d.out_img2[0], img2, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(d.out_ctx[0], ctx.astype(np.int32))
    np.testing.assert_array_equal(d.out_dq, dq.astype(np.uint32))
    assert d.out_wht[0, 0] > 0  # the boundary hit counted


def test_tophat_warns_and_does_not_conserve_flux():
    pm = rotated_pixmap(IN_SHAPE, 0.0, 0.5, (10, 9))  # 2x oversampled output
    d = Drizzle(kernel="tophat", out_shape=OUT_SHAPE)
    with pytest.warns(UserWarning, match="not a flux-conserving"):
        d.add_image(np.ones(IN_SHAPE, np.float32), exptime=1.0, pixmap=pm, pixel_scale_ratio=0.5)
    # radius 1 output pixel hits ~5 output pixels per input pixel, each with full weight
    assert d.out_wht.sum() > 3 * np.prod(IN_SHAPE)
