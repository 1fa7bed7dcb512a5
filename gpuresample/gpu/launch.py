"""Launch code shared by the CUDA backend and the host emulator.

Everything that decides *how* a kernel is launched lives here — grid sizes,
argument packing with exact C types, dtype casts, the host-side scan limits,
the merge into the running outputs — and works with an array module ``xp``
(numpy for the emulator, cupy on a GPU) and a kernel module with
``launch(name, grid, block, args)``.  The emulator therefore exercises the
launch path the GPU uses.

The outputs the launch code reads and writes (``driz.out_img`` ...) are the
*window* of the grid that the caller keeps (``driz.window``, the whole grid
unless a tiled run drizzles one tile): the kernels still clip footprints
against the whole grid ``driz.out_shape`` and count drizzle's misses there,
but they keep sums for the window's pixels only, so device memory scales
with the tile, not with the mosaic.
"""

from __future__ import annotations

import math

import numpy as np

from ..scanner import row_limits
from .device import is_device_array
from .streams import PendingCounts

__all__ = ["BLOCK", "LANCZOS_LUT_STEP", "GpuDrizzleKernels", "grid_size", "lanczos_lut"]

#: Spacing (input pixels) of the Lanczos lookup table, as drizzle's.
LANCZOS_LUT_STEP = 0.003


def lanczos_lut(order, step=LANCZOS_LUT_STEP):
    """sinc(x) sinc(x / order) sampled every ``step`` up to ``order`` (drizzle's table)."""
    n = math.ceil(order / step) + 1
    x = np.arange(n, dtype=np.float64) * step
    lut = np.zeros(n)
    lut[0] = 1.0
    inside = (x <= order) & (x > 0)
    poff = np.pi * x[inside]
    r = poff / order
    lut[inside] = np.sin(poff) * np.sin(r) / (poff * r)
    return lut

#: Kernels whose contribution weights carry the input weight's sign (a positive
#: factor times it): with no negative input weight their context bits are set by
#: merge_image where the image's sum of weights is > 0, not per contribution.
#: Not square (a folded pixel map gives signed overlap areas) nor lanczos (lobes).
SIGN_PRESERVING = ("point", "turbo", "gaussian", "tophat")

#: Threads per block (1-D grid-stride kernels).
BLOCK = 256
_MAX_BLOCKS = 1 << 15


def grid_size(n, block=BLOCK):
    """Blocks for ``n`` work items: enough to cover them, capped (the loops are grid-stride)."""
    return max(1, min(math.ceil(n / block), _MAX_BLOCKS))


