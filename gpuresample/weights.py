"""Drizzle weight maps for an exposure (jwst/stcal ``build_driz_weight`` rules)."""

from __future__ import annotations

import logging

import numpy as np

from .dqflags import good_pixel_mask
from .exposure import measurement_time

__all__ = ["WEIGHT_TYPES", "driz_weight"]

log = logging.getLogger("gpuresample")

#: ``weight_type`` values: inverse read-noise variance, inverse sky variance,
#: exposure (measurement) time.
WEIGHT_TYPES = ("ivm", "ivm-sky", "exptime")


def _inverse(var, shape, name, label):
    if var is None:
        log.warning("%s: '%s' not available: drizzle weight set to 1", label, name)
        return np.ones(shape, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / var
    inv[~np.isfinite(inv)] = 0  # bad or zero variance -> weight 0
    return inv


def driz_weight(img, weight_type, good_bits):
    """float32 weight map: the weight type times the good-pixel mask.

    ``ivm``: 1/var_rnoise (non-finite -> 0; equal weights when var_rnoise is
    missing); ``ivm-sky``: 1/var_sky; ``exptime``: measurement time (else
    exposure time); pixels with DQ bits outside ``good_bits`` get 0.
    """
    mask = good_pixel_mask(img.dq, good_bits)
    if weight_type == "ivm":
        w = _inverse(img.var_rnoise, img.shape, "var_rnoise", img.filename) * mask
    elif weight_type == "ivm-sky":
        w = _inverse(img.var_sky, img.shape, "var_sky", img.filename) * mask
    elif weight_type == "exptime":
        w = np.float32(measurement_time(img)[0]) * mask
    else:  # validated earlier; keep the error explicit anyway
        raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}; got {weight_type!r}")
    return w.astype(np.float32)
