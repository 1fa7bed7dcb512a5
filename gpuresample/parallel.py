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

The helper is one plain process on a pipe (not a pool), so that it can be
stopped without waiting on it: it ignores SIGINT (Ctrl-C reaches the whole
process group; the main process decides), it dies with its parent (Linux
``PR_SET_PDEATHSIG``, and an end-of-file on its pipe elsewhere), and a close
after an error or an interrupt terminates it at once instead of joining a
helper that may never answer (issue 13, items 5 and 6).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
import warnings

from .workers import VARIANCE_HELPER, can_fork

log = logging.getLogger("gpuresample")

__all__ = ["HelperDiedError", "VarianceHelper", "die_with_parent"]

#: Seconds a clean close waits for the helper to exit before terminating it.
JOIN_SECONDS = 5.0


class HelperDiedError(RuntimeError):
    """The variance helper process ended without answering (killed, or crashed)."""


def die_with_parent(parent_pid):
    """Make this (forked) process exit when ``parent_pid`` does: ``PR_SET_PDEATHSIG`` on Linux.

    Where prctl is unavailable the helper still stops at the end-of-file of
    its pipe, which the kernel delivers when the parent dies.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(0)


def _serve(conn, parent_pid):
    """The helper's loop: receive k, send ("ok", boxes) or ("error", text); None or EOF ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent_pid)
    # the main process drizzles the same exposures with the same kernel and
    # reports their warnings; the helper's would only repeat them
    warnings.simplefilter("ignore")
    s = VARIANCE_HELPER
    while True:
        try:
            k = conn.recv()
        except (EOFError, OSError):
            return
        if k is None:
            return
        try:
            reply = ("ok", s["compute"](k, s["get"](k), s["names"]))
        except Exception as exc:  # raised again in the main process (as text if it does not pickle)
            reply = ("error", exc)
        try:
            try:
                conn.send(reply)
            except (TypeError, AttributeError, pickle.PicklingError):
                conn.send(("error", f"{type(reply[1]).__name__}: {reply[1]}"))
        except (BrokenPipeError, OSError):
            return


class VarianceHelper:
    """Runs ``compute(k, image, names) -> {name: box array}`` for exposure k in a helper.

    ``get(k)`` returns exposure k (loaded) in the helper process.  Keeps at
    most ``depth`` exposures in flight so finished boxes do not pile up.
    Use as a context manager or call :meth:`close`; ``close(abort=True)``
    (what ``__exit__`` does on an exception, KeyboardInterrupt included)
    terminates the helper without waiting for it.
    """

    def __init__(self, n, get, compute, names, depth=2):
        self.n = n
        self.depth = depth
        self.next = 0
        self.pending = collections.deque()
        self.proc = None
        self.conn = None
        self.held = False
        if not can_fork():
            log.info("no fork start method here: variance drizzles run in the main process")
            self.local = (get, compute, names)
            return
        self.local = None
        VARIANCE_HELPER.install(get=get, compute=compute, names=names)
        self.held = True
        try:
            ctx = mp.get_context("fork")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child, os.getpid()), name="gpuresample-variance",
                                    daemon=True)
            self.proc.start()
            child.close()
            self._fill()
        except BaseException:
            self.close(abort=True)
            raise

    def _fill(self):
        while self.next < self.n and len(self.pending) < self.depth:
            self.conn.send(self.next)
            self.pending.append(self.next)
            self.next += 1

    def result(self, k):
        """Boxes for exposure k (call in increasing k)."""
        if self.local is not None:
            get, compute, names = self.local
            return compute(k, get(k), names)
        if not self.pending or self.pending[0] != k:
            raise ValueError(f"variance helper: results come in input order; asked for {k}")
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError):
            code = self.proc.exitcode if self.proc is not None else None
            raise HelperDiedError(f"the variance helper process ended (exit code {code}) without "
                                  f"answering for input {k}") from None
        self.pending.popleft()
        if status != "ok":
            if isinstance(value, BaseException):
                raise value
            raise RuntimeError(f"variance helper, input {k}: {value}")
        self._fill()
        return value

    def close(self, abort=False):
        """Stop the helper and release the inherited state; idempotent.

        ``abort``: terminate it now (after an error or an interrupt, when it
        may be busy or never answer); else ask it to exit and wait up to
        :data:`JOIN_SECONDS` before terminating it.
        """
        proc, self.proc = self.proc, None
        if proc is not None:
            if not abort:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self.conn.send(None)
                proc.join(JOIN_SECONDS)
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.held:
            self.held = False
            VARIANCE_HELPER.release()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(abort=exc_type is not None)
        return False
