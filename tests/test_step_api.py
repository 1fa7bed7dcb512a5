"""resample(): argument validation, output grids, output_wcs files, memory checks."""

import logging

import asdf
import numpy as np
import pytest

import gpuresample
from gpuresample import Image, OutputTooLargeError, resample
from gpuresample.synthetic import dithered_scene, nircam_like_wcs


@pytest.fixture(scope="module")
def scene():
    return dithered_scene(3, (96, 96), seed=3, nstars=20, ngal=20, dither_arcsec=0.6)


def test_basic_mosaic_and_metadata(scene):
    res = resample(scene)
    assert res.data.dtype == np.float32 and res.con.dtype == np.int32
    good = res.wht > 0
    assert good.mean() > 0.5
    assert np.all(np.isfinite(res.err[good]))
    assert np.all(np.isnan(res.data[~good]))  # fillval INDEF -> NaN
    assert res.meta["ndrizzled"] == 3 and res.meta["pointings"] == 3
    assert res.meta["exposure_time"] == pytest.approx(sum(e["exposure_time"] for e in scene))
    assert res.meta["pixelarea_arcsecsq"] == pytest.approx(res.meta["pixelarea_steradians"] * 206264.806**2)
    assert res.meta["s_region"].startswith("POLYGON ICRS")
    assert res.blended["filename"] == "synthetic_01"
    # inputs are never modified
    assert scene[0]["data"].flags.writeable


def test_image_objects_and_dicts_agree(scene):
    a = resample(scene, pixmap_stepsize=1)
    b = resample([Image.from_dict(e) for e in scene], pixmap_stepsize=1)
    for name, arr in a.arrays().items():
        np.testing.assert_array_equal(arr, getattr(b, name), err_msg=name)


def test_switches(scene):
    res = resample(scene, enable_ctx=False, enable_err=False, report_var=False, propagate_dq=True)
    assert res.con is None and res.err is None and res.var_rnoise is None
    assert res.dq is not None and res.dq.dtype == np.uint32 and np.any(res.dq)
    res = resample(scene, report_var=False)
    assert res.err is not None and res.var_flat is None


def test_single_groups_share_one_grid(scene):
    ex = [dict(e) for e in scene]
    ex[1]["group_id"] = ex[0]["group_id"]
    out = resample(ex, single=True)
    assert len(out) == 2
    assert out[0].shape == out[1].shape
    assert out[0].con.shape[0] == 1
    assert out[0].meta["exposure_time"] == ex[0]["exposure_time"]  # one exposure group
    assert out[0].err is not None and out[0].var_rnoise is None  # as jwst: err drizzled from err


def test_rotation_and_crpix_crval_output_shape(scene):
    res = resample(scene, rotation=0.0, crpix=(10.0, 20.0), crval=(53.16, -27.78), output_shape=(150, 120))
    assert res.shape == (120, 150)
    x, y = res.wcs.invert(53.16, -27.78, with_bounding_box=False)
    assert (x, y) == pytest.approx((10.0, 20.0), abs=1e-6)
    # north up: +y points to increasing declination at the reference pixel
    _, d0 = res.wcs(10.0, 20.0)
    r1, d1 = res.wcs(10.0, 21.0)
    assert d1 > d0 and abs(r1 - 53.16) < 1e-9


def _write_wcs_file(path, wcs, **extra):
    asdf.AsdfFile({"wcs": wcs, **extra}).write_to(path)


