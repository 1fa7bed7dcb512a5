"""Device-resident outputs of the kernel backends, proven on the emulator by counted transfers.

The emulator moves its "device" arrays through the same
:class:`gpuresample.gpu.device.Device` methods as the CUDA backend, so the
counts here are those of a GPU run of the same inputs (issue 12).
"""

from __future__ import annotations

import numpy as np
import pytest

from gpuresample import Drizzle, resample
from gpuresample.gpu.device import STATS
from gpuresample.synthetic import dithered_scene

OUTPUT_NAMES = ("data", "wht", "con", "err", "var_rnoise", "var_poisson", "var_flat")


def _identity(ny, nx, dx=0.3, dy=-0.2):
    y, x = np.indices((ny, nx), dtype=np.float64)
    return np.dstack([x + dx, y + dy])


@pytest.fixture(scope="module")
def scene():
    return dithered_scene(5, (96, 96), nstars=20, ngal=20)


def _run(scene, backend, **kw):
    return resample(scene, backend=backend, **kw)


def test_resample_downloads_each_output_once(scene):
    """d2h: the output arrays once, at the end (+ 8 bytes of miss counter per image); no per-exposure copy."""
    before = STATS.snapshot()
    res = _run(scene, "emulator")
    stats = STATS.since(before)
    assert res.meta["device_stats"] == stats
    out_bytes = sum(getattr(res, n).nbytes for n in OUTPUT_NAMES)
    counters = 8 * len(scene)
    assert stats["d2h_bytes"] == out_bytes + counters
    # one copy per output array (the context planes are one array) + one counter per image
    assert stats["d2h_copies"] == len(OUTPUT_NAMES) + len(scene)
    assert stats["h2d_bytes"] > 0 and stats["launches"] >= 2 * len(scene)


def _assert_equal_products(emu, cpu):
    """Values rel 1e-5 (the kernels sum each image in float64, drizzle keeps float running means);
    context and DQ exact; the same NaN pixels."""
    emu_list, cpu_list = (emu, cpu) if isinstance(emu, list) else ([emu], [cpu])
    assert len(emu_list) == len(cpu_list)
    for e, c in zip(emu_list, cpu_list, strict=True):
        assert set(e.arrays()) == set(c.arrays())
        for name, b in c.arrays().items():
            a = getattr(e, name)
            if name in ("con", "dq"):
                np.testing.assert_array_equal(a, b, err_msg=name)
                continue
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
            good = ~np.isnan(b)
            scale = np.nanmax(np.abs(b)) if good.any() else 1.0
            np.testing.assert_allclose(a[good], b[good], rtol=1e-5, atol=1e-6 * scale, err_msg=name)


KERNEL_CASES = [("square", {}), ("point", {}), ("turbo", {}), ("gaussian", {}), ("lanczos2", {}),
                ("lanczos3", {}), ("tophat", {"pixel_scale_ratio": 0.7})]


@pytest.mark.parametrize("weight_type", ["ivm", "exptime"])
@pytest.mark.parametrize(("kernel", "extra"), KERNEL_CASES, ids=[k for k, _ in KERNEL_CASES])
def test_resample_device_resident_equals_cpu(scene, kernel, extra, weight_type):
    """Every kernel, with variance, context, DQ and both weight types: the device-resident path
    (device outputs, device-expanded pixel maps) gives the CPU backend's products."""
    kw = dict(kernel=kernel, weight_type=weight_type, propagate_dq=True, **extra)
    _assert_equal_products(_run(scene, "emulator", **kw), _run(scene, "cpu", **kw))


def test_more_than_32_inputs_single_and_tiles():
    """Context planes past 32 inputs, single=True products and tiles, on the device-resident path."""
    many = dithered_scene(34, (40, 40), nstars=5, ngal=5, dither_arcsec=0.5)
    kw = dict(kernel="square", propagate_dq=True)
    emu = _run(many, "emulator", **kw)
    assert emu.con.shape[0] == 2
    _assert_equal_products(emu, _run(many, "cpu", **kw))
    _assert_equal_products(_run(many[:6], "emulator", single=True, **kw), _run(many[:6], "cpu", single=True, **kw))
    _assert_equal_products(_run(many, "emulator", tile=(17, 23), **kw), _run(many, "cpu", **kw))


