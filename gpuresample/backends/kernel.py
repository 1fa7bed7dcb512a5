"""What the kernel backends share (``cuda``, ``emulator``): staging the window and the launch code.

Both run the ``kernels/*.cu`` sources through :class:`gpuresample.gpu.launch.
GpuDrizzleKernels`; only the array module and the kernel module differ.  For
each ``add_image`` the window of the outputs that the caller keeps
(``Drizzle.window``: the whole grid, or one tile of a tiled run) is staged as
contiguous arrays of that module (device copies on CUDA), the kernels
accumulate into it, and it is copied back only once the image succeeded.

``pixel_scale_ratio=None`` arrives already estimated (by
:func:`gpuresample.drizzle_validate.estimate_pixel_scale_ratio`, drizzle's
rule, for every backend).  Limits: on CUDA the window is copied to the device
and back for every ``add_image`` (correct, not yet fast).  Nothing has been
run on a GPU yet.
"""

from __future__ import annotations

import numpy as np

from ..gpu.launch import GpuDrizzleKernels
from .base import HostBackend

__all__ = ["KernelBackend", "StagedOutputs", "to_host"]


def to_host(a):
    """A numpy array of ``a`` (a CuPy array is copied to the host; numpy stays as it is)."""
    return a.get() if hasattr(a, "get") else a


class StagedOutputs:
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
                view[...] = to_host(staged)

        put(driz.out_img, self.out_img)
        put(driz.out_wht, self.out_wht)
        if self.out_dq is not None:
            put(driz.out_dq, self.out_dq)
        if self.out_img2 is not None:
            for host, staged in zip(driz.out_img2, self.out_img2, strict=True):
                put(host, staged)
        if ctx_plane is not None:
            put(driz.out_ctx[ctx_plane], self.out_ctx[ctx_plane])
        driz.last_linear = None if self.last_linear is None else [to_host(a) for a in self.last_linear]


class KernelBackend(HostBackend):
    """What the CUDA backend and the emulator share: the launch code over an array module ``xp``.

    The variances ride along with the science data in one kernel pass
    (``same_pass_linear``), and tile pools are spawned, not forked (CUDA
    must not be forked once initialised; the emulator takes the same path
    so that CI exercises it).
    """

    name = "kernel"
    xp = np
    same_pass_linear = True
    worker_start_method = "spawn"

    def __init__(self, module):
        self.kernels = GpuDrizzleKernels(self.xp, module)

    def _run(self, staged, step):
        return self.kernels.add_image(staged, step)

    def add_image(self, driz, step):
        """Stage the window, run the kernels, copy the window back; return ``(nmiss, nskip)``."""
        staged = StagedOutputs(self.xp, driz, step.ctx_plane)
        result = self._run(staged, step)
        staged.copy_back(driz, step.ctx_plane)  # only after the image succeeded
        return result
