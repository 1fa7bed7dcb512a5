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