def test_cpu_backend_has_no_device_stats(scene):
    assert "device_stats" not in _run(scene[:2], "cpu").meta


def test_drizzle_outputs_stay_on_device_until_read():
    """Drizzle-allocated outputs: nothing is downloaded by add_image; reading a property downloads once."""
    data = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    pixmap = _identity(30, 40)
    d = Drizzle(out_shape=(32, 44), backend="emulator", fillval=0)
    before = STATS.snapshot()
    for _ in range(3):
        d.add_image(data, exptime=1.0, pixmap=pixmap)
    per_image = STATS.since(before)
    assert per_image["d2h_copies"] == 3  # the miss counters only
    img = d.out_img
    wht = d.out_wht
    after_read = STATS.since(before)
    assert after_read["d2h_copies"] == 3 + 3  # img, wht, ctx: all three arrays synced together
    again = STATS.snapshot()
    assert d.out_img is img and d.out_wht is wht
    assert STATS.since(again)["d2h_copies"] == 0  # up to date: no second download
    ref = Drizzle(out_shape=(32, 44), backend="cpu", fillval=0)
    for _ in range(3):
        ref.add_image(data, exptime=1.0, pixmap=pixmap)
    np.testing.assert_allclose(img, ref.out_img, rtol=1e-6)
    np.testing.assert_array_equal(d.out_ctx, ref.out_ctx)


def test_caller_outputs_are_updated_in_place_after_every_image():
    """Output arrays supplied by the caller keep drizzle's in-place contract (written through)."""
    data = np.ones((20, 20), np.float32)
    out_img = np.zeros((24, 24), np.float32)
    out_wht = np.zeros((24, 24), np.float32)
    d = Drizzle(out_img=out_img, out_wht=out_wht, backend="emulator")
    d.add_image(data, exptime=1.0, pixmap=_identity(20, 20))
    assert out_wht.sum() > 0  # read directly, without touching d.out_wht
    out_wht_first = out_wht.copy()
    d.add_image(data, exptime=1.0, pixmap=_identity(20, 20))
    np.testing.assert_allclose(out_wht, 2 * out_wht_first, rtol=1e-6)


def test_context_planes_grow_on_the_device():
    """More than 32 images: the device grows its context planes like drizzle does on the host."""
    data = np.ones((8, 8), np.float32)
    d = Drizzle(out_shape=(10, 10), backend="emulator", max_ctx_id=0)
    for _ in range(34):
        d.add_image(data, exptime=1.0, pixmap=_identity(8, 8, 0.0, 0.0))
    assert d.out_ctx.shape[0] == 2
    assert np.all(d.out_ctx[0][:8, :8] == -1) and np.all(d.out_ctx[1][:8, :8] == 3)


def test_transfers_of_a_jwst_default_run(monkeypatch):
    """Issue 12's acceptance figures: N=8 NIRCam-like 2048**2 exposures onto a ~7 Mpix grid, jwst
    defaults (pixmap_stepsize="auto"), on the emulator: host->device <= 1.2 x (data, var_rnoise,
    var_poisson, var_flat, dq) + the sparse maps; device->host <= 1.05 x the outputs, and no copy of an
    output array before the end (every other download is an 8-byte miss counter)."""
    import gpuresample.prepared as loop
    from gpuresample.gpu.device import Device

    scene8 = dithered_scene(8, (2048, 2048), nstars=30, ngal=30)
    sparse = []
    real_pm = loop.pixmap_and_model

    def record(*args, **kwargs):
        pm, model = real_pm(*args, **kwargs)
        sparse.append(0 if model is None else model.nbytes)
        return pm, model

    downloads = []
    real_into = Device.download_into
    real_down = Device.download

    def into(self, d, host_view):
        downloads.append(d.nbytes)
        return real_into(self, d, host_view)

    def down(self, d):
        downloads.append(d.nbytes)
        return real_down(self, d)

    monkeypatch.setattr(loop, "pixmap_and_model", record)
    monkeypatch.setattr(Device, "download_into", into)
    monkeypatch.setattr(Device, "download", down)
    # workers=1: the maps are made in this process, where record() sees them (helpers move no bytes)
    res = resample(scene8, backend="emulator", pixel_scale_ratio=0.85, workers=1)
    stats = res.meta["device_stats"]
    assert 6.5e6 < res.data.size < 8e6
    used = sum(e[n].nbytes for e in scene8 for n in ("data", "var_rnoise", "var_poisson", "var_flat", "dq"))
    assert len(sparse) == 8 and all(0 < b < 1e6 for b in sparse)  # every map travelled as its spline
    assert stats["h2d_bytes"] <= 1.2 * (used + sum(sparse))
    out_bytes = sum(a.nbytes for a in res.arrays().values())
    assert stats["d2h_bytes"] <= 1.05 * out_bytes
    big = [b for b in downloads if b > 8]
    assert len(big) == len(res.arrays()) and sum(big) == out_bytes  # each output once, at the end
    print(f"h2d {stats['h2d_bytes'] / used:.4f} x inputs, d2h {stats['d2h_bytes'] / out_bytes:.6f} x outputs")


