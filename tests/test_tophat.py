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


# ---------------------------------------------------------------- issue 13, items 1 and 2


@pytest.mark.parametrize("backend", ["cpu", "emulator"])
@pytest.mark.parametrize("psr", [2e-3, 1e-9, 1e-300])
def test_a_kernel_far_larger_than_the_grid_costs_the_grid(backend, psr, monkeypatch):
    """pfo = 250 px (2.7 s before, in 1e6 numpy passes) up to 5e299 px (an i64 cast the GPU saturates)."""
    import gpuresample.backends.tophat as tophat

    passes = []
    real = tophat._within

    def counted(mask):
        passes.append(1)  # one numpy pass over the input pixels per candidate output offset
        return real(mask)

    monkeypatch.setattr(tophat, "_within", counted)
    y, x = np.indices((4, 4), dtype=float)
    d = Drizzle(kernel="tophat", out_shape=(1, 1), backend=backend)
    d.add_image(np.ones((4, 4), "f4"), exptime=1, pixmap=np.dstack([x, y]), pixel_scale_ratio=psr)
    assert d.out_wht[0, 0] == 16  # every input pixel reaches the single output pixel
    if backend == "cpu":
        # the grid's single pixel, not (2 pfo + 2)**2 offsets of the circle's window
        assert len(passes) == 1


def test_default_grid_tophat_says_which_ratio_lands():
    """jwst's default grid puts input centres on output corners: radius 0.5 reaches none (drizzle 1.15
    semantics); the error says so and names a pixel_scale_ratio that lands, which then works."""
    from gpuresample import resample
    from gpuresample.synthetic import dithered_scene

    scene = dithered_scene(n_exposures=2, shape=(40, 40), nstars=5, ngal=5)
    with pytest.raises(ValueError, match=r"kernel='tophat'.*use pixel_scale_ratio <= 0\.706 with pixfrac=1"):
        resample(scene, kernel="tophat", backend="cpu")
    res = resample(scene, kernel="tophat", backend="cpu", pixel_scale_ratio=0.706)
    assert np.any(res.wht > 0) and np.all(np.isfinite(res.data[res.wht > 0]))
