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

import numpy as np

__all__ = ["as_2d_float32", "check_dq_type", "check_window", "fill_number", "finite_positive", "process_fillval"]


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
    a = np.asarray(arr)
    if a.ndim != 2:
        raise ValueError(f"'{name}' must be a 2-D array (ny, nx); got shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"'{name}' must be a real numeric array; got dtype {a.dtype}")
    return np.asarray(a, dtype=np.float32)


def check_dq_type(dq, name):
    dq = np.asarray(dq)
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