def test_output_wcs_file_variants(tmp_path, scene):
    ref = resample(scene)
    w = ref.wcs
    f1 = tmp_path / "with_bbox.asdf"
    _write_wcs_file(f1, w)
    r1 = resample(scene, output_wcs=f1)
    assert r1.shape == ref.shape
    np.testing.assert_array_equal(r1.con, ref.con)

    import copy

    nobox = copy.deepcopy(w)
    nobox.bounding_box = None
    nobox.array_shape = None
    f2 = tmp_path / "pixel_shape.asdf"
    _write_wcs_file(f2, nobox, pixel_shape=[ref.shape[1] + 4, ref.shape[0] + 2], pixel_area=2.3e-14)
    r2 = resample(scene, output_wcs=f2)
    assert r2.shape == (ref.shape[0] + 2, ref.shape[1] + 4)
    assert r2.meta["pixelarea_steradians"] == pytest.approx(2.3e-14)
    f3 = tmp_path / "array_shape.asdf"
    _write_wcs_file(f3, nobox, array_shape=[50, 60])
    assert resample(scene, output_wcs=f3).shape == (50, 60)
    # output_shape overrides the file
    assert resample(scene, output_wcs=f3, output_shape=(70, 40)).shape == (40, 70)
    f4 = tmp_path / "nothing.asdf"
    _write_wcs_file(f4, nobox)
    with pytest.raises(ValueError, match="neither a bounding box nor pixel_shape"):
        resample(scene, output_wcs=f4)
    # a gwcs object works too, and is not modified
    before = w.array_shape
    assert resample(scene, output_wcs=w, output_shape=(30, 30)).shape == (30, 30)
    assert w.array_shape == before


def test_output_wcs_overrides_grid_arguments(scene, caplog, tmp_path):
    ref = resample(scene)
    with caplog.at_level(logging.INFO, logger="gpuresample"):
        res = resample(scene, output_wcs=ref.wcs, rotation=10.0, crpix=(1, 1))
    assert "ignoring rotation, crpix" in caplog.text
    assert res.shape == ref.shape


def test_allowed_memory_raises_before_allocating(scene, monkeypatch):
    with pytest.raises(OutputTooLargeError, match="allowed_memory=1e-09") as exc:
        resample(scene, allowed_memory=1e-9)
    assert exc.value.required > exc.value.allowed
    assert isinstance(exc.value, MemoryError)
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", "1e-9")
    with pytest.raises(OutputTooLargeError):
        resample(scene)
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", "0.9")
    resample(scene)


def test_estimate_counts_everything():
    from gpuresample.memory import estimate_memory

    base = estimate_memory((1000, 1000), 40, 2048 * 2048, enable_ctx=False, enable_var=False, propagate_dq=False)
    full = estimate_memory((1000, 1000), 40, 2048 * 2048, enable_ctx=True, enable_var=True, propagate_dq=True)
    assert full["context"] == 2 * 4 * 10**6  # 40 inputs -> 2 planes
    assert {"dq", "variance sums", "err"} <= set(full)
    assert full["total"] > base["total"] + 24 * 10**6
    helper = estimate_memory((1000, 1000), 40, 2048 * 2048, enable_ctx=True, enable_var=True, propagate_dq=True,
                             workers=2)
    assert helper["total"] > full["total"]  # the variance helper's working set counts too


