"""A helper process for the variance drizzles (the second CPU core).

drizzle's C code holds the GIL, so threads do not help.  The science drizzle
must run in input order in one process (drizzle keeps a running weighted
mean), but each exposure's footprint-box variance drizzles are independent:
a forked helper computes them for exposure k+1 while the main process
drizzles exposure k.  The helper recomputes the exposure's pixel map and
weights with the same code and inputs, so its results are bitwise what the
main process would compute, and the output does not depend on ``workers``.

Uses the ``fork`` start method (inputs are inherited, not pickled); where
fork is unavailable the work runs in the main process.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

from .workers import VARIANCE_HELPER, can_fork

log = logging.getLogger("gpuresample")

__all__ = ["VarianceHelper"]


def _child_boxes(k):
    s = VARIANCE_HELPER
    return s["compute"](k, s["get"](k), s["names"])


class VarianceHelper:
    """Runs ``compute(k, image, names) -> {name: box array}`` for exposure k in a helper.

    ``get(k)`` returns exposure k (loaded) in the helper process.  Keeps at
    most ``depth`` exposures in flight so finished boxes do not pile up.
    """

    def __init__(self, n, get, compute, names, depth=2):
        self.n = n
        self.futures = {}
        self.depth = depth
        self.next = 0
        self.pool = None
        if not can_fork():
            log.info("no fork start method here: variance drizzles run in the main process")
            self.local = (get, compute, names)
            return
        self.local = None
        self.held = True
        VARIANCE_HELPER.install(get=get, compute=compute, names=names)
        try:
            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
            self._fill()
        except BaseException:
            self._release()
            raise

    def _fill(self):
        while self.next < self.n and len(self.futures) < self.depth:
            self.futures[self.next] = self.pool.submit(_child_boxes, self.next)
            self.next += 1

    def result(self, k):
        """Boxes for exposure k (call in increasing k)."""
        if self.local is not None:
            get, compute, names = self.local
            return compute(k, get(k), names)
        fut = self.futures.pop(k)
        out = fut.result()
        self._fill()
        return out

    def _release(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self.held:
            self.held = False
            VARIANCE_HELPER.release()

    def close(self):
        """Stop the helper (pending work is cancelled) and release the inherited state; idempotent."""
        if self.local is not None or not self.held:
            return
        for f in self.futures.values():
            f.cancel()
        self._release()
