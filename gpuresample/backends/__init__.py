"""Compute backends and how one is chosen.

A backend only computes: :class:`gpuresample.Drizzle` validates every argument
and owns the output arrays, then calls ``backend.check(driz, step)`` (may
refuse, before any state changes) and ``backend.add_image(driz, step)``.

Selection (``backend=`` argument, or the ``GPURESAMPLE_BACKEND`` environment
variable when the argument is ``"auto"``):

* ``"cpu"`` -- the ``drizzle`` package's C code for drizzle's six kernels and
  a numpy implementation of ``tophat``.  Always available.
* ``"auto"`` -- the best backend that can run here.  This release only has the
  CPU backend, so ``"auto"`` always resolves to ``"cpu"`` and logs why.
"""

from __future__ import annotations

import logging
import os

__all__ = ["AVAILABLE_BACKENDS", "get_backend"]

log = logging.getLogger("gpuresample")

#: Backend names accepted by ``backend=``.
AVAILABLE_BACKENDS = ("auto", "cpu")

_ENV = "GPURESAMPLE_BACKEND"
_instances = {}


def _cpu():
    if "cpu" not in _instances:
        from .cpu import CpuBackend

        _instances["cpu"] = CpuBackend()
    return _instances["cpu"]


def get_backend(name="auto"):
    """Return the backend object for ``name`` (``"auto"`` or ``"cpu"``).

    Raises
    ------
    ValueError
        ``name`` (or ``$GPURESAMPLE_BACKEND``) is not a known backend.
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
    if requested == "auto" and "auto-logged" not in _instances:
        # said once per process: Drizzle objects are created per exposure group
        log.info("backend='auto' -> 'cpu': no GPU backend is available in this release")
        _instances["auto-logged"] = True
    return _cpu()
