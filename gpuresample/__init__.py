"""gpuresample: drizzle resampling of astronomical images, on GPUs and CPUs.

Public API
----------
Drizzle
    Drop-in replacement of ``drizzle.resample.Drizzle`` with a ``backend``
    argument and the ``tophat`` kernel.
resample
    The jwst ``resample`` step as a function (every step argument).
calc_pixmap
    Pixel map between two WCSs (gwcs or astropy), evaluated in row batches or
    on a sparse grid with interpolation.

Importing gpuresample never needs CuPy, Dask or stdatamodels.
"""

from importlib import metadata as _metadata

from .accumulator import Drizzle
from .errors import (
    BackendUnavailableError,
    DeviceOutOfMemoryError,
    DrizzleCrashGuardError,
    NonConservingKernelWarning,
    OutputTooLargeError,
    TilingError,
)
from .exposure import Image
from .gpu.sources import kernel_dir, kernel_files
from .kernel_info import DRIZZLE_KERNELS, FLUX_CONSERVING_KERNELS, KERNELS
from .pixmap import calc_pixmap
from .result import ResampleResult
from .step import resample

try:
    __version__ = _metadata.version("gpuresample")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "DRIZZLE_KERNELS",
    "FLUX_CONSERVING_KERNELS",
    "KERNELS",
    "BackendUnavailableError",
    "DeviceOutOfMemoryError",
    "Drizzle",
    "DrizzleCrashGuardError",
    "Image",
    "NonConservingKernelWarning",
    "OutputTooLargeError",
    "ResampleResult",
    "TilingError",
    "__version__",
    "calc_pixmap",
    "kernel_dir",
    "kernel_files",
    "resample",
]
