"""The ``emulator`` backend: the CUDA kernels compiled for the host with g++ and run serially.

For tests and debugging (never chosen by ``backend="auto"``): the same
``kernels/*.cu`` sources and the same launch code as the CUDA backend, with
numpy arrays.
"""

from __future__ import annotations

from .kernel import KernelBackend

__all__ = ["EmulatorBackend"]


class EmulatorBackend(KernelBackend):
    """The CUDA kernels compiled for the host with g++ and run serially (tests, debugging)."""

    name = "emulator"
