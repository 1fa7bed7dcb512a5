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

__all__ = ["DaskRunner", "resample"]


def _load_from(sources):
    """``load(k)`` over ``{k: Image or LazyExposure}`` (what a task received)."""

    def load(k):
        src = sources[k]
        # a file exposure (ASDF, or any reader with load()/stub()) is read here, in the worker
        lazy = isinstance(src, LazyExposure) or (hasattr(src, "load") and hasattr(src, "stub"))
        return as_exposure(src.load(), k) if lazy else src

    return load


def _identity(x):
    return x


def _run_tile(index, region, selected, sources, n_inputs, grid, params, psr):
    from .tiling import _maybe_kill, drizzle_tile

    _maybe_kill(index)
    return index, drizzle_tile(region, _load_from(sources), selected, n_inputs, grid, params, psr)


def _plan(k, source, grid, params, psr):
    from .tiling import plan_one

    return plan_one(k, _load_from({k: source})(k), grid, params, psr)


class DaskRunner:
    """Plans the exposures and drizzles the tiles as tasks on ``client`` (a ``distributed.Client``).

    ``plan(n)`` returns the per-exposure plans in input order (one task per
    exposure); ``tiles(tasks)`` submits one task per tile (``tasks`` is a
    list of ``(region, {k: reach})``) and yields ``(tile index, arrays)`` as
    tiles finish.  ``sources[k]`` is exposure k (an
    :class:`gpuresample.Image` or a ``LazyExposure``).
    """

    def __init__(self, client, sources, n_inputs, grid, params, psr):
        import uuid

        self.client = client
        self.n = n_inputs
        self.psr = psr
        self.run = uuid.uuid4().hex  # unique keys: a key reused from an earlier, cancelled run would be forgotten
        # Each exposure enters the cluster once, as the result of a trivial
        # task rather than by scatter: scattered data dies with its worker,
        # while a task result is recomputed when a worker is lost.
        self.held = [client.submit(_identity, src, pure=False, key=f"gpuresample-input-{k}-{self.run}")
                     for k, src in enumerate(sources)]
        self.grid = client.submit(_identity, grid, pure=False)
        self.params = client.submit(_identity, params, pure=False)
        self.futures = []

    def _gather(self, futures):
        from distributed import as_completed

        from .errors import TilingError

        for fut in as_completed(futures):
            try:
                out = fut.result()
            except Exception as exc:
                raise TilingError(f"task {fut.key} failed on the cluster: {exc}") from exc
            fut.release()
            yield out

    def plan(self, n):
        futures = [self.client.submit(_plan, k, self.held[k], self.grid, self.params, self.psr, pure=False,
                                      key=f"gpuresample-plan-{k}-{self.run}") for k in range(n)]
        self.futures += futures
        out = [None] * n
        for item in self._gather(futures):
            out[item[0].index] = item
        return out

    def tiles(self, tasks, out):
        futures = [
            self.client.submit(_run_tile, i, region, selected, {k: self.held[k] for k in selected}, self.n,
                               self.grid, self.params, self.psr, pure=False, key=f"gpuresample-tile-{i}-{self.run}")
            for i, (region, selected) in enumerate(tasks)
        ]
        self.futures += futures
        yield from self._gather(futures)

    def close(self):
        self.client.cancel([*self.futures, *self.held, self.grid, self.params])


def resample(client, inputs, **kwargs):
    """:func:`gpuresample.resample` with its tiles run on ``client`` (a ``distributed.Client``)."""
    from .step import resample as _resample

    return _resample(inputs, scheduler=client, **kwargs)
