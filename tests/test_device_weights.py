"""Weights, DQ masks, the non-finite rule and sqrt(variance) made on the device (issue 12, item 2).

``kernels/prepare.cu`` must give, per input pixel, the host front end's
values (:meth:`gpuresample.weights.WeightRule.host_weights` and
:func:`gpuresample.step_inputs.host_inputs`) bit for bit.  The point kernel
on an integer-shifted identity map lands every input pixel on one output
pixel, so its outputs expose them: ``out_wht`` is the weight, ``out_img`` the
(cleaned) data, ``last_linear`` the square roots.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpuresample import Drizzle, resample
from gpuresample.gpu.device import STATS
from gpuresample.step_inputs import zero_weight_non_finite
from gpuresample.synthetic import dithered_scene
from gpuresample.weights import WeightRule

NY, NX = 24, 30

#: variances whose inverse or root is special: zero, negative, inf, NaN, float32
#: subnormal (1/v overflows), huge (1/v is subnormal), ordinary
NASTY_VAR = np.array([0.0, -2.0, np.inf, np.nan, 1e-40, 1e38, 3.0e38, 0.25, 7.0], np.float32)


def _arrays(dq_dtype=np.uint32, var_dtype=np.float32):
    rng = np.random.default_rng(5)
    data = rng.normal(3.0, 1.0, (NY, NX)).astype(np.float32)
    data[2, 3], data[5, 7], data[9, 1] = np.nan, np.inf, -np.inf
    var = rng.choice(NASTY_VAR, (NY, NX)).astype(var_dtype)
    other = rng.uniform(-0.5, 2.0, (NY, NX)).astype(np.float32)  # negative: sqrt NaN
    dq = rng.choice(np.array([0, 0, 0, 1, 4, 6, 512, 2**31], np.uint64), (NY, NX)).astype(dq_dtype)
    return data, var, other, dq


def _identity(dx=2, dy=1):
    y, x = np.indices((NY, NX), dtype=np.float64)
    return np.dstack([x + dx, y + dy])


def _drizzle(backend, data, rule, linear, pixmap):
    d = Drizzle(kernel="point", out_shape=(NY + 3, NX + 4), fillval="NaN", backend=backend)
    d.add_image(data, exptime=1.0, pixmap=pixmap, weight_rule=rule, linear=linear, linear_sqrt=True)
    return d


def _bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def _expected(data, rule, linear, pixmap):
    w = rule.host_weights(pixmap)
    clean, w = zero_weight_non_finite(data, w)
    with np.errstate(invalid="ignore"):
        roots = [np.sqrt(a.astype(np.float32)) for a in linear]
    return clean, w, roots


def _check(d, data, rule, linear, pixmap):
    """The landed pixels' outputs are the expected weights, data and roots exactly."""
    clean, w, roots = _expected(data, rule, linear, pixmap)
    ys, xs = np.indices(data.shape).reshape(2, -1)
    oy, ox = ys + 1, xs + 2
    # +0/-0: a zero weight adds nothing either way (the sum stays +0)
    np.testing.assert_array_equal(_bits(d.out_wht[oy, ox]), _bits(w[ys, xs] + np.float32(0)))
    pos = w[ys, xs] > 0
    np.testing.assert_array_equal(_bits(d.out_img[oy, ox][pos]), _bits(clean[ys, xs][pos]))
    assert np.isnan(d.out_img[oy, ox][w[ys, xs] == 0]).all()
    for mean, root in zip(d.last_linear, roots, strict=True):
        got, want = mean[oy, ox][pos], root[ys, xs][pos]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(_bits(got[~np.isnan(got)]), _bits(want[~np.isnan(want)]))


GOOD_BITS = [None, 0, 6, "~DO_NOT_USE+NON_SCIENCE"]


