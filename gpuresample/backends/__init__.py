"""Compute backends and how one is chosen.

A backend only computes: :class:`gpuresample.Drizzle` validates every argument
and owns the output arrays, then calls ``backend.check(driz, step)`` (may
refuse, before any state changes) and ``backend.add_image(driz, step)``.

Selection (``backend=`` argument, or the ``GPURESAMPLE_BACKEND`` environment
variable when the argument is ``"auto"``):

* ``"cpu"`` -- the ``drizzle`` package's C code for drizzle's six kernels and
  a numpy implementation of ``tophat``.  Always available.
* ``"cuda"`` -- the ``kernels/*.cu`` sources on an NVIDIA GPU through CuPy.
  Raises :class:`~gpuresample.BackendUnavailableError` (never falls back)
  when CuPy, a device or NVRTC is missing.
* ``"emulator"`` -- the same ``.cu`` sources built for the host with g++ and
  run through the same launch code; for tests and debugging, never chosen by
  ``"auto"``.
* ``"auto"`` -- ``"cuda"`` when it can run, else ``"cpu"``; the reason is
  logged once at INFO level.
"""

from __future__ import annotations

import logging
import os

from ..errors import BackendUnavailableError

__all__ = ["AVAILABLE_BACKENDS", "cuda_unavailable_reason", "get_backend"]

log = logging.getLogger("gpuresample")

#: Backend names accepted by ``backend=``.
AVAILABLE_BACKENDS = ("auto", "cpu", "cuda", "emulator")

_ENV = "GPURESAMPLE_BACKEND"
_instances = {}


def _cpu():
    if "cpu" not in _instances:
        from .cpu import CpuBackend

        _instances["cpu"] = CpuBackend()
    return _instances["cpu"]


def cuda_unavailable_reason():
    """None when the CUDA backend can run here, else why not (one line)."""
    from .cuda import unavailable_reason

    return unavailable_reason()


def _cuda():
    if "cuda" not in _instances:
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise BackendUnavailableError(f"backend='cuda' cannot run: {reason}")
        from .cuda import CudaBackend

        _instances["cuda"] = CudaBackend()
    return _instances["cuda"]


def _emulator():
    if "emulator" not in _instances:
        from ..gpu.loader import emulator_module
        from .emulator import EmulatorBackend

        _instances["emulator"] = EmulatorBackend(emulator_module())
    return _instances["emulator"]


def get_backend(name="auto"):
    """Return the backend object for ``name``.

    Raises
    ------
    ValueError
        ``name`` (or ``$GPURESAMPLE_BACKEND``) is not a known backend.
    BackendUnavailableError
        An explicitly named backend cannot run on this machine.
    """
    if not isinstance(name, str):
        raise ValueError(f"backend must be one of {AVAILABLE_BACKENDS}; got {name!r}")
    requested = name.strip().lower()
    source = "backend argument"
    if requested == "auto" and os.environ.get(_ENV, "").strip():
        requested = os.environ[_ENV].strip().lower()
        source = f"environment variable {_ENV}"
    if requested not in AVAILABLE_BACKENDS:
        raise ValueError(
            f"Unknown backend {requested!r} (from the {source}); expected one of {AVAILABLE_BACKENDS}"
        )
    if requested == "cpu":
        return _cpu()
    if requested == "cuda":
        return _cuda()
    if requested == "emulator":
        return _emulator()
    # auto
    if "auto" not in _instances:
        reason = cuda_unavailable_reason()
        if reason is None:
            _instances["auto"] = _cuda()
            log.info("backend='auto' -> 'cuda'")
        else:
            _instances["auto"] = _cpu()
            log.info("backend='auto' -> 'cpu': %s", reason)
    return _instances["auto"]
