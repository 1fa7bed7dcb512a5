"""JWST pixel DQ flags and the ``good_bits`` rules of the resample step.

``good_bits`` follows stcal/jwst (astropy's ``interpret_bit_flags``): an int
(the bits that are *good*, i.e. ignored when deciding whether a pixel is
bad), a string of ints or mnemonics joined by ``,`` or ``+`` (``"4,8"``,
``"4+8"``, ``"DO_NOT_USE+NON_SCIENCE"``), a leading ``~`` to invert the set
(``"~DO_NOT_USE+NON_SCIENCE"``: every bit except these is good, the jwst
default), or None (every pixel is good).  A pixel is used when
``dq & ~good_bits == 0``.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["DEFAULT_GOOD_BITS", "JWST_PIXEL_FLAGS", "good_pixel_mask", "parse_good_bits"]

#: jwst's resample-step default.
DEFAULT_GOOD_BITS = "~DO_NOT_USE+NON_SCIENCE"

#: JWST pixel DQ bit values (the published jwst/stdatamodels convention).
JWST_PIXEL_FLAGS = {
    "GOOD": 0,
    "DO_NOT_USE": 1 << 0,
    "SATURATED": 1 << 1,
    "JUMP_DET": 1 << 2,
    "DROPOUT": 1 << 3,
    "OUTLIER": 1 << 4,
    "PERSISTENCE": 1 << 5,
    "AD_FLOOR": 1 << 6,
    "CHARGELOSS": 1 << 7,
    "UNRELIABLE_ERROR": 1 << 8,
    "NON_SCIENCE": 1 << 9,
    "DEAD": 1 << 10,
    "HOT": 1 << 11,
    "WARM": 1 << 12,
    "LOW_QE": 1 << 13,
    "RC": 1 << 14,
    "TELEGRAPH": 1 << 15,
    "NONLINEAR": 1 << 16,
    "BAD_REF_PIXEL": 1 << 17,
    "NO_FLAT_FIELD": 1 << 18,
    "NO_GAIN_VALUE": 1 << 19,
    "NO_LIN_CORR": 1 << 20,
    "NO_SAT_CHECK": 1 << 21,
    "UNRELIABLE_BIAS": 1 << 22,
    "UNRELIABLE_DARK": 1 << 23,
    "UNRELIABLE_SLOPE": 1 << 24,
    "UNRELIABLE_FLAT": 1 << 25,
    "OPEN": 1 << 26,
    "ADJ_OPEN": 1 << 27,
    "FLUX_ESTIMATED": 1 << 28,
    "MSA_FAILED_OPEN": 1 << 29,
    "OTHER_BAD_PIXEL": 1 << 30,
    "REFERENCE_PIXEL": 1 << 31,
}


def parse_good_bits(good_bits):
    """Return the good-bit mask as an int (None means every bit is good).

    Raises
    ------
    ValueError
        ``good_bits`` is not an int, None or a valid flag expression; the
        message names the parameter.
    """
    from astropy.nddata.bitmask import interpret_bit_flags

    if good_bits is None:
        return None
    # jwst's good_bits is a string (or an int); astropy would also sum a list of flags
    if isinstance(good_bits, bool) or not isinstance(good_bits, (numbers.Integral, str)):
        raise ValueError(f"good_bits must be an int, a flag string or None; got {good_bits!r}")
    try:
        return interpret_bit_flags(good_bits, flag_name_map=JWST_PIXEL_FLAGS)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"good_bits={good_bits!r} is not a valid DQ flag expression: {exc}") from None


def good_pixel_mask(dq, good_bits):
    """Boolean mask of usable pixels: ``dq & ~good_bits == 0`` (all True for None)."""
    dq = np.asarray(dq)
    bits = parse_good_bits(good_bits)
    if bits is None:
        return np.ones(dq.shape, bool)
    # bits may be negative (a "~" expression): mask in Python integers first
    bad_bits = np.uint64(~int(bits) & 0xFFFFFFFFFFFFFFFF)
    return (dq.astype(np.uint64) & bad_bits) == 0
