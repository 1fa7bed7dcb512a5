"""The ``tophat`` kernel on the host (numpy).

Semantics are drizzle 1.15's (the kernel was removed in drizzle 2.0):

* radius ``pfo = pixfrac / (2 * pixel_scale_ratio)`` output pixels around the
  mapped centre ``(x, y)`` of each input pixel;
* every output pixel ``(i, j)`` with ``(x - i)**2 + (y - j)**2 <= pfo**2``
  receives ``data * iscale`` with the *full* weight ``weight * wht_scale``;
* contributions are combined as a weighted mean; there is no normalisation by
  the number of pixels hit, so flux is **not** conserved.

Every input pixel inside the input box with a finite pixmap entry is used
(drizzle 1.15 additionally applied its footprint scanner; we do not, because
the scanner only exists to bound the square kernel's corner interpolation).
Within one image the weighted sums are accumulated in float64 and merged into
the running float32 weighted mean once, which is what the GPU kernel does too.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["apply_fill", "tophat_add"]

_ROWS_PER_CHUNK = 256  # bounds the temporaries to ~256 * nx * hits


def apply_fill(driz, step):
    """Set zero-weight pixels to the fill values, as drizzle's ``put_fill``.

    ``fillval2`` is only applied when ``fillval`` is (drizzle's rule).
    """
    if step.fillval == "INDEF":
        return
    empty = driz.out_wht == 0
    driz.out_img[empty] = np.float32(float(step.fillval))
    if step.data2 is not None and driz.out_img2 is not None and step.fillval2 != "INDEF":
        fv2 = np.float32(float(step.fillval2))
        for arr in driz.out_img2:
            arr[empty] = fv2


def _within(mask):
    """The input pixels one candidate output offset reaches (one pass over the chunk; counted in the tests)."""
    return np.flatnonzero(mask)


def _offsets(lo, pfo, kmax, n_out):
    """The offsets ``0..kmax`` from ``lo = ceil(pos - pfo)`` that can land on an axis of ``n_out`` pixels.

    Clipped to the grid so that a kernel much larger than the grid costs the
    grid, not the kernel (``pfo`` = 250 px on a 1x1 grid: 1 offset, not 500).
    """
    if lo.size == 0:
        return range(0)
    first = max(0, int(-lo.max()))
    last = min(kmax, int(n_out - 1 - lo.min()))
    return range(first, last + 1)


def _hits(x, y, pfo, nx_out, ny_out):
    """Yield (input index, flat output index) of every tophat hit.

    One numpy pass per candidate offset: over the circle's window clipped to
    the grid, or over the grid's pixels when the grid is the smaller of the
    two, so the work per input pixel is bounded by min(kernel area, grid area).
    """
    kmax = math.floor(2.0 * pfo) + 1
    pfo2 = pfo * pfo
    if ny_out * nx_out <= (kmax + 1) ** 2:
        for jj in range(ny_out):
            dy = y - jj
            for ii in range(nx_out):
                dx = x - ii
                idx = _within(dx * dx + dy * dy <= pfo2)
                if idx.size:
                    yield idx, np.full(idx.size, jj * nx_out + ii, np.int64)
        return
    ix0 = np.ceil(x - pfo)
    iy0 = np.ceil(y - pfo)
    for kj in _offsets(iy0, pfo, kmax, ny_out):
        jj = iy0 + kj
        dy = y - jj
        rows = (jj >= 0) & (jj < ny_out)
        for ki in _offsets(ix0, pfo, kmax, nx_out):
            ii = ix0 + ki
            dx = x - ii
            sel = dx * dx + dy * dy <= pfo2
            sel &= rows & (ii >= 0) & (ii < nx_out)
            idx = _within(sel)
            if idx.size:
                yield idx, jj[idx].astype(np.int64) * nx_out + ii[idx].astype(np.int64)


def tophat_add(driz, step, ctx):
    """Add one image with the tophat kernel; return (nmiss, nskip)."""
    ny_out, nx_out = driz.out_shape
    npix = ny_out * nx_out
    pfo = step.pixfrac / step.pscale_ratio / 2.0
    iscale = np.float32(step.iscale / step.expscale)

    sum_w = np.zeros(npix, np.float64)
    sum_wd = np.zeros(npix, np.float64)
    nhit_w = np.zeros(npix, np.int64)  # contributions with weight != 0
    pos_w = np.zeros(npix, bool)  # any contribution with weight > 0 (context)
    d2 = step.data2 or []
    sum_w2d2 = [None if a is None else np.zeros(npix, np.float64) for a in d2]
    dq_or = np.zeros(npix, np.uint32) if step.dq is not None else None

    xs, xe, ys, ye = step.xmin, step.xmax + 1, step.ymin, step.ymax + 1
    nmiss = 0
    for r0 in range(ys, ye, _ROWS_PER_CHUNK):
        r1 = min(r0 + _ROWS_PER_CHUNK, ye)
        pm = step.pixmap[r0:r1, xs:xe]
        x = pm[..., 0].ravel()
        y = pm[..., 1].ravel()
        finite = ~(np.isnan(x) | np.isnan(y))
        hit_any = np.zeros(x.size, bool)
        # float32 products, as drizzle computes d and dow
        d = (step.data[r0:r1, xs:xe].ravel() * iscale).astype(np.float32)
        w = (step.weights[r0:r1, xs:xe].ravel() * np.float32(step.wht_scale)).astype(np.float32)
        dqv = step.dq[r0:r1, xs:xe].ravel() if dq_or is not None else None
        d2v = [None if a is None else a[r0:r1, xs:xe].ravel() * np.float32(iscale * iscale) for a in d2]
        fidx = np.flatnonzero(finite)
        for src, dst in _hits(x[fidx], y[fidx], pfo, nx_out, ny_out):
            src = fidx[src]
            hit_any[src] = True
            ws = w[src].astype(np.float64)
            nz = ws != 0.0
            src, dst, ws = src[nz], dst[nz], ws[nz]
            sum_w += np.bincount(dst, ws, npix)
            sum_wd += np.bincount(dst, ws * d[src], npix)
            nhit_w += np.bincount(dst, minlength=npix)
            pos_w[dst[ws > 0]] = True
            for acc, v in zip(sum_w2d2, d2v, strict=True):
                if acc is not None:
                    acc += np.bincount(dst, ws * ws * v[src], npix)
            if dq_or is not None:
                np.bitwise_or.at(dq_or, dst, dqv[src])
        nmiss += int(x.size - np.count_nonzero(hit_any))

    _merge(driz, step, ctx, sum_w, sum_wd, nhit_w, pos_w, sum_w2d2, dq_or)
    apply_fill(driz, step)
    return nmiss, 0


def _merge(driz, step, ctx, sum_w, sum_wd, nhit_w, pos_w, sum_w2d2, dq_or):
    """Fold this image's sums into the running float32 weighted means."""
    shape = driz.out_shape
    touched = (nhit_w > 0).reshape(shape)
    if not touched.any():
        return
    vc = driz.out_wht[touched].astype(np.float64)
    sw = sum_w.reshape(shape)[touched]
    new = vc + sw
    first = vc == 0.0
    old_img = driz.out_img[touched].astype(np.float64)
    swd = sum_wd.reshape(shape)[touched]
    with np.errstate(invalid="ignore", divide="ignore"):
        img = np.where(first, swd / sw, (old_img * vc + swd) / new)
    driz.out_img[touched] = img.astype(np.float32)
    if driz.out_img2 is not None and step.data2 is not None:
        for arr, acc in zip(driz.out_img2, sum_w2d2, strict=True):
            if acc is None:
                continue
            s2 = acc.reshape(shape)[touched]
            old2 = arr[touched].astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                v2 = np.where(first, s2 / (sw * sw), (old2 * vc * vc + s2) / (new * new))
            arr[touched] = v2.astype(np.float32)
    if dq_or is not None:
        new_dq = dq_or.reshape(shape)[touched]
        old_dq = driz.out_dq[touched]
        driz.out_dq[touched] = np.where(first, new_dq, old_dq | new_dq)
    driz.out_wht[touched] = new.astype(np.float32)
    if ctx is not None:
        ctx[pos_w.reshape(shape)] |= np.int32(np.uint32(1 << step.ctx_bit).view(np.int32))
