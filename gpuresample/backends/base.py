"""The Backend protocol: what the rest of gpuresample may ask of a compute backend.

:class:`gpuresample.Drizzle` validates every argument and owns the output
arrays, then calls ``backend.check(driz, step)`` (may refuse, before any
state changes) and ``backend.add_image(driz, step)``.  The dispatcher, the
tiles and the memory plan ask only for the capabilities below — never for a
backend's name or module — so a new backend is one class.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "HostBackend"]


@runtime_checkable
class Backend(Protocol):
    """A compute backend (``cpu``, ``emulator``, ``cuda``).

    Attributes
    ----------
    name : str
        ``"cpu"``, ``"emulator"`` or ``"cuda"``.
    same_pass_linear : bool
        ``add_image(..., linear=[...])`` co-adds extra arrays in the science
        pass cheaply (the kernel backends): the exposure loop then drizzles
        jwst's ``sqrt(variance)`` arrays that way instead of in separate
        footprint-box drizzles.
    prepares_inputs : bool
        ``add_image`` makes the weights from ``step.weight_rule``, applies
        the non-finite rule and takes ``sqrt`` of ``linear_sqrt`` arrays
        itself (on the device); else :class:`gpuresample.Drizzle` does it on
        the host first (:func:`gpuresample.step_inputs.host_inputs`).
    xp : module
        The array module of the backend's memory (numpy, or CuPy on CUDA).
    worker_start_method : {"fork", "spawn"}
        How a pool of tile workers is started for this backend: forked
        (inputs inherited; the CPU) or spawned (a fresh interpreter: CUDA
        must not be forked once initialised, and the emulator takes the same
        path).
    """

    name: str
    same_pass_linear: bool
    prepares_inputs: bool
    worker_start_method: str
    xp: object

    def sync(self, driz) -> None:
        """Bring ``driz``'s host output arrays up to date (a kernel backend keeps them on the device)."""

    def device_allocator(self):
        """``alloc(shape, dtype, fill)`` making arrays on the device, or None when the backend computes on the host."""

    def transfer_stats(self):
        """The process's :class:`gpuresample.gpu.device.TransferStats` (kernel backends), else None."""

    def check(self, driz, step) -> None:
        """Refuse (raise) an image this backend cannot drizzle, before any state changes."""

    def add_image(self, driz, step) -> tuple[int, int]:
        """Drizzle one validated image into ``driz``'s outputs; return drizzle's ``(nmiss, nskip)``."""

    def device_memory(self) -> tuple[int, int] | None:
        """``(free, total)`` bytes of the device the backend computes on; None when it computes on the host."""

    @staticmethod
    def device_count() -> int | None:
        """Devices a pool of workers can be spread over (one worker each); None: no limit (host)."""

    @staticmethod
    def worker_init(index: int) -> None:
        """Set-up in a freshly started worker process number ``index`` (CUDA: pin it to its GPU)."""

    def asarray(self, a):
        """``a`` as an array of the backend's array module (numpy on the host, CuPy on CUDA)."""

    def device_outputs(self, driz) -> dict:
        """``driz``'s window outputs where the backend keeps them (see :meth:`gpuresample.Drizzle.device_outputs`)."""

    def to_host(self, a) -> np.ndarray:
        """``a`` as a numpy array (a device array is copied to the host)."""


class HostBackend:
    """Defaults for the backends that compute on the host (``cpu``, ``emulator``)."""

    name = "host"
    same_pass_linear = False
    prepares_inputs = False
    worker_start_method = "fork"
    xp = np

    def check(self, driz, step):
        """Nothing to refuse by default."""

    def sync(self, driz):
        """Nothing to do: the host arrays are the outputs."""

    def device_allocator(self):
        """None: every array lives on the host."""

    def transfer_stats(self):
        """None: nothing crosses a bus."""

    def device_memory(self):
        """None: host memory only (checked against ``allowed_memory`` by the memory plan)."""

    @staticmethod
    def device_count():
        """None: any number of host workers."""

    @staticmethod
    def worker_init(index):
        """Nothing to set up."""

    def asarray(self, a):
        """numpy: the array itself (no copy when it already is one)."""
        return np.asarray(a)

    def device_outputs(self, driz):
        """The host arrays' window (views)."""
        y0, y1, x0, x1 = driz.window
        sl = (..., slice(y0, y1), slice(x0, x1))
        host = driz.host_outputs()
        img2 = host.pop("img2")
        out = {k: None if a is None else a[sl] for k, a in host.items()}
        out["img2"] = None if img2 is None else [a[sl] for a in img2]
        return out

    def to_host(self, a):
        """numpy: the array itself."""
        return np.asarray(a)
