"""What the kernel backends share (``cuda``, ``emulator``): device-resident outputs and the launch code.

Both run the ``kernels/*.cu`` sources through :class:`gpuresample.gpu.launch.
GpuDrizzleKernels` on a :class:`gpuresample.gpu.device.Device`; only the
array module and the kernel module differ.  The outputs of every
:class:`gpuresample.Drizzle` stay on the device for the object's life
(:class:`~gpuresample.backends.device_outputs.DeviceOutputs`, the window's
arrays only): an image uploads its inputs, scatters into scratch sums and
merges them into the resident outputs; nothing is copied back until the host
arrays are read (``sync``).  The merge runs only after the scatter
succeeded, so a failing image leaves the outputs as they were.

``pixel_scale_ratio=None`` arrives already estimated (by
:func:`gpuresample.drizzle_validate.estimate_pixel_scale_ratio`, drizzle's
rule, for every backend).
"""

from __future__ import annotations

import numpy as np

from ..gpu.device import STATS, Device, is_device_array
from ..gpu.launch import GpuDrizzleKernels
from .base import HostBackend
from .device_outputs import DeviceOutputs

__all__ = ["KernelBackend", "to_host"]


def to_host(a):
    """A numpy array of ``a`` (a CuPy array is copied to the host; numpy stays as it is)."""
    return a.get() if hasattr(a, "get") else a


class KernelBackend(HostBackend):
    """What the CUDA backend and the emulator share: the launch code over a :class:`Device`.

    The variances ride along with the science data in one kernel pass
    (``same_pass_linear``), and tile pools are spawned, not forked (CUDA
    must not be forked once initialised; the emulator takes the same path
    so that CI exercises it).
    """

    name = "kernel"
    same_pass_linear = True
    prepares_inputs = True
    worker_start_method = "spawn"

    def __init__(self, module):
        self.device = Device(self.xp, module)
        self.kernels = GpuDrizzleKernels(self.device)

    def _run(self, state, step):
        return self.kernels.add_image(state, step)

    def add_image(self, driz, step):
        """Run the kernels on ``driz``'s device-resident outputs; return the image's
        :class:`~gpuresample.gpu.streams.PendingCounts` (``(nmiss, nskip)`` when read)."""
        state = driz.backend_state
        if not isinstance(state, DeviceOutputs) or state.write_through:
            state = DeviceOutputs(self.device, driz)
        else:
            state.follow(driz)
        result = self._run(state, step)
        driz.backend_state = state
        driz.last_linear = state.last_linear
        state.dirty = True
        if state.write_through:
            state.to_host(driz)  # the caller's arrays: drizzle's in-place contract
        return result

    def sync(self, driz):
        """Download ``driz``'s outputs to its host arrays when the device holds newer ones."""
        state = driz.backend_state
        if isinstance(state, DeviceOutputs):
            state.to_host(driz)

    def device_outputs(self, driz):
        """The device-resident outputs (no copy); before any image, the host arrays' window uploaded once."""
        state = driz.backend_state
        if not isinstance(state, DeviceOutputs) or state.write_through:
            state = driz.backend_state = DeviceOutputs(self.device, driz)
        else:
            state.follow(driz)
        return state.window_arrays()

    def device_allocator(self):
        """``alloc(shape, dtype, fill)`` on the device (the variance sums of a run live there)."""
        return lambda shape, dtype, fill=0: self.device.full(shape, fill, dtype)

    def transfer_stats(self):
        """The process's transfer and launch counters (:data:`gpuresample.gpu.device.STATS`)."""
        return STATS

    def asarray(self, a):
        """``a`` on the device: a CuPy array (``cuda``) or an :class:`~gpuresample.gpu.device.
        EmulatedDeviceArray` (``emulator``); counted as an upload unless it already is one."""
        if is_device_array(a):
            return self.device.upload(a, a.dtype, readonly=True)
        a = np.asarray(a)
        return self.device.upload(a, a.dtype)

    def to_host(self, a):
        """A numpy array of device array ``a`` (counted as a download)."""
        return self.device.download(a)
