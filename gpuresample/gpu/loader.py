"""Loading the kernels: compiled by CuPy once per device, or built for the host (emulator).

Both loaders return an object with ``launch(name, grid, block, args)``, the
interface :class:`gpuresample.gpu.launch.GpuDrizzleKernels` drives, with the
same argument check (:func:`gpuresample.gpu.signatures.check_args`) before
every launch.  The source text and options come from
:mod:`gpuresample.gpu.sources`.

This module and the CUDA backend (:mod:`gpuresample.backends.cuda`) are the
only places that import CuPy, and only inside functions: ``import
gpuresample`` works without it.
"""

from __future__ import annotations

import functools

import numpy as np

from .signatures import check_args, kernel_signatures
from .sources import cupy_options, translation_unit

__all__ = ["CupyModule", "clear_cache", "cupy_module", "emulator_module"]


class CupyModule:
    """A CuPy ``RawModule`` of every kernel, launched like the emulator's module."""

    def __init__(self, raw, sigs):
        self.raw = raw
        self.sigs = sigs

    def launch(self, name, grid, block, args):
        """Run kernel ``name`` on ``grid`` blocks of ``block`` threads (1-D) on the module's device."""
        check_args(self.sigs[name], args)
        # CuPy takes no None: a null pointer travels as an 8-byte zero
        args = tuple(np.uintp(0) if a is None else a for a in args)
        self.raw.get_function(name)((int(grid),), (int(block),), args)


def cupy_module(device_id=None):
    """The kernels compiled by CuPy (NVRTC) for device ``device_id`` (default: the current one).

    Compiled once per device and process; CuPy's own on-disk cache then
    serves later processes (its key, the code string and the options, covers
    the inlined headers).  Raises whatever CuPy raises when there is no
    device or NVRTC cannot compile.
    """
    import cupy

    if device_id is None:
        device_id = cupy.cuda.Device().id
    return _compiled_for(int(device_id))


@functools.cache
def _compiled_for(device_id):
    import cupy

    with cupy.cuda.Device(device_id):
        raw = cupy.RawModule(code=translation_unit(), options=cupy_options())
        raw.compile()  # now, so that a failure surfaces here and not at the first launch
    return CupyModule(raw, kernel_signatures())


def clear_cache():
    """Forget the modules :func:`cupy_module` compiled (the next call compiles again)."""
    _compiled_for.cache_clear()


def emulator_module():
    """The kernels built for the host with g++ (:func:`gpuresample.gpu.emulator.load_emulator`)."""
    from .emulator import load_emulator

    return load_emulator()
