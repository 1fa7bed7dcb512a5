"""The exposure loop: drizzle a sequence of exposures into one product's accumulators.

:func:`drizzle_exposures` is the only place that knows the order of work for
one exposure — weights, pixel map, input box, science drizzle (with the
variance arrays in the same kernel pass where the backend can), the err
drizzle of ``single=True``, the footprint-box variance drizzles otherwise,
and the bookkeeping.  The untiled run, every tile of a tiled run (in this
process, a forked or spawned worker, or a Dask task) call it; a tile passes
its ``window`` (the part of the grid whose outputs it keeps) and ``select``
(the exposures that reach it, with their reach), see :mod:`gpuresample.restrict`.

It does not know how a kernel computes (the backend, behind
:class:`gpuresample.Drizzle`) nor how the user spelled the arguments
(:mod:`gpuresample.options`).

Pixel conventions: arrays ``(ny, nx)``, 0-based; ``window`` and boxes are
half-open ``(y0, y1, x0, x1)``; input limits inclusive ``(xmin, xmax, ymin,
ymax)`` as drizzle's.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .accumulator import Drizzle
from .allocation import lazy_zeros, ram_zeros
from .backends import get_backend
from .exposure import VARIANCE_NAMES
from .parallel import VarianceHelper
from .prefetch import MIN_EXPOSURES, GeometryPrefetch
from .prepared import PreparedExposure, input_limits, science_data
from .products import input_row
from .restrict import intersect
from .variance import VarianceAccumulator, error_from_variances
from .workers import can_fork

__all__ = ["LoopResult", "PreparedExposure", "ProductAccumulators", "drizzle_exposures", "input_limits", "science_data"]

log = logging.getLogger("gpuresample")


@dataclass
class LoopResult:
    """The outputs of :func:`drizzle_exposures`.

    ``arrays``: ``data``, ``wht`` and, as enabled, ``con`` ``(nplanes, ...)``,
    ``dq``, ``err``, ``var_*``, all shaped like the window (the whole grid
    without one: then the accumulators themselves, no copy).  ``rows``,
    ``groups`` and ``bunit`` are the product's bookkeeping (every exposure
    loaded; exposures a tile did not need are missing).
    """

    arrays: dict
    rows: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)
    bunit: object = None

    @property
    def any_weight(self):
        """True when some output pixel received a positive weight."""
        return bool(np.any(self.arrays["wht"] > 0))


def _window_filled(alloc, window):
    """An allocator like ``alloc`` whose arrays hold ``fill`` inside ``window``.

    A window's canvas is lazy zeros (``lazy_zeros`` ignores the fill, so
    that pages outside the window are never touched); the window is filled
    here, on its own pages only.
    """
    y0, y1, x0, x1 = window

    def make(shape, dtype, fill=0):
        arr = alloc(shape, dtype, 0)
        if fill != 0:  # NaN too
            arr[..., y0:y1, x0:x1] = fill
        return arr

    return make


def _filled(alloc, shape, window, fill):
    """The science canvas pre-filled with the fill value (only inside the window when there is one)."""
    if window is None:
        return alloc(shape, np.float32, fill)
    return _window_filled(alloc, window)(shape, np.float32, fill)


class ProductAccumulators:
    """One product's Drizzle objects and variance sums (the window's, or the whole grid's)."""

    def __init__(self, grid, params, n_inputs, window, alloc, same_pass):
        shape = grid.shape
        self.window = window or (0, shape[0], 0, shape[1])
        y0, y1, x0, x1 = self.window
        # a window's canvas is a lazy full-grid map (only the pages near the
        # window are touched); window-sized arrays are plain RAM
        canvas = alloc if window is None else lazy_zeros
        small = alloc if window is None else ram_zeros
        fill = float(params.fillval)
        backend = get_backend(params.backend)
        self.backend = backend
        device_alloc = backend.device_allocator()
        common = dict(kernel=params.kernel, backend=params.backend, allocator=canvas, window=window)
        if device_alloc is not None:
            # A kernel backend keeps the outputs it allocates on the device
            # (created there as the fill value, re-filled by the merge kernel
            # after every image) and downloads them once, in finish().
            # The host arrays must hold the fill too: a Drizzle that never gets
            # an image (a tile no exposure reaches) is never downloaded.
            host = canvas if window is None else _window_filled(canvas, window)

            def new_drizzle(**kw):
                return Drizzle(fillval=fill, out_shape=shape, **kw, **dict(common, allocator=host))
        else:
            # Pre-filling the output with the fill value and passing "INDEF" is
            # the same as drizzle's re-fill of zero-weight pixels after every
            # image (a zero-weight pixel takes the first contribution verbatim),
            # without that whole-canvas pass per exposure.
            def new_drizzle(**kw):
                return Drizzle(fillval="INDEF", out_img=_filled(canvas, shape, window, fill), **kw, **common)
        # The kernel backends keep only the window's sums (device memory scales
        # with the tile); the footprints are still clipped against the whole
        # grid, so the window's pixels are those of the whole-grid run.
        self.driz = new_drizzle(max_ctx_id=max(n_inputs, 1) - 1, disable_ctx=not params.enable_ctx)
        self.err_driz = None
        if params.enable_err and params.err_from == "driz":
            # single=True: the err arrays drizzled like the data (stcal)
            self.err_driz = new_drizzle(disable_ctx=True)
        self.var_acc = None
        if params.enable_var:
            self.var_acc = VarianceAccumulator((y1 - y0, x1 - x0), params.weight_type,
                                               alloc=device_alloc or small, xp=backend.xp)
        self.same_pass = same_pass
        self.small = small

    def add(self, ex, params, psr, helper, k, after_science=None):
        """Drizzle one prepared exposure into every accumulator.

        ``after_science()``, when given, runs right after the science drizzle,
        before the err and variance drizzles (which may consume ``ex.pixmap``):
        the stcal adapter's ``add_model_hook``.
        """
        img = ex.img
        # wait=False: the counts are not used, so nothing makes the host wait for the device
        # between images (a kernel backend's miss counter stays unread)
        kw = dict(ex.drizzle_args(params, psr), wait=False)
        names = [n for n in VARIANCE_NAMES if getattr(img, n) is not None] if self.same_pass else []
        dq = img.dq if params.propagate_dq else None
        if names:
            variances = [getattr(img, n) for n in names]
            if all(v.dtype == np.float32 for v in variances):
                # the square roots are taken where the arrays are drizzled (on
                # the device for the kernel backends): float32 sqrt is exact
                self.driz.add_image(science_data(img), dq=dq, linear=variances, linear_sqrt=True, **kw)
            else:
                # sqrt in the arrays' own precision, then float32, as jwst
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # sqrt of negative variance -> NaN
                    roots = [np.sqrt(v) for v in variances]
                self.driz.add_image(science_data(img), dq=dq, linear=roots, **kw)
                del roots
        else:
            self.driz.add_image(science_data(img), dq=dq, **kw)
        if after_science is not None:
            after_science()
        if self.err_driz is not None and img.err is not None:
            self.err_driz.add_image(img.err, **kw)
        if self.var_acc is not None:
            self._add_variances(ex, params, psr, helper, k, names)

    def _add_variances(self, ex, params, psr, helper, k, names):
        """Fold the exposure's resampled variances (where its footprint box meets the window) into the sums."""
        img = ex.img
        clip = None if ex.box is None else intersect(ex.box, self.window)
        wy0, wx0 = self.window[0], self.window[2]
        if self.same_pass:
            # the per-image means of sqrt(var) are window-shaped
            boxes = {}
            if clip is not None:
                cy0, cy1, cx0, cx1 = clip
                boxes = {n: self.driz.last_linear[m][cy0 - wy0 : cy1 - wy0, cx0 - wx0 : cx1 - wx0] ** 2
                         for m, n in enumerate(names)}
        else:
            boxes = ex.variance_boxes(params, psr, VARIANCE_NAMES if helper is None else ("var_rnoise",))
            if helper is not None:
                boxes.update(helper.result(k))
            if clip is not None:
                by0, bx0 = ex.box[0], ex.box[2]
                cy0, cy1, cx0, cx1 = clip
                boxes = {n: a[cy0 - by0 : cy1 - by0, cx0 - bx0 : cx1 - bx0] for n, a in boxes.items()}
        # the mosaic path combines even an empty set of boxes: it still widens
        # the covered region that finalize works on (as the untiled run always did)
        if clip is not None and (boxes or not self.same_pass):
            cy0, cy1, cx0, cx1 = clip
            self.var_acc.combine(img, (cy0 - wy0, cy1 - wy0, cx0 - wx0, cx1 - wx0), boxes)

    def finish(self, params, psr):
        """The window's output arrays (copies for a window, the accumulators themselves for the whole grid).

        With ``params.output_device`` the arrays are the kernel backend's,
        on the device: nothing is downloaded.
        """
        if params.output_device:
            return self._finish_on_device(params, psr)
        y0, y1, x0, x1 = self.window
        whole = (y0, x0) == (0, 0) and (y1, x1) == self.driz.out_shape

        def cut(a):
            return a if whole else a[..., y0:y1, x0:x1].copy()

        driz = self.driz
        out = {"data": cut(driz.out_img), "wht": cut(driz.out_wht)}
        if params.enable_ctx:
            out["con"] = cut(driz.out_ctx)
        if params.propagate_dq:
            out["dq"] = cut(driz.out_dq) if driz.out_dq is not None else self.small((y1 - y0, x1 - x0), np.uint32, 0)
        if self.err_driz is not None:
            err = cut(self.err_driz.out_img)
            # drizzle re-applies the fill to zero-weight pixels after every
            # image; pre-filling + "INDEF" differs only where the weight ends
            # at exactly 0, so apply the fill there once at the end
            err[cut(self.err_driz.out_wht) == 0] = np.float32(float(params.fillval))
            out["err"] = (err / np.float32(1.0 if psr is None else psr)).astype(np.float32)
        out.update(self._finish_variances(params, psr, self.backend.to_host))
        return out

    def _finish_variances(self, params, psr, put):
        """``err`` (from the variances) and the ``var_*`` arrays, each passed through ``put``."""
        out = {}
        if self.var_acc is not None:
            covered = self.var_acc.covered
            variances = self.var_acc.finalize(psr)
            xp = self.var_acc.xp
            if params.enable_err and params.err_from == "var":
                out["err"] = put(error_from_variances(variances, self.var_acc.alloc, covered, xp=xp))
            if params.report_var:
                out.update({n: put(v) for n, v in variances.items()})
        return out

    def _finish_on_device(self, params, psr):
        """:meth:`finish` on the device (``resample(output="device")``; the whole grid, no window)."""
        xp = self.backend.xp
        dev = self.driz.device_outputs()
        out = {"data": dev["img"], "wht": dev["wht"]}
        if params.enable_ctx:
            out["con"] = dev["ctx"]
        if params.propagate_dq:
            out["dq"] = dev["dq"] if dev["dq"] is not None else xp.zeros(dev["wht"].shape, np.uint32)
        if self.err_driz is not None:
            err_dev = self.err_driz.device_outputs()
            # as finish(): the fill where the weight ended at 0, then the division by the ratio
            err = xp.where(err_dev["wht"] == 0, np.float32(float(params.fillval)), err_dev["img"])
            out["err"] = (err / np.float32(1.0 if psr is None else psr)).astype(np.float32)
        out.update(self._finish_variances(params, psr, lambda a: a))
        return out


