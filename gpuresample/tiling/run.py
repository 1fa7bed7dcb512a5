"""A tiled run: plan, choose and check the tile shape, drizzle the tiles on a runner, collect the output."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..backends import get_backend
from ..errors import OutputTooLargeError, TilingError
from ..exposure import VARIANCE_NAMES
from ..kernel_info import no_weight_message
from ..params import output_layout
from ..products import product_meta
from ..result import ResampleResult
from ..workers import can_fork
from .plan import auto_tile_shape, check_tile_shape, collect_plan, tile_grid_shape, tile_needs, tile_regions
from .runners import ForkRunner, SerialRunner, SpawnRunner
from .storage import TileOutput

__all__ = ["resample_tiled"]

log = logging.getLogger("gpuresample")


def _runner(load, sources, n_inputs, grid, params, psr, workers, scheduler):
    if scheduler is not None:
        from .dask_runner import DaskRunner

        return DaskRunner(scheduler, sources, n_inputs, grid, params, psr)
    backend = get_backend(params.backend)
    if workers > 1 and backend.worker_start_method == "spawn":
        return SpawnRunner(sources, n_inputs, grid, params, psr, workers, type(backend))
    if workers > 1 and can_fork():
        return ForkRunner(load, n_inputs, grid, params, psr, workers)
    return SerialRunner(load, n_inputs, grid, params, psr)


def resample_tiled(load, sources, n_inputs, grid, params, psr, tile_shape, *, workers=1, scheduler=None,
                   folder=None, scratch_dir=None, allowed_bytes=None, max_input_pixels=None, device_bytes=None,
                   progress=None):
    """Resample a mosaic tile by tile; bitwise the untiled result on the CPU backend and the emulator.

    Parameters
    ----------
    load : callable
        ``load(k)`` -> exposure k, loaded (in this process / forked workers).
    sources : list
        What another process needs to load exposure k (an :class:`Image` or a
        lazy file exposure): used by dask and by the spawned workers of the
        kernel backends.
    n_inputs : int
    grid : OutputGrid
    params : DrizzleParams
    psr : float
        Pixel scale ratio (output / input) of the product.
    tile_shape : "auto" or (ny, nx)
        ``"auto"`` picks the largest tile that fits ``allowed_bytes`` and
        ``device_bytes``.
    workers : int
        Processes of the local pool (1: tiles run in this process).  Backends
        whose ``worker_start_method`` is ``"fork"`` (CPU) fork them (inputs
        inherited); the kernel backends spawn them, and with CUDA each worker
        is pinned to its own GPU (at most one worker per GPU).
    scheduler : distributed.Client, optional
        Run the tiles on a dask cluster instead (see :mod:`gpuresample.dask`).
    folder : path, optional
        Persistent on-disk output (``.npy`` files, see :class:`TileOutput`).
    scratch_dir : path, optional
        With no ``folder``: stream the output into scratch files in this folder
        (removed once mapped) instead of RAM.
    allowed_bytes, device_bytes : float, optional
        Host memory for the tiles running at once, and device memory for one
        tile (CUDA backend); None: no limit.
    max_input_pixels : int
        Pixels of the largest exposure (memory estimates).
    progress : callable, optional
        ``progress(done, total, label)`` after each tile is written.
    """
    if tile_shape != "auto":
        check_tile_shape(tile_shape, grid.shape)  # before any work
    runner = _runner(load, sources, n_inputs, grid, params, psr, workers, scheduler)
    try:
        footprints, rows, groups, first_bunit = collect_plan(runner.plan(n_inputs))
        limits = _Limits(n_inputs, max_input_pixels, params, 1 if scheduler is not None else workers,
                         allowed_bytes, device_bytes)
        tile_shape = limits.choose(tile_shape, grid.shape, footprints)
        regions = tile_regions(grid.shape, tile_shape)
        tasks = [(reg, {f.index: f.reach for f in footprints if f.touches(reg)}) for reg in regions]
        log.info("%d tiles of (ny, nx) = %s; %d exposure-tile pairs", len(tasks), tile_shape,
                 sum(len(s) for _, s in tasks))
        arrays, done, out_dir = _write_tiles(runner, tasks, params, psr, n_inputs, grid.shape, tile_shape, folder,
                                             scratch_dir, progress)
    finally:
        runner.close()
    result = ResampleResult(data=arrays["data"], wht=arrays["wht"], wcs=grid.wcs, con=arrays.get("con"),
                            dq=arrays.get("dq"), err=arrays.get("err"), inputs=rows)
    for name in VARIANCE_NAMES:
        setattr(result, name, arrays.get(name))
    result.meta = product_meta(groups, rows, params, psr, grid, first_bunit)
    result.meta.update(tile_shape=tuple(tile_shape), tiles_complete=done, output_dir=out_dir)
    return result


class _Limits:
    """The host and device limits of a tiled run, and the tile shape they allow."""

    def __init__(self, n_inputs, max_input_pixels, params, at_once, allowed_bytes, device_bytes):
        self.args = (n_inputs, max_input_pixels, params)
        self.at_once = at_once
        self.allowed_bytes = allowed_bytes
        self.device_bytes = device_bytes

    def choose(self, tile_shape, grid_shape, footprints):
        """The tile shape (``"auto"`` resolved), checked against the grid and both limits."""
        n_inputs, max_input_pixels, params = self.args
        if tile_shape == "auto":
            tile_shape = auto_tile_shape(grid_shape, self.allowed_bytes, footprints, n_inputs, max_input_pixels,
                                         params, workers=self.at_once, device_bytes=self.device_bytes)
            log.info('tile="auto": %d tiles of (ny, nx) = %s', int(np.prod(tile_grid_shape(grid_shape, tile_shape))),
                     tuple(int(n) for n in tile_shape))
        check_tile_shape(tile_shape, grid_shape)
        for what, need, lim in tile_needs(tile_shape, grid_shape, footprints, n_inputs, max_input_pixels, params,
                                          self.at_once, self.allowed_bytes, self.device_bytes):
            if need > lim:
                per = f"{self.at_once} tiles at once" if what == "host" else "one tile per GPU"
                raise OutputTooLargeError(
                    f"tile={tuple(tile_shape)} needs about {need / 2**20:.1f} MiB of {what} memory ({per}) but "
                    f"allowed_memory allows {lim / 2**20:.1f} MiB; use smaller tiles or tile='auto'",
                    required=need, allowed=lim)
        return tile_shape


class _NoWeight(Exception):
    """Internal: every tile came back without a positive weight."""


def _write_tiles(runner, tasks, params, psr, n_inputs, grid_shape, tile_shape, folder, scratch_dir, progress):
    """Drizzle the tiles into the output; ``(arrays, completion mask, persistent folder or None)``."""
    scratch = folder is None and scratch_dir is not None
    if scratch:
        folder = Path(tempfile.mkdtemp(prefix="gpuresample-tiles-", dir=scratch_dir)) / "out"
    tiles_shape = tile_grid_shape(grid_shape, tile_shape)
    out = None
    try:
        out = TileOutput(output_layout(params, n_inputs, grid_shape), tiles_shape, folder=folder, scratch=scratch)
        if not _collect(runner, tasks, out, progress):
            out.abort(remove=True)  # an empty mosaic is no output: leave no folder that looks complete
            raise _NoWeight
        arrays = out.finish()
    except _NoWeight:
        raise ValueError(no_weight_message(params.kernel, params.pixfrac, psr)) from None
    except BaseException as exc:
        _fail(exc, out, tiles_shape)
    finally:
        if scratch:
            shutil.rmtree(folder.parent, ignore_errors=True)
    return arrays, out.done.copy(), None if (folder is None or scratch) else str(folder)


def _collect(runner, tasks, out, progress):
    """Write every tile as it arrives and mark it complete; True when any tile has a positive weight."""
    any_weight = False
    for index, arrays in runner.tiles(tasks, out):
        any_weight |= arrays.pop("any_weight")
        if not arrays.pop("written", False):
            out.put(index, tasks[index][0], arrays)
        out.mark(index)
        del arrays
        if progress is not None:
            (y0, y1, x0, x1) = tasks[index][0]
            progress(int(out.done.sum()), len(tasks), f"tile {index} [{y0}:{y1}, {x0}:{x1}]")
    return any_weight


def _fail(exc, out, tiles_shape):
    """Re-raise a failed run as :class:`TilingError` carrying the parent's completion mask."""
    # the parent's record is the truth: a forked worker's error carries its own, stale, copy of the mask
    done = out.done.copy() if out is not None else np.zeros(tiles_shape, bool)
    if out is not None:
        out.abort()  # close the files; a persistent folder stays .partial with its record
    if isinstance(exc, TilingError):
        exc.tiles_complete = done
        raise exc
    if isinstance(exc, Exception):
        raise TilingError(f"a tile failed ({type(exc).__name__}: {exc}); {int(done.sum())} of "
                          f"{done.size} tiles complete", tiles_complete=done) from exc
    raise exc  # KeyboardInterrupt...