def _bad(scene, **kw):
    return lambda: resample(scene, **kw)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"weight_type": "ivm-smooth"}, ValueError, "weight_type must be one of"),
        ({"kernel": "sinc"}, ValueError, "Unknown kernel 'sinc'"),
        ({"crpix": (1.0,)}, ValueError, "crpix must have exactly 2 values"),
        ({"crpix": (1.0, np.nan)}, ValueError, "crpix values must be finite"),
        ({"crval": (1.0, 2.0, 3.0)}, ValueError, "crval must have exactly 2 values"),
        ({"crval": ("a", 2.0)}, ValueError, "crval must be two numbers"),
        ({"output_shape": (10,)}, ValueError, "output_shape must have exactly 2"),
        ({"output_shape": (10.5, 3)}, ValueError, "output_shape must be integers"),
        ({"output_shape": (0, 3)}, ValueError, "output_shape values must be >= 1"),
        ({"rotation": np.inf}, ValueError, "rotation must be finite"),
        ({"pixel_scale": 0.0}, ValueError, "pixel_scale must be finite and > 0"),
        ({"pixel_scale": -0.03}, ValueError, "pixel_scale must be finite and > 0"),
        ({"pixel_scale_ratio": 0}, ValueError, "pixel_scale_ratio must be finite and > 0"),
        ({"pixfrac": 0.0}, ValueError, "pixfrac' must be finite and in"),
        ({"fillval": "lots"}, ValueError, "fillval must be"),
        ({"good_bits": "NOT_A_FLAG"}, ValueError, "good_bits='NOT_A_FLAG'"),
        ({"pixmap_order": 2}, ValueError, "pixmap_order must be 1 or 3"),
        ({"pixmap_stepsize": 0}, ValueError, "pixmap_stepsize must be"),
        ({"allowed_memory": "half"}, ValueError, "allowed_memory must be a number"),
        ({"output_wcs": "/nonexistent/grid.asdf"}, FileNotFoundError, "output_wcs file not found"),
        ({"backend": "fpga"}, ValueError, "Unknown backend"),
    ],
)
def test_bad_arguments(scene, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        resample(scene, **kwargs)


def test_output_wcs_without_wcs_entry(tmp_path, scene):
    f = tmp_path / "nowcs.asdf"
    asdf.AsdfFile({"grid": 1}).write_to(f)
    with pytest.raises(ValueError, match="has no 'wcs' entry"):
        resample(scene, output_wcs=f)
    bad = tmp_path / "garbage.asdf"
    bad.write_bytes(b"this is not asdf")
    with pytest.raises(ValueError, match="could not be read as ASDF"):
        resample(scene, output_wcs=bad)


def test_bad_inputs_name_the_input(scene):
    with pytest.raises(ValueError, match="inputs is empty"):
        resample([])
    with pytest.raises(TypeError, match="inputs must be a list"):
        resample(scene[0])
    no_wcs = [dict(e) for e in scene]
    no_wcs[1] = {**no_wcs[1], "wcs": None}
    with pytest.raises(ValueError, match=r"input 1 \(synthetic_02\): missing 'wcs'"):
        resample(no_wcs)
    bad_wcs = [dict(e) for e in scene]
    bad_wcs[2] = {**bad_wcs[2], "wcs": "not a wcs"}
    with pytest.raises(ValueError, match=r"input 2 \(synthetic_03\): has no usable WCS"):
        resample(bad_wcs)
    cube = [dict(e) for e in scene]
    cube[0] = {**cube[0], "data": np.zeros((2, 4, 4))}
    with pytest.raises(ValueError, match=r"input 0 .*'data' must be a 2-D image"):
        resample(cube)
    mixed = [dict(e) for e in scene]
    mixed[2] = {**mixed[2], "bunit_data": "DN/s"}
    with pytest.raises(ValueError, match="mixed units"):
        resample(mixed)
    zero_t = [dict(e) for e in scene]
    zero_t[1] = {**zero_t[1], "exposure_time": 0}
    with pytest.raises(ValueError, match=r"input 1 .*'exposure_time'"):
        resample(zero_t)


def test_no_overlap_warns_and_zero_weight_raises(scene, caplog):
    far = dict(scene[0])
    far["wcs"] = nircam_like_wcs(120.0, 40.0, shape=(96, 96))
    far["filename"] = "far_away"
    grid = resample(scene).wcs
    with caplog.at_level(logging.WARNING, logger="gpuresample"):
        resample([*scene, far], output_wcs=grid)
    assert "input 3 (far_away) does not overlap the output grid" in caplog.text
    flagged = [dict(e, dq=np.ones_like(e["dq"])) for e in scene]  # everything DO_NOT_USE
    with pytest.raises(ValueError, match="no input pixel landed on the output grid"):
        resample(flagged)


def test_public_names():
    assert gpuresample.resample is resample
    assert "resample" in gpuresample.__all__ and "Image" in gpuresample.__all__


def test_workers_do_not_change_results(scene):
    serial = resample(scene, workers=1)
    parallel = resample(scene, workers=2)
    for name, arr in serial.arrays().items():
        np.testing.assert_array_equal(getattr(parallel, name), arr, err_msg=name)
    with pytest.raises(ValueError, match="workers must be"):
        resample(scene, workers=0)


def test_numeric_fillval_only_changes_empty_pixels(scene):
    nan_fill = resample(scene)
    zero_fill = resample(scene, fillval=0)
    empty = nan_fill.wht == 0
    assert empty.any()
    assert np.all(zero_fill.data[empty] == 0)
    np.testing.assert_array_equal(zero_fill.data[~empty], nan_fill.data[~empty])
    np.testing.assert_array_equal(zero_fill.wht, nan_fill.wht)
