"""Tiles on a dask.distributed cluster: ``resample(..., scheduler=client)``.

Each tile is one task (see :mod:`gpuresample.tiling.dask_runner`); the
result is bitwise the local one.  dask and distributed are imported only when
a run uses them; install them with ``pip install gpuresample[dask]``.  For
several GPUs on one node, start the cluster with
``dask_cuda.LocalCUDACluster`` (one worker per GPU, each pinned to its device
through ``CUDA_VISIBLE_DEVICES``) and pass ``backend="cuda"``.

A worker that dies is handled by distributed: its tasks are re-run on other
workers (up to the scheduler's ``allowed-failures``), after which the run
raises :class:`gpuresample.TilingError`; the output's completion record never
marks a tile that was not written.
"""

from __future__ import annotations

from .step import resample as _step_resample

__all__ = ["resample"]


def resample(client, inputs, **kwargs):
    """:func:`gpuresample.resample` with its tiles run on ``client`` (a ``distributed.Client``).

    Without ``tile`` the tiles are ``2048 x 2048`` (capped by the grid).
    """
    return _step_resample(inputs, scheduler=client, **kwargs)
