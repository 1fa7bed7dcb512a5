"""Drizzle weight maps for an exposure (jwst/stcal ``build_driz_weight`` rules).

A :class:`WeightRule` says how an exposure's weights are made — the inverse
of a variance array or a constant (the measurement time), times the DQ mask
of ``good_bits``, optionally zeroed outside a tile's reach — without making
them.  The CPU backend evaluates it on the host (:meth:`WeightRule.
host_weights`, the one definition of the values); the kernel backends build
the same float32 weights on the device from the arrays the rule names
(``kernels/prepare.cu``), so only the variance and DQ arrays cross the bus,
and the variance array used for the weights is uploaded once even when it is
also drizzled.  :func:`driz_weight` is the host evaluation of the rule for an
:class:`~gpuresample.Image`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from .dqflags import good_pixel_mask, parse_good_bits
from .exposure import measurement_time
from .gpu.device import host_copy, is_device_array

__all__ = ["WEIGHT_TYPES", "WeightRule", "driz_weight", "weight_rule"]

log = logging.getLogger("gpuresample")

#: ``weight_type`` values: inverse read-noise variance, inverse sky variance,
#: exposure (measurement) time.
WEIGHT_TYPES = ("ivm", "ivm-sky", "exptime")


@dataclass(frozen=True, eq=False)
class WeightRule:
    """How to make one exposure's float32 drizzle weights, ``(ny, nx)`` like its data.

    ``weight = base * good`` where ``base`` is ``1 / var`` (0 where that is
    not finite) when ``var`` is given, else ``value``; ``good`` is 1 where
    ``dq & ~good_bits == 0`` (every pixel when ``dq`` or ``good_bits`` is
    None), else 0 — numpy's ``base * mask`` (so a negative base at a bad
    pixel gives -0.0, as jwst's weights do).  With ``region`` (a tile's
    inclusive bounds ``(x_lo, x_hi, y_lo, y_hi)`` on the mapped input-pixel
    centres, output pixels) the weight is +0.0 wherever the pixel map puts
    the centre outside them or is NaN.

    The device builds the same values only from arrays it can read exactly:
    ``var`` float32 (the dtype jwst files hold) and ``dq`` of unsigned
    integers (:attr:`device_ready`); other dtypes are evaluated on the host
    and uploaded as weights.
    """

    shape: tuple
    var: np.ndarray | None = None
    value: float = 1.0
    dq: np.ndarray | None = None
    good_bits: object = None
    region: tuple | None = None
    _host: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def bad_bits(self):
        """The 32 DQ bits that make a pixel unusable, as an int, or None (every pixel usable).

        For unsigned DQ of at most 32 bits this is exactly
        :func:`gpuresample.dqflags.good_pixel_mask`'s 64-bit test.
        """
        bits = parse_good_bits(self.good_bits)
        if bits is None or self.dq is None:
            return None
        return ~int(bits) & 0xFFFFFFFF

    @property
    def device_ready(self):
        """True when the device can build these weights bitwise as :meth:`host_weights` does."""
        var_ok = self.var is None or self.var.dtype == np.float32
        dq_ok = self.dq is None or self.dq.dtype.kind == "u"
        return var_ok and dq_ok

    def within(self, region, reach):
        """This rule also zeroing pixels farther than ``reach`` from ``region`` ``(y0, y1, x0, x1)``.

        The bounds are those of :func:`gpuresample.restrict.masked_weights`,
        computed here once in double precision.
        """
        y0, y1, x0, x1 = region
        bounds = (x0 - 0.5 - reach, x1 - 0.5 + reach, y0 - 0.5 - reach, y1 - 0.5 + reach)
        return replace(self, region=bounds)

    def on_host(self):
        """This rule with numpy arrays: device arrays (CuPy, emulator) downloaded (counted); else itself."""
        if not (is_device_array(self.var) or is_device_array(self.dq)):
            return self
        return replace(self, var=None if self.var is None else host_copy(self.var),
                       dq=None if self.dq is None else host_copy(self.dq))

    def host_weights(self, pixmap=None):
        """The float32 weights evaluated on the host, once (``pixmap`` ``(ny, nx, 2)`` is needed with a region)."""
        if self._host is not None:
            return self._host
        if self.var is not None:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny variance: inf -> 0
                base = 1.0 / self.var
            base[~np.isfinite(base)] = 0  # bad or zero variance -> weight 0
        else:
            base = np.full(self.shape, np.float32(self.value), np.float32)
        if self.dq is not None:
            base = base * good_pixel_mask(self.dq, self.good_bits)
        with np.errstate(over="ignore"):  # float64 1/var beyond float32: inf, weight 0 by the non-finite rule
            w = base.astype(np.float32, copy=False)
        if self.region is not None:
            x_lo, x_hi, y_lo, y_hi = self.region
            x, y = pixmap[..., 0], pixmap[..., 1]
            with np.errstate(invalid="ignore"):  # NaN compares False: weight 0
                near = (x >= x_lo) & (x <= x_hi) & (y >= y_lo) & (y <= y_hi)
            w = np.where(near, w, np.float32(0)).astype(np.float32, copy=False)
        object.__setattr__(self, "_host", w)  # frozen: the cache is the only state
        return w


def weight_rule(img, weight_type, good_bits):
    """The :class:`WeightRule` of jwst's ``build_driz_weight`` for exposure ``img``.

    ``ivm``: 1/var_rnoise (equal weights, with a logged warning, when
    var_rnoise is missing); ``ivm-sky``: 1/var_sky; ``exptime``: measurement
    time (else exposure time); pixels with DQ bits outside ``good_bits`` get 0.
    """
    if weight_type in ("ivm", "ivm-sky"):
        name = "var_rnoise" if weight_type == "ivm" else "var_sky"
        var = getattr(img, name)
        if var is None:
            log.warning("%s: '%s' not available: drizzle weight set to 1", img.filename, name)
        return WeightRule(img.shape, var=var, dq=img.dq, good_bits=good_bits)
    if weight_type == "exptime":
        return WeightRule(img.shape, value=float(np.float32(measurement_time(img)[0])), dq=img.dq,
                          good_bits=good_bits)
    # validated earlier; keep the error explicit anyway
    raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}; got {weight_type!r}")


def driz_weight(img, weight_type, good_bits):
    """float32 weight map of ``img``: :func:`weight_rule` evaluated on the host."""
    return weight_rule(img, weight_type, good_bits).host_weights()
