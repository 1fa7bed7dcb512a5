"""Variance propagation with jwst/stcal semantics, confined to each footprint.

For every exposure and variance array (read noise, flat, Poisson):

1. drizzle ``sqrt(var)`` with the *science* weights and pixel map into a fresh
   output (fill NaN), and square it;
2. combine across exposures as ``sum(v * w**2) / (sum w)**2`` where ``w`` is
   the resampled inverse read-noise variance (``weight_type="ivm"``) or the
   measurement time (``"exptime"``), only where ``v >= 0``, ``v`` finite and
   ``w > 0``;
3. multiply by ``1 / pixel_scale_ratio**2``.

stcal allocates a full-canvas drizzle for step 1 (three per exposure); here
it covers only the exposure's footprint box, padded by the kernel's reach, so
the cost per exposure does not grow with the mosaic.  The arithmetic (dtypes
and order of operations) is stcal's, so results agree to float32 rounding.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .accumulator import Drizzle
from .allocation import ram_zeros
from .exposure import VARIANCE_NAMES, measurement_time

__all__ = ["VarianceAccumulator", "error_from_variances", "footprint_box", "resample_variance_box"]


def _map_range(pixmap, xmin, xmax, ymin, ymax):
    sub = pixmap[ymin : ymax + 1, xmin : xmax + 1]
    x, y = sub[..., 0], sub[..., 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        return np.nanmin(x), np.nanmax(x), np.nanmin(y), np.nanmax(y)


def footprint_box(pixmap, out_shape, pscale_ratio, xmin, xmax, ymin, ymax):
    """Output box ``(y0, y1, x0, x1)`` (half-open) that receives this exposure.

    The box spans the finite pixel-map entries of the input box plus the
    reach of the widest kernel (lanczos3: 3 input pixels) and a safety pixel,
    clipped to the canvas; None when nothing lands on the canvas.  Where the
    box is clipped its edge is the canvas edge, so drizzle clips the footprint
    exactly as on the full canvas.

    ``pixmap`` may be a :class:`gpuresample.pixmap_model.LazyPixmap` (the
    map a kernel backend makes on the device): the box then comes from the
    spline's coefficient bounds, a superset of the exact one.  That is
    enough: the box only limits where the variance sums are combined, and
    outside the footprint the resampled variances are NaN, which combine
    leaves out.
    """
    bounds = pixmap.bounds(xmin, xmax, ymin, ymax) if hasattr(pixmap, "bounds") else _map_range(pixmap, xmin, xmax,
                                                                                                 ymin, ymax)
    if bounds is None:
        return None
    xlo, xhi, ylo, yhi = bounds
    if not np.isfinite([xlo, xhi, ylo, yhi]).all():
        return None
    # widest kernel: lanczos3 reaches 3 input pixels = 3 / pscale_ratio output pixels
    pad = math.ceil(4.0 / (pscale_ratio or 1.0)) + 3
    ny, nx = out_shape
    x0 = max(0, math.floor(xlo) - pad)
    x1 = min(nx, math.ceil(xhi) + pad + 1)
    y0 = max(0, math.floor(ylo) - pad)
    y1 = min(ny, math.ceil(yhi) + pad + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def resample_variance_box(img, pixmap, weight, box, pscale_ratio, limits, kernel, pixfrac, backend,
                          names=VARIANCE_NAMES):
    """Drizzle ``sqrt(var)`` of one exposure onto ``box`` and square it: {name: float32}.

    ``box = (y0, y1, x0, x1)`` (half-open, canvas pixels); the science weights
    and the pixel map (shifted to the box) are used, fill NaN, as stcal does
    on the full canvas.  **``pixmap`` is shifted in place** (consumed).
    """
    y0, y1, x0, x1 = box
    xmin, xmax, ymin, ymax = limits
    out = {}
    # Shift the pixel map to box coordinates in place: a copy would cost
    # 16 B per input pixel, and the caller has no further use for the map.
    pixmap[..., 0] -= x0
    pixmap[..., 1] -= y0
    for name in names:
        var = getattr(img, name)
        if var is None:
            continue
        d = Drizzle(kernel=kernel, out_shape=(y1 - y0, x1 - x0), fillval=np.nan, disable_ctx=True,
                    backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # sqrt of negative variance -> NaN
            root = np.sqrt(var)
        d.add_image(root, exptime=img.exposure_time, pixmap=pixmap, iscale=1.0,
                    pixel_scale_ratio=pscale_ratio, weight_map=weight, wht_scale=1.0, pixfrac=pixfrac,
                    in_units="cps", xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax)
        del root
        img2 = d.out_img
        del d
        np.square(img2, out=img2)
        out[name] = img2
    return out


class VarianceAccumulator:
    """Canvas-sized sums for the three variance arrays (float32, as stcal).

    ``xp`` is the array module of the sums and of the resampled variances
    given to :meth:`combine` (numpy, or CuPy with ``alloc`` making device
    arrays: a kernel backend combines and finalizes on the device, so the
    sums never cross the bus until the final images are read).
    """

    def __init__(self, shape, weight_type, alloc=None, xp=np):
        self.shape = shape
        self.weight_type = weight_type
        alloc = alloc or ram_zeros
        self.alloc = alloc
        self.xp = xp
        self.wsum = {n: alloc(shape, np.float32, np.nan) for n in VARIANCE_NAMES}
        self.wt = {n: alloc(shape, np.float32, 0) for n in VARIANCE_NAMES}
        self.covered = None  # (y0, y1, x0, x1): union of the boxes seen

    def combine(self, img, box, resampled):
        """Fold one exposure's resampled variances into the sums.

        Bitwise the arithmetic of stcal (``wsum[m] = nansum([wsum[m], v*w*w])``
        in float64 stored as float32; ``wt[m] += w``), written with ``where``
        over row blocks of the box instead of boolean fancy indexing over the
        whole canvas: ~4x faster and with small temporaries.
        """
        y0, y1, x0, x1 = box
        c = self.covered
        self.covered = box if c is None else (min(c[0], y0), max(c[1], y1), min(c[2], x0), max(c[3], x1))
        ivm = self.weight_type.startswith("ivm")
        rn = resampled.get("var_rnoise")
        if ivm and rn is None:
            return  # stcal: no read-noise variance -> no variance weight
        step = max(1, (1 << 20) // max(x1 - x0, 1))
        tmeas = float(measurement_time(img)[0])
        xp = self.xp
        for r0 in range(0, y1 - y0, step):
            r1 = min(r0 + step, y1 - y0)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                if ivm:
                    rb = rn[r0:r1]
                    good = (rb > 0) & xp.isfinite(rb)
                    weight = xp.where(good, xp.reciprocal(rb), np.float32(0)).astype(np.float64)
                else:
                    weight = xp.full((r1 - r0, x1 - x0), tmeas)
                positive = weight > 0
                for name, var in resampled.items():
                    vb = var[r0:r1]
                    wsum = self.wsum[name][y0 + r0 : y0 + r1, x0:x1]
                    wt = self.wt[name][y0 + r0 : y0 + r1, x0:x1]
                    m = (vb >= 0) & xp.isfinite(vb) & positive
                    prev = wsum.astype(np.float64)
                    prev[xp.isnan(prev)] = 0.0
                    # (v * w) * w as stcal evaluates it, not v * (w * w)
                    wsum[...] = xp.where(m, prev + vb * weight * weight, wsum)
                    wt[...] = xp.where(m, wt + weight, wt)

    def finalize(self, pscale_ratio):
        """Final variance images {name: float32}, computed in place of the sums.

        Only the union of the footprint boxes is computed: elsewhere the sum is
        still NaN (and the weight 0), which stcal's formula maps to NaN too.
        """
        scaling = 1.0 if pscale_ratio is None else 1.0 / pscale_ratio**2
        out = {}
        y0, y1, x0, x1 = self.covered or (0, 0, 0, 0)
        step = max(1, (1 << 22) // max(x1 - x0, 1))  # row blocks: bounded temporaries
        with np.errstate(invalid="ignore", divide="ignore"):
            for name in VARIANCE_NAMES:
                wsum, wt = self.wsum.pop(name), self.wt.pop(name)
                for r0 in range(y0, y1, step):
                    r1 = min(r0 + step, y1)
                    s, w = wsum[r0:r1, x0:x1], wt[r0:r1, x0:x1]
                    s[...] = (s * scaling / w / w).astype(np.float32)
                out[name] = wsum
                del wt
        return out


def error_from_variances(variances, alloc=None, covered=None, xp=np):
    """``sqrt(nansum(var_*))``; NaN where every variance is NaN (stcal rule).

    Computed in row blocks over ``covered`` (y0, y1, x0, x1; default the whole
    image) so the temporaries stay small; outside it every variance is NaN.
    ``xp``: the array module of ``variances`` (and of what ``alloc`` makes).
    """
    shape = variances[VARIANCE_NAMES[0]].shape
    err = (alloc or ram_zeros)(shape, np.float32, np.nan)
    y0, y1, x0, x1 = covered if covered is not None else (0, shape[0], 0, shape[1])
    step = max(1, (1 << 22) // max(x1 - x0, 1))
    for r0 in range(y0, y1, step):
        r1 = min(r0 + step, y1)
        stack = xp.stack([variances[n][r0:r1, x0:x1] for n in VARIANCE_NAMES])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            block = xp.sqrt(xp.nansum(stack, axis=0))
        block[xp.all(xp.isnan(stack), axis=0)] = np.nan
        err[r0:r1, x0:x1] = block
    return err
