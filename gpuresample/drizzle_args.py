"""Checks of the arguments of :class:`gpuresample.Drizzle` (drizzle's rules, with clear errors).

Each function validates one kind of argument and returns it normalised, or
raises ``ValueError`` / ``TypeError`` naming the argument; nothing here
changes any state, so :class:`~gpuresample.Drizzle` can check everything
before an ``add_image`` touches its outputs.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import NamedTuple

import numpy as np

from .gpu.device import is_device_array
from .option_types import pair

__all__ = [
    "OutputArrays",
    "as_2d_float32",
    "check_dq_type",
    "check_outputs",
    "check_window",
    "context_ids",
    "fill_number",
    "finite_positive",
    "initial_exptime",
    "process_fillval",
]


def process_fillval(fillval, out_img_given, name):
    """Normalise a fill value the way drizzle does, validating it.

    Returns the string drizzle's C code expects: ``"INDEF"`` (leave untouched),
    a NaN spelling or a number.  With no caller-supplied output array, INDEF
    means NaN (there is nothing to leave untouched).
    """
    if fillval is None:
        text = "INDEF"
    elif isinstance(fillval, str):
        text = fillval.strip()
        if text.upper() in ("", "INDEF"):
            text = "INDEF"
    elif isinstance(fillval, numbers.Real) and not isinstance(fillval, bool):
        text = str(fillval)
    else:
        raise ValueError(f"{name} must be 'INDEF', 'NaN' or a number; got {fillval!r}")
    if text != "INDEF":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name} must be 'INDEF', 'NaN' or a number; got {fillval!r}") from None
        if math.isinf(value):
            raise ValueError(f"{name} must be finite, 'INDEF' or 'NaN'; got {fillval!r}")
    if text == "INDEF" and not out_img_given:
        text = "NaN"
    return text


def fill_number(text):
    """Numeric value of a processed fill string (INDEF -> NaN for allocation)."""
    return np.nan if text == "INDEF" else float(text)


def as_2d_float32(arr, name):
    """``arr`` as a float32 2-D array; a device array (CuPy, emulator) stays one, converted there."""
    a = arr if is_device_array(arr) else np.asarray(arr)
    if a.ndim != 2:
        raise ValueError(f"'{name}' must be a 2-D array (ny, nx); got shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"'{name}' must be a real numeric array; got dtype {a.dtype}")
    return a.astype(np.float32, copy=False) if is_device_array(a) else np.asarray(a, dtype=np.float32)


def check_dq_type(dq, name):
    """``dq`` as an integer array of at most 32 bits (a device array stays one)."""
    dq = dq if is_device_array(dq) else np.asarray(dq)
    if dq.dtype.kind not in "iu" or dq.dtype.itemsize > 4:
        raise TypeError(
            f"'{name}' must be an integer array of at most 32 bits (e.g. uint32); got dtype {dq.dtype}"
        )
    return dq


def finite_positive(value, name, allow_zero=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a number; got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"'{name}' must be finite and {bound}; got {value!r}")
    return v


def check_window(window, shape):
    if window is None:
        return None
    if shape is None:
        raise ValueError("'window' needs the output shape (out_shape or an output array) at construction")
    try:
        y0, y1, x0, x1 = (operator.index(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"'window' must be (y0, y1, x0, x1) integers; got {window!r}") from None
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        raise ValueError(f"'window' {window!r} must be a non-empty (y0, y1, x0, x1) region inside the output "
                         f"shape (ny, nx) = {shape}")
    return (y0, y1, x0, x1)


# ------------------------------------------------------- constructor checks
def context_ids(disable_ctx, begin_ctx_id, max_ctx_id):
    """``(ctx_id, max_ctx_id)`` as ints (0-based), or ``(None, None)`` when the context is disabled."""
    if disable_ctx:
        return None, None
    if not isinstance(begin_ctx_id, numbers.Integral) or begin_ctx_id < 0:
        raise ValueError(f"'begin_ctx_id' must be an integer >= 0; got {begin_ctx_id!r}")
    if max_ctx_id is None:
        max_ctx_id = begin_ctx_id
    elif max_ctx_id < begin_ctx_id:
        raise ValueError("'max_ctx_id' cannot be smaller than 'begin_ctx_id'.")
    return int(begin_ctx_id), int(max_ctx_id)


def initial_exptime(exptime, out_img, out_wht, out_ctx):
    """The exposure time already in the supplied outputs, consistent with them (drizzle's rules)."""
    exptime = finite_positive(exptime, "exptime", allow_zero=True)
    any_out = out_img is not None or out_ctx is not None or out_wht is not None
    if exptime > 0.0 and not any_out:
        raise ValueError(
            "'exptime' must be 0.0 for the first resampling "
            "(when no output resampled images have been provided)."
        )
    if exptime == 0.0 and (
        (out_ctx is not None and np.any(out_ctx)) or (out_wht is not None and np.any(out_wht))
    ):
        raise ValueError(
            "Inconsistent 'exptime' and context/weight images: exptime cannot be 0 "
            "when context and/or weight arrays are non-zero."
        )
    return exptime


class OutputArrays(NamedTuple):
    """Caller-supplied outputs, normalised by :func:`check_outputs` (None where not given)."""

    #: ``(ny, nx)`` common to all of them and ``out_shape``, or None if nothing gives it
    shape: tuple | None
    img: np.ndarray | None
    wht: np.ndarray | None
    #: int32 ``(nplanes, ny, nx)``
    ctx: np.ndarray | None
    #: list of float32 arrays or None entries (to be allocated)
    img2: list | None
    #: uint32
    dq: np.ndarray | None


def _ctx_planes(out_ctx):
    out_ctx = np.asarray(out_ctx, dtype=np.int32)
    if out_ctx.ndim == 2:
        return out_ctx[None, :, :]
    if out_ctx.ndim != 3:
        raise ValueError(f"'out_ctx' must be a 2-D or 3-D array; got shape {out_ctx.shape}")
    return out_ctx


def _img2_list(out_img2, shapes):
    """``out_img2`` (one array or a list) as a list, adding the given arrays' shapes to ``shapes``."""
    img2_list = [out_img2] if isinstance(out_img2, np.ndarray) else list(out_img2)
    for k, a in enumerate(img2_list):
        if a is not None:
            img2_list[k] = as_2d_float32(a, f"out_img2[{k}]")
            shapes.add(img2_list[k].shape)
    return img2_list


def check_outputs(out_shape, out_img, out_wht, out_ctx, out_img2, out_dq):
    """Normalise the caller-supplied outputs and check that their shapes agree with ``out_shape``.

    Returns an :class:`OutputArrays`; ``out_img``/``out_wht``/``out_img2``
    become float32 2-D (in place when the dtype matches), ``out_ctx`` int32
    3-D, ``out_dq`` uint32.
    """
    given = {"out_img": out_img, "out_wht": out_wht, "out_ctx": out_ctx, "out_dq": out_dq,
             "out_img2": out_img2}
    for name, a in given.items():
        if is_device_array(a) or (isinstance(a, list) and any(is_device_array(x) for x in a)):
            raise TypeError(f"'{name}' is a device array: outputs are given as numpy arrays (a kernel backend "
                            "keeps its own outputs on the device; read them with Drizzle.device_outputs())")
    shapes = set()
    if out_img is not None:
        out_img = as_2d_float32(out_img, "out_img")
        shapes.add(out_img.shape)
    if out_wht is not None:
        out_wht = as_2d_float32(out_wht, "out_wht")
        shapes.add(out_wht.shape)
    if out_ctx is not None:
        out_ctx = _ctx_planes(out_ctx)
        shapes.add(out_ctx.shape[1:])
    if out_dq is not None:
        out_dq = np.asarray(check_dq_type(out_dq, "out_dq"), dtype=np.uint32)
        shapes.add(out_dq.shape)
    if out_shape is not None:
        # two integers (not "55", not 5.5), within drizzle's 32-bit sizes
        try:
            out_shape = pair(out_shape, "'out_shape'", kind=int, minimum=1, maximum=2**31 - 1)
        except ValueError as exc:
            raise ValueError(f"{exc} ('out_shape' is (ny, nx), two positive integers)") from None
        shapes.add(out_shape)
    img2_list = None if out_img2 is None else _img2_list(out_img2, shapes)
    if len(shapes) > 1:
        raise ValueError(
            "Inconsistent shapes: 'out_shape' and/or out_img, out_img2, out_wht, out_ctx, "
            f"out_dq have different shapes: {sorted(shapes)}"
        )
    shape = shapes.pop() if shapes else None
    return OutputArrays(shape, out_img, out_wht, out_ctx, img2_list, out_dq)
