"""The ``gpuresample`` command's entry point: Ctrl-C is ours from the first line of Python that runs.

The console script imports this module, which imports only the standard
library (``gpuresample/__init__`` is lazy), and then the command line itself:
a Ctrl-C while numpy, astropy and gwcs load (~0.4 s) or while the arguments are
parsed ends the run like one in the middle of it, with one line and status
130, instead of a KeyboardInterrupt traceback from the import machinery; one
after the run has finished is ignored (the status is the run's).
"""

import signal
import sys

__all__ = ["main"]


def main(argv=None):
    """Run the command line (:func:`gpuresample.cli.main`); returns the exit status."""
    try:
        from .cli import main as run

        status = run(argv)
    except KeyboardInterrupt:
        print("gpuresample: interrupted", file=sys.stderr)
        status = 130
    if argv is None:
        # The run is over (product written, or the failure reported).  A Ctrl-C
        # now would only turn the interpreter's shutdown (atexit handlers that
        # join helper processes) into a traceback or a death by SIGINT: the
        # command, not a caller of main(argv), ignores it from here on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return status
