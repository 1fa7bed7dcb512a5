"""Drop-in incompatibilities with drizzle 3.0 / stcal fixed in issue 15, each against the real thing.

1. ``out_img2=[None]`` without an output shape: allocated at the first ``add_image``.
2. ``data2=None`` while ``out_img2`` arrays exist: ``ValueError`` (all of drizzle's data2 cases).
3. ``calc_pixmap(wcs_from, wcs_to, shape, disable_bbox)``: drizzle's signature and bounding-box modes.
4. ``calc_pixmap`` infers the input shape from ``bounding_box`` for an astropy WCS too.
5. ``calc_pixmap(stepsize=100, order=3)`` on a small image (stcal keeps at least 10 nodes per axis).
6. ``pixel_scale_ratio=None`` estimated once on the host, as drizzle's C code does, for every backend.
"""

import copy
import inspect
import warnings
import zlib

import numpy as np
import pytest
from astropy import coordinates as coord
from astropy.modeling import models
from astropy.wcs import WCS
from conftest import rotated_pixmap
from drizzle import resample as ref_resample
from drizzle import utils as ref_utils
from gwcs import coordinate_frames as cf
from gwcs.wcstools import wcs_from_fiducial

from gpuresample import Drizzle, calc_pixmap, resample
from gpuresample.drizzle_validate import estimate_pixel_scale_ratio
from gpuresample.synthetic import dithered_scene, nircam_like_wcs, tan_output_wcs

pytestmark = pytest.mark.filterwarnings("ignore:Kernel '", "ignore:In lanczos kernel")


def _outputs(d):
    return {name: getattr(d, name) for name in ("out_img", "out_wht", "out_ctx", "out_dq")}


def _assert_same_outputs(ours, ref):
    for name, a in _outputs(ref).items():
        b = getattr(ours, name)
        if a is None:
            assert b is None, name
        else:
            assert b.dtype == a.dtype, name
            np.testing.assert_array_equal(b, a, err_msg=name)  # bitwise (NaN == NaN)
    if ref.out_img2 is None:
        assert ours.out_img2 is None
    else:
        assert len(ours.out_img2) == len(ref.out_img2)
        for a, b in zip(ref.out_img2, ours.out_img2, strict=True):
            np.testing.assert_array_equal(b, a, err_msg="out_img2")
    assert ours.total_exptime == ref.total_exptime


