"""Backend choice: auto falls back with a logged reason; names are validated."""

import logging

import pytest

import gpuresample.backends as backends
from gpuresample import BackendUnavailableError, Drizzle
from gpuresample.backends.base import HostBackend


def _no_cuda(monkeypatch, reason="simulated: no CUDA device"):
    """This machine as one without CUDA, whatever it has (the tests below also run on GPU machines)."""
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.delenv("GPURESAMPLE_BACKEND", raising=False)
    monkeypatch.setattr(backends, "cuda_unavailable_reason", lambda: reason)
    return reason


def test_auto_resolves_to_cpu_and_logs_why(caplog, monkeypatch):
    reason = _no_cuda(monkeypatch)
    with caplog.at_level(logging.INFO, logger="gpuresample"):
        d = Drizzle()
    assert d.backend == "cpu"
    assert f"backend='auto' -> 'cpu': {reason}" in caplog.text


def test_auto_follows_what_this_machine_has(monkeypatch):
    """Without simulation: CUDA exactly when its unavailability reason is None (a GPU machine), else the CPU."""
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.delenv("GPURESAMPLE_BACKEND", raising=False)
    expected = "cuda" if backends.cuda_unavailable_reason() is None else "cpu"
    assert Drizzle().backend == expected


def test_explicit_cuda_raises_named_error(monkeypatch):
    reason = _no_cuda(monkeypatch)
    with pytest.raises(BackendUnavailableError, match=f"backend='cuda' cannot run: {reason}"):
        Drizzle(backend="cuda")


def test_emulator_is_never_auto(monkeypatch):
    _no_cuda(monkeypatch)
    assert Drizzle().backend == "cpu"
    assert Drizzle(backend="emulator").backend == "emulator"


def test_environment_variable_overrides_auto(monkeypatch):
    monkeypatch.setenv("GPURESAMPLE_BACKEND", "cpu")
    assert Drizzle().backend == "cpu"
    monkeypatch.setenv("GPURESAMPLE_BACKEND", "quantum")
    with pytest.raises(ValueError, match="environment variable GPURESAMPLE_BACKEND"):
        Drizzle()


def test_explicit_backend_ignores_environment(monkeypatch):
    monkeypatch.setenv("GPURESAMPLE_BACKEND", "quantum")
    assert Drizzle(backend="cpu").backend == "cpu"


def test_device_memory_checked_against_faked_mem_info(monkeypatch):
    """With the CUDA backend, allowed_memory x free device memory is enforced before allocating."""
    import gpuresample.memory as memory
    from gpuresample import OutputTooLargeError, resample
    from gpuresample.synthetic import dithered_scene

    est = memory.device_estimate((1000, 1000), 2048 * 2048, n_data2=1, propagate_dq=True)
    assert est["total"] > 40 * 10**6
    with pytest.raises(OutputTooLargeError, match="device memory"):
        memory.check_device_memory(est, 0.5, 10 * 2**20)
    memory.check_device_memory(est, 0.5, 8 * 2**30)  # fits

    class FakeCuda(HostBackend):
        name = "cuda"

        def device_memory(self):
            return 2**20, 80 * 2**30  # 1 MiB free

    allocated = []
    monkeypatch.setattr("gpuresample.step.get_backend", lambda name: FakeCuda())
    monkeypatch.setattr("gpuresample.step.run_products", lambda *a, **k: allocated.append(1))
    scene = dithered_scene(2, (64, 64), nstars=5, ngal=5)
    with pytest.raises(OutputTooLargeError, match=r"of device memory.*tile="):
        resample(scene, allowed_memory=0.5)
    assert not allocated


class _OomBackend(HostBackend):
    """Stands in for the CUDA backend running out of device memory mid-run."""

    name = "cuda"
    same_pass_linear = True  # as the kernel backends: the variances ride in the science pass
    worker_start_method = "spawn"

    def add_image(self, driz, step):
        from gpuresample import DeviceOutOfMemoryError

        raise DeviceOutOfMemoryError("out of memory allocating 1 GiB (simulated)")


def _pixmap():
    import numpy as np

    return np.dstack(np.indices((12, 12), dtype=np.float64)[::-1]) + 2.0


