"""Kernel backends: ``cuda`` (CuPy, on a GPU) and ``emulator`` (the same kernels on the host).

Both run the ``kernels/*.cu`` sources through :class:`gpuresample.gpu.launch.
GpuDrizzleKernels`; only the array module and the kernel module differ.

Current limits (issue 4 in progress): ``pixel_scale_ratio=None`` (estimated by
drizzle's C code) is not supported; on CUDA the outputs live on the host and
are copied to the device and back for every ``add_image`` (correct, not yet
fast); device-memory checks are not implemented.  Nothing has been run on a
GPU yet.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import DeviceOutOfMemoryError
from ..gpu.launch import GpuDrizzleKernels

__all__ = ["CudaBackend", "EmulatorBackend"]


class _KernelBackend:
    name = "?"
    xp = np
    #: variances ride along with the science data in one kernel pass
    same_pass_linear = True

    def __init__(self, module):
        self.kernels = GpuDrizzleKernels(self.xp, module)

    def check(self, driz, step):
        if step.pscale_ratio is None:
            raise ValueError(f"pixel_scale_ratio=None (estimated from the pixel map) is not supported by "
                             f"the {self.name} backend yet: pass the ratio")


class EmulatorBackend(_KernelBackend):
    """The CUDA kernels compiled for the host with g++ and run serially (tests, debugging)."""

    name = "emulator"

    def add_image(self, driz, step):
        return self.kernels.add_image(driz, step)


class _DeviceOutputs:
    """Device copies of a Drizzle's outputs with the attributes the launch code reads."""

    def __init__(self, cp, driz, ctx_plane):
        self.out_shape = driz.out_shape
        self.out_img = cp.asarray(driz.out_img)
        self.out_wht = cp.asarray(driz.out_wht)
        self.out_dq = None if driz.out_dq is None else cp.asarray(driz.out_dq)
        self.out_img2 = None if driz.out_img2 is None else [cp.asarray(a) for a in driz.out_img2]
        self.out_ctx = None
        self.last_linear = None
        if ctx_plane is not None:
            self.out_ctx = {ctx_plane: cp.asarray(driz.out_ctx[ctx_plane])}

    def copy_back(self, driz, ctx_plane):
        driz.out_img[...] = self.out_img.get()
        driz.out_wht[...] = self.out_wht.get()
        if self.out_dq is not None:
            driz.out_dq[...] = self.out_dq.get()
        if self.out_img2 is not None:
            for host, dev in zip(driz.out_img2, self.out_img2, strict=True):
                host[...] = dev.get()
        if ctx_plane is not None:
            driz.out_ctx[ctx_plane] = self.out_ctx[ctx_plane].get()


class CudaBackend(_KernelBackend):
    """The kernels on an NVIDIA GPU through CuPy (RawModule compiled once per device)."""

    name = "cuda"

    def __init__(self):
        import cupy

        self.xp = cupy
        super().__init__(_cupy_module(cupy.cuda.Device().id))

    def add_image(self, driz, step):
        try:
            dev = _DeviceOutputs(self.xp, driz, step.ctx_plane)
            result = self.kernels.add_image(dev, step)
            self.xp.cuda.Device().synchronize()
        except self.xp.cuda.memory.OutOfMemoryError as exc:
            raise DeviceOutOfMemoryError(str(exc)) from exc
        dev.copy_back(driz, step.ctx_plane)  # only after the image succeeded
        if dev.last_linear is not None:
            driz.last_linear = [a.get() for a in dev.last_linear]
        return result


class _CupyModule:
    """CuPy RawModule with the same ``launch`` interface (and argument checks) as the emulator."""

    def __init__(self, raw, sigs):
        self.raw = raw
        self.sigs = sigs

    def launch(self, name, grid, block, args):
        from ..gpu.signatures import check_args

        check_args(self.sigs[name], args)
        # CuPy takes no None: a null pointer travels as an 8-byte zero
        args = tuple(np.uintp(0) if a is None else a for a in args)
        self.raw.get_function(name)((int(grid),), (int(block),), args)


def cuda_source():
    """All kernel sources as one translation unit (CuPy's cache key does not cover #include'd files)."""
    from ..kernel_sources import kernel_dir

    kdir = kernel_dir()
    headers = ["drizzle_common.cuh", "drizzle_geometry.cuh"]  # in dependency order
    files = [kdir / h for h in headers] + sorted(kdir.glob("*.cu"))
    parts = []
    for path in files:
        text = path.read_text().replace("#pragma once", "")
        for h in headers:
            text = text.replace(f'#include "{h}"', "")
        parts.append(f"// ---- {path.name}\n{text}")
    return "\n".join(parts)


@functools.cache
def _cupy_module(device_id):
    """The kernels compiled for one device (memoized per device)."""
    import cupy

    from ..gpu.nvrtc_check import BACKEND_OPTIONS
    from ..gpu.signatures import kernel_signatures

    with cupy.cuda.Device(device_id):
        raw = cupy.RawModule(code=cuda_source(), options=tuple(o for o in BACKEND_OPTIONS if o != "-ftz=true"))
        raw.compile()
    return _CupyModule(raw, kernel_signatures())
