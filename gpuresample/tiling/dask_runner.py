"""Tiles as tasks on a dask.distributed cluster (the runner behind ``resample(..., scheduler=client)``).

Each tile is one task.  The exposures are sent to the cluster once (a file
input travels as its path and is read by the worker that needs it); a task
receives only the exposures that reach its tile, drizzles them (the same
:func:`~.tile.drizzle_tile` as the local runs, so the result is bitwise the
local one) and returns its tile-sized arrays.  The client writes each tile
into the output as soon as it arrives and releases it.

distributed is imported only when a run uses it.
"""

from __future__ import annotations

import uuid

from ..errors import TilingError
from . import tile
from .plan import plan_one
from .runners import load_from

__all__ = ["DaskRunner"]


def _identity(x):
    return x


def _run_tile(index, region, selected, sources, n_inputs, grid, params, psr):
    return index, tile.drizzle_tile(region, load_from(sources), selected, n_inputs, grid, params, psr)


def _plan(k, source, grid, params, psr):
    return plan_one(k, load_from({k: source})(k), grid, params, psr)


class DaskRunner:
    """Plans the exposures and drizzles the tiles as tasks on ``client`` (a ``distributed.Client``).

    ``plan(n)`` returns the per-exposure plans in input order (one task per
    exposure); ``tiles(tasks, out)`` submits one task per tile and yields
    ``(tile index, arrays)`` as tiles finish.  ``sources[k]`` is exposure k
    (an :class:`gpuresample.Image` or a lazy file exposure).
    """

    def __init__(self, client, sources, n_inputs, grid, params, psr):
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