class GpuDrizzleKernels:
    """Run one ``add_image`` of a :class:`gpuresample.Drizzle` through the kernels.

    ``dev`` is the :class:`gpuresample.gpu.device.Device` (array module,
    counted transfers and launches, the loaded kernels).
    """

    KERNELS = ("point", "square", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat")

    def __init__(self, dev):
        self.dev = dev
        self.xp = dev.xp

    @property
    def module(self):
        """The loaded kernels (``launch(name, grid, block, args)``)."""
        return self.dev.module

    def _shape_args(self, step):
        """Kernel-size arguments, computed as drizzle does (its pscale_ratio is a float).

        ``step.pscale_ratio`` is a number here: :class:`gpuresample.Drizzle`
        replaces None by drizzle's estimate before any backend runs.
        """
        if step.pscale_ratio is None:
            raise ValueError("pscale_ratio is None: estimate it first "
                             "(gpuresample.drizzle_validate.estimate_pixel_scale_ratio)")
        psr = float(np.float32(step.pscale_ratio))
        pf = step.pixfrac
        if step.kernel == "turbo":
            return np.float64(pf / psr / 2.0), np.float64(1.0 / (pf * pf) * psr * psr)
        if step.kernel == "gaussian":
            pfo = 2.5 * pf / 2.3548 / psr
            pfo = max(pfo, 1.2 / psr)
            efac = (2.3548 * 2.3548) * (psr * psr) * (1.0 / (pf * pf)) / 2.0
            return np.float64(pfo), np.float64(efac), np.float64(efac / math.pi)
        order = 2 if step.kernel == "lanczos2" else 3
        lut = self.dev.constant(("lanczos", order), lambda: lanczos_lut(order), np.float64)
        return np.float64(order / psr), np.float64(psr / LANCZOS_LUT_STEP), lut, np.int64(lut.size)

    def _put(self, name, a, dtype, readonly=True):
        """Host array ``a`` staged in the image's slot (:mod:`.streams`); a device array used where it
        is (copied on the device unless ``readonly``); None stays None."""
        if a is None:
            return None
        if is_device_array(a):
            return self.dev.upload(a, dtype, readonly)
        return self.dev.staging.put(name, a, dtype)

    def _put_stack(self, name, arrays, dtype, n):
        """``arrays`` (each ``n`` elements) one after another in one device buffer (written by the kernels)."""
        if not any(is_device_array(a) for a in arrays):
            return self.dev.staging.put_stack(name, arrays, dtype, n)
        out = self.dev.zeros(len(arrays) * n, dtype)  # device arrays among them: stacked on the device
        for m, a in enumerate(arrays):
            if a is not None:
                self.dev.upload_into(a, out[m * n : (m + 1) * n])
        return out

    def _stage(self, step, lim):
        """Every input of the image on the device, the host's staged in one slot (one copy each, on the
        copy stream); ``{name: device array}``.

        Each array crosses the bus once, as float32 (uint32 DQ): the data,
        the arrays of ``step.weight_rule`` (its variance only when it is not
        also one of the ``linear`` arrays, its DQ only when it is not also
        the propagated one) or the caller's weight map, the ``linear``
        arrays, the ``data2`` stack, drizzle's scan rows and the pixel map's
        model (a few kB) or the map (16 bytes per input pixel).  A rule the
        device cannot reproduce bitwise (float64 variance, signed DQ:
        ``WeightRule.device_ready``) is evaluated on the host and staged as
        weights.
        """
        ny, nx = step.data.shape
        n = ny * nx
        put = self._put
        staged = {"rule": step.weight_rule, "given": step.weights}
        rule = staged["rule"]
        if rule is not None and not rule.device_ready:
            pixmap_host = step.pixmap.materialize() if hasattr(step.pixmap, "materialize") else step.pixmap
            staged["given"] = rule.on_host().host_weights(pixmap_host if rule.region is not None else None)
            staged["rule"] = rule = None
        model = getattr(step, "pixmap_model", None)
        on_device = getattr(step.pixmap, "device_array", None)  # a caller's map on the device (DevicePixmap)
        if on_device is not None:
            staged["pixmap"] = on_device
        elif model is None:
            staged["pixmap"] = put("pixmap", step.pixmap, np.float64)
        else:
            staged["model"] = {k: put(f"model {k}", getattr(model, k), dt) for k, dt in (
                ("by", np.float64), ("sy", np.int64), ("bx", np.float64), ("sx", np.int64), ("cx", np.float64),
                ("cy", np.float64), ("row_ok", np.uint8), ("col_ok", np.uint8))}
        staged["data"] = put("data", step.data, np.float32, readonly=False)  # prepare_inputs writes it
        staged["dq"] = put("dq", step.dq, np.uint32)
        linear = step.linear or []
        staged["lin"] = self._put_stack("lin", linear, np.float32, n) if linear else None
        if rule is not None:
            if rule.var is not None and step.weight_var_index is None:
                staged["var"] = put("var", rule.var, np.float32)
            if rule.bad_bits is not None and not step.weight_dq_is_dq:
                staged["mask_dq"] = put("mask dq", rule.dq, np.uint32)
        elif staged["given"] is not None:
            staged["weight"] = put("weight", staged["given"], np.float32, readonly=False)
        if step.data2:
            iscale2 = np.float32(np.float32(step.iscale) * np.float32(step.iscale))
            # a stack of the squared-weight inputs, scaled by iscale**2 in float as drizzle
            # does (a None entry contributes zeros, as in drizzle); on the device for device arrays
            scaled = [None if a is None else a * iscale2 for a in step.data2]
            staged["data2"] = self._put_stack("data2", scaled, np.float32, n)
        if lim is not None:
            staged["rows"] = (put("x1", lim.x1, np.int64), put("x2", lim.x2, np.int64))
        return staged

    def _prepare(self, state, step, staged, pixmap, ctx_mode):
        """``(data, weight, dq, lin)`` on the device, prepared there by ``prepare_inputs``: the weights
        of ``staged["rule"]`` (or the caller's), drizzle's non-finite rule, ``sqrt`` of the ``linear``
        arrays with ``linear_sqrt``."""
        ny, nx = step.data.shape
        n = ny * nx
        rule = staged["rule"]
        data, dq, lin = staged["data"], staged["dq"], staged["lin"]
        var = mask_dq = None
        bad_bits = 0
        if rule is not None:
            kind, value = (2 if rule.var is not None else 1), rule.value
            weight = state.scratch("weight", n, np.float32, clear=False)
            if rule.var is not None:
                m = step.weight_var_index
                var = lin[m * n : (m + 1) * n] if m is not None else staged["var"]
            if rule.bad_bits is not None:
                bad_bits = rule.bad_bits
                mask_dq = dq if step.weight_dq_is_dq else staged["mask_dq"]
        elif staged["given"] is not None:
            kind, value, weight = 0, 1.0, staged["weight"]
        else:  # drizzle's default: weight 1
            kind, value, weight = 1, 1.0, state.scratch("weight", n, np.float32, clear=False)
        region = rule.region if rule is not None and rule.region is not None else None
        nlin = len(step.linear or [])
        args = (np.int64(n), data, weight, np.int32(kind), np.float32(value), var, mask_dq, np.uint32(bad_bits),
                pixmap, np.int32(region is not None), *(np.float64(v) for v in (region or (0, 0, 0, 0))),
                lin, np.int64(nlin), np.int32(bool(step.linear_sqrt)), ctx_mode)
        self.dev.launch("prepare_inputs", grid_size(n), BLOCK, args)
        return data, weight, dq, lin

    def _pixmap(self, state, step, staged):
        """The pixel map on the device: expanded there from the staged model when the step has one
        (a few kB crossed the bus), else the staged (or the caller's device) map."""
        if "model" not in staged:
            return staged["pixmap"]
        model, parts = step.pixmap_model, staged["model"]
        ny, nx = model.shape
        out = state.scratch("pixmap", ny * nx * 2, np.float64, clear=False)
        box = model.out_box or (0.0, 0.0, 0.0, 0.0)
        args = (parts["by"], parts["sy"], np.int64(ny), parts["bx"], parts["sx"], np.int64(nx),
                parts["cx"], parts["cy"], np.int64(model.cx.shape[1]), np.int64(model.k + 1),
                parts["row_ok"], parts["col_ok"], np.int32(model.out_box is not None), *(np.float64(v) for v in box),
                np.float64(model.offset[0]), np.float64(model.offset[1]), out)
        self.dev.launch("expand_pixmap", grid_size(ny * nx), BLOCK, args)
        return out

    def add_image(self, state, step):
        """Accumulate ``step`` into the device-resident outputs ``state``; return its
        :class:`~gpuresample.gpu.streams.PendingCounts` (drizzle's ``(nmiss, nskip)``, read later).

        ``state`` has ``out_shape`` (the whole grid, ``(ny, nx)``), ``window``
        (``(y0, y1, x0, x1)``, half-open) and window-sized, C-contiguous
        device arrays ``out_img``, ``out_wht``, ``out_dq``, ``out_img2`` and
        ``out_ctx`` (``(nplanes, win_ny, win_nx)``), plus ``scratch(name, n,
        dtype)`` for the per-image sums; ``state.last_linear`` is set to the
        per-image means of ``step.linear`` (device arrays).
        """
        if step.kernel not in self.KERNELS:
            raise ValueError(f"kernel {step.kernel!r} is not ported to the GPU kernels yet")
        dev = self.dev
        wy0, wy1, wx0, wx1 = state.window
        nlin = len(getattr(step, "linear", None) or [])
        state.last_linear = None
        lim = None
        if step.kernel != "tophat":
            lim = step.row_limits  # the front end's scan (pixmap_checks.scan_limits)
            if lim is None:
                lim = row_limits(step.pixmap, state.out_shape, step.xmin, step.xmax, step.ymin, step.ymax)
            if not lim.visited:
                # drizzle processes nothing and reports nothing; the linear
                # means are those of an empty drizzle (fill NaN)
                if nlin:
                    state.last_linear = [dev.full((wy1 - wy0, wx1 - wx0), np.nan, np.float32) for _ in range(nlin)]
                return PendingCounts.ready(0, 0)
        dev.staging.begin()
        try:
            staged = self._stage(step, lim)
            dev.staging.ready()
            return self._launch(state, step, staged, lim)
        except BaseException:
            dev.staging.abort()
            raise

    def _launch(self, state, step, staged, lim):
        """The image's launches (expand, prepare, scatter, merges) on the compute stream."""
        xp, dev = self.xp, self.dev
        ny, nx = step.data.shape
        ny_out, nx_out = state.out_shape
        wy0, wy1, wx0, wx1 = state.window
        wny, wnx = wy1 - wy0, wx1 - wx0
        n_out = wny * wnx
        nlin = len(getattr(step, "linear", None) or [])
        pixmap = self._pixmap(state, step, staged)
        # who sets the context bits (drizzle_common.cuh): 1 = each contribution; prepare_inputs
        # turns a 0 into 1 when it meets a negative weight (a device-side flag: no host sync)
        ctx_mode = state.scratch("ctx_mode", 1, np.uint32, clear=False)
        dev.fill(ctx_mode, 0 if step.kernel in SIGN_PRESERVING else 1)
        data, weight, dq, lin = self._prepare(state, step, staged, pixmap, ctx_mode)
        sum_wd = state.scratch("sum_wd", n_out, np.float64)
        sum_w = state.scratch("sum_w", n_out, np.float64)
        dq_acc = state.scratch("dq_acc", n_out, np.uint32) if dq is not None else None
        nmiss = state.scratch("nmiss", 1, np.uint64)
        n2 = 0 if step.data2 is None else len(step.data2)
        sum_w2d2 = state.scratch("sum_w2d2", n2 * n_out, np.float64) if n2 else None
        # "linear" arrays: co-added with the data's weights in the same pass
        # (jwst's sqrt(variance) arrays); their per-image means are returned
        sum_wlin = state.scratch("sum_wlin", nlin * n_out, np.float64) if nlin else None
        extra = (staged.get("data2"), np.int64(n2), sum_w2d2, lin, np.int64(nlin), sum_wlin)
        ctx = None if step.ctx_plane is None else state.out_ctx[step.ctx_plane]
        bit = np.int32(0) if step.ctx_bit is None else np.uint32(1 << step.ctx_bit).view(np.int32)
        # drizzle keeps iscale as float and divides it by the (float) exposure time
        iscale = np.float32(step.iscale)
        if step.in_units != "cps":
            iscale = np.float32(iscale / np.float32(step.expscale))
        common_out = (np.int64(nx), np.int64(ny), np.int64(nx_out), np.int64(ny_out),
                      np.int64(wx0), np.int64(wy0), np.int64(wnx), np.int64(wny), iscale, np.float32(step.wht_scale))
        nskip = 0
        extra_miss = 0
        n_in = nx * ny
        outs = (sum_wd, sum_w, ctx, bit, ctx_mode, dq_acc, *extra, nmiss)
        if step.kernel != "tophat":
            nskip, extra_miss = lim.nskip, lim.nmiss_base
            rows = staged["rows"]
            if step.kernel == "point":
                args = (pixmap, data, weight, dq, *rows, *common_out, *outs)
            elif step.kernel == "square":
                args = (pixmap, data, weight, dq, *rows, *common_out, np.float64(step.pixfrac), *outs)
            else:
                args = (pixmap, data, weight, dq, *rows, *common_out, *self._shape_args(step), *outs)
            name = "drizzle_lanczos" if step.kernel.startswith("lanczos") else f"drizzle_{step.kernel}"
            dev.launch(name, grid_size(n_in), BLOCK, args)
        else:
            pfo = np.float64(step.pixfrac / step.pscale_ratio / 2.0)
            box = (np.int64(step.xmin), np.int64(step.xmax), np.int64(step.ymin), np.int64(step.ymax))
            dev.launch("drizzle_tophat", grid_size(n_in), BLOCK, (pixmap, data, weight, dq, *box, *common_out, pfo,
                                                                    *outs))
        del pixmap, data, weight, lin, staged
        if nlin:
            # per-image weighted means (NaN where this image gave no weight), as a
            # fresh drizzle with fill NaN would produce them; on the device
            sw = sum_w.reshape(wny, wnx)
            with np.errstate(invalid="ignore", divide="ignore"):  # numpy (emulator) warns for 0/0
                state.last_linear = [
                    dev.mark(xp.where(sw != 0, sum_wlin[m * n_out : (m + 1) * n_out].reshape(wny, wnx) / sw,
                                      np.nan).astype(np.float32)) for m in range(nlin)
                ]
        do_fill = step.fillval != "INDEF"
        fill = np.float32(float(step.fillval)) if do_fill else np.float32(0)
        if n2:
            do_fill2 = do_fill and step.fillval2 != "INDEF"
            fill2 = np.float32(float(step.fillval2)) if do_fill2 else np.float32(0)
            for m, out2 in enumerate(state.out_img2):
                args = (sum_w2d2[m * n_out : (m + 1) * n_out], sum_w, np.int64(n_out), state.out_wht.reshape(-1),
                        out2.reshape(-1), np.int32(do_fill2), fill2)
                dev.launch("merge_image2", grid_size(n_out), BLOCK, args)
        out_dq = state.out_dq if dq is not None else None
        args = (sum_wd, sum_w, np.int64(n_out), state.out_img.reshape(-1), state.out_wht.reshape(-1),
                dq_acc, None if out_dq is None else out_dq.reshape(-1), np.int32(do_fill), fill,
                None if ctx is None else ctx.reshape(-1), bit, ctx_mode)
        dev.launch("merge_image", grid_size(n_out), BLOCK, args)
        return dev.staging.counts(nmiss, extra_miss, nskip)