def test_phase_timer_sorts_every_transfer_and_launch():
    """``Device.timing()``: one mark per counted transfer and launch, each in its phase (CUDA events on a
    GPU, the host clock on the emulator); nothing is timed outside the block."""
    from gpuresample.backends import get_backend

    dev = get_backend("emulator").device
    scene = dithered_scene(2, (64, 64), nstars=5, ngal=5)
    before = STATS.snapshot()
    with dev.timing() as timer:
        resample(scene, backend="emulator")
    counts = STATS.since(before)
    phases = [p for p, _, _ in timer.marks]
    assert len(phases) == counts["launches"] + counts["h2d_copies"] + counts["d2h_copies"]
    assert phases.count("scatter") == 2 and phases.count("prepare") == 2 and phases.count("pixmap") <= 2
    seconds = timer.seconds()
    assert all(seconds[p] > 0 for p in ("upload", "prepare", "scatter", "merge", "download"))
    assert dev.timer is None


@pytest.mark.parametrize("kernel", ["point", "turbo", "gaussian", "tophat", "square", "lanczos3"])
@pytest.mark.parametrize("negative", [False, True], ids=["weights>=0", "some<0"])
def test_context_bits_from_the_merge_step(kernel, negative):
    """Kernels whose contributions carry the input weight's sign set the context bit in merge_image (where
    the image's weight sum is > 0) unless a weight is negative; square and lanczos always per contribution.
    Either way the context planes are drizzle's, exactly."""
    rng = np.random.default_rng(3)
    ny, nx = 30, 34
    images = []
    for k in range(3):
        w = rng.uniform(0.0, 2.0, (ny, nx)).astype(np.float32)
        w[rng.random((ny, nx)) < 0.2] = 0.0
        if negative:
            w[rng.random((ny, nx)) < 0.1] *= -1.0
        images.append((rng.normal(1.0, 0.2, (ny, nx)).astype(np.float32), w, _identity(ny, nx, 1.3 + k, 2.1 - 0.5 * k)))
    outs = {}
    for backend in ("emulator", "cpu"):
        d = Drizzle(kernel=kernel, out_shape=(36, 40), backend=backend)
        for data, w, pm in images:
            with np.errstate(all="ignore"), pytest.warns() if kernel in ("gaussian", "lanczos3") else _nothing():
                d.add_image(data, exptime=1.0, pixmap=pm, weight_map=w, pixel_scale_ratio=0.8)
        outs[backend] = d
        if backend == "emulator":
            mode = int(d.backend_state.scratch("ctx_mode", 1, np.uint32, clear=False)[0])
            assert mode == (0 if kernel in ("point", "turbo", "gaussian", "tophat") and not negative else 1)
    np.testing.assert_array_equal(outs["emulator"].out_ctx, outs["cpu"].out_ctx)
    assert outs["cpu"].out_ctx.any()


def _nothing():
    import contextlib

    return contextlib.nullcontext()