# ------------------------------------------------------------------ item 1
def _weights_squared_inputs(n=17):
    """Two images with one non-zero pixel (drizzle's test_drizzle_weights_squared)."""
    shape = (n, n)
    y, x = np.indices(shape, dtype=np.float64)
    pixmap = np.dstack([x, y])
    images = []
    for sci, wht, sci2 in ((1.0, 0.99, 0.5), (7.0, 0.01, 50.0)):
        a, w, a2 = (np.zeros(shape, np.float32) for _ in range(3))
        a[n // 2, n // 2], w[n // 2, n // 2], a2[n // 2, n // 2] = sci, wht, sci2
        images.append(dict(data=a, exptime=1.0, pixmap=pixmap, weight_map=w, data2=[a2]))
    return images


@pytest.mark.parametrize("kernel", ["lanczos2", "lanczos3", "gaussian", "square"])
def test_out_img2_none_entries_allocated_at_first_add(kernel):
    ref = ref_resample.Drizzle(kernel=kernel, out_img2=[None], fillval2=-99.0)
    ours = Drizzle(kernel=kernel, out_img2=[None], fillval2=-99.0, backend="cpu")
    assert ours.out_img is None and ours.out_shape is None
    assert ours.out_img2 == [None] == ref.out_img2
    for im in _weights_squared_inputs():
        ref.add_image(**im)
        ours.add_image(**im)
    assert isinstance(ours.out_img2, list) and len(ours.out_img2) == 1
    _assert_same_outputs(ours, ref)
    assert np.min(ours.out_img2[0]) == np.float32(-99.0)  # the fill value where nothing landed
    if kernel != "square":
        assert np.isclose(np.max(ours.out_img2[0]), 0.495050013, rtol=1e-6, atol=0.0)


def test_out_img2_none_entry_takes_the_shape_of_the_given_one():
    given = np.zeros((17, 17), np.float32)
    ours = Drizzle(out_img2=[given, None], fillval2=3.0, backend="cpu")
    assert ours.out_shape == (17, 17)
    assert ours.out_img2[0] is given
    np.testing.assert_array_equal(ours.out_img2[1], np.full((17, 17), 3.0, np.float32))


def test_out_img2_none_entries_need_data2():
    """``data2=None`` with ``out_img2=[None]`` fails before the shape (or anything else) is set."""
    im = _weights_squared_inputs()[0]
    im = {**im, "data2": None}
    with pytest.raises(ValueError):
        ref_resample.Drizzle(out_img2=[None]).add_image(**im)
    ours = Drizzle(out_img2=[None], backend="cpu")
    with pytest.raises(ValueError, match="'data2' is required"):
        ours.add_image(**im)
    assert ours.out_shape is None and ours.out_img is None and ours.out_img2 == [None]
    assert ours.ctx_id == 0 and ours.total_exptime == 0.0


# ------------------------------------------------------------------ item 2
N2 = 21
_Z = np.zeros((N2, N2), np.float32)


def _bad_data2_case(cls, case, **backend):
    """Run one of drizzle's test_drizzle_weights_squared_bad_inputs cases; the exception type or None."""
    y, x = np.indices((N2, N2), dtype=np.float64)
    im = dict(exptime=1.0, pixmap=np.dstack([x, y]), weight_map=_Z)
    try:
        if case == "first_without_then_with":
            d = cls(kernel="square", **backend)
            d.add_image(_Z, data2=None, **im)
            d.add_image(_Z, data2=_Z, **im)
        elif case == "first_with_then_without":
            d = cls(kernel="square", **backend)
            d.add_image(_Z, data2=_Z, **im)
            d.add_image(_Z, data2=None, **im)
        elif case == "two_out_img2_one_data2":
            d = cls(kernel="square", out_img2=[_Z.copy(), _Z.copy()], **backend)
            d.add_image(_Z, data2=_Z, **im)
        elif case == "out_img2_given_data2_none":
            d = cls(kernel="square", out_img=_Z.copy(), out_img2=_Z.copy(), **backend)
            d.add_image(_Z, data2=None, **im)
        elif case == "out_img2_shape_mismatch":
            cls(kernel="square", out_img=_Z.copy(), out_img2=np.zeros((N2 + 1, N2 + 1), np.float32), **backend)
        elif case == "empty_data2_without_out_img2":
            cls(kernel="square", out_shape=(N2, N2), **backend).add_image(_Z, data2=[], **im)
        elif case == "empty_out_img2_data2_none":
            cls(kernel="square", out_img2=[], out_shape=(N2, N2), **backend).add_image(_Z, data2=None, **im)
        elif case == "empty_out_img2_empty_data2":
            d = cls(kernel="square", out_img2=[], out_shape=(N2, N2), **backend)
            d.add_image(_Z, data2=[], **im)
            assert d.out_img2 == []
        elif case == "none_entry_first":
            d = cls(kernel="square", **backend)
            d.add_image(_Z, data2=[None], **im)
            assert len(d.out_img2) == 1
    except Exception as exc:  # the type is what is compared
        return type(exc)
    return None


BAD_DATA2_CASES = [
    ("first_without_then_with", ValueError), ("first_with_then_without", ValueError),
    ("two_out_img2_one_data2", ValueError), ("out_img2_given_data2_none", ValueError),
    ("out_img2_shape_mismatch", ValueError), ("empty_data2_without_out_img2", ValueError),
    ("empty_out_img2_data2_none", ValueError), ("empty_out_img2_empty_data2", None), ("none_entry_first", None),
]


@pytest.mark.parametrize(("case", "expected"), BAD_DATA2_CASES)
def test_data2_rules_match_drizzle(case, expected):
    assert _bad_data2_case(ref_resample.Drizzle, case) is expected
    assert _bad_data2_case(Drizzle, case, backend="cpu") is expected


def test_data2_none_with_given_out_img2_changes_nothing():
    out_img, out_img2 = np.zeros((N2, N2), np.float32), np.zeros((N2, N2), np.float32)
    d = Drizzle(kernel="square", out_img=out_img, out_img2=out_img2, backend="cpu")
    y, x = np.indices((N2, N2), dtype=np.float64)
    with pytest.raises(ValueError, match="'data2' is required"):
        d.add_image(np.ones((N2, N2), np.float32), exptime=1.0, pixmap=np.dstack([x, y]))
    assert d.ctx_id == 0 and d.total_exptime == 0.0
    assert not np.any(out_img) and not np.any(out_img2) and not np.any(d.out_wht)


# ---------------------------------------------------------------- items 3, 4
def _gwcs(shape, shift=(0.0, 0.0), pscale=2.0e-5):
    """A TAN gwcs with crval (0, 0), x flipped, shifted by ``shift`` pixels, bounding box = the image."""
    affine = models.AffineTransformation2D(np.array([[-1.0, 0.0], [0.0, 1.0]]))
    transform = affine | (models.Scale(pscale) & models.Scale(pscale))
    sky = cf.CelestialFrame(name="world", axes_names=("lon", "lat"), reference_frame=coord.ICRS())
    w = wcs_from_fiducial(np.array([0.0, 0.0]), coordinate_frame=sky, projection=models.Pix2Sky_TAN(),
                          transform=transform, input_frame=cf.Frame2D(name="detector"))
    w.insert_transform("detector", models.Shift(-shift[0]) & models.Shift(-shift[1]), after=True)
    w.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    w.array_shape = shape
    return w


def test_calc_pixmap_has_drizzles_signature():
    ours = list(inspect.signature(calc_pixmap).parameters.values())
    ref = list(inspect.signature(ref_utils.calc_pixmap).parameters.values())
    assert [(p.name, p.default, p.kind) for p in ours[: len(ref)]] == [(p.name, p.default, p.kind) for p in ref]
    assert {"stepsize", "order"} <= {p.name for p in ours[len(ref):]}


@pytest.mark.parametrize("disable_bbox", ["to", "from", "both", "none"])
@pytest.mark.parametrize("positional", [False, True])
def test_disable_bbox_matches_drizzle(disable_bbox, positional):
    """drizzle's test_disable_gwcs_bbox: an output shifted by 2 pixels; every mode bitwise, WCSs unchanged."""
    shape = (40, 50)
    first, second = _gwcs(shape), _gwcs(shape, shift=(-2.0, -2.0))
    for w_from, w_to in ((first, second), (second, first)):
        boxes = (w_from.bounding_box.bounding_box(), w_to.bounding_box.bounding_box())
        if positional:
            ours = calc_pixmap(w_from, w_to, None, disable_bbox)
        else:
            ours = calc_pixmap(w_from, w_to, disable_bbox=disable_bbox)
        assert (w_from.bounding_box.bounding_box(), w_to.bounding_box.bounding_box()) == boxes
        ref = ref_utils.calc_pixmap(copy.deepcopy(w_from), copy.deepcopy(w_to), disable_bbox=disable_bbox)
        np.testing.assert_array_equal(ours, ref)
    # what drizzle's test checks: NaN where the output's bounding box is applied and missed
    pm = calc_pixmap(first, second, disable_bbox=disable_bbox)
    assert np.all(np.isnan(pm[:2, :2])) == (disable_bbox in ("from", "none"))


@pytest.mark.parametrize("disable_bbox", ["to", "from", "both", "none"])
@pytest.mark.parametrize("order", [1, 3])
def test_disable_bbox_sparse_same_nan_pattern(disable_bbox, order):
    shape = (60, 70)
    w_from = _gwcs(shape)
    w_from.bounding_box = ((2.5, 66.5), (1.5, 57.5))  # NaN borders on the input side too
    w_to = _gwcs(shape, shift=(-3.0, 4.0))
    exact = calc_pixmap(w_from, w_to, disable_bbox=disable_bbox)
    sparse = calc_pixmap(w_from, w_to, disable_bbox=disable_bbox, stepsize=8, order=order)
    # the pixels drizzle skips (either coordinate NaN; gwcs may NaN one alone) are the same
    skipped = np.isnan(exact).any(axis=-1)
    assert skipped.any() == (disable_bbox != "both") and not skipped.all()
    np.testing.assert_array_equal(np.isnan(sparse).any(axis=-1), skipped)
    np.testing.assert_allclose(sparse[~skipped], exact[~skipped], rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad", ["all", None, 1, "To "])
def test_disable_bbox_bad_value(bad):
    w = _gwcs((10, 12))
    if bad == "To ":  # case and spaces do not matter
        np.testing.assert_array_equal(calc_pixmap(w, w, disable_bbox=bad), calc_pixmap(w, w))
        return
    with pytest.raises(ValueError, match="disable_bbox must be one of"):
        calc_pixmap(w, w, disable_bbox=bad)


def _fits_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, 20.0]
    w.wcs.crpix = [20.0, 10.0]
    w.wcs.cdelt = [-1e-5, 1e-5]
    return w


def test_shape_from_bounding_box_of_an_astropy_wcs():
    """drizzle's test_map_to_self[fits], on a WCS built here (its data file is not shipped)."""
    w = _fits_wcs()
    w.pixel_shape = (50, 30)  # (nx, ny)
    ok = np.dstack(np.indices((30, 50), dtype=np.float64)[::-1])
    np.testing.assert_allclose(calc_pixmap(w, w), ok, atol=1e-5)
    assert calc_pixmap(w, w, (12, 34)).shape == (12, 34, 2)
    w.pixel_shape = None
    w.bounding_box = None
    for f in (calc_pixmap, ref_utils.calc_pixmap):
        with pytest.raises(ValueError):
            f(w, w)
    w.bounding_box = ((5.3, 33.5), (2.8, 11.5))
    assert calc_pixmap(w, w).shape == ref_utils.calc_pixmap(w, w).shape == (12, 34, 2)
    np.testing.assert_array_equal(calc_pixmap(w, w), ref_utils.calc_pixmap(w, w))
    w.bounding_box = (2.8, 11.5)  # 1-D: no shape, as drizzle
    for f in (calc_pixmap, ref_utils.calc_pixmap):
        with pytest.raises(ValueError):
            f(w, w)
    w.bounding_box = ((5.3, 33.5), (2.8, 11.5))
    w.array_shape = (30, 50)  # takes precedence over the bounding box
    assert calc_pixmap(w, w).shape == (30, 50, 2)


# ------------------------------------------------------------------ item 5
@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("bbox_border", [None, 0, 2, 10, -5])
@pytest.mark.parametrize("shift", [(0, 0), (3, 5), (-5, -2)])
def test_sparse_pixmap_on_a_small_image(shift, bbox_border, order):
    """stcal's test_pixmap[*-in_shape2-100-*]: a 200x300 input, stepsize=100 (stcal keeps >= 10 nodes)."""
    in_shape = (200, 300)
    w1 = _gwcs(in_shape)
    w2 = _gwcs((987, 789), shift=shift)
    if bbox_border is None:
        w1.bounding_box = None
    else:
        b = bbox_border
        w1.bounding_box = ((b - 0.5, in_shape[1] - b + 0.5), (b - 0.5, in_shape[0] - b + 0.5))
    y, x = np.indices(in_shape, dtype=np.float64)
    expected = np.dstack([x + shift[0], y + shift[1]])
    if bbox_border is not None and bbox_border > 0:
        b = bbox_border
        for sl in (np.s_[:b, :], np.s_[-b + 1:, :], np.s_[:, :b], np.s_[:, -b + 1:]):
            expected[sl] = np.nan
    pm = calc_pixmap(w1, w2, stepsize=100, order=order)
    np.testing.assert_allclose(pm, expected, rtol=0, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize(("shape", "order"), [((200, 300), 3), ((200, 300), 1), ((3, 300), 3), ((8, 9), 3)])
def test_sparse_pixmap_of_a_distorted_wcs_on_small_images(shape, order):
    """stepsize larger than the image: the >= 10 node grid stays accurate; images too small are exact."""
    w = nircam_like_wcs(10.0, 20.0, roll=15.0, shape=shape)
    out, _ = tan_output_wcs([w])
    exact = calc_pixmap(w, out)
    sparse = calc_pixmap(w, out, stepsize=100, order=order)
    np.testing.assert_array_equal(np.isnan(sparse), np.isnan(exact))
    tol = {3: 1e-4, 1: 0.05}[order] if min(shape) > 10 else 0.0
    assert np.nanmax(np.abs(sparse - exact)) <= tol


def test_resample_with_coarse_pixmap_steps_on_small_images():
    scene = dithered_scene(2, (200, 300), seed=5, nstars=10, ngal=10, dither_arcsec=0.5)
    coarse = resample(scene, pixmap_stepsize=100, pixmap_order=3, enable_err=False, backend="cpu")
    exact = resample(scene, pixmap_stepsize=1, enable_err=False, backend="cpu")
    np.testing.assert_array_equal(coarse.wht > 0, exact.wht > 0)
    good = exact.wht > 0
    np.testing.assert_allclose(coarse.data[good], exact.data[good], rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------ item 6
SCALED = ["turbo", "gaussian", "lanczos2", "lanczos3"]
IN_SHAPE, OUT_SHAPE = (23, 31), (41, 47)


def _images(seed, n=12, var=True):
    """Random exposures (scale 0.4..1.8, rotated, some curved, NaN borders) mostly inside the output.

    The NaN borders are on the last columns and rows: drizzle estimates the
    ratio at input pixel (0, 0) in practice (see ``estimate_pixel_scale_ratio``).
    """
    rng = np.random.default_rng(seed)
    for k in range(n):
        psr = rng.uniform(0.4, 1.8)
        off = (OUT_SHAPE[1] / 2 + rng.uniform(-12, 12), OUT_SHAPE[0] / 2 + rng.uniform(-10, 10))
        pm = rotated_pixmap(IN_SHAPE, rng.uniform(0, 360), psr, off, curvature=0.3 * (k % 2))
        if k % 2:
            pm[:, -2:] = np.nan
            pm[-1:, :] = np.nan
        im = dict(data=rng.normal(3.0, 1.0, IN_SHAPE).astype(np.float32), exptime=10.0 + k, pixmap=pm,
                  weight_map=rng.uniform(0.2, 2.0, IN_SHAPE).astype(np.float32), iscale=1.0 + 0.01 * k)
        if var:
            im["data2"] = rng.uniform(0.1, 1.0, IN_SHAPE).astype(np.float32)
            im["dq"] = rng.integers(0, 1 << 12, IN_SHAPE).astype(np.uint32)
        yield im


@pytest.mark.parametrize("kernel", SCALED)
@pytest.mark.parametrize("var", [False, True])
@pytest.mark.parametrize("pixfrac", [1.0, 0.6])
def test_pixel_scale_ratio_none_bitwise_equal_to_drizzle(kernel, var, pixfrac):
    ref = ref_resample.Drizzle(kernel=kernel, out_shape=OUT_SHAPE)
    ours = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, backend="cpu")
    for im in _images(zlib.crc32(f"{kernel}{var}{pixfrac}".encode()), var=var):
        assert ours.add_image(pixfrac=pixfrac, pixel_scale_ratio=None, **im) == \
            ref.add_image(pixfrac=pixfrac, pixel_scale_ratio=None, **im)
    assert np.count_nonzero(ours.out_wht) > 0.5 * ours.out_wht.size
    _assert_same_outputs(ours, ref)


def test_estimate_is_drizzles_and_matters():
    """Per image: drizzle with None == drizzle given our estimate, != drizzle given the next float32."""
    sensitive = 0
    for im in _images(11, n=20, var=False):
        box = (0, IN_SHAPE[1] - 1, 0, IN_SHAPE[0] - 1)
        est = estimate_pixel_scale_ratio(im["pixmap"], OUT_SHAPE, box)
        assert est == float(np.float32(est)) and 0.3 < 1.0 / est < 2.0
        outs = []
        for psr in (None, est, float(np.nextafter(np.float32(est), np.float32(10)))):
            d = ref_resample.Drizzle(kernel="turbo", out_shape=OUT_SHAPE)
            d.add_image(pixfrac=0.7, pixel_scale_ratio=psr, **im)
            outs.append(d.out_img)
        np.testing.assert_array_equal(outs[1], outs[0])
        sensitive += not np.array_equal(outs[2], outs[0], equal_nan=True)
    assert sensitive >= 5  # one float32 ulp changes drizzle's output: the comparison is sharp


def test_pixel_scale_ratio_none_with_an_inferred_output_shape():
    im = next(_images(3, n=1))
    pm = im["pixmap"]
    auto = Drizzle(kernel="gaussian", backend="cpu")
    auto.add_image(pixel_scale_ratio=None, **im)
    x0, y0 = np.floor(np.nanmin(pm[..., 0])), np.floor(np.nanmin(pm[..., 1]))
    shifted = pm - np.array([x0, y0])
    ref = ref_resample.Drizzle(kernel="gaussian", out_shape=auto.out_shape)
    ref.add_image(pixel_scale_ratio=None, **{**im, "pixmap": shifted})
    _assert_same_outputs(auto, ref)


def test_pixel_scale_ratio_none_unestimable_raises_as_drizzle_before_any_change():
    """NaN where the estimate looks: drizzle raises ValueError, and so do we, changing nothing."""
    im = next(_images(4, n=1, var=False))
    box = (0, IN_SHAPE[1] - 1, 0, IN_SHAPE[0] - 1)
    pm = im["pixmap"].copy()
    pm[12, 15] = np.nan  # the centre of the footprint: not where drizzle looks
    assert estimate_pixel_scale_ratio(pm, OUT_SHAPE, box) is not None
    pm[0, 0] = np.nan  # where it looks, in practice (the box stays the same)
    im["pixmap"] = pm
    with pytest.raises(ValueError):
        ref_resample.Drizzle(kernel="turbo", out_shape=OUT_SHAPE).add_image(pixel_scale_ratio=None, **im)
    ours = Drizzle(kernel="turbo", out_shape=OUT_SHAPE, backend="cpu")
    with pytest.raises(ValueError, match="Unable to estimate pscale_ratio"):
        ours.add_image(pixel_scale_ratio=None, **im)
    assert ours.ctx_id == 0 and ours.total_exptime == 0.0 and not np.any(ours.out_wht)
    # the square and point kernels do not use the ratio: nothing to estimate, nothing raised
    ours = Drizzle(kernel="square", out_shape=OUT_SHAPE, backend="cpu")
    ours.add_image(pixel_scale_ratio=None, **im)


@pytest.mark.parametrize("kernel", SCALED)
def test_pixel_scale_ratio_none_on_the_emulator(kernel):
    """The kernel backends take the host estimate; tolerances as tests/test_gpu_kernels.py."""
    cpu = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, backend="cpu")
    emu = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, backend="emulator")
    for im in _images(zlib.crc32(kernel.encode())):
        assert emu.add_image(pixfrac=0.8, pixel_scale_ratio=None, **im) == \
            cpu.add_image(pixfrac=0.8, pixel_scale_ratio=None, **im)
    np.testing.assert_array_equal(emu.out_ctx, cpu.out_ctx)
    np.testing.assert_array_equal(emu.out_dq, cpu.out_dq)
    good = cpu.out_wht != 0
    np.testing.assert_array_equal(emu.out_wht != 0, good)
    normal = np.abs(cpu.out_wht) >= np.finfo(np.float32).tiny
    if kernel.startswith("lanczos"):
        normal &= np.abs(cpu.out_wht) > 1e-3 * np.abs(cpu.out_wht).max()
    np.testing.assert_allclose(emu.out_wht[good], cpu.out_wht[good], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emu.out_img[normal], cpu.out_img[normal], rtol=1e-5, atol=1e-5 * 7.0)
    normal2 = normal & (np.abs(cpu.out_wht) >= np.sqrt(np.finfo(np.float32).tiny))
    if kernel.startswith("lanczos"):
        # data2 (<= 1) averaged with w**2 / (sum w)**2 stays <= 1 unless the lobes cancel in
        # sum w: that division squares the ill-conditioning (values of 100 from data2 <= 1)
        normal2 &= np.abs(cpu.out_img2[0]) <= 1.0
    np.testing.assert_allclose(emu.out_img2[0][normal2], cpu.out_img2[0][normal2], rtol=1e-5, atol=1e-5 * 2.0)


