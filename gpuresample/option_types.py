"""Checkers of the value types that options share: numbers, pairs, counts and on/off flags.

Used by :mod:`gpuresample.options` (each ``check_<name>`` there states the
parameter's own rule).  Every checker raises ``ValueError`` naming the
parameter and what it expects; none converts a string into digits or a
truthy value into a flag.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["FLAG_WORDS", "count", "flag_validator", "is_int", "number", "pair"]

#: The spellings of a flag that jwst's parameter files (configobj) accept, lower-case.
FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def number(value, name, positive=False):
    """A real number (not a bool) as a finite float, optionally > 0; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''}; got {value!r}")
    return v


def pair(value, name, kind=float, minimum=None, maximum=None):
    """Two finite numbers converted with ``kind`` (ints: no fractional part), within
    ``[minimum, maximum]``; None stays None.  A string is not a pair (``"12"`` is not ``(1, 2)``)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not np.iterable(value):
        raise ValueError(f"{name} must be two numbers; got {value!r}")
    items = list(value)
    if len(items) != 2:
        raise ValueError(f"{name} must have exactly 2 values; got {len(items)}")
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in items):
        raise ValueError(f"{name} must be two numbers; got {value!r}")
    if not all(math.isfinite(float(v)) for v in items):
        raise ValueError(f"{name} values must be finite; got {value!r}")
    if kind is int and any(float(v) != math.floor(float(v)) for v in items):
        raise ValueError(f"{name} must be integers; got {value!r}")
    vals = [kind(v) for v in items]
    if minimum is not None and any(v < minimum for v in vals):
        raise ValueError(f"{name} values must be >= {minimum}; got {value!r}")
    if maximum is not None and any(v > maximum for v in vals):
        raise ValueError(f"{name} values must be <= {maximum}; got {value!r}")
    return tuple(vals)


def is_int(value, integer_types=numbers.Integral):
    """An integer that is not a bool."""
    return isinstance(value, integer_types) and not isinstance(value, bool)


def count(value, name, auto, integer_types=numbers.Integral):
    """``"auto"`` -> ``auto``, else an integer >= 1 (as an int)."""
    if isinstance(value, str) and value == "auto":
        return max(1, auto)
    if not is_int(value, integer_types) or value < 1:
        raise ValueError(f"{name} must be 'auto' or a positive integer; got {value!r}")
    return int(value)


def flag_validator(name, meaning):
    """``check_<name>(value)``: True/False (also numpy's), 0/1, or a word of :data:`FLAG_WORDS`; a bool.

    Anything else is refused: ``"False"`` is False (as in a jwst parameter
    file), not a truthy string, and ``2`` or ``"maybe"`` are errors.
    """

    def check(value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if is_int(value) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in FLAG_WORDS:
            return FLAG_WORDS[value.strip().lower()]
        raise ValueError(f"{name} must be True or False; got {value!r}")

    check.__name__ = check.__qualname__ = f"check_{name}"
    check.__doc__ = f"``{name}``: {meaning}; True/False (or a jwst parameter-file spelling), returned as a bool."
    return check
