"""SIGTERM for the command line: unwind like Ctrl-C, so that every run cleans up (issue 13, item 5).

Python's default SIGTERM kills the process without running ``finally``
blocks, leaving scratch folders (``gpuresample-*`` in TMPDIR) and the hidden
``.<name>.*.part`` files of an unfinished product.  While a command-line run
lasts, SIGTERM raises :class:`Terminated` in the main thread instead; the
command line prints one line and exits with 143 (128 + 15), as SIGINT exits
with 130.  Forked workers that inherit the handler die as SIGTERM means.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

__all__ = ["Terminated", "sigterm_unwinds"]


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C (every ``finally`` cleans up), then exit status 143."""


def _on_sigterm(main_pid):
    def handler(signum, frame):
        if os.getpid() != main_pid:
            # a forked worker inherited this handler: die as SIGTERM means, quietly
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated

    return handler


@contextlib.contextmanager
def sigterm_unwinds():
    """While the run lasts, SIGTERM raises :class:`Terminated` in the main thread (else: a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm(os.getpid()))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