@pytest.mark.parametrize("backend", ["cpu", "emulator"])
@pytest.mark.parametrize("kernel", SCALED)
def test_var_identical_to_nonvar_with_estimated_ratio(backend, kernel):
    """drizzle's test_drizzle_var_identical_to_nonvar[*-True]: data2/dq do not change the science image."""
    plain = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, fillval="NaN", backend=backend)
    var = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, fillval="NaN", backend=backend)
    for im in _images(5, n=4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain.add_image(pixel_scale_ratio=None, **{k: v for k, v in im.items() if k not in ("data2", "dq")})
            var.add_image(pixel_scale_ratio=None, **im)
    np.testing.assert_array_equal(var.out_img, plain.out_img)
    np.testing.assert_array_equal(var.out_wht, plain.out_wht)
    np.testing.assert_array_equal(var.out_ctx, plain.out_ctx)


def test_tophat_still_needs_the_ratio():
    im = next(_images(6, n=1, var=False))
    with pytest.raises(ValueError, match="'pixel_scale_ratio' must be given for the tophat kernel"):
        Drizzle(kernel="tophat", out_shape=OUT_SHAPE, backend="cpu").add_image(pixel_scale_ratio=None, **im)


def test_deprecated_scale_warns_like_drizzle_and_equals_iscale():
    """``scale=s`` is ``iscale=s**2, pixel_scale_ratio=s``, with a warning a filter written for drizzle matches."""
    import numpy as np

    from gpuresample import Drizzle

    data = np.arange(100, dtype=np.float32).reshape(10, 10)
    pixmap = np.dstack(np.indices((10, 10), dtype=np.float64)[::-1]) * 1.3 + 1.0
    ref = Drizzle(kernel="turbo", out_shape=(16, 16), backend="cpu")
    ref.add_image(data, exptime=1.0, pixmap=pixmap, iscale=0.25, pixel_scale_ratio=0.5)
    dep = Drizzle(kernel="turbo", out_shape=(16, 16), backend="cpu")
    with pytest.warns(DeprecationWarning, match="^Argument 'scale' has been deprecated"):
        dep.add_image(data, exptime=1.0, pixmap=pixmap, scale=0.5)
    np.testing.assert_array_equal(dep.out_img, ref.out_img)
