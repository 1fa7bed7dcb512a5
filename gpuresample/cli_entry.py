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


def _run(argv):
    from .cli import main as run

    return run(argv)


def main(argv=None):
    """Run the command line (:func:`gpuresample.cli.main`); returns the exit status."""
    status = None
    while True:
        # A Ctrl-C can land on any line here, also between the end of the run
        # and the line that ignores it (an uncaught KeyboardInterrupt there
        # would end the process by SIGINT): once the status is known it
        # stands, and the loop only finishes ignoring the signal.
        try:
            if status is None:
                status = _run(argv)
            if argv is None:
                # The run is over (product written, or the failure reported).  A
                # Ctrl-C now would only turn the interpreter's shutdown (atexit
                # handlers that join helper processes) into a traceback or a death
                # by SIGINT: the command, not a caller of main(argv), ignores it.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            return status
        except KeyboardInterrupt:
            _forget_unhandled_interrupt()
            if status is None:
                print("gpuresample: interrupted", file=sys.stderr)
                status = 130


def _forget_unhandled_interrupt():
    """Clear CPython's record of an "unhandled" KeyboardInterrupt: we handled it.

    CPython sets a process-wide flag when a KeyboardInterrupt leaves code run
    by ``PyRun_String`` -- which some extension modules call while they are
    imported -- even when Python code catches it further up, and at exit it
    then kills the process with SIGINT instead of returning the exit status
    (a Ctrl-C in a ~30 ms window of the imports gave status -2, not 130).
    Other interpreters have no such flag: nothing to do.
    """
    try:
        import ctypes

        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (ImportError, AttributeError, ValueError, OSError):
        pass
