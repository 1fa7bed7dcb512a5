"""The arguments of :func:`gpuresample.resample`: one validator per parameter, and :class:`ResampleOptions`.

Every rule for what ``resample()`` accepts lives here, once, for the step and
the command line (whose flag parsers only turn text into Python values, then
call these).  ``check_<name>(value)`` returns argument ``name`` normalised or
raises ``ValueError`` / ``TypeError`` naming it and what it expects;
:data:`VALIDATORS` maps each name to its validator.  Conventions:
``output_shape`` is ``(nx, ny)`` (x first, like jwst), ``tile`` ``(ny, nx)``
(numpy order), ``crpix`` a 0-based ``(x, y)`` pixel, ``crval`` ``(ra, dec)``
degrees.  Low in the import graph: nothing here imports the step, the
dispatcher or the tiling code.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .backends import AVAILABLE_BACKENDS
from .dqflags import DEFAULT_GOOD_BITS, parse_good_bits
from .drizzle_args import process_fillval
from .drizzle_validate import check_pixfrac as drizzle_pixfrac
from .kernel_info import normalize_kernel
from .option_types import count, flag_validator, is_int, number, pair
from .weights import WEIGHT_TYPES

__all__ = [
    "ALLOWED_MEMORY_ENV",
    "COMPUTE_ERR",
    "PIXMAP_ORDERS",
    "VALIDATORS",
    "ResampleOptions",
    "check_allowed_memory",
    "check_backend",
    "check_blendheaders",
    "check_compute_err",
    "check_crpix",
    "check_crval",
    "check_enable_ctx",
    "check_enable_err",
    "check_fillval",
    "check_good_bits",
    "check_in_memory",
    "check_kernel",
    "check_output",
    "check_output_shape",
    "check_output_wcs",
    "check_pixel_scale",
    "check_pixel_scale_ratio",
    "check_pixfrac",
    "check_pixmap_order",
    "check_pixmap_stepsize",
    "check_progress",
    "check_propagate_dq",
    "check_report_var",
    "check_rotation",
    "check_scheduler",
    "check_single",
    "check_tile",
    "check_tile_output",
    "check_tile_workers",
    "check_weight_type",
    "check_workdir",
    "check_workers",
    "partial_folder",
]

#: Environment variable giving ``allowed_memory`` when the argument is None.
ALLOWED_MEMORY_ENV = "DMODEL_ALLOWED_MEMORY"

#: Accepted ``pixmap_order`` values: bilinear and bicubic pixel-map interpolation.
PIXMAP_ORDERS = (1, 3)

_GRID_ARGS = ("pixel_scale_ratio", "pixel_scale", "rotation", "crpix", "crval")


# ---------------------------------------------------------------- drizzle parameters
def check_pixfrac(value):
    """``pixfrac``: the drizzle pixel fraction, a finite number in ``(0, 1]``; returns a float.

    The range is :class:`gpuresample.Drizzle`'s own rule (one rule for the
    step, the command line and the drop-in class); the step takes numbers
    only, not numeric strings.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"pixfrac must be a number; got {value!r}")
    return drizzle_pixfrac(value)


def check_kernel(value):
    """``kernel``: one of :data:`gpuresample.kernel_info.KERNELS` (any case); returns the lower-case name."""
    return normalize_kernel(value)


def check_fillval(value):
    """``fillval``: ``"INDEF"``/None (NaN where no input lands), a NaN spelling or a finite number.

    Returns drizzle's fill string (:func:`gpuresample.drizzle_args.process_fillval`; ``"INDEF"`` -> ``"NaN"``).
    """
    return process_fillval(value, False, "fillval")


#: ``compute_err`` values (stcal's names): the error array from the resampled variances, or the
#: inputs' err arrays drizzled like the data.
COMPUTE_ERR = ("from_var", "driz_err")


def check_compute_err(value):
    """``compute_err``: None (jwst: ``"from_var"`` for a mosaic, ``"driz_err"`` with ``single``) or one of
    :data:`COMPUTE_ERR`; returned lower-case."""
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in COMPUTE_ERR:
        raise ValueError(f"compute_err must be None or one of {COMPUTE_ERR}; got {value!r}")
    return text


