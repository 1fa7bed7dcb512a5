"""Exposure geometry prepared ahead in forked helpers on the kernel backends (issue 12: host work off the
critical path).  The products must be bitwise those of a run without helpers, and the main process must
then not evaluate a WCS grid nor drizzle's scan itself."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

import gpuresample.drizzle_loop as loop
import gpuresample.pixmap_checks as checks
import gpuresample.prepared as prepared
from gpuresample import resample
from gpuresample.synthetic import dithered_scene
from gpuresample.workers import can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="the geometry helpers are forked")


@pytest.fixture(scope="module")
def scene():
    return dithered_scene(6, (96, 104), nstars=8, ngal=8)


def _only_in_helpers(monkeypatch, module, name):
    """Make ``module.name`` raise in this process (the forked helpers inherit a wrapper that passes)."""
    main = os.getpid()
    real = getattr(module, name)

    def guarded(*args, **kwargs):
        if os.getpid() == main:
            raise AssertionError(f"{name} ran in the main process")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, guarded)


@pytest.mark.parametrize("kw", [dict(), dict(kernel="lanczos3", propagate_dq=True), dict(weight_type="exptime")],
                         ids=["defaults", "lanczos3-dq", "exptime"])
def test_helpers_give_the_same_products(scene, kw, monkeypatch):
    resample(scene[:1], backend="emulator", workers=1, **kw)  # per-device constants (lanczos table) uploaded
    ref = resample(scene, backend="emulator", workers=1, **kw)
    _only_in_helpers(monkeypatch, prepared, "pixmap_and_model")
    _only_in_helpers(monkeypatch, checks, "row_limits")
    res = resample(scene, backend="emulator", workers=2, **kw)
    for name, a in ref.arrays().items():
        np.testing.assert_array_equal(getattr(res, name), a, err_msg=name)
    assert res.meta["device_stats"] == ref.meta["device_stats"]
    assert not multiprocessing.active_children()  # the pool is gone


def test_no_helpers_where_they_do_not_pay(scene, monkeypatch):
    """Fewer than MIN_EXPOSURES inputs, one worker, the CPU backend, exact maps, tiles: no pool."""
    def refuse(*args, **kwargs):
        raise AssertionError("a geometry pool was started")

    monkeypatch.setattr(loop, "GeometryPrefetch", refuse)
    resample(scene[:3], backend="emulator", workers=2)
    resample(scene, backend="emulator", workers=1)
    resample(scene, backend="cpu", workers=2)
    resample(scene, backend="emulator", workers=2, pixmap_stepsize=1)
    resample(scene, backend="emulator", workers=2, tile=64)


def test_an_error_in_the_loop_ends_the_helpers(scene, monkeypatch):
    real = loop.ProductAccumulators.add

    def add(self, ex, params, psr, helper, k, *a):
        if k == 2:
            raise RuntimeError("boom")
        return real(self, ex, params, psr, helper, k, *a)

    monkeypatch.setattr(loop.ProductAccumulators, "add", add)
    with pytest.raises(RuntimeError, match="boom"):
        resample(scene, backend="emulator", workers=2)
    assert not multiprocessing.active_children()


def _dying_geometry(*args):
    """A helper that dies on its first exposure (os._exit: no exception, the process is gone)."""
    os._exit(3)


def test_a_dead_helper_costs_only_speed(scene, monkeypatch, caplog):
    import gpuresample.prefetch as prefetch

    ref = resample(scene, backend="emulator", workers=1)
    monkeypatch.setattr(prefetch, "exposure_geometry", _dying_geometry)
    with caplog.at_level("WARNING", logger="gpuresample"):
        res = resample(scene, backend="emulator", workers=2)
    for name, a in ref.arrays().items():
        np.testing.assert_array_equal(getattr(res, name), a, err_msg=name)
    assert caplog.text.count("geometry helper process died") == 1  # once, not per exposure
    assert not multiprocessing.active_children()
