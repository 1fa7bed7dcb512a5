"""CPU backend: drizzle's C code for its six kernels, numpy for ``tophat``."""

from __future__ import annotations

import copy
import warnings

import numpy as np

from ..errors import DrizzleCrashGuardError
from ..scanner import inverted_footprint, shrink_box
from .base import HostBackend
from .tophat import tophat_add

__all__ = ["DRIZZLE_HAS_CORNER_FIX", "DRIZZLE_VERSION", "CpuBackend"]


def _drizzle_version():
    import drizzle

    text = getattr(drizzle, "__version__", "0")
    parts = []
    for p in text.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


DRIZZLE_VERSION = _drizzle_version()

#: drizzle >= 3.0 drops duplicate vertices of the inverted footprint polygon;
#: 2.2 dereferences out of bounds on them (a segfault on x86-64).
DRIZZLE_HAS_CORNER_FIX = DRIZZLE_VERSION >= (3, 0)


def _tdriz():
    from drizzle import cdrizzle

    return cdrizzle.tdriz


class CpuBackend(HostBackend):
    """Runs every kernel on the host; bitwise identical to ``drizzle``.

    Tile pools fork (inputs inherited); the variance arrays are drizzled in
    separate footprint-box passes (``same_pass_linear`` False: drizzle's C
    code would cover the whole grid for each ``linear`` array).
    """

    name = "cpu"

    def _linear_mean(self, driz, step, values):
        y0, y1, x0, x1 = driz.window  # last_linear covers the window on every backend
        mean = _fresh_weighted_mean(step, values, driz.out_shape)
        return mean if mean.shape == (y1 - y0, x1 - x0) else mean[y0:y1, x0:x1].copy()

    def check(self, driz, step):
        """Refuse (before any state change) inputs the installed drizzle cannot take."""
        if step.kernel == "tophat" or DRIZZLE_HAS_CORNER_FIX:
            return
        xmin, xmax, ymin, ymax, ok = shrink_box(step.pixmap, step.xmin, step.xmax, step.ymin, step.ymax)
        out_shape = driz.out_shape
        if not ok or out_shape is None:
            return
        poly = inverted_footprint(step.pixmap, out_shape, xmin, xmax, ymin, ymax)
        if poly.has_duplicates:
            raise DrizzleCrashGuardError(
                "This input would crash drizzle "
                f"{'.'.join(map(str, DRIZZLE_VERSION))}: a corner of the input footprint maps just "
                "outside an edge of the output image (fixed in drizzle 3.0). Install drizzle>=3.0, "
                "or enlarge/shift the output grid by a pixel."
            )

    def add_image(self, driz, step):
        """Drizzle one image into ``driz``'s outputs in place; return (nmiss, nskip)."""
        if step.row_limits is not None and step.row_limits.undefined:
            return _nothing_visited(driz, step)
        if step.linear:
            driz.last_linear = [self._linear_mean(driz, step, a) for a in step.linear]
        ctx = None if step.ctx_plane is None else driz.out_ctx[step.ctx_plane]
        if step.kernel == "tophat":
            return tophat_add(driz, step, ctx)
        # Our Drizzle already warned (non-conserving kernels, small pixfrac,
        # lanczos ignoring pixfrac); drizzle's C code would warn a second time.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Kernel ")
            warnings.filterwarnings("ignore", message="In lanczos kernel")
            result = _tdriz()(
                input=step.data,
                weights=step.weights,
                pixmap=step.pixmap,
                output=driz.out_img,
                counts=driz.out_wht,
                context=ctx,
                input2=step.data2,
                output2=driz.out_img2 if step.data2 is not None else None,
                dq=step.dq,
                outdq=driz.out_dq if step.dq is not None else None,
                uniqid=(step.ctx_bit or 0) + 1,
                xmin=step.xmin,
                xmax=step.xmax,
                ymin=step.ymin,
                ymax=step.ymax,
                iscale=step.iscale,
                pscale_ratio=step.pscale_ratio,
                pixfrac=step.pixfrac,
                kernel=step.kernel,
                in_units=step.in_units,
                expscale=step.expscale,
                wtscale=step.wht_scale,
                fillstr=step.fillval,
                fillstr2=step.fillval2,
            )
        # drizzle 2.2 returns (version, nmiss, nskip), 3.0 (nmiss, nskip)
        nmiss, nskip = result[-2:]
        return int(nmiss), int(nskip)


def _nothing_visited(driz, step):
    """An image whose scan drizzle cannot define (:attr:`RowLimits.undefined`): visit no pixel.

    What the kernel backends do with the same scan, and what drizzle does
    for an image that reaches no output pixel: outputs unchanged except the
    fill of zero-weight pixels; every box pixel a miss.
    """
    y0, y1, x0, x1 = driz.window
    if step.linear:
        driz.last_linear = [np.full((y1 - y0, x1 - x0), np.nan, np.float32) for _ in step.linear]
    empty = driz.out_wht == 0
    if step.fillval != "INDEF":
        driz.out_img[empty] = np.float32(float(step.fillval))
    if step.data2 is not None and step.fillval != "INDEF" and step.fillval2 != "INDEF":
        for out2 in driz.out_img2:
            out2[empty] = np.float32(float(step.fillval2))
    return int(step.row_limits.nmiss_base), int(step.row_limits.nskip)


def _fresh_weighted_mean(step, values, out_shape):
    """One array drizzled alone with the step's weights into a NaN-filled output."""
    out = np.full(out_shape, np.nan, np.float32)
    wht = np.zeros(out_shape, np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Kernel ")
        warnings.filterwarnings("ignore", message="In lanczos kernel")
        if step.kernel == "tophat":
            from types import SimpleNamespace

            holder = SimpleNamespace(out_shape=out_shape, out_img=out, out_wht=wht, out_img2=None, out_dq=None)
            sub = copy.copy(step)
            sub.data, sub.data2, sub.dq, sub.ctx_bit, sub.fillval = values, None, None, None, "NaN"
            tophat_add(holder, sub, None)
        else:
            _tdriz()(input=values, weights=step.weights, pixmap=step.pixmap, output=out, counts=wht,
                     context=None, uniqid=1, xmin=step.xmin, xmax=step.xmax, ymin=step.ymin, ymax=step.ymax,
                     iscale=step.iscale, pscale_ratio=step.pscale_ratio, pixfrac=step.pixfrac,
                     kernel=step.kernel, in_units=step.in_units, expscale=step.expscale, wtscale=step.wht_scale,
                     fillstr="NaN", fillstr2="NaN")
    return out
