"""Outputs left on the device: ``resample(..., output="device")`` and ``Drizzle.device_outputs()`` (issue 12, item 1).

On the emulator the device arrays are numpy arrays that only the launch
code makes; a download is a counted copy.  ``output="device"`` must give
the host run's arrays exactly, with nothing downloaded but drizzle's 8-byte
miss counters.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpuresample import Drizzle, resample
from gpuresample.gpu.device import STATS
from gpuresample.synthetic import dithered_scene


@pytest.fixture(scope="module")
def scene():
    return dithered_scene(4, (72, 80), nstars=10, ngal=10)


@pytest.mark.parametrize("kw", [dict(), dict(weight_type="exptime", propagate_dq=True, kernel="turbo"),
                                dict(single=True), dict(compute_err="driz_err")],
                         ids=["ivm", "exptime-dq-turbo", "single", "driz_err"])
def test_device_output_equals_the_host_output(scene, kw):
    host = resample(scene, backend="emulator", **kw)
    dev = resample(scene, backend="emulator", output="device", **kw)
    hosts, devs = (host, dev) if isinstance(host, list) else ([host], [dev])
    assert len(hosts) == len(devs)
    for h, d in zip(hosts, devs, strict=True):
        assert set(h.arrays()) == set(d.arrays())
        for name, a in h.arrays().items():
            np.testing.assert_array_equal(getattr(d, name), a, err_msg=name)
        stats = d.meta["device_stats"]
        n_images = len(d.inputs) * (2 if "err" in h.arrays() and (kw.get("single") or kw.get("compute_err")) else 1)
        # nothing but the per-image miss counters came back
        assert stats["d2h_bytes"] == 8 * n_images and stats["d2h_copies"] == n_images
        back = d.to_host()
        for name, a in h.arrays().items():
            np.testing.assert_array_equal(getattr(back, name), a, err_msg=name)


def test_device_output_needs_a_kernel_backend_and_no_tiles(scene):
    with pytest.raises(ValueError, match="needs a kernel backend"):
        resample(scene, backend="cpu", output="device")
    with pytest.raises(ValueError, match="not with tile"):
        resample(scene, backend="emulator", output="device", tile=32)
    with pytest.raises(ValueError, match="output must be one of"):
        resample(scene, backend="emulator", output="gpu")


def _identity(ny, nx, dx=0.3, dy=-0.2):
    y, x = np.indices((ny, nx), dtype=np.float64)
    return np.dstack([x + dx, y + dy])


@pytest.mark.parametrize("backend", ["emulator", "cpu"])
def test_drizzle_device_outputs_are_the_live_outputs(backend):
    """``device_outputs()``: the window's arrays where the backend keeps them, without a download; the
    next image updates them; they equal what the ``out_*`` properties read back."""
    rng = np.random.default_rng(0)
    d = Drizzle(kernel="square", out_shape=(20, 24), backend=backend)
    d.add_image(rng.random((16, 18), np.float32), exptime=1.0, pixmap=_identity(16, 18))
    before = STATS.snapshot()
    outs = d.device_outputs()
    assert STATS.since(before)["d2h_bytes"] == 0
    first = outs["img"].copy()
    d.add_image(rng.random((16, 18), np.float32), exptime=1.0, pixmap=_identity(16, 18, 2.0, 1.0))
    live = d.device_outputs()
    assert not np.array_equal(live["img"], first)
    np.testing.assert_array_equal(live["img"], d.out_img)
    np.testing.assert_array_equal(live["wht"], d.out_wht)
    np.testing.assert_array_equal(live["ctx"], d.out_ctx)
    assert live["dq"] is None and live["img2"] is None
