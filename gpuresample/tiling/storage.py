"""Where the tiles of a run are written: RAM arrays or ``.npy`` files in a folder, with a completion record."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..allocation import shared_array
from ..errors import TilingError
from ..options import partial_folder

__all__ = ["TileOutput"]


class TileOutput:
    """Where the tiles of a run are written: RAM arrays or ``.npy`` files in a folder.

    Parameters
    ----------
    layout : dict
        ``{name: (shape, dtype)}`` (see :func:`output_layout`); 2-D arrays
        are ``(ny, nx)``, ``con`` is ``(nplanes, ny, nx)``.
    tiles_shape : tuple
        ``(ntiles_y, ntiles_x)`` of the completion mask.
    folder : path, optional
        None: arrays in RAM.  Otherwise the run writes ``<folder>.partial/``
        (``NAME.npy`` per array, pre-allocated so that a full disk fails at
        once, and ``tiles.json``, the completion record) and renames it to
        ``folder`` when every tile is written.  Tiles are written with
        ``pwrite`` (no mapping of the whole file, so the process never holds
        the mosaic; a full disk is an ``OSError``, not a crash).
    scratch : bool
        With a folder: remove the folder when the result is released (the
        arrays are returned as memory maps of files already unlinked).
    """

    def __init__(self, layout, tiles_shape, folder=None, scratch=False):
        self.layout = layout
        self.done = np.zeros(tiles_shape, bool)
        self.folder = None if folder is None else Path(folder)
        self.scratch = scratch
        self._fds = {}
        self._offsets = {}
        self.arrays = {}
        if self.folder is None:
            # shared with forked tile workers, which write their tiles in place;
            # uninitialised is fine: every pixel is written by exactly one tile
            self.arrays = {n: shared_array(shp, dt) for n, (shp, dt) in layout.items()}
            return
        if self.folder.exists():
            raise FileExistsError(f"tile output folder {self.folder} exists; choose a new one")
        self.partial = partial_folder(self.folder)
        if self.partial.exists():
            # an earlier run's incomplete output is the user's to inspect or remove
            raise FileExistsError(f"{self.partial} exists (an earlier run that did not finish; its tiles.json "
                                  "lists the tiles written): remove it or choose another tile_output")
        self.partial.mkdir(parents=True)
        try:
            for name, (shp, dt) in layout.items():
                path = self.partial / f"{name}.npy"
                header = _npy_header(shp, dt)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                self._fds[name] = fd
                os.write(fd, header)
                self._offsets[name] = len(header)
                size = len(header) + int(np.prod(shp)) * np.dtype(dt).itemsize
                try:
                    os.posix_fallocate(fd, 0, size)  # reserve the blocks now: a full disk fails here
                except OSError as exc:
                    raise TilingError(
                        f"cannot allocate {size / 2**20:.1f} MiB for {path}: {exc.strerror or exc} "
                        "(is the output folder full?)", tiles_complete=self.done.copy(),
                    ) from exc
            self._record()
        except BaseException:
            self.abort(remove=True)  # nothing was written yet
            raise

    def _record(self):
        if self.folder is None:
            return
        tmp = self.partial / "tiles.json.tmp"
        tmp.write_text(json.dumps({"tiles_shape": list(self.done.shape),
                                   "complete": self.done.astype(int).tolist(),
                                   "all_complete": bool(self.done.all())}))
        tmp.replace(self.partial / "tiles.json")

    def write(self, tile_index, region, arrays):
        """Copy one tile's arrays into the output and mark the tile complete."""
        self.put(tile_index, region, arrays)
        self.mark(tile_index)

    def mark(self, tile_index):
        """Record tile ``tile_index`` as complete (after its arrays are written)."""
        if self.folder is not None and not self.scratch:
            # a persistent record may only claim tiles whose data is on disk
            for fd in self._fds.values():
                os.fdatasync(fd)
        self.done.flat[tile_index] = True
        self._record()

    def put(self, tile_index, region, arrays):
        """Copy one tile's arrays into the output (also from a forked worker: shared maps, pwrite)."""
        y0, y1, x0, x1 = region
        if self.folder is None:
            for name in self.layout:
                self.arrays[name][..., y0:y1, x0:x1] = arrays[name]
        else:
            try:
                for name, (shp, dt) in self.layout.items():
                    self._pwrite(name, shp, dt, region, np.ascontiguousarray(arrays[name], dtype=dt))
            except OSError as exc:
                raise TilingError(
                    f"writing tile {tile_index} into {self.partial} failed: {exc.strerror or exc}",
                    tiles_complete=self.done.copy(),
                ) from exc

    def _pwrite(self, name, shp, dt, region, block):
        y0, y1, x0, x1 = region
        fd, base = self._fds[name], self._offsets[name]
        item = np.dtype(dt).itemsize
        ny, nx = shp[-2:]
        planes = block.reshape(-1, y1 - y0, x1 - x0)
        for p in range(planes.shape[0]):
            for r in range(y1 - y0):
                buf = memoryview(planes[p, r]).cast("B")
                pos = base + ((p * ny + y0 + r) * nx + x0) * item
                while buf:
                    n = os.pwrite(fd, buf, pos)
                    buf, pos = buf[n:], pos + n

    def finish(self):
        """All tiles written: {name: array} (RAM arrays, or read-only maps of the renamed files)."""
        if not self.done.all():
            raise TilingError(f"{int((~self.done).sum())} of {self.done.size} tiles are missing",
                              tiles_complete=self.done.copy())
        if self.folder is None:
            return self.arrays
        for fd in self._fds.values():
            os.fsync(fd)
            os.close(fd)
        self._fds = {}
        self.partial.replace(self.folder)
        out = {n: np.load(self.folder / f"{n}.npy", mmap_mode="r") for n in self.layout}
        if self.scratch:
            # the maps stay valid; nothing is left behind (as in_memory=False scratch)
            shutil.rmtree(self.folder, ignore_errors=True)
        return out

    def abort(self, remove=False):
        """Close the files; a folder output stays ``.partial`` (its record shows the missing tiles).

        ``remove``: delete the ``.partial`` folder too (it holds nothing worth keeping).
        """
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
        if self.folder is not None and (self.scratch or remove):
            shutil.rmtree(self.partial, ignore_errors=True)


def _npy_header(shape, dtype):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()