def check_weight_type(value):
    """``weight_type``: one of :data:`gpuresample.weights.WEIGHT_TYPES` (exact spelling); returned as given."""
    if value not in WEIGHT_TYPES:
        raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}; got {value!r}")
    return value


def check_good_bits(value):
    """``good_bits``: an int, a DQ flag expression (``"~DO_NOT_USE+NON_SCIENCE"``) or None; returned as given.

    Checked by :func:`gpuresample.dqflags.parse_good_bits` (the mask is computed where it is applied).
    """
    parse_good_bits(value)
    return value


def check_pixmap_stepsize(value):
    """``pixmap_stepsize``: ``"auto"``, or a finite number >= 1 rounded to an int."""
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 1 or value == math.inf:
        raise ValueError(f"pixmap_stepsize must be 'auto' or a number >= 1; got {value!r}")
    return max(1, round(value))


def check_pixmap_order(value):
    """``pixmap_order``: 1 (bilinear) or 3 (bicubic) pixel-map interpolation; returns an int."""
    if value not in PIXMAP_ORDERS:
        raise ValueError(f"pixmap_order must be 1 or 3; got {value!r}")
    return int(value)


# ---------------------------------------------------------------- output grid
def check_pixel_scale_ratio(value):
    """``pixel_scale_ratio``: output / input pixel scale, finite and > 0 (jwst's float, no None); a float."""
    if value is None:
        raise ValueError("pixel_scale_ratio must be a number > 0 (default 1.0); got None")
    return number(value, "pixel_scale_ratio", positive=True)


def check_pixel_scale(value):
    """``pixel_scale``: output pixel scale in arcsec, finite and > 0, or None (use the ratio)."""
    return number(value, "pixel_scale", positive=True)


def check_rotation(value):
    """``rotation``: position angle of the output +y axis in degrees (finite), or None (detector orientation)."""
    return number(value, "rotation")


def check_crpix(value):
    """``crpix``: the output reference pixel, 0-based ``(x, y)``: two finite numbers (floats), or None."""
    return pair(value, "crpix")


def check_crval(value):
    """``crval``: the sky position ``(ra, dec)`` of ``crpix`` in degrees: two finite numbers, or None."""
    radec = pair(value, "crval")
    if radec is not None and not -90.0 <= radec[1] <= 90.0:
        raise ValueError(f"crval dec must be within [-90, 90] degrees; got {value!r}")
    return radec


def check_output_shape(value):
    """``output_shape``: the output size ``(nx, ny)`` (x first): two integers >= 1 (ints), or None."""
    # drizzle indexes the output with 32-bit ints
    return pair(value, "output_shape", kind=int, minimum=1, maximum=2**31 - 1)


def check_output_wcs(value):
    """``output_wcs``: an ASDF file or a ``gwcs.WCS``, or None; returned as given (loading it checks it)."""
    return value


# ---------------------------------------------------------------- run
def check_allowed_memory(value):
    """``allowed_memory``: the fraction of the available memory the run may use, or None.

    None reads ``$DMODEL_ALLOWED_MEMORY`` (unset or empty: None, no check).  The
    value, from either source, must be a number > 0; returns a float or None.
    """
    source = "allowed_memory"
    if value is None:
        env = os.environ.get(ALLOWED_MEMORY_ENV, "").strip()
        if not env:
            return None
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"environment variable {ALLOWED_MEMORY_ENV}={env!r} is not a number") from None
        source = f"${ALLOWED_MEMORY_ENV}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"allowed_memory must be a number > 0 or None; got {value!r}")
    frac = float(value)
    if not (math.isfinite(frac) and frac > 0):
        raise ValueError(f"{source} must be > 0 (a fraction of available memory); got {value!r}")
    return frac


def check_backend(value):
    """``backend``: one of :data:`gpuresample.backends.AVAILABLE_BACKENDS` (any case); the lower-case name.

    Only the name is checked; whether it can run here (and what ``"auto"`` or
    ``$GPURESAMPLE_BACKEND`` select) is :func:`gpuresample.backends.get_backend`'s business.
    """
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in AVAILABLE_BACKENDS:
        raise ValueError(f"Unknown backend {value!r} (backend argument); expected one of {AVAILABLE_BACKENDS}")
    return name