def _variance_helper(load, n_inputs, prepare, params, psr, workers, same_pass):
    """A forked helper drizzling the flat and Poisson variances of exposure k+1 meanwhile (CPU backend)."""
    if not params.enable_var or same_pass or workers < 2 or n_inputs < 2:
        return None

    def compute(k, img, names):
        ex = prepare(k, img)  # the same code and inputs as the main process: bitwise its boxes
        return ex.variance_boxes(params, psr, names) if ex.active else {}

    return VarianceHelper(n_inputs, load, compute, ("var_poisson", "var_flat"))


def _geometry_prefetch(sources, grid, params, psr, n_inputs, workers):
    """Helper processes preparing the exposures' geometry ahead (kernel backends, sparse maps), or None."""
    if sources is None or workers < 2 or n_inputs < MIN_EXPOSURES or params.pixmap_stepsize == 1:
        return None
    if not (get_backend(params.backend).prepares_inputs and can_fork()):
        return None
    return GeometryPrefetch(sources, grid, params, psr, workers)


def _close(helpers, abort=False):
    for h in helpers:
        if h is not None:
            h.close(abort=abort)


def drizzle_exposures(load, n_inputs, grid, params, psr, *, window=None, select=None, alloc=None,
                      progress=None, workers=1, sources=None):
    """Drizzle exposures ``load(0) .. load(n_inputs - 1)`` onto ``grid``.

    Parameters
    ----------
    load : callable
        ``load(k)`` -> exposure k as a loaded :class:`gpuresample.Image` (a
        file input is read only then, so one exposure is in memory at a time).
    n_inputs : int
        Inputs of the product: context bit ``k`` is input ``k`` (skipped
        inputs consume their bit).
    grid : OutputGrid
    params : DrizzleParams
    psr : float
        Pixel scale ratio (output / input).
    window : tuple, optional
        ``(y0, y1, x0, x1)`` of the outputs to keep (a tile); default the
        whole grid.  The canvas stays the whole grid (drizzle clips the
        footprints against it), but only the window's pages are touched.
    select : dict, optional
        ``{k: reach}``: only these exposures, with their weights masked to the
        input pixels within ``reach`` output pixels of the window (a tile).
        Default: every exposure, unmasked.
    alloc : callable, optional
        ``alloc(shape, dtype, fill)`` for the whole-grid arrays (RAM or
        scratch memory maps); ignored with a window.
    progress : callable, optional
        ``progress(k, image, seconds)`` after each exposure loaded.
    workers : int
        With ``>= 2``, on the CPU backend a forked helper drizzles the flat
        and Poisson variances of the next exposure meanwhile; on a kernel
        backend ``workers`` spawned helpers prepare the geometry of the
        coming exposures (:mod:`gpuresample.prefetch`, forked; needs ``sources``,
        untiled, at least :data:`~gpuresample.prefetch.MIN_EXPOSURES`).
        The results do not depend on it.
    sources : list, optional
        ``(wcs, shape)`` of every exposure, known before it is loaded (what
        the geometry helpers need).

    Returns
    -------
    LoopResult
    """
    alloc = alloc or ram_zeros
    same_pass = params.enable_var and get_backend(params.backend).same_pass_linear

    prefetch = None if select is not None else _geometry_prefetch(sources, grid, params, psr, n_inputs, workers)

    def prepare(k, img):
        if select is None:
            return PreparedExposure(img, grid, params, psr, geometry=None if prefetch is None else prefetch.get(k))
        return PreparedExposure(img, grid, params, psr, region=window, reach=select[k], box_variances=not same_pass)

    acc = ProductAccumulators(grid, params, n_inputs, window, alloc, same_pass)
    helper = _variance_helper(load, n_inputs, prepare, params, psr, workers, same_pass)
    result = LoopResult(arrays={})
    try:
        for k in range(n_inputs):
            if select is not None and k not in select:
                acc.driz.skip_context_id()  # does not reach the window: keeps bit k == input k
                continue
            t0 = time.perf_counter()
            img = load(k)
            row = input_row(k, img)
            result.rows.append(row)
            result.groups.setdefault(img.group_id, row)
            ex = prepare(k, img)
            if not ex.active:
                if select is None:  # a tile run's planning pass reports it once
                    log.warning("%s: no pixel maps onto the output grid; skipped", img.filename)
                acc.driz.skip_context_id()
                if helper is not None:
                    helper.result(k)
            else:
                acc.add(ex, params, psr, helper, k)
                if result.bunit is None:
                    result.bunit = img.bunit_data
            if progress is not None:
                progress(k, img, time.perf_counter() - t0)
            del ex, img
    except BaseException:
        _close((helper, prefetch), abort=True)  # an error or Ctrl-C: do not wait on the helpers
        raise
    _close((helper, prefetch))
    result.arrays = acc.finish(params, psr)
    return result
