"""The ``cuda`` backend: the kernels on an NVIDIA GPU through CuPy.

With the kernel loader (:mod:`gpuresample.gpu.loader`) the only module that
imports CuPy, always inside functions, so that ``import gpuresample`` works
without it.
"""

from __future__ import annotations

from ..errors import DeviceOutOfMemoryError
from ..gpu.loader import cupy_module
from .kernel import KernelBackend

__all__ = ["CudaBackend", "unavailable_reason"]


def unavailable_reason():
    """None when the CUDA backend can run here, else why not (one line)."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        return f"CuPy is not importable ({type(exc).__name__}: {exc}); install gpuresample[cuda12] or [cuda13]"
    try:
        if not cupy.cuda.is_available():
            return "CuPy found no CUDA device"
    except Exception as exc:
        return f"CuPy could not query CUDA devices ({exc})"
    try:
        cupy_module(cupy.cuda.Device().id)
    except Exception as exc:
        return f"the CUDA kernels could not be compiled with NVRTC ({type(exc).__name__}: {exc})"
    return None


class CudaBackend(KernelBackend):
    """The kernels on an NVIDIA GPU through CuPy (RawModule compiled once per device)."""

    name = "cuda"

    def __init__(self):
        import cupy

        self.xp = cupy
        super().__init__(cupy_module(cupy.cuda.Device().id))

    def device_memory(self):
        """``(free, total)`` bytes of the current device, counting CuPy's pool's free blocks as free.

        This is what ``allowed_memory`` is checked against on the device.
        """
        import cupy

        free, total = cupy.cuda.Device().mem_info
        return free + cupy.get_default_memory_pool().free_bytes(), total

    @staticmethod
    def device_count():
        """Number of CUDA devices: a tile pool has at most one worker per GPU."""
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())

    @staticmethod
    def worker_init(index):
        """Pin a freshly spawned worker process to GPU ``index`` (one process per device)."""
        import cupy

        cupy.cuda.Device(index).use()

    def add_image(self, driz, step):
        """As :meth:`KernelBackend.add_image`; CuPy's out-of-memory error becomes :class:`DeviceOutOfMemoryError`."""
        try:
            return super().add_image(driz, step)
        except self.xp.cuda.memory.OutOfMemoryError as exc:
            raise DeviceOutOfMemoryError(str(exc)) from exc

