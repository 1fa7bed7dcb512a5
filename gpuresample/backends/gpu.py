"""Kernel backends: ``cuda`` (CuPy, on a GPU) and ``emulator`` (the same kernels on the host).

Both run the ``kernels/*.cu`` sources through :class:`gpuresample.gpu.launch.
GpuDrizzleKernels`; only the array module and the kernel module differ.  For
each ``add_image`` the window of the outputs that the caller keeps
(``Drizzle.window``: the whole grid, or one tile of a tiled run) is staged as
contiguous arrays of that module (device copies on CUDA), the kernels
accumulate into it, and it is copied back only once the image succeeded.

Limits: ``pixel_scale_ratio=None`` (estimated by drizzle's C code) is not
supported; on CUDA the window is copied to the device and back for every
``add_image`` (correct, not yet fast).  Nothing has been run on a GPU yet.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import DeviceOutOfMemoryError
from ..gpu.launch import GpuDrizzleKernels

__all__ = ["CudaBackend", "EmulatorBackend"]


def _to_host(a):
    return a.get() if hasattr(a, "get") else a  # CuPy -> numpy; numpy stays


class _StagedOutputs:
    """A Drizzle's outputs inside its window, as C-contiguous ``xp`` arrays, with the
    attributes the launch code reads (``out_shape`` stays the whole grid)."""

    def __init__(self, xp, driz, ctx_plane):
        self.out_shape = driz.out_shape
        self.window = driz.window
        y0, y1, x0, x1 = self.window
        self._sl = (slice(y0, y1), slice(x0, x1))

        def stage(a):
            # contiguous on the host first (no copy for a whole-grid window), then one transfer
            return None if a is None else xp.asarray(np.ascontiguousarray(a[self._sl]))

        self.out_img = stage(driz.out_img)
        self.out_wht = stage(driz.out_wht)
        self.out_dq = stage(driz.out_dq)
        self.out_img2 = None if driz.out_img2 is None else [stage(a) for a in driz.out_img2]
        self.out_ctx = None if ctx_plane is None else {ctx_plane: stage(driz.out_ctx[ctx_plane])}
        self.last_linear = None

    def copy_back(self, driz, ctx_plane):
        def put(host, staged):
            view = host[self._sl]
            # numpy with a whole-grid window stages the host array itself
            if not (isinstance(staged, np.ndarray) and np.may_share_memory(staged, view)):
                view[...] = _to_host(staged)

        put(driz.out_img, self.out_img)
        put(driz.out_wht, self.out_wht)
        if self.out_dq is not None:
            put(driz.out_dq, self.out_dq)
        if self.out_img2 is not None:
            for host, staged in zip(driz.out_img2, self.out_img2, strict=True):
                put(host, staged)
        if ctx_plane is not None:
            put(driz.out_ctx[ctx_plane], self.out_ctx[ctx_plane])
        driz.last_linear = None if self.last_linear is None else [_to_host(a) for a in self.last_linear]


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

    def _run(self, staged, step):
        return self.kernels.add_image(staged, step)

    def add_image(self, driz, step):
        staged = _StagedOutputs(self.xp, driz, step.ctx_plane)
        result = self._run(staged, step)
        staged.copy_back(driz, step.ctx_plane)  # only after the image succeeded
        return result


class EmulatorBackend(_KernelBackend):
    """The CUDA kernels compiled for the host with g++ and run serially (tests, debugging)."""

    name = "emulator"


class CudaBackend(_KernelBackend):
    """The kernels on an NVIDIA GPU through CuPy (RawModule compiled once per device)."""

    name = "cuda"

    def __init__(self):
        import cupy

        self.xp = cupy
        super().__init__(_cupy_module(cupy.cuda.Device().id))

    @staticmethod
    def device_mem_info():
        """(free, total) bytes of the current device: what ``allowed_memory`` is checked against."""
        from ..memory import device_mem_info

        return device_mem_info()

    def add_image(self, driz, step):
        try:
            return super().add_image(driz, step)
        except self.xp.cuda.memory.OutOfMemoryError as exc:
            raise DeviceOutOfMemoryError(str(exc)) from exc

    def _run(self, staged, step):
        result = self.kernels.add_image(staged, step)
        self.xp.cuda.Device().synchronize()
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
