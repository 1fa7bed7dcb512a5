"""Random ``Drizzle.add_image`` cases (hypothesis strategies) and the check that each must pass.

Shared by ``tests/test_fuzz.py`` (a short, derandomized profile in CI) and
``benchmarks/fuzz.py`` (the long run).  A case is one ``Drizzle`` built and
one ``add_image`` call on it, on each of the CPU backend and the emulator.
It passes when:

- both backends accept it and agree (counters exact; weights, data, context
  and DQ within the kernels' float tolerances), and, for a "tame" pixel
  map, the CPU backend equals ``drizzle`` itself bitwise; or
- both refuse it, each with a ``ValueError`` / ``TypeError`` that names the
  offending argument (or one of the package's own error types).

Anything else (a crash, a raw Python error, a backend that accepts what the
other refuses, a changed input array) is a failure.  The pixel maps include
NaN, infinities, far (1e15, 1e30) and folded corners; the data every dtype
``add_image`` may be handed, byte orders, Fortran order and strided views.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from hypothesis import strategies as st

from gpuresample import Drizzle
from gpuresample.drizzle_validate import input_box
from gpuresample.pixmap_checks import MAX_PIXMAP_COORD
from gpuresample.scanner import row_limits

KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat")
BACKENDS = ("cpu", "emulator")
ARGUMENTS = ("data", "exptime", "pixmap", "dq", "weight_map", "iscale", "pixel_scale_ratio", "pixfrac",
             "wht_scale", "in_units", "xmin", "xmax", "ymin", "ymax", "out_shape", "kernel", "fillval")
SPECIAL = (np.nan, np.inf, -np.inf, 1e15, -1e15, 1e30, -1e30, 0.5, -0.5, 2.5)
DTYPES = ("<f2", "<f4", ">f4", "<f8", ">f8", "<i2", "<i4", "<u1", "?")


def _named(exc):
    """True when ``exc`` is an accepted rejection: a package error, or a ValueError/TypeError naming an argument."""
    if type(exc).__module__.startswith("gpuresample"):
        return True
    if not isinstance(exc, (ValueError, TypeError)):
        return False
    msg = str(exc)
    return any(re.search(rf"\b{name}\b", msg) for name in ARGUMENTS)


@st.composite
def pixmaps(draw, ny, nx):
    """An affine map with random scale/offset/shear, and a few special values planted."""
    sx, sy = draw(st.floats(0.3, 2.5)), draw(st.floats(0.3, 2.5))
    ox, oy = draw(st.floats(-4, 4)), draw(st.floats(-4, 4))
    shear = draw(st.sampled_from((0.0, 0.0, 0.2, -0.35)))
    y, x = np.indices((ny, nx), dtype=float)
    pm = np.dstack([x * sx + y * shear + ox, y * sy + oy])
    for _ in range(draw(st.integers(0, 3))):
        j, i, c = draw(st.integers(0, ny - 1)), draw(st.integers(0, nx - 1)), draw(st.integers(0, 1))
        pm[j, i, c] = draw(st.sampled_from(SPECIAL))
    return pm


def _array(draw, shape, dtype, values):
    a = values.astype(np.dtype(dtype)) if dtype != "?" else values > 0.5
    layout = draw(st.sampled_from(("C", "F", "strided")))
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros((shape[0], shape[1] * 2), a.dtype)
        big[:, ::2] = a
        return big[:, ::2]
    return np.ascontiguousarray(a)


#: (argument, valid choices, invalid choices); one case in ten gets one invalid argument
CHOICES = (
    ("exptime", (1.0, 2.5), (0.0, -1.0, np.nan, 1e-300)),
    ("pixfrac", (1.0, 0.5, 0.8, 0.01), (0.0005, 0.0, -1.0, 2.0, np.inf)),
    ("pixel_scale_ratio", (1.0, 0.5, 2.0, None), (1e-3, 0.0, -2.0)),
    ("iscale", (1.0, 0.5), (0.0, -1.0, 1e-50)),
    ("in_units", ("cps", "counts"), ("adu", 3)),
)


@st.composite
def cases(draw):
    """Keyword arguments of one case: ``{"init": {...}, "add": {...}}``."""
    small = draw(st.integers(0, 19)) == 0  # 1xN inputs: refused (drizzle needs 2x2)
    ny, nx = draw(st.integers(1 if small else 2, 7)), draw(st.integers(1 if small else 2, 7))
    kernel = draw(st.sampled_from(KERNELS))
    out_shape = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.uniform(-1, 3, (ny, nx))
    for _ in range(draw(st.integers(0, 2))):
        values[rng.integers(ny), rng.integers(nx)] = draw(st.sampled_from((np.nan, np.inf, -np.inf, 1e30)))
    with np.errstate(invalid="ignore", over="ignore"):
        data = _array(draw, (ny, nx), draw(st.sampled_from(DTYPES)), values)
    add = {"data": data, "pixmap": draw(pixmaps(ny, nx))}
    bad = draw(st.integers(0, 9)) == 0 and draw(st.sampled_from([c[0] for c in CHOICES]))
    for name, valid, invalid in CHOICES:
        add[name] = draw(st.sampled_from(invalid if name == bad else valid))
    if draw(st.booleans()):
        add["weight_map"] = _array(draw, (ny, nx), draw(st.sampled_from(("<f4", ">f8", "<u1"))),
                                   rng.uniform(-0.2, 2, (ny, nx)))
    if draw(st.booleans()):
        dq_types = ("<u2", ">i4", "<u4", "<u4", "<u4", "<i8")  # int64: refused
        add["dq"] = rng.integers(0, 2**12, (ny, nx)).astype(draw(st.sampled_from(dq_types)))
    if draw(st.integers(0, 3)) == 0:
        add["xmin"], add["xmax"] = draw(st.integers(-1, nx)), draw(st.integers(-1, nx))
    init = {"kernel": kernel, "out_shape": out_shape, "fillval": draw(st.sampled_from((None, "NaN", "INDEF", 0)))}
    return {"init": init, "add": add}


def _run(backend, case):
    """``(counts, outputs)`` of the case on ``backend``, or ``(exception, None)``."""
    try:
        d = Drizzle(backend=backend, **case["init"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-conserving kernels, small pixfrac, lanczos pixfrac
            counts = d.add_image(**case["add"])
    except Exception as exc:  # the check classifies every exception
        return exc, None
    outs = {"img": d.out_img, "wht": d.out_wht, "ctx": d.out_ctx, "dq": d.out_dq}
    return counts, {k: None if v is None else np.array(v) for k, v in outs.items()}


def _wrapped(case):
    """True when drizzle's scan has a row whose right limit is NaN's INT_MIN (its counters wrap around)."""
    add = case["add"]
    pm = np.asarray(add["pixmap"], np.float64)
    if case["init"]["kernel"] == "tophat" or pm.ndim != 3 or min(pm.shape[:2]) < 2:
        return False
    try:
        box = input_box(add.get("xmin"), add.get("xmax"), add.get("ymin"), add.get("ymax"), pm.shape[:2])
        with np.errstate(invalid="ignore"):
            pm = np.where(np.abs(pm) > MAX_PIXMAP_COORD, np.nan, pm)
        return row_limits(pm, case["init"]["out_shape"], *box).wrapped_row is not None
    except ValueError:
        return False


def _tame(case):
    """A case raw drizzle can be asked too, and should agree on (docs/differences.rst): a finite pixel
    map within the coordinate limit, finite data and weights (we give non-finite ones weight 0)."""
    add = case["add"]
    pm = add["pixmap"]
    finite = [np.all(np.isfinite(np.asarray(add[k], np.float64))) for k in ("data", "weight_map") if k in add]
    if not (np.all(np.isfinite(pm)) and np.all(np.abs(pm) <= MAX_PIXMAP_COORD) and all(finite)):
        return False
    # a zero-height footprint: drizzle reads an edge it never set, its counts vary from run to run
    ny, nx = pm.shape[:2]
    box = input_box(add.get("xmin"), add.get("xmax"), add.get("ymin"), add.get("ymax"), (ny, nx))
    lim = None if case["init"]["kernel"] == "tophat" else row_limits(pm, case["init"]["out_shape"], *box)
    return lim is None or not (lim.undefined or lim.wrapped_row is not None)


def check_case(case, against_drizzle=True):
    """Raise AssertionError unless the case passes (module docstring); return "accepted"/"refused"."""
    copies = {k: np.array(v, copy=True) for k, v in case["add"].items() if isinstance(v, np.ndarray)}
    results = {b: _run(b, case) for b in BACKENDS}
    for k, v in copies.items():
        np.testing.assert_array_equal(case["add"][k], v, err_msg=f"{k} was modified")
    (c_cpu, o_cpu), (c_emu, o_emu) = results["cpu"], results["emulator"]
    refused = [isinstance(c, Exception) for c in (c_cpu, c_emu)]
    for c in (c_cpu, c_emu):
        if isinstance(c, Exception) and not _named(c):
            raise AssertionError(f"raw error: {type(c).__name__}: {c}") from c
    if any(refused):
        assert all(refused), f"one backend refused: cpu={c_cpu!r} emulator={c_emu!r}"
        return "refused"
    if not _wrapped(case):  # drizzle's miss count is not defined there (docs/differences.rst)
        assert c_cpu == c_emu, f"counters cpu={c_cpu} emulator={c_emu}"
    _compare(o_cpu, o_emu)
    if against_drizzle and _tame(case):
        _compare_drizzle(case, c_cpu, o_cpu)
    return "accepted"


def _compare(a, b):
    np.testing.assert_array_equal(a["wht"] != 0, b["wht"] != 0, err_msg="weight support")
    np.testing.assert_allclose(a["wht"], b["wht"], rtol=1e-5, atol=1e-6, err_msg="wht")
    good = (a["wht"] > 1e-6) | (a["wht"] == 0)  # tiny float weights: the mean is ill-conditioned
    np.testing.assert_allclose(a["img"][good], b["img"][good], rtol=1e-4, atol=1e-4, equal_nan=True,
                               err_msg="img")
    for name in ("ctx", "dq"):
        if a[name] is not None or b[name] is not None:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _compare_drizzle(case, counts, ours):
    from drizzle.resample import Drizzle as Reference

    init = dict(case["init"])
    try:
        ref = Reference(**init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_counts = ref.add_image(**case["add"])
    except Exception:  # drizzle refusing what we accept (a documented difference) is fine
        return
    assert tuple(ref_counts) == tuple(counts), f"counters drizzle={ref_counts} cpu={counts}"
    np.testing.assert_array_equal(ours["wht"], ref.out_wht, err_msg="wht vs drizzle")
    np.testing.assert_array_equal(ours["img"], ref.out_img, err_msg="img vs drizzle")


# ------------------------------------------------------------------ resample()
#: resample() parameters: (name, valid choices, invalid choices (issue 13, item 7 and more))
RESAMPLE_CHOICES = (
    ("kernel", KERNELS, ("box", 3, None)),
    ("pixfrac", (1.0, 0.5, 0.8), (None, 0.0, "1", True, np.nan)),
    ("pixel_scale_ratio", (1.0, 0.5, 1.5), (None, 0.0, -1.0, "1", np.inf)),
    ("rotation", (None, 0.0, 30.0, -45.0), ("30", np.nan, True)),
    ("crpix", (None, (10.0, 12.0)), ("12", (1.0,), (np.nan, 1.0), (1, 2, 3))),
    ("crval", (None, (53.16, -27.78)), ("12", (53.16, 95.0), (53.16, -91.0), (np.inf, 0.0))),
    ("output_shape", (None, (60, 50)), ("55", (5.5, 3), ("a", 2), (2**31, 2), (0, 5), (-3, 4))),
    ("fillval", ("INDEF", "NaN", 0.0, -1.5), ("abc", None, [1])),
    ("weight_type", ("ivm", "exptime"), ("IVM2", 1, None)),
    ("single", (False, True), ("False", "no", 2)),
    ("in_memory", (True,), ("no", 0.5)),
    ("enable_ctx", (True, False), ("yes", 3)),
    ("propagate_dq", (False, True), ("False",)),
    ("allowed_memory", (None, 0.9), (np.inf, True, -0.5, "a")),
    ("good_bits", ("~DO_NOT_USE+NON_SCIENCE", 0, "DO_NOT_USE"), ([1, 2], 1.5, "NOT_A_FLAG")),
    ("pixmap_stepsize", ("auto", 1, 16), (0, "fast", 2.5)),
    ("pixmap_order", (1, 3), (2, "3")),
)


@st.composite
def resample_cases(draw):
    """``{"backend": ..., "kwargs": {...}}`` of one ``resample()`` call on a small synthetic scene."""
    kwargs = {}
    bad = draw(st.integers(0, 2)) == 0 and draw(st.sampled_from([c[0] for c in RESAMPLE_CHOICES]))
    for name, valid, invalid in RESAMPLE_CHOICES:
        if name == bad:
            kwargs[name] = draw(st.sampled_from(invalid))
        elif draw(st.integers(0, 2)) == 0:
            kwargs[name] = draw(st.sampled_from(valid))
    if kwargs.get("kernel") == "tophat" and "pixfrac" not in kwargs:
        kwargs["pixfrac"] = 1.0
    return {"backend": draw(st.sampled_from(BACKENDS)), "kwargs": kwargs}


_SCENE = []


def scene():
    """Three dithered 40x40 exposures (built once per process)."""
    if not _SCENE:
        from gpuresample.synthetic import dithered_scene

        _SCENE.extend(dithered_scene(n_exposures=3, shape=(40, 40), nstars=5, ngal=5))
    return _SCENE


def check_resample_case(case):
    """Raise AssertionError unless ``resample()`` succeeds or refuses with an error naming a parameter."""
    from gpuresample import resample

    exposures = scene()
    before = [np.array(e["data"], copy=True) for e in exposures]
    names = tuple(k for k, _, _ in RESAMPLE_CHOICES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = resample(exposures, backend=case["backend"], **case["kwargs"])
    except Exception as exc:  # classified below
        msg = str(exc)
        named = type(exc).__module__.startswith("gpuresample") or (
            isinstance(exc, (ValueError, TypeError)) and any(re.search(rf"\b{n}\b", msg) for n in names))
        no_landing = isinstance(exc, ValueError) and "no input pixel landed" in msg
        if not (named or no_landing):
            raise AssertionError(f"raw error: {type(exc).__name__}: {exc}") from exc
        outcome = "refused"
    else:
        results = res if isinstance(res, list) else [res]
        for r in results:
            assert r.data.dtype == np.float32 and r.data.shape == r.wht.shape
            assert np.all(np.isfinite(r.wht))  # lanczos weights may be negative
        outcome = "accepted"
    for e, b in zip(exposures, before, strict=True):
        np.testing.assert_array_equal(e["data"], b, err_msg="an input was modified")
    return outcome
