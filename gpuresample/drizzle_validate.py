"""Validation of :meth:`gpuresample.Drizzle.add_image` arguments into a :class:`DrizzleStep`.

:func:`validate_add_image` checks every argument of one ``add_image`` call,
in drizzle's order, against what the :class:`~gpuresample.Drizzle` object
has already set up (kernel, output shape, ``out_img2`` arrays, number of
images added) and returns the normalised arguments as a :class:`DrizzleStep`.
It raises ``ValueError`` / ``TypeError`` naming the argument and changes no
state, so a failing ``add_image`` leaves its outputs as they were.

Pixel conventions are drizzle's (see :mod:`gpuresample.accumulator`):
arrays are ``(ny, nx)``, ``pixmap[j, i] = (x, y)`` is the 0-based output
position of the centre of input pixel ``(i, j)`` and ``xmin..ymax`` are
0-based, inclusive input-pixel limits.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .drizzle_args import as_2d_float32, check_dq_type, finite_positive
from .gpu.device import is_device_array
from .pixmap_checks import check_finite_box, check_pixmap, scan_limits
from .scanner_polygon import APPROX_ZERO, scan_polygon, shrink_box
from .step_inputs import check_weight_rule

__all__ = [
    "POINT_KERNEL_PIXFRAC",
    "SCALED_KERNELS",
    "DrizzleStep",
    "check_data2",
    "check_pixfrac",
    "effective_kernel",
    "estimate_pixel_scale_ratio",
    "inferred_output_grid",
    "input_box",
    "validate_add_image",
]

#: drizzle silently switches to the point kernel at or below this pixfrac.
POINT_KERNEL_PIXFRAC = 0.001

#: Kernels whose size depends on ``pixel_scale_ratio`` (drizzle estimates it when None).
SCALED_KERNELS = ("turbo", "gaussian", "lanczos2", "lanczos3")


class DrizzleStep:
    """Everything one ``add_image`` call hands to a backend (validated).

    Attributes mirror drizzle's C parameters: ``data`` (float32), ``weights``
    (float32, non-finite data/weights already set to weight 0 once
    ``host_ready``; before, the caller's weight map or None), ``pixmap``
    (float64, ``(ny, nx, 2)``), ``data2`` (list of float32 arrays or None),
    ``dq`` (uint32 or None), ``ctx_plane``/``ctx_bit`` (0-based bit of this
    input, or None), ``iscale`` (already divided by the exposure time for
    ``in_units="counts"``), ``pscale_ratio`` (for the turbo, gaussian and
    lanczos kernels drizzle's own estimate when the caller passed None; None
    only where no kernel uses it), ``pixfrac``, ``kernel``,
    ``wht_scale``, ``in_units``, ``expscale``, inclusive input limits
    ``xmin..xmax``, ``ymin..ymax``, the processed fill strings and
    ``row_limits`` (drizzle's scan of the box,
    :class:`gpuresample.scanner.RowLimits`; None for the tophat kernel).

    Input preparation — weights from ``weight_rule``, drizzle's rule for
    non-finite data and weights, ``sqrt`` of the ``linear`` arrays when
    ``linear_sqrt`` — is either done on the host by :func:`host_inputs`
    (``host_ready`` then True) or left to a kernel backend, which does the
    same on the device (``kernels/prepare.cu``).
    """

    __slots__ = (
        "ctx_bit", "ctx_plane", "data", "data2", "dq", "expscale", "fillval", "fillval2",
        "host_ready", "in_units", "iscale", "kernel", "linear", "linear_sqrt", "pixfrac", "pixmap", "pixmap_model",
        "pscale_ratio", "row_limits", "weight_dq_is_dq", "weight_rule", "weight_var_index", "weights", "wht_scale",
        "xmax", "xmin",
        "ymax", "ymin",
    )

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


# ------------------------------------------------------------- input arrays
def check_data(data):
    """``data`` as a float32 ``(ny, nx)`` array of at least 2x2 pixels."""
    data = as_2d_float32(data, "data")
    ny, nx = data.shape
    if nx < 2 or ny < 2:
        raise ValueError(
            f"'data' must be at least 2x2 pixels (drizzle interpolates pixel corners from a "
            f"2x2 neighbourhood of the pixel map); got shape {data.shape}"
        )
    return data


def _like_data(arr, name, shape):
    """``arr`` as float32 2-D of ``data``'s ``shape`` (``name`` in the errors)."""
    arr = as_2d_float32(arr, name)
    if arr.shape != shape:
        raise ValueError(f"'{name}' shape {arr.shape} is not consistent with 'data' shape {shape}")
    return arr


def check_weight_map(weight_map, shape):
    """``weight_map`` as float32 of ``data``'s ``shape``, or None."""
    return None if weight_map is None else _like_data(weight_map, "weight_map", shape)


def check_data2(data2, shape, out_img2, ncoadds):
    """``data2`` as a list (None entries for absent or empty arrays), or None.

    drizzle's rules against the ``out_img2`` arrays set up before (at
    construction or by earlier images) and the ``ncoadds`` images added so
    far: ``data2`` and ``out_img2`` are both None or both lists of the same
    length, where a non-empty ``data2`` sets up ``out_img2`` only with the
    first image.
    """
    d2list = None
    if data2 is not None:
        items = [data2] if isinstance(data2, np.ndarray) or is_device_array(data2) else list(data2)
        d2list = [
            None if d2 is None or np.size(d2) == 0 else _like_data(d2, f"data2[{k}]", shape)
            for k, d2 in enumerate(items)
        ]
    if out_img2 is None:
        if d2list == []:
            raise ValueError("'data2' is an empty list but there are no 'out_img2' arrays: pass data2=None")
        if d2list and ncoadds > 0:
            raise ValueError(
                "Mismatch between the number of 'out_img2' images and the number of inputs: "
                "earlier images were added without 'data2'."
            )
    elif d2list is None:
        raise ValueError(
            f"'data2' is required: there are {len(out_img2)} 'out_img2' arrays (given at construction "
            "or set up by earlier images)."
        )
    elif len(d2list) != len(out_img2):
        raise ValueError(
            f"'data2' has {len(d2list)} arrays but {len(out_img2)} 'out_img2' arrays "
            "were set up before."
        )
    return d2list


def check_dq(dq, shape):
    """``dq`` as uint32 of ``data``'s ``shape`` (<= 32-bit integers only), or None."""
    if dq is None:
        return None
    dq = check_dq_type(dq, "dq")
    dq = dq.astype(np.uint32, copy=False) if is_device_array(dq) else np.asarray(dq, dtype=np.uint32)
    if dq.shape != shape:
        raise ValueError(f"'dq' shape {dq.shape} is not consistent with 'data' shape {shape}")
    return dq


# ---------------------------------------------------------------- scalars
def check_pixfrac(pixfrac):
    """``pixfrac`` as a float in (0, 1]."""
    try:
        pixfrac = float(pixfrac)
    except (TypeError, ValueError):
        raise ValueError(f"'pixfrac' must be a number in (0, 1]; got {pixfrac!r}") from None
    if not (math.isfinite(pixfrac) and 0.0 < pixfrac <= 1.0):
        raise ValueError(f"'pixfrac' must be finite and in (0, 1]; got {pixfrac!r}")
    return pixfrac


def check_iscale(iscale):
    """``iscale`` as a float, finite and > 0 also in float32 (drizzle's C code refuses 0 and negatives)."""
    iscale = finite_positive(iscale, "iscale")
    if not (np.isfinite(np.float32(iscale)) and np.float32(iscale) > 0):
        raise ValueError(f"'iscale' must be within float32's positive range; got {iscale!r}")
    return iscale


def check_count_scale(iscale, exptime, in_units):
    """``in_units="counts"``: ``iscale / exptime`` (drizzle's float scale) must stay finite and > 0."""
    if in_units != "counts":
        return
    with np.errstate(over="ignore", under="ignore"):
        scale = np.float32(iscale) / np.float32(exptime)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(
            f"'iscale' / 'exptime' = {iscale!r} / {exptime!r} is not a finite positive float32 "
            "(in_units='counts' divides the data by the exposure time)"
        )


def check_pixel_scale_ratio(pixel_scale_ratio, kernel):
    """``pixel_scale_ratio`` as a float > 0, or None (to be estimated; not allowed for the tophat kernel)."""
    if pixel_scale_ratio is not None:
        return finite_positive(pixel_scale_ratio, "pixel_scale_ratio")
    if kernel == "tophat":
        raise ValueError("'pixel_scale_ratio' must be given for the tophat kernel")
    return None


def _polygon_centroid(poly):
    """drizzle's ``polygon_centroid`` (same operations, same order): ``(cx, cy)``, or None if degenerate."""
    n = len(poly)
    area = 0.0
    j = n - 1
    for k in range(n):
        area += (poly[j][0] + poly[k][0]) * (poly[j][1] - poly[k][1])
        j = k
    area = 0.5 * area
    if abs(area) < APPROX_ZERO or n < 3:
        return None
    sum_x = sum_y = 0.0
    j = n - 1
    for k in range(n):
        factor = poly[j][0] * poly[k][1] - poly[k][0] * poly[j][1]
        sum_x += (poly[j][0] + poly[k][0]) * factor
        sum_y += (poly[j][1] + poly[k][1]) * factor
        j = k
    return sum_x / (6.0 * area), sum_y / (6.0 * area)


def estimate_pixel_scale_ratio(pixmap, out_shape, box):
    """The ``pixel_scale_ratio`` drizzle's C code uses when it is None, or None when it is not needed.

    As drizzle 3.0's ``compute_pscale_ratio``, operation for operation: the
    square root of the Jacobian determinant of the pixel map (forward
    differences) at the input pixel given by the truncated "centroid" of the
    footprint polygon that drizzle scans (the input box clipped to the output
    image, in the input frame), clamped to the image, rounded to float32.
    drizzle's signed area is negative for its counter-clockwise polygons, so
    that "centroid" is the true one negated and the pixel is in practice
    ``(0, 0)``: the ratio is that of the first input pixel, and the estimate
    fails where ``pixmap[0, 0]``, ``[0, 1]`` or ``[1, 0]`` is NaN.
    ``box`` is the inclusive input box ``(xmin, xmax, ymin, ymax)`` as passed
    to drizzle.  None when drizzle processes nothing (no polygon to scan);
    ``ValueError`` where drizzle fails ("Unable to estimate pscale_ratio").
    """
    xmin, xmax, ymin, ymax, _ = shrink_box(pixmap, *box)
    poly = scan_polygon(pixmap, out_shape, (xmin, xmax, ymin, ymax))
    if len(poly) < 3:
        return None  # drizzle's scanner is not set up: nothing is drizzled
    centroid = _polygon_centroid(poly)
    ny, nx = pixmap.shape[:2]
    if centroid is not None:
        # C casts truncate toward zero, as int() does
        i = max(min(int(centroid[0]), nx - 2), 0)
        j = max(min(int(centroid[1]), ny - 2), 0)
        (ox, oy), (ox1, oy1), (ox2, oy2) = pixmap[j, i], pixmap[j, i + 1], pixmap[j + 1, i]
        if not np.isnan([ox, oy, ox1, oy1, ox2, oy2]).any():
            cd11, cd12 = float(ox1) - float(ox), float(oy1) - float(oy)
            cd21, cd22 = float(ox2) - float(ox), float(oy2) - float(oy)
            ratio = float(np.float32(math.sqrt(abs(cd11 * cd22 - cd12 * cd21))))
            if math.isfinite(ratio) and ratio > 0:
                return ratio
            # a zero (or overflowing) Jacobian there: drizzle's C code refuses it, as a
            # 'pscale_ratio' error that names no argument of ours
            raise ValueError(
                f"Unable to estimate pscale_ratio: the pixel map is degenerate at input pixel ({i}, {j}) "
                f"(estimated ratio {ratio!r}); pass 'pixel_scale_ratio'"
            )
    raise ValueError(
        "Unable to estimate pscale_ratio: pass 'pixel_scale_ratio' (drizzle's estimate needs a finite "
        "pixel map where it looks, in practice at input pixels (0, 0), (1, 0) and (0, 1), and a "
        "non-degenerate footprint)"
    )


def check_in_units(in_units):
    """``in_units``: ``"cps"`` or ``"counts"``."""
    if in_units not in ("cps", "counts"):
        raise ValueError(f"'in_units' must be 'cps' or 'counts'; got {in_units!r}")
    return in_units


# ------------------------------------------------------------ input limits
def _limit(v, name, default, hi):
    """One input limit: None -> ``default``, clipped to ``[0, hi]`` (as drizzle)."""
    if v is None:
        return default
    # an integer pixel index, as drizzle's C argument parser demands (0.5 is not silently 0)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise ValueError(f"'{name}' must be an integer pixel index; got {v!r}")
    return int(min(max(int(v), 0), hi))


def input_box(xmin, xmax, ymin, ymax, shape):
    """Inclusive 0-based input limits ``(xmin, xmax, ymin, ymax)`` for ``data``'s ``shape``.

    As drizzle: negative/None -> 0, above the image -> the last pixel.  The box
    must span at least 2 pixels in x and in y.
    """
    ny, nx = shape
    xmin = _limit(xmin, "xmin", 0, nx - 1)
    ymin = _limit(ymin, "ymin", 0, ny - 1)
    xmax = _limit(xmax, "xmax", nx - 1, nx - 1)
    ymax = _limit(ymax, "ymax", ny - 1, ny - 1)
    if xmax <= xmin or ymax <= ymin:
        raise ValueError(
            f"input box xmin={xmin}, xmax={xmax}, ymin={ymin}, ymax={ymax} must span at least "
            "2 pixels in x and in y"
        )
    return xmin, xmax, ymin, ymax


def inferred_output_grid(pixmap, box):
    """``(new_shape, origin)`` of the output covering the pixel map's extent in ``box``.

    ``new_shape`` is ``(ny, nx)``; ``origin`` is the ``(x, y)`` output position
    that becomes pixel ``(0, 0)``.
    """
    xmin, xmax, ymin, ymax = box
    sub = pixmap[ymin : ymax + 1, xmin : xmax + 1]
    ok = ~(np.isnan(sub[..., 0]) | np.isnan(sub[..., 1]))
    xs, ys = sub[..., 0][ok], sub[..., 1][ok]
    x0, x1 = int(np.floor(xs.min())), int(np.ceil(xs.max()))
    y0, y1 = int(np.floor(ys.min())), int(np.ceil(ys.max()))
    return (y1 - y0 + 1, x1 - x0 + 1), (x0, y0)


# --------------------------------------------------------- kernel, weights
def effective_kernel(kernel, pixfrac, stacklevel=1):
    """The kernel drizzle runs: ``"point"`` at pixfrac <= 0.001, with a warning.

    Also warns that lanczos kernels ignore ``pixfrac``.  ``stacklevel`` as
    ``warnings.warn``'s, counted from the caller of this function (1: the
    line calling it).
    """
    if pixfrac <= POINT_KERNEL_PIXFRAC and kernel != "point":
        warnings.warn(
            f"pixfrac={pixfrac} <= {POINT_KERNEL_PIXFRAC}: using the 'point' kernel instead of "
            f"'{kernel}' (as drizzle does).",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
        kernel = "point"
    if kernel in ("lanczos2", "lanczos3") and abs(pixfrac - 1.0) > 1.0e-5:
        warnings.warn(
            "In lanczos kernel, pixel_fraction is ignored and assumed to be 1.0",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    return kernel


# ------------------------------------------------------------------- all
def validate_add_image(
    data, exptime, pixmap, data2, dq, iscale, pixel_scale_ratio, weight_map,
    wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax,
    *, kernel, out_shape, out_img2, ncoadds, fillval, fillval2, weight_rule=None, stacklevel=1,
):
    """Check the arguments of one ``add_image`` call; return ``(step, new_shape, origin)``.

    The arguments are those of :meth:`gpuresample.Drizzle.add_image` (after the
    deprecated ``scale`` is resolved, without ``linear``), checked in drizzle's
    order; the keyword-only ones describe the ``Drizzle`` object: its
    ``kernel``, ``out_shape`` (None before it is known), ``out_img2`` list (or
    None), number of images added ``ncoadds`` and processed fill strings.
    ``stacklevel`` as ``warnings.warn``'s, counted from the caller of this
    function (1: the line calling it).

    ``step`` is a :class:`DrizzleStep` without context bit or ``linear``,
    its inputs not yet prepared (:func:`host_inputs`);
    ``new_shape`` ``(ny, nx)`` and ``origin`` ``(x, y)`` of the output grid
    inferred from the pixel map when ``out_shape`` is None, else None (then
    ``step.pixmap`` is a copy already shifted by ``-origin``).
    Raises ``ValueError`` / ``TypeError`` before anything changes.
    """
    data = check_data(data)
    exptime = finite_positive(exptime, "exptime")
    pixmap = check_pixmap(pixmap, data.shape)
    if hasattr(pixmap, "materialize") and (out_shape is None or pixel_scale_ratio is None):
        # a lazy or device map: the inferred grid and drizzle's ratio estimate read the whole map
        pixmap = check_pixmap(pixmap.materialize(), data.shape)
    weights = check_weight_map(weight_map, data.shape)
    weight_rule = check_weight_rule(weight_rule, weight_map, data.shape)
    d2list = check_data2(data2, data.shape, out_img2, ncoadds)
    dq = check_dq(dq, data.shape)
    pixfrac = check_pixfrac(pixfrac)
    iscale = check_iscale(iscale)
    pixel_scale_ratio = check_pixel_scale_ratio(pixel_scale_ratio, kernel)
    wht_scale = finite_positive(wht_scale, "wht_scale")
    in_units = check_in_units(in_units)
    check_count_scale(iscale, exptime, in_units)
    box = input_box(xmin, xmax, ymin, ymax, data.shape)
    check_finite_box(pixmap, box)
    new_shape = origin = None
    if out_shape is None:
        # no shape anywhere: cover the pixel map's extent (as drizzle does)
        new_shape, origin = inferred_output_grid(pixmap, box)
        pixmap = pixmap.copy()
        pixmap[..., 0] -= origin[0]
        pixmap[..., 1] -= origin[1]
    kernel = effective_kernel(kernel, pixfrac, stacklevel=stacklevel + 1)
    if pixel_scale_ratio is None and kernel in SCALED_KERNELS:
        # once, here, for every backend: what drizzle's C code would estimate
        pixel_scale_ratio = estimate_pixel_scale_ratio(pixmap, out_shape or new_shape, box)
    limits = scan_limits(pixmap, out_shape or new_shape, box, kernel)

    xmin, xmax, ymin, ymax = box
    step = DrizzleStep(
        data=data, weights=weights, pixmap=pixmap, data2=d2list, dq=dq,
        ctx_plane=None, ctx_bit=None, iscale=iscale, pscale_ratio=pixel_scale_ratio,
        pixfrac=pixfrac, kernel=kernel, wht_scale=wht_scale, in_units=in_units,
        expscale=1.0 if in_units == "cps" else exptime, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax,
        fillval=fillval, fillval2=fillval2, row_limits=limits, pixmap_model=None,
        weight_rule=weight_rule, weight_var_index=None, weight_dq_is_dq=False, linear=None, linear_sqrt=False,
        host_ready=False,
    )
    return step, new_shape, origin
