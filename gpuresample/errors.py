"""Exception and warning classes raised by gpuresample."""

__all__ = [
    "BackendUnavailableError",
    "DeviceOutOfMemoryError",
    "DrizzleCrashGuardError",
    "InputFileError",
    "NonConservingKernelWarning",
    "OutputTooLargeError",
    "TilingError",
]


class OutputTooLargeError(MemoryError):
    """The memory a run needs exceeds what ``allowed_memory`` permits.

    Raised *before* anything is allocated.  ``required`` and ``allowed`` are in
    bytes.
    """

    def __init__(self, message, required=None, allowed=None):
        super().__init__(message)
        self.required = required
        self.allowed = allowed


class InputFileError(ValueError):
    """An input file cannot be used: missing, unreadable, truncated, no WCS, not imaging...

    The message starts with the file's path.  Raised while the inputs are
    opened, before any output is allocated.
    """


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run on this machine."""


class DeviceOutOfMemoryError(MemoryError):
    """The GPU ran out of memory during an image (CuPy's OutOfMemoryError, translated).

    With ``backend="auto"`` gpuresample then continues on the CPU; the
    outputs are untouched by the failed image.
    """


class DrizzleCrashGuardError(RuntimeError):
    """The installed drizzle (< 3.0) would crash on this input.

    drizzle 2.2 dereferences out of bounds when two vertices of the clipped
    footprint invert to the same input point (fixed in drizzle 3.0).  We detect
    that configuration before calling into C and raise this instead.
    """


class NonConservingKernelWarning(UserWarning):
    """The kernel (gaussian, lanczos2/3, tophat) does not conserve flux."""


class TilingError(RuntimeError):
    """A tiled run did not complete: a tile failed, a worker died, or the output could not be written.

    ``tiles_complete`` is the boolean ``(ntiles_y, ntiles_x)`` mask of the
    tiles that were written before the failure (None if unknown).  No result
    is returned, and an on-disk output keeps its ``.partial`` name.
    """

    def __init__(self, message, tiles_complete=None):
        super().__init__(message)
        self.tiles_complete = tiles_complete
