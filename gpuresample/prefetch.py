"""Exposure geometry made ahead in helper processes, while the device drizzles (kernel backends).

On a kernel backend the host's share of an exposure is its geometry: the
WCS evaluated on calc_pixmap's sparse grid (and the ``"auto"`` error check),
the input and footprint boxes and drizzle's per-row scan of the input box,
read from the spline (:class:`gpuresample.pixmap_model.LazyPixmap`).  It is
independent per exposure and ~100x the device's time for it, so
:class:`GeometryPrefetch` computes it for the coming exposures in a pool of
``workers`` forked processes and the exposure loop takes each result in
order.  The helpers never touch the device (numpy, astropy and gwcs only),
which is what makes forking a process that holds a CUDA context safe, as
for PyTorch's data-loader workers (and the helpers freeze the inherited
objects, so that no garbage collection in them frees a device array);
forking also keeps a user's script without a ``__main__`` guard from being
re-run, which spawning would do.  Like the variance helper
(:mod:`gpuresample.parallel`) they ignore Ctrl-C and die with the main
process; a helper that dies anyway costs only speed (its exposures are
prepared in the main process).  The results are exactly what the main
process would compute (the same functions on the same inputs); an exposure
whose map cannot be lazy (an output bounding box, far values) gets None and
is prepared in the main process as before.

Pixel conventions as :mod:`gpuresample.prepared`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from .parallel import die_with_parent
from .pixmap import pixmap_and_model
from .pixmap_checks import scan_limits
from .pixmap_model import LazyPixmap
from .prepared import map_geometry

__all__ = ["MIN_EXPOSURES", "Geometry", "GeometryPrefetch", "exposure_geometry"]

log = logging.getLogger("gpuresample")

#: Fewer exposures than this are prepared in the main process (a pool's start costs more).
MIN_EXPOSURES = 4


def _init_helper(parent_pid):
    gc.freeze()  # inherited objects (device arrays among them) are never collected here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's: it ends the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent_pid)
    warnings.simplefilter("ignore")  # the main process reports what matters once


@dataclass
class Geometry:
    """One exposure's geometry: the sparse map's spline (its scan cached in ``pixmap_model.scans``),
    the inclusive input box ``limits``, whether anything ``lands`` and the footprint ``box``."""

    pixmap_model: object
    limits: tuple
    lands: bool
    box: tuple | None


def exposure_geometry(wcs, shape, grid_wcs, grid_shape, stepsize, order, psr, scan):
    """The :class:`Geometry` of an exposure with WCS ``wcs`` and ``shape`` ``(ny, nx)`` on the grid,
    or None when its pixel map cannot stand in lazily; with ``scan`` drizzle's scan of the box too."""
    pixmap, model = pixmap_and_model(wcs, grid_wcs, shape=shape, full=False, stepsize=stepsize, order=order)
    if pixmap is not None:
        return None
    lazy = LazyPixmap(model)
    limits, lands, box = map_geometry(lazy, shape, wcs, grid_shape, psr)
    if lands and scan:
        with contextlib.suppress(ValueError):  # a degenerate scan: the main process raises it itself
            scan_limits(lazy, grid_shape, limits, "square")  # cached in model.scans
    return Geometry(model, limits, lands, box)


class GeometryPrefetch:
    """The geometry of exposures ``0 .. n - 1`` computed ahead by ``workers`` forked processes.

    ``sources[k]`` is ``(wcs, shape)`` of exposure k.  :meth:`get` waits for
    exposure k's result; :meth:`close` ends the pool (on error or Ctrl-C
    without waiting for the exposures not started).
    """

    def __init__(self, sources, grid, params, psr, workers):
        ctx = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_helper,
                                        initargs=(os.getpid(),))
        scan = params.kernel != "tophat"
        self.broken = False
        self.results = [self.pool.submit(exposure_geometry, wcs, shape, grid.wcs, grid.shape,
                                         params.pixmap_stepsize, params.pixmap_order, psr, scan)
                        for wcs, shape in sources]
        log.info("preparing %d exposures ahead in %d helper processes", len(sources), workers)

    def get(self, k):
        """Exposure k's :class:`Geometry`, or None: prepare it in this process (also when a helper died)."""
        if self.broken:
            return None
        try:
            return self.results[k].result()
        except BrokenProcessPool as exc:
            self.broken = True
            log.warning("a geometry helper process died (%s): preparing the exposures here", exc)
            return None

    def close(self, abort=False):
        """End the pool; with ``abort`` (an error, Ctrl-C) the helpers are terminated at once."""
        if abort:
            # the executor has no public terminate(); its worker processes are in _processes
            for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)