def test_auto_falls_back_to_cpu_on_device_oom(caplog):
    import numpy as np

    ref = Drizzle(out_shape=(16, 16), backend="cpu")
    d = Drizzle(out_shape=(16, 16), backend="auto")
    d._backend = _OomBackend()
    data = np.arange(144, dtype=np.float32).reshape(12, 12)
    with caplog.at_level(logging.INFO, logger="gpuresample"):
        assert d.add_image(data, exptime=1.0, pixmap=_pixmap()) == ref.add_image(data, exptime=1.0, pixmap=_pixmap())
    assert "ran out of device memory" in caplog.text and d.backend == "cpu"
    np.testing.assert_array_equal(d.out_img, ref.out_img)
    np.testing.assert_array_equal(d.out_ctx, ref.out_ctx)


def test_resample_auto_falls_back_to_cpu_on_device_oom(monkeypatch, caplog):
    """backend="auto" reaches the Drizzle objects unresolved, so a device OOM inside resample() continues on
    the CPU; an explicit backend="cuda" raises DeviceOutOfMemoryError instead."""
    import numpy as np

    from gpuresample import DeviceOutOfMemoryError, resample
    from gpuresample.synthetic import dithered_scene

    monkeypatch.delenv("GPURESAMPLE_BACKEND", raising=False)
    scene = dithered_scene(3, (48, 48), nstars=5, ngal=5)
    ref = resample(scene, backend="cpu", workers=1, propagate_dq=True)
    monkeypatch.setitem(backends._instances, "auto", _OomBackend())
    monkeypatch.setitem(backends._instances, "cuda", _OomBackend())
    with caplog.at_level(logging.INFO, logger="gpuresample"):
        res = resample(scene, backend="auto", workers=1, propagate_dq=True)
    assert "ran out of device memory" in caplog.text
    for name in ("data", "wht", "con", "dq"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name), err_msg=name)
    # the variances took the same-pass route (the simulated device's): the CPU computes each per-image mean
    # on the whole grid instead of the footprint box, which may round differently in the last float32 bit
    for name in ("err", "var_rnoise", "var_poisson", "var_flat"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-6, err_msg=name)
    with pytest.raises(DeviceOutOfMemoryError, match="simulated"):
        resample(scene, backend="cuda", workers=1)


def test_explicit_backend_oom_raises_without_half_results():
    import numpy as np

    from gpuresample import DeviceOutOfMemoryError

    d = Drizzle(out_shape=(16, 16), backend="cpu")
    d._requested_backend = "cuda"
    d._backend = _OomBackend()
    with pytest.raises(DeviceOutOfMemoryError):
        d.add_image(np.ones((12, 12), np.float32), exptime=1.0, pixmap=_pixmap())
    assert d.ctx_id == 0 and d.total_exptime == 0.0
    assert np.all(np.isnan(d.out_img)) and not np.any(d.out_wht)


def test_cupy_launch_packs_arguments_for_cupy():
    """The CuPy launcher checks types and sends null pointers as 8-byte zeros (no GPU needed)."""
    import numpy as np

    from gpuresample.gpu.loader import CupyModule
    from gpuresample.gpu.signatures import kernel_signatures

    calls = []

    class FakeRaw:
        def get_function(self, name):
            return lambda grid, block, args: calls.append((name, grid, block, args))

    mod = CupyModule(FakeRaw(), kernel_signatures())
    args = (np.zeros(4), np.zeros(4), np.int64(4), np.zeros(4, np.float32), np.zeros(4, np.float32), None, None,
            np.int32(0), np.float32(0), None, np.int32(0), np.zeros(1, np.uint32))
    mod.launch("merge_image", 1, 256, args)
    (name, grid, block, sent), = calls
    assert (name, grid, block) == ("merge_image", (1,), (256,))
    assert sent[5] == 0 and sent[5].dtype == np.uintp and sent[6].dtype == np.uintp
    with pytest.raises(TypeError, match="numpy int64 scalar"):
        mod.launch("merge_image", 1, 256, (*args[:2], 4, *args[3:]))
