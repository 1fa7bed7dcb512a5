"""State that forked worker processes inherit, kept in one place.

The forked helpers of gpuresample (the variance helper of
:mod:`gpuresample.parallel`, the tile pool of :mod:`gpuresample.tiling`)
receive their inputs by inheritance instead of pickling: the parent stores
them here just before the pool forks, and the child reads them.  Because the
state is process-global, one :class:`ForkState` serves one run at a time: a
second run from another thread of the same process waits in
:meth:`ForkState.install` until the first one releases it (rather than
silently replacing what the first run's workers read).
"""

from __future__ import annotations

import multiprocessing as mp
import threading

__all__ = ["TILE_POOL", "VARIANCE_HELPER", "ForkState", "can_fork"]


def can_fork():
    """True where the ``fork`` start method exists (not on Windows; deprecated-by-default on macOS)."""
    return "fork" in mp.get_all_start_methods()


class ForkState:
    """A named, process-global dict that forked workers inherit; one run holds it at a time."""

    def __init__(self, name):
        self.name = name
        self._lock = threading.Lock()
        self._values = {}

    def install(self, **values):
        """Take the state for this run (waits while another run holds it) and set ``values``."""
        self._lock.acquire()
        self._values.clear()
        self._values.update(values)

    def update(self, **values):
        """Add values (e.g. the tile output, known only once the pool exists)."""
        self._values.update(values)

    def __getitem__(self, key):
        return self._values[key]

    def release(self):
        """Clear the state and let the next run take it."""
        self._values.clear()
        self._lock.release()


#: The variance helper of the untiled exposure loop.
VARIANCE_HELPER = ForkState("variance helper")
#: The tile pool of a tiled run.
TILE_POOL = ForkState("tile pool")
