"""Backend choice: auto falls back with a logged reason; names are validated."""

import logging

import pytest

import gpuresample.backends as backends
from gpuresample import BackendUnavailableError, Drizzle


def test_auto_resolves_to_cpu_and_logs_why(caplog, monkeypatch):
    monkeypatch.delenv("GPURESAMPLE_BACKEND", raising=False)
    monkeypatch.setattr(backends, "_instances", {})
    with caplog.at_level(logging.INFO, logger="gpuresample"):
        d = Drizzle()
    assert d.backend == "cpu"
    reason = backends.cuda_unavailable_reason()
    assert reason  # no GPU on this machine
    assert f"backend='auto' -> 'cpu': {reason}" in caplog.text


def test_explicit_cuda_raises_named_error(monkeypatch):
    monkeypatch.setattr(backends, "_instances", {})
    with pytest.raises(BackendUnavailableError, match="backend='cuda' cannot run"):
        Drizzle(backend="cuda")


def test_emulator_is_never_auto(monkeypatch):
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.delenv("GPURESAMPLE_BACKEND", raising=False)
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
        memory.check_device_memory(est, 0.5, mem_info=lambda: (10 * 2**20, 80 * 2**30))
    memory.check_device_memory(est, 0.5, mem_info=lambda: (8 * 2**30, 80 * 2**30))  # fits

    class FakeCuda:
        name = "cuda"

    allocated = []
    monkeypatch.setattr(backends, "get_backend", lambda name: FakeCuda())
    monkeypatch.setattr(memory, "device_mem_info", lambda: (2**20, 80 * 2**30))  # 1 MiB free
    monkeypatch.setattr("gpuresample.step.drizzle_group", lambda *a, **k: allocated.append(1))
    scene = dithered_scene(2, (64, 64), nstars=5, ngal=5)
    with pytest.raises(OutputTooLargeError, match="of device memory"):
        resample(scene, allowed_memory=0.5)
    assert not allocated
