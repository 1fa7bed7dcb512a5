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
Image, ResampleResult
    One input exposure; one product (``result.save(path)``,
    ``result.save_preview(path)``).
write_product, read_product, save_preview
    ``write_product(path, result)``: the ``_i2d.fits`` (or ``.asdf``)
    product; ``read_product(path)``; ``save_preview(path, result)``: a PNG.
    The file comes first in all of them.

Importing gpuresample never needs CuPy, Dask or stdatamodels, and is cheap:
the names below are imported on first use (PEP 562), so that the command line
can take over Ctrl-C before numpy and astropy load (``gpuresample.cli_entry``).
"""

import importlib as _importlib

#: public name -> module that defines it (imported on first access)
_PUBLIC = {
    "Drizzle": ".accumulator",
    "BackendUnavailableError": ".errors",
    "DeviceOutOfMemoryError": ".errors",
    "DrizzleCrashGuardError": ".errors",
    "NonConservingKernelWarning": ".errors",
    "OutputTooLargeError": ".errors",
    "TilingError": ".errors",
    "Image": ".exposure",
    "kernel_dir": ".gpu.sources",
    "kernel_files": ".gpu.sources",
    "DRIZZLE_KERNELS": ".kernel_info",
    "FLUX_CONSERVING_KERNELS": ".kernel_info",
    "KERNELS": ".kernel_info",
    "calc_pixmap": ".pixmap",
    "ResampleResult": ".result",
    "resample": ".step",
    "ResampleStep": ".jwst_step",  # needs jwst (pip install 'gpuresample[jwst]')
    "write_product": ".i2d",
    "read_product": ".i2d_read",
    "save_preview": ".preview",
}


def _version():
    from importlib import metadata  # ~80 ms of imports: only when asked

    try:
        return metadata.version("gpuresample")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name):
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'gpuresample' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | {"__version__"})


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
    "ResampleStep",
    "TilingError",
    "__version__",
    "calc_pixmap",
    "kernel_dir",
    "kernel_files",
    "read_product",
    "resample",
    "save_preview",
    "write_product",
]
