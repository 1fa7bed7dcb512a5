"""compute_err (stcal's names, issue 15): the error array from the variances or from the drizzled err arrays,
for mosaics and single products, on every backend and tiled."""

import numpy as np
import pytest

from gpuresample import resample
from gpuresample.synthetic import dithered_scene

BASE = dict(workers=1, propagate_dq=True)


@pytest.fixture(scope="module")
def scene():
    return dithered_scene(3, (48, 48), nstars=5, ngal=5)


def _one_group(scene):
    """The scene as one exposure group (so single=True makes one product, comparable with the mosaic)."""
    return [dict(e, group_id="all") for e in scene]


def _same(a, b, names):
    for name in names:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("backend", ["cpu", "emulator"])
def test_driz_err_on_a_mosaic(scene, backend):
    """driz_err: err as single=True drizzles it, while the variances are still propagated as from_var's."""
    group = _one_group(scene)
    default = resample(group, backend=backend, **BASE)
    driz = resample(group, backend=backend, compute_err="driz_err", **BASE)
    (single,) = resample(group, backend=backend, single=True, **BASE)
    _same(driz, default, ["data", "wht", "con", "dq", "var_rnoise", "var_poisson", "var_flat"])
    _same(driz, single, ["err"])
    assert not np.array_equal(driz.err, default.err, equal_nan=True)
    assert single.var_rnoise is None  # jwst: no variances for single products ...


def test_from_var_with_single_and_explicit_default(scene):
    """... unless compute_err="from_var" asks for them; "from_var" on a mosaic is the default."""
    group = _one_group(scene)
    mosaic = resample(group, **BASE)
    (single,) = resample(group, single=True, compute_err="from_var", **BASE)
    _same(single, mosaic, ["data", "wht", "con", "err", "var_rnoise", "var_poisson", "var_flat"])
    _same(resample(group, compute_err="FROM_VAR", **BASE), mosaic, ["err"])


def test_driz_err_tiled_equals_untiled(scene):
    ref = resample(scene, compute_err="driz_err", **BASE)
    res = resample(scene, compute_err="driz_err", tile=(23, 31), **BASE)
    _same(res, ref, ["data", "wht", "con", "dq", "err", "var_rnoise", "var_poisson", "var_flat"])


@pytest.mark.parametrize("bad", ["driz", 1, True])
def test_bad_compute_err(scene, bad):
    with pytest.raises(ValueError, match="compute_err must be None or one of"):
        resample(scene, compute_err=bad)


def test_compute_err_flag():
    from gpuresample.cli import build_parser

    args = build_parser().parse_args(["x_cal.fits", "--compute_err", "driz_err"])
    assert args.compute_err == "driz_err"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["x_cal.fits", "--compute-err", "nope"])