@pytest.mark.parametrize("good_bits", GOOD_BITS, ids=str)
@pytest.mark.parametrize("kind", ["inverse", "constant", "missing-var"])
@pytest.mark.parametrize("backend", ["emulator", "cpu"])
def test_weights_made_on_the_device_equal_the_host_rule(backend, kind, good_bits, monkeypatch):
    """ivm (1/var, nasty variances), exptime (a constant) and ivm without var_rnoise (1), each
    with DQ masks: the device's weights, cleaned data and roots are the host's bit for bit; on the
    emulator the host never evaluates the rule (the weights are not uploaded)."""
    data, var, other, dq = _arrays()
    rule = {"inverse": WeightRule(data.shape, var=var, dq=dq, good_bits=good_bits),
            "constant": WeightRule(data.shape, value=float(np.float32(123.4)), dq=dq, good_bits=good_bits),
            "missing-var": WeightRule(data.shape, dq=dq, good_bits=good_bits)}[kind]
    pixmap = _identity()
    linear = [var, other]
    if backend == "emulator":
        def refuse(self, pixmap=None):
            raise AssertionError("the host evaluated the weight rule")

        with monkeypatch.context() as m:
            m.setattr(WeightRule, "host_weights", refuse)
            before = STATS.snapshot()
            d = _drizzle(backend, data, rule, linear, pixmap)
            up = STATS.since(before)["h2d_bytes"]
        # data + DQ + the two linear arrays (var read from its linear slot) + map + row limits; no weights
        expected = data.nbytes + (dq.nbytes if rule.bad_bits is not None else 0) + 2 * var.nbytes + pixmap.nbytes
        assert expected <= up <= expected + 16 * NY + 64
    else:
        d = _drizzle(backend, data, rule, linear, pixmap)
    _check(d, data, rule, linear, pixmap)


@pytest.mark.parametrize(("dq_dtype", "var_dtype"), [(np.uint16, np.float32), (np.int32, np.float32),
                                                     (np.uint32, np.float64)])
def test_rules_the_device_cannot_reproduce_are_evaluated_on_the_host(dq_dtype, var_dtype):
    """Signed DQ (sign extension) and float64 variances (1/var rounds in float64 first): the
    kernel backend evaluates those rules on the host and uploads the weights; same values."""
    data, var, other, dq = _arrays(dq_dtype, var_dtype)
    dq[0, :5] = np.array([-1, -2, -512, 3, 0]).astype(dq_dtype) if dq_dtype == np.int32 else dq[0, :5]
    rule = WeightRule(data.shape, var=var, dq=dq, good_bits="~DO_NOT_USE")
    assert rule.device_ready == (dq_dtype == np.uint16)
    pixmap = _identity()
    _check(_drizzle("emulator", data, rule, [other], pixmap), data, rule, [other], pixmap)


@pytest.mark.parametrize("backend", ["emulator", "cpu"])
def test_tile_reach_mask_on_the_device(backend):
    """A tile's reach (WeightRule.within): weight +0 for centres outside it."""
    data, var, _, dq = _arrays()
    pixmap = _identity()
    rule = WeightRule(data.shape, var=var, dq=dq, good_bits=0).within((3, 15, 6, 20), 1.5)
    d = _drizzle(backend, data, rule, [var], pixmap)
    _check(d, data, rule, [var], pixmap)
    assert (d.out_wht[:, :4] == 0).all()  # left of the reach: nothing


def test_weight_rule_arguments_are_checked():
    data = _arrays()[0]
    d = Drizzle(kernel="point", out_shape=(NY, NX), backend="emulator")
    with pytest.raises(ValueError, match="not both"):
        d.add_image(data, exptime=1.0, pixmap=_identity(0, 0), weight_map=np.ones_like(data),
                    weight_rule=WeightRule(data.shape))
    with pytest.raises(ValueError, match="'weight_rule' shape"):
        d.add_image(data, exptime=1.0, pixmap=_identity(0, 0), weight_rule=WeightRule((3, 3)))
    with pytest.raises(TypeError, match="WeightRule"):
        d.add_image(data, exptime=1.0, pixmap=_identity(0, 0), weight_rule=np.ones_like(data))
    assert d.out_wht.max() == 0  # nothing changed


def test_resample_never_makes_weights_on_the_host_for_kernel_backends(monkeypatch):
    """An untiled resample() on the emulator (ivm and exptime, variances, DQ propagated) builds every
    weight and sqrt(variance) on the device: the host rule is never evaluated."""
    scene = dithered_scene(3, (64, 64), nstars=8, ngal=8)

    def refuse(self, pixmap=None):
        raise AssertionError("host weights")

    monkeypatch.setattr(WeightRule, "host_weights", refuse)
    for wt in ("ivm", "exptime"):
        res = resample(scene, backend="emulator", weight_type=wt, propagate_dq=True)
        assert res.wht.max() > 0 and np.isfinite(res.var_rnoise).any()
