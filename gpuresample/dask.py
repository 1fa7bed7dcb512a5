"""Tiles on a dask.distributed cluster: ``resample(..., scheduler=client)``.

Each tile is one task.  The exposures are sent to the cluster once (a file
input travels as its path and is read by the worker that needs it);
a task receives only the exposures that reach its tile, drizzles them (the
same :func:`gpuresample.tiling.drizzle_tile` as the local runs, so the result
is bitwise the local one) and returns its tile-sized arrays.  The client
writes each tile into the output (RAM, or the ``.npy`` files of
``tile_output``/scratch) as soon as it arrives and releases it, so no process
holds the whole mosaic unless the output itself is in RAM.

dask and distributed are imported only when this module is used; install
them with ``pip install gpuresample[dask]``.  For several GPUs on one node,
start the cluster with ``dask_cuda.LocalCUDACluster`` (one worker per GPU,
each pinned to its device through ``CUDA_VISIBLE_DEVICES``) and pass
``backend="cuda"``.

A worker that dies is handled by distributed: its tasks are re-run on other
workers (up to the scheduler's ``allowed-failures``), after which the run
raises :class:`gpuresample.TilingError`; the output's completion record never
marks a tile that was not written.
"""

from __future__ import annotations

from .asdf_io import LazyExposure
from .exposure import as_exposure

__all__ = ["dask_tile_results", "resample"]


def _load_from(sources):
    """``load(k)`` over ``{k: Image or LazyExposure}`` (what a task received)."""

    def load(k):
        src = sources[k]
        return as_exposure(src.load(), k) if isinstance(src, LazyExposure) else src

    return load


def _identity(x):
    return x


def _run_tile(index, region, selected, sources, n_inputs, grid, params, psr):
    from .tiling import _maybe_kill, drizzle_tile

    _maybe_kill(index)
    return index, drizzle_tile(region, _load_from(sources), selected, n_inputs, grid, params, psr)


def dask_tile_results(client, tasks, sources, n_inputs, grid, params, psr):
    """Submit one task per tile; yield ``(tile index, arrays)`` as tiles finish.

    ``tasks`` is a list of ``(region, {k: reach})``; ``sources[k]`` is exposure
    k (an :class:`gpuresample.Image` or a ``LazyExposure``).
    """
    import uuid

    from distributed import as_completed

    from .errors import TilingError

    needed = sorted({k for _, sel in tasks for k in sel})
    # Each exposure enters the cluster once, as the result of a trivial task
    # rather than by scatter: scattered data dies with its worker, while a
    # task result is recomputed by the scheduler when a worker is lost.
    held = {k: client.submit(_identity, sources[k], pure=False) for k in needed}
    grid_f = client.submit(_identity, grid, pure=False)
    params_f = client.submit(_identity, params, pure=False)
    run = uuid.uuid4().hex  # unique keys: a key reused from an earlier, cancelled run would be forgotten
    futures = [
        client.submit(_run_tile, i, region, selected, {k: held[k] for k in selected}, n_inputs, grid_f,
                      params_f, psr, pure=False, key=f"gpuresample-tile-{i}-{run}")
        for i, (region, selected) in enumerate(tasks)
    ]
    try:
        for fut in as_completed(futures):
            if fut.status != "finished":
                try:
                    fut.result()
                except Exception as exc:
                    raise TilingError(f"tile task {fut.key} failed on the cluster: {exc}") from exc
            index, arrays = fut.result()
            fut.release()
            yield index, arrays
    finally:
        client.cancel(futures)
        client.cancel([*held.values(), grid_f, params_f])


def resample(client, inputs, **kwargs):
    """:func:`gpuresample.resample` with its tiles run on ``client`` (a ``distributed.Client``)."""
    from .step import resample as _resample

    return _resample(inputs, scheduler=client, **kwargs)
