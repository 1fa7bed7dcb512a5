"""The stcal-style model dicts of :class:`gpuresample.stcal_compat.Resample`.

What stcal 1.20's ``Resample`` reads of an input model dict and writes into
its output model dict, in gpuresample's own code: the keys an input must
have, the output model's keys and initial values, its exposure-time keywords
(the jwst/stcal rules of :func:`gpuresample.products.time_meta`), the pixel
areas and scales, the ``good_bits`` flag names, the output WCS checks, and
the adapter's settings checked and turned into the exposure loop's
:class:`~gpuresample.params.DrizzleParams`.

Pixel conventions: ``array_shape`` is ``(ny, nx)``; a gwcs bounding box is
``((x_lo, x_hi), (y_lo, y_hi))`` in 0-based pixel coordinates (pixel ``k``
spans ``[k - 0.5, k + 0.5]``).
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np

from .backends import get_backend
from .dqflags import JWST_PIXEL_FLAGS
from .drizzle_args import process_fillval
from .exposure import VARIANCE_NAMES
from .output_grid import mean_pixel_area
from .params import DrizzleParams
from .pixmap import bbox_intervals
from .products import time_meta
from .variance import error_from_variances

__all__ = [
    "COMPUTE_ERR",
    "ENGINE_METHODS",
    "UnsupportedWCSError",
    "check_output_wcs",
    "check_settings",
    "drizzle_params",
    "exposure_keywords",
    "final_arrays",
    "input_pixel_area",
    "is_imaging_wcs",
    "new_output_model",
    "pixel_scale_arcsec",
    "required_keys",
    "resolve_good_bits",
    "time_row",
]

log = logging.getLogger("gpuresample")

#: ``compute_err`` values stcal acts on (None / False: no error array).
COMPUTE_ERR = ("from_var", "driz_err")

#: stcal's variance methods: the engine drizzles the variances, a subclass cannot replace them.
ENGINE_METHODS = ("init_variance_arrays", "resample_variance_arrays", "finalize_resample_variance",
                  "_resample_one_variance_array", "_check_var_array")

#: The keys every input model dict must have (stcal 1.20's minimum).
BASE_KEYS = (
    "data", "dq", "filename", "group_id", "wcs", "exposure_time", "start_time", "end_time", "duration",
    "measurement_time", "pixelarea_steradians", "level", "subtracted",
)


class UnsupportedWCSError(RuntimeError):
    """The output WCS is not one gpuresample resamples onto: a 2-D celestial (imaging) gwcs."""


def is_imaging_wcs(wcs):
    """True when every world axis of ``wcs`` is spatial (stcal's rule).

    A WCS without a gwcs ``output_frame`` (an ``astropy.wcs.WCS``, which
    gpuresample accepts for inputs) counts as imaging.
    """
    frame = getattr(wcs, "output_frame", None)
    if frame is None:
        return True
    return all(ax == "SPATIAL" for ax in frame.axes_type)


def check_output_wcs(wcs, estimate_output_shape=True):
    """Check an output gwcs; set its ``array_shape`` ``(ny, nx)`` from the bounding box when missing.

    As stcal's ``Resample.check_output_wcs`` (which also modifies the WCS),
    except that a spectral WCS is refused: gpuresample resamples images.

    Raises
    ------
    UnsupportedWCSError
        A spectral WCS, or not 2 world axes.
    ValueError
        No ``array_shape`` and no bounding box to infer it from.
    """
    frame = getattr(wcs, "output_frame", None)
    if frame is None:
        raise UnsupportedWCSError(f"the output WCS must be a gwcs.WCS with an output_frame; got {type(wcs).__name__}")
    if "SPECTRAL" in frame.axes_type:
        raise UnsupportedWCSError("gpuresample resamples imaging data: a spectral output WCS is not supported")
    if frame.naxes != 2:
        raise UnsupportedWCSError(f"Output WCS needs 2 coordinate axes but the supplied WCS has {frame.naxes} axes.")
    if wcs.array_shape is None and estimate_output_shape:
        bbox = bbox_intervals(wcs)
        if not bbox or len(bbox) < 2:
            raise ValueError("Unable to infer output image size from provided inputs.")
        (_, x_hi), (_, y_hi) = bbox[:2]
        half = 0.5 + sys.float_info.epsilon  # the last pixel centre is at hi - 0.5
        wcs.array_shape = (int(y_hi + half), int(x_hi + half))


def required_keys(wcs, enable_var, variance_names, compute_err, weight_type):
    """The keys an input model dict needs with these settings (stcal's ``validate_input_model`` list)."""
    keys = list(BASE_KEYS)
    if not is_imaging_wcs(wcs):
        keys.append("bunit_data")
    if enable_var:
        keys += list(variance_names)
    if compute_err == "driz_err":
        keys.append("err")
    if not enable_var and weight_type is not None and weight_type.startswith("ivm") and "var_rnoise" not in keys:
        keys.append("var_rnoise")
    return keys


def pixel_scale_arcsec(pixel_area_sr):
    """Pixel scale (arcsec) of a square pixel of ``pixel_area_sr`` steradians (stcal's expression)."""
    return 3600.0 * np.rad2deg(math.sqrt(pixel_area_sr))


def new_output_model(wcs, pixel_scale, pixel_scale_ratio, drizzle_pars, variance_names, compute_err):
    """A new output model dict, before any input (stcal's keys and initial values).

    ``pixel_scale`` in arcsec; ``drizzle_pars`` holds ``pixfrac``, ``kernel``,
    ``fillval`` and ``weight_type`` as the caller gave them; the variance
    keys are present when ``variance_names`` is not None, ``err`` when
    ``compute_err`` is not None.  The arrays are None until the first input.
    """
    area = pixel_scale**2  # arcsec^2
    model = {
        "wcs": wcs,
        "data": None,
        "wht": None,
        "con": None,
        "dq": None,
        **drizzle_pars,
        "pixelarea_steradians": area / np.rad2deg(3600) ** 2,
        "pixelarea_arcsecsq": area,
        "pixel_scale_ratio": pixel_scale_ratio,
        "pointings": 0,
        "exposure_time": 0.0,
        "measurement_time": None,
        "start_time": None,
        "end_time": None,
        "duration": 0.0,
        "level": None,
        "subtracted": False,
    }
    for name in variance_names or ():
        model[name] = None
    if compute_err is not None:
        model["err"] = None
    return model


def time_row(model):
    """The time keywords kept of the first input of an exposure group (the row :func:`exposure_keywords` sums)."""
    return {
        "exposure_time": model["exposure_time"],
        "measurement_time": model.get("measurement_time"),
        "start_time": model.get("start_time"),
        "end_time": model.get("end_time"),
        "duration": model.get("duration"),
    }


def exposure_keywords(rows):
    """The output model's time keywords from one :func:`time_row` per exposure group (stcal rules).

    Exposure time and duration summed once per group, earliest start and
    latest end; ``measurement_time`` only when every group knows its own
    (absent from the result otherwise, so the output model keeps None).
    """
    meta = time_meta(dict(enumerate(rows)))
    duration = meta["duration"] if meta["duration"] is not None else 0.0
    out = {
        "exposure_time": meta["exposure_time"],
        "start_time": meta["start_time"],
        "end_time": meta["end_time"],
        "duration": duration,
        "elapsed_exposure_time": duration,
    }
    if meta["measurement_time"] is not None:
        out["measurement_time"] = meta["measurement_time"]
    return out


def resolve_good_bits(good_bits, flag_name_map=None):
    """``good_bits`` as an int (or None: every pixel good), flag names read with ``flag_name_map``.

    An int, a list of ints, or a string of ints or mnemonics joined by ``,``
    or ``+`` with an optional leading ``~`` (astropy's
    ``interpret_bit_flags``, as stcal).  Without a map the mnemonics are
    JWST's pixel flags (stcal: integers only).

    Raises
    ------
    ValueError
        Not a valid flag expression.
    """
    from astropy.nddata.bitmask import interpret_bit_flags

    names = JWST_PIXEL_FLAGS if flag_name_map is None else flag_name_map
    bits = interpret_bit_flags(good_bits, flag_name_map=names)
    return None if bits is None else int(bits)


def check_settings(cls, engine, variance_names, weight_type, compute_err, backend):
    """Check the adapter's class and constructor settings before anything is set up.

    Raises
    ------
    TypeError
        ``cls`` or a class between it and ``engine`` (the adapter) in the
        method resolution order defines one of :data:`ENGINE_METHODS` (stcal's
        own class may stand behind the adapter: its methods are not reached).
    ValueError
        A variance name outside gpuresample's three, an unknown
        ``weight_type``, ``compute_err`` or backend.
    BackendUnavailableError
        The backend named cannot run here.
    """
    above = cls.__mro__[:cls.__mro__.index(engine)]
    overridden = [name for name in ENGINE_METHODS if any(name in vars(c) for c in above)]
    if overridden:
        raise TypeError(f"{cls.__name__} defines {overridden}: gpuresample's engine drizzles the variances, "
                        "these stcal methods cannot be replaced")
    unknown = [n for n in variance_names if n not in VARIANCE_NAMES]
    if unknown:
        raise ValueError(f"variance_array_names: gpuresample resamples {VARIANCE_NAMES}; got {unknown}")
    if compute_err not in (None, False, *COMPUTE_ERR):
        raise ValueError(f"compute_err must be None, False or one of {COMPUTE_ERR}; got {compute_err!r}")
    if not isinstance(weight_type, str) or not (weight_type.startswith("ivm") or weight_type == "exptime"):
        raise ValueError(f"Unexpected weight type: {weight_type!r}")
    get_backend(backend)  # an unknown or unusable backend fails here, not at the first model


def drizzle_params(res, good_bits=None):
    """The exposure loop's :class:`~gpuresample.params.DrizzleParams` for adapter ``res``'s settings.

    ``good_bits`` is already an int or None (:func:`resolve_good_bits`).
    ``err`` comes from the drizzled err arrays with ``compute_err="driz_err"``
    (the variances are still drizzled with ``enable_var``), from the
    variances with ``"from_var"`` and ``enable_var``, else there is none.
    """
    compute_err = res.compute_err
    enable_var = bool(res.enable_var)
    return DrizzleParams(
        kernel=res.kernel, pixfrac=res.pixfrac, fillval=process_fillval(res.fillval, False, "fillval"),
        weight_type=res.weight_type, good_bits=good_bits, enable_ctx=bool(res.enable_ctx),
        enable_var=enable_var, enable_err=compute_err == "driz_err" or (compute_err == "from_var" and enable_var),
        report_var=enable_var, err_from="driz" if compute_err == "driz_err" else "var",
        propagate_dq=bool(res.propagate_dq), pixmap_stepsize=res.pixmap_stepsize,
        pixmap_order=res.pixmap_order, backend=res.backend,
    )


def _positive(area):
    return area is not None and area > 0


def input_pixel_area(model, prefer_mean=True):
    """Pixel area (sr) of an input model dict: its mean over the image, or ``model["pixelarea_steradians"]``.

    ``prefer_mean``: the mean (:func:`gpuresample.output_grid.mean_pixel_area`
    over ``model["data"].shape``), else the nominal value; otherwise the
    nominal value, else the mean.  Logged and returned as is (None or <= 0)
    when neither is usable (stcal's rule).
    """
    nominal = model.get("pixelarea_steradians")
    if prefer_mean:
        area = mean_pixel_area(model["wcs"], model["data"].shape)
        if not _positive(area):
            log.warning("Unable to compute mean pixel area of input model '%s'. Using \"nominal\" pixel area "
                        "instead.", model.get("filename"))
            area = nominal
    else:
        area = nominal
        if not _positive(area):
            log.warning("Input model does not have 'pixelarea_steradians' set. Using mean pixel area instead.")
            area = mean_pixel_area(model["wcs"], model["data"].shape)
    if not _positive(area):
        log.error("Unable to determine pixel area of the input model.")
    return area


def final_arrays(arrays, res):
    """The output model's arrays for adapter ``res`` from the exposure loop's ``arrays``.

    ``arrays`` is what :meth:`~gpuresample.drizzle_loop.ProductAccumulators.finish`
    returns (``(ny, nx)`` arrays; ``con`` ``(nplanes, ny, nx)``): the
    variances kept are ``res.variance_array_names``; a ``"from_var"`` err sums
    ``res.error_from_variances`` when that names a subset of them (the
    variances not drizzled are all NaN, so the loop's err already sums just
    the drizzled ones).
    """
    out = {"data": arrays["data"], "wht": arrays["wht"]}
    if "con" in arrays:
        out["con"] = arrays["con"]
    if res.propagate_dq:
        out["dq"] = arrays["dq"]
    if res.enable_var:
        out.update({n: arrays[n] for n in res.variance_array_names})
    if res.compute_err == "driz_err":
        out["err"] = arrays["err"]
    elif res.enable_var and res.compute_err == "from_var":
        include = res.error_from_variances
        if include is None or set(include) == set(res.variance_array_names):
            out["err"] = arrays["err"]
        else:
            nan = np.full(arrays["data"].shape, np.nan, np.float32)
            out["err"] = error_from_variances({n: arrays[n] if n in include else nan for n in VARIANCE_NAMES})
    return out
