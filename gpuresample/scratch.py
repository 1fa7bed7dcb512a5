"""Where large output arrays live: RAM, or memory-mapped scratch files.

With ``in_memory=False`` the output and accumulator arrays are memory maps of
files in a private temporary folder (``workdir``, default the system temp
folder).  Each file is unlinked as soon as it is mapped, so nothing is left
behind if the process dies, and the kernel can page the arrays out instead of
holding them in RAM.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

__all__ = ["ArrayAllocator"]


class ArrayAllocator:
    """``alloc(shape, dtype, fill)`` in RAM (``workdir=None``) or as scratch memory maps."""

    def __init__(self, on_disk=False, workdir=None):
        self.on_disk = on_disk
        self.workdir = workdir
        self._dir = None

    def __call__(self, shape, dtype, fill=0):
        if not self.on_disk:
            return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype=dtype)
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="gpuresample-", dir=self.workdir)
        fd, name = tempfile.mkstemp(suffix=".dat", dir=self._dir)
        os.close(fd)
        try:
            arr = np.memmap(name, dtype=dtype, mode="w+", shape=tuple(shape))
        finally:
            os.unlink(name)  # the mapping stays valid; the file disappears with it
        if fill != 0:
            arr[...] = fill
        return arr

    def close(self):
        if self._dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._dir)
            self._dir = None
