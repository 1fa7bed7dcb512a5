"""Where the tiles run: in this process, a forked or spawned process pool (Dask: :mod:`.dask_runner`).

A runner plans the exposures (``plan(n)`` -> :func:`~.plan.plan_one` results
in input order) and drizzles tiles (``tiles(tasks, out)`` -> ``(index,
arrays)`` as they finish; ``tasks`` is a list of ``(region, {k: reach})``).
Every runner calls the same :func:`~.tile.drizzle_tile` (looked up on its
module at call time, so tests can wrap it to inject faults).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from ..errors import TilingError
from ..exposure import as_exposure
from ..gpu.device import STATS
from ..parallel import die_with_parent
from ..workers import TILE_POOL
from . import tile
from .plan import plan_one

__all__ = ["ForkRunner", "SerialRunner", "SpawnRunner", "load_from"]

DIED = "a tile worker process died (killed or out of memory); the mosaic is incomplete"


def load_from(sources):
    """``load(k)`` over ``{k: Image or lazy file exposure}`` (what a worker or task received)."""

    def load(k):
        src = sources[k]
        # a file exposure (ASDF, FITS: anything with load()/stub()) is read here, in the worker
        lazy = hasattr(src, "load") and hasattr(src, "stub")
        return as_exposure(src.load(), k) if lazy else src

    return load


class SerialRunner:
    """Every tile in this process, one after the other."""

    def __init__(self, load, n, grid, params, psr):
        self.args = (load, n, grid, params, psr)

    def plan(self, n):
        load, _, grid, params, psr = self.args
        return [plan_one(k, load(k), grid, params, psr) for k in range(n)]

    def tiles(self, tasks, out):
        load, n, grid, params, psr = self.args
        for index, (region, selected) in enumerate(tasks):
            yield index, tile.drizzle_tile(region, load, selected, n, grid, params, psr)

    def close(self):
        pass


def _pool_plan(k):
    s = TILE_POOL
    return plan_one(k, s["load"](k), s["grid"], s["params"], s["psr"])


def _pool_tile(index, region, selected):
    s = TILE_POOL
    arrays = tile.drizzle_tile(region, s["load"], selected, s["n"], s["grid"], s["params"], s["psr"])
    # write in place (shared maps / pwrite into the output files): only the
    # flag travels back; the parent marks the tile complete when it arrives
    any_weight = arrays.pop("any_weight")
    s["out"].put(index, region, arrays)
    return index, {"any_weight": any_weight, "written": True}


def _results(futures):
    try:
        for fut in as_completed(futures):
            yield fut.result()
    except BrokenProcessPool as exc:
        raise TilingError(DIED) from exc


class ForkRunner:
    """Pools of forked processes (CPU backend): the inputs are inherited, not pickled.

    The tile pool is forked after the output exists, so the workers write
    their tiles straight into it.  One fork pool runs at a time per process
    (its state is process-global, see :mod:`gpuresample.workers`).
    """

    def __init__(self, load, n, grid, params, psr, workers):
        TILE_POOL.install(load=load, n=n, grid=grid, params=params, psr=psr, parent=os.getpid())
        self.workers = workers
        self.pool = None

    def _new_pool(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("fork"),
                                        initializer=die_with_parent, initargs=(os.getpid(),))

    def plan(self, n):
        self._new_pool()
        try:
            return list(self.pool.map(_pool_plan, range(n), chunksize=max(1, n // (4 * self.workers))))
        except BrokenProcessPool as exc:
            raise TilingError(DIED) from exc

    def tiles(self, tasks, out):
        TILE_POOL.update(out=out)
        self._new_pool()
        futures = [self.pool.submit(_pool_tile, i, region, sel) for i, (region, sel) in enumerate(tasks)]
        yield from _results(futures)

    def close(self):
        try:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            TILE_POOL.release()


def _init_worker(indices, backend_cls, parent_pid):
    """Spawned worker start-up: die with the run, then the backend's per-worker set-up (CUDA: one GPU each)."""
    die_with_parent(parent_pid)
    backend_cls.worker_init(indices.get())


def _spawn_plan(k, source, grid, params, psr):
    return plan_one(k, load_from({k: source})(k), grid, params, psr)


def _spawn_tile(index, region, selected, sources, n, grid, params, psr):
    # the worker's transfers and launches travel back with the tile, so the
    # parent's device_stats count the whole run, not only its own process
    before = STATS.snapshot()
    arrays = tile.drizzle_tile(region, load_from(sources), selected, n, grid, params, psr)
    arrays["device_stats"] = STATS.since(before)
    return index, arrays


class SpawnRunner:
    """Freshly spawned processes (kernel backends: CUDA must not be forked once initialised).

    ``backend_cls`` is the backend's class: each worker calls
    ``backend_cls.worker_init(index)`` with its own index.  With devices
    (``backend_cls.device_count()`` not None: CUDA) ``workers`` is capped at
    their number, so each worker has its own GPU.  Each task receives the
    exposures it needs.
    """

    def __init__(self, sources, n, grid, params, psr, workers, backend_cls):
        self.args = (sources, n, grid, params, psr)
        ctx = mp.get_context("spawn")
        ndev = backend_cls.device_count()
        if ndev is not None:
            workers = max(1, min(workers, ndev))
        indices = ctx.Queue()
        for i in range(workers):
            indices.put(i)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                        initargs=(indices, backend_cls, os.getpid()))

    def plan(self, n):
        sources, _, grid, params, psr = self.args
        try:
            return list(self.pool.map(_spawn_plan, range(n), sources, [grid] * n, [params] * n, [psr] * n))
        except BrokenProcessPool as exc:
            raise TilingError(DIED) from exc

    def tiles(self, tasks, out):
        sources, n, grid, params, psr = self.args
        futures = [self.pool.submit(_spawn_tile, i, region, sel, {k: sources[k] for k in sel}, n, grid, params, psr)
                   for i, (region, sel) in enumerate(tasks)]
        for index, arrays in _results(futures):
            STATS.add(arrays.pop("device_stats"))
            yield index, arrays

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
