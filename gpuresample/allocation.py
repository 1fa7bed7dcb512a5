"""Where the large arrays of a run live: RAM, lazily mapped pages, shared maps or scratch files.

Every canvas-sized array of gpuresample is created by one of these functions,
all with the ``alloc(shape, dtype, fill)`` signature that
:class:`gpuresample.Drizzle` (``allocator=``), the variance accumulators and
the dispatcher take:

* :func:`ram_zeros` -- plain numpy arrays (``np.zeros`` for a zero fill: the
  OS supplies zeroed pages lazily, so untouched parts of a big canvas cost
  nothing);
* :func:`lazy_zeros` -- an anonymous private map whose pages exist only once
  written: a tile of a tiled run drizzles onto a full-grid canvas of which it
  touches only the neighbourhood of the tile;
* :func:`shared_array` -- an anonymous shared map, written in place by forked
  tile workers;
* :class:`ScratchAllocator` -- ``in_memory=False``: memory maps of scratch
  files in a private folder, each unlinked as soon as it is mapped, so
  nothing is left behind if the process dies and the kernel can page the
  arrays out instead of holding them in RAM.
"""

from __future__ import annotations

import mmap
import sys
import tempfile

import numpy as np

__all__ = ["ScratchAllocator", "lazy_zeros", "ram_zeros", "shared_array"]

# Linux: do not reserve swap/RAM for the whole canvas up front.  Under the
# default heuristic overcommit a single mapping larger than RAM + swap is
# refused, which would cap the mosaic size a tile can be drizzled for even
# though only the pages near the tile are ever written.
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000) if sys.platform.startswith("linux") else 0
_MAP_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", 0x20)


def ram_zeros(shape, dtype, fill=0):
    """A numpy array in RAM filled with ``fill`` (``np.zeros`` for 0: lazily zeroed pages)."""
    return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)


def lazy_zeros(shape, dtype, fill=0):
    """Zeroed array whose pages the OS maps only when written (``fill`` is ignored: always 0).

    An anonymous ``mmap`` guarantees that: ``np.zeros`` (calloc) only does
    while the size is above glibc's mmap threshold, which rises (up to 32
    MiB) after large blocks are freed; below it calloc clears, i.e. touches,
    the whole block.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes < (1 << 20):
        return np.zeros(shape, dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NORESERVE)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def shared_array(shape, dtype):
    """Zeroed array in anonymous shared memory: forked children write into it in place."""
    nbytes = max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_SHARED | _MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


class ScratchAllocator:
    """``alloc(shape, dtype, fill)`` in RAM (``on_disk=False``) or as scratch memory maps in ``workdir``.

    Each on-disk array is an *unnamed* temporary file in ``workdir`` (default
    the system temporary folder): ``tempfile.TemporaryFile`` has no name on
    disk (``O_TMPFILE``, or unlinked at once), so nothing is left behind by a
    run that ends in any way, SIGKILL included; the storage lives as long as
    the mapping.
    """

    def __init__(self, on_disk=False, workdir=None):
        self.on_disk = on_disk
        self.workdir = workdir

    def __call__(self, shape, dtype, fill=0):
        if not self.on_disk:
            return ram_zeros(shape, dtype, fill)
        shape = tuple(int(n) for n in shape)
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if nbytes == 0:
            return np.zeros(shape, dtype)
        with tempfile.TemporaryFile(dir=self.workdir) as f:
            f.truncate(nbytes)
            # the mapping holds its own reference to the file: closing f is safe
            arr = np.memmap(f, dtype=dtype, mode="r+", shape=shape)
        if fill != 0:
            arr[...] = fill
        return arr

    def close(self):
        """Nothing to remove (the files have no names); kept for the callers' ``finally``."""