def check_workdir(value):
    """``workdir``: the folder for scratch files, or None (the system temporary folder); returned as given."""
    return value


def check_workers(value):
    """``workers``: CPU-backend processes: ``"auto"`` or None (``min(2, CPU count)``) or a Python int >= 1; an int."""
    if value is None:
        value = "auto"
    return count(value, "workers", min(2, os.cpu_count() or 1), integer_types=int)


def check_progress(value):
    """``progress``: None or a callable ``progress(done, total, filename)``."""
    if value is not None and not callable(value):
        raise TypeError(f"progress must be a callable progress(done, total, filename); got {value!r}")
    return value


def check_tile(value):
    """``tile``: None (untiled), ``"auto"`` (any case), an int ``n`` (``n x n``) or ``(ny, nx)`` ints >= 1.

    Returns None, ``"auto"`` or ``(ny, nx)``; a tile larger than the grid is refused once the grid is known.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        vals = ()
    elif is_int(value):
        vals = (value, value)
    else:
        try:
            vals = tuple(value)
        except TypeError:
            vals = ()
    if len(vals) != 2 or not all(is_int(v) for v in vals):
        raise ValueError(f"tile must be None, 'auto', an int or a pair of ints (ny, nx); got {value!r}")
    vals = (int(vals[0]), int(vals[1]))
    if min(vals) < 1:
        raise ValueError(f"tile sides must be >= 1 pixel; got tile={value!r}")
    return vals


def check_tile_workers(value):
    """``tile_workers``: processes drizzling tiles at once: ``"auto"`` (the CPU count) or an integer >= 1; an int."""
    return count(value, "tile_workers", os.cpu_count() or 1)


def check_scheduler(value):
    """``scheduler``: None or a ``distributed.Client`` (anything with a callable ``submit``)."""
    if value is not None and not callable(getattr(value, "submit", None)):
        raise TypeError(f"scheduler must be a distributed.Client; got {type(value).__name__}")
    return value


def check_tile_output(value):
    """``tile_output``: None or the new folder (str or path) a tiled run writes, as a ``Path``.

    That it and its :func:`partial_folder` do not exist is checked by :class:`ResampleOptions`.
    """
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"tile_output must be a folder path (str or path); got {type(value).__name__}")
    return Path(value)


#: ``output`` values: the result's arrays in host memory (numpy) or left on the device.
OUTPUTS = ("host", "device")


def check_output(value):
    """``output``: ``"host"`` (numpy arrays) or ``"device"`` (the kernel backend's arrays, no download)."""
    if not isinstance(value, str) or value not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {value!r}")
    return value


def partial_folder(folder):
    """Where a tiled run writes ``folder`` until every tile is complete: the sibling ``<name>.partial``."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".partial")


check_single = flag_validator("single", "one output per exposure group")
check_blendheaders = flag_validator("blendheaders", "blend the inputs' metadata into the result")
check_in_memory = flag_validator("in_memory", "False: read file inputs one at a time, scratch arrays on disk")
check_enable_ctx = flag_validator("enable_ctx", "make the context planes")
check_enable_err = flag_validator("enable_err", "make the error array (from the variances)")
check_report_var = flag_validator("report_var", "keep the variance arrays in the result")
check_propagate_dq = flag_validator("propagate_dq", "make the OR-combined DQ array")


# ---------------------------------------------------------------- all of them
@dataclass(frozen=True)
class ResampleOptions:
    """The validated keyword arguments of :func:`gpuresample.resample`, one field each.

    Names and defaults are ``resample()``'s.  Constructing one (directly,
    with :meth:`from_kwargs` or ``dataclasses.replace``) runs every field's
    validator (:data:`VALIDATORS`), stores the normalised values (e.g.
    ``fillval="NaN"`` for ``"INDEF"``, ints for ``workers``/``tile_workers``,
    ``allowed_memory`` from ``$DMODEL_ALLOWED_MEMORY``), then :meth:`check_combinations`.

    Raises
    ------
    ValueError, TypeError
        An argument is invalid (the message names it).
    FileExistsError
        ``tile_output`` or its ``.partial`` sibling exists.
    """

    pixfrac: float = 1.0
    kernel: str = "square"
    pixel_scale_ratio: float | None = 1.0
    pixel_scale: float | None = None
    rotation: float | None = None
    crpix: tuple | None = None
    crval: tuple | None = None
    output_shape: tuple | None = None
    output_wcs: object = None
    fillval: object = "INDEF"
    weight_type: str = "ivm"
    single: bool = False
    blendheaders: bool = True
    allowed_memory: float | None = None
    in_memory: bool = True
    enable_ctx: bool = True
    enable_err: bool = True
    report_var: bool = True
    compute_err: str | None = None
    propagate_dq: bool = False
    pixmap_stepsize: object = "auto"
    pixmap_order: int = 3
    good_bits: object = DEFAULT_GOOD_BITS
    backend: str = "auto"
    workdir: object = None
    workers: object = "auto"
    progress: object = None
    tile: object = None
    tile_workers: object = 1
    scheduler: object = None
    tile_output: object = None
    output: str = "host"

    def __post_init__(self):
        for name, check in VALIDATORS.items():
            object.__setattr__(self, name, check(getattr(self, name)))
        self.check_combinations()

    @classmethod
    def from_kwargs(cls, **kwargs):
        """Validate ``resample()``'s keyword arguments; an unknown one raises ``TypeError`` naming it."""
        for name in kwargs:
            if name not in VALIDATORS:
                raise TypeError(f"resample() got an unexpected keyword argument {name!r}")
        return cls(**kwargs)

    def check_combinations(self):
        """The checks involving several arguments (run by the constructor).

        ``tile_output``: not with ``single=True`` (one product), needs ``tile``
        or ``scheduler``, and it and its ``.partial`` must not exist
        (``FileExistsError``).  Grid arguments with ``output_wcs`` are only
        ignored (see :attr:`ignored_grid_args`).  ``output="device"``: not with
        tiles (their outputs are assembled on the host).
        """
        if self.output == "device" and (self.tile is not None or self.scheduler is not None):
            raise ValueError("output='device' keeps one product on the device: not with tile or scheduler "
                             "(tiled outputs are assembled in host memory)")
        if self.tile_output is None:
            return
        if self.single:
            raise ValueError("tile_output holds one product; single=True makes one per exposure group")
        if self.tile is None and self.scheduler is None:
            raise ValueError("tile_output needs tile (or scheduler): it is where a tiled run writes its outputs")
        for folder in (self.tile_output, partial_folder(self.tile_output)):
            if folder.exists():
                raise FileExistsError(f"tile_output: {folder} exists; remove it or choose a new folder")

    @property
    def enable_var(self):
        """True when the variance arrays are drizzled: ``enable_err``, and not ``single`` (jwst's rule)
        unless ``compute_err="from_var"`` asks for them."""
        return self.enable_err and (not self.single or self.compute_err == "from_var")

    @property
    def report_var_effective(self):
        """True when the result holds the variance arrays: ``report_var`` and :attr:`enable_var`."""
        return self.report_var and self.enable_var

    @property
    def err_from(self):
        """Error array from ``"var"`` (the resampled variances) or ``"driz"`` (the err arrays drizzled):
        ``compute_err``, else jwst's choice (``"driz"`` with ``single``)."""
        if self.compute_err is not None:
            return "var" if self.compute_err == "from_var" else "driz"
        return "driz" if self.single else "var"

    @property
    def ignored_grid_args(self):
        """Grid arguments given with ``output_wcs`` (ignored, to be logged; ``pixel_scale_ratio`` if not 1.0)."""
        if self.output_wcs is None:
            return ()
        given = {n: getattr(self, n) for n in _GRID_ARGS}
        if given["pixel_scale_ratio"] == 1.0:
            given["pixel_scale_ratio"] = None  # the default
        return tuple(n for n, v in given.items() if v is not None)


#: ``{argument name: validator}`` for every keyword argument of :func:`gpuresample.resample`, in its
#: order; the validator of argument ``name`` is ``check_<name>``.
VALIDATORS = {f.name: globals()[f"check_{f.name}"] for f in fields(ResampleOptions)}
