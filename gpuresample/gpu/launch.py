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

    def _up(self, a, dtype, readonly=False):
        """``a`` on the device (None stays None); see :meth:`Device.upload` for device arrays."""
        return None if a is None else self.dev.upload(a, dtype, readonly)

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

    def _extra_inputs(self, state, step, n_out, lin):
        """The data2 stack and the (prepared) linear stack on the device, with their scratch sums."""
        ny, nx = step.data.shape
        # data2: a stack of the squared-weight inputs, scaled by iscale**2 in
        # float as drizzle does (a None entry contributes zeros, as in drizzle)
        n2 = 0 if step.data2 is None else len(step.data2)
        data2 = sum_w2d2 = None
        if n2:
            iscale2 = np.float32(np.float32(step.iscale) * np.float32(step.iscale))
            if any(is_device_array(a) for a in step.data2):
                # the caller's device arrays: the stack is made on the device
                data2 = self.dev.zeros((n2, ny, nx), np.float32)
                for m, a in enumerate(step.data2):
                    if a is not None:
                        data2[m] = self._up(a, np.float32, readonly=True) * iscale2
            else:
                stack = np.zeros((n2, ny, nx), np.float32)
                for m, a in enumerate(step.data2):
                    if a is not None:
                        stack[m] = a * iscale2
                data2 = self._up(stack, np.float32)
            sum_w2d2 = state.scratch("sum_w2d2", n2 * n_out, np.float64)
        # "linear" arrays: co-added with the data's weights in the same pass
        # (jwst's sqrt(variance) arrays); their per-image means are returned
        nlin = len(step.linear or [])
        sum_wlin = state.scratch("sum_wlin", nlin * n_out, np.float64) if nlin else None
        return (data2, np.int64(n2), sum_w2d2, lin, np.int64(nlin), sum_wlin)

    def _prepare(self, state, step, pixmap, ctx_mode):
        """``(data, weight, dq, lin)`` on the device, prepared there by ``prepare_inputs``.

        Each array crosses the bus once, as float32 (uint32 DQ): the data,
        the arrays of ``step.weight_rule`` (its variance only when it is not
        also one of the ``linear`` arrays, its DQ only when it is not also
        the propagated one) or the caller's weight map, and the ``linear``
        arrays, whose square roots are taken on the device with
        ``linear_sqrt``.  A rule the device cannot reproduce bitwise
        (float64 variance, signed DQ: ``WeightRule.device_ready``) is
        evaluated on the host and uploaded as weights.
        """
        dev = self.dev
        ny, nx = step.data.shape
        n = ny * nx
        rule = step.weight_rule
        given = step.weights
        if rule is not None and not rule.device_ready:
            pixmap_host = step.pixmap.materialize() if hasattr(step.pixmap, "materialize") else step.pixmap
            given, rule = rule.on_host().host_weights(pixmap_host if rule.region is not None else None), None
        data = self._up(step.data, np.float32)
        dq = self._up(step.dq, np.uint32, readonly=True)
        linear = step.linear or []
        lin = state.scratch("lin", len(linear) * n, np.float32, clear=False) if linear else None
        for m, a in enumerate(linear):
            dev.upload_into(a, lin[m * n : (m + 1) * n])
        var = mask_dq = None
        bad_bits = 0
        if rule is not None:
            kind, value = (2 if rule.var is not None else 1), rule.value
            weight = state.scratch("weight", n, np.float32, clear=False)
            if rule.var is not None:
                m = step.weight_var_index
                var = lin[m * n : (m + 1) * n] if m is not None else self._up(rule.var, np.float32, readonly=True)
            if rule.bad_bits is not None:
                bad_bits = rule.bad_bits
                mask_dq = dq if step.weight_dq_is_dq else self._up(rule.dq, np.uint32, readonly=True)
        elif given is not None:
            kind, value, weight = 0, 1.0, self._up(given, np.float32)
        else:  # drizzle's default: weight 1
            kind, value, weight = 1, 1.0, state.scratch("weight", n, np.float32, clear=False)
        region = rule.region if rule is not None and rule.region is not None else None
        args = (np.int64(n), data, weight, np.int32(kind), np.float32(value), var, mask_dq, np.uint32(bad_bits),
                pixmap, np.int32(region is not None), *(np.float64(v) for v in (region or (0, 0, 0, 0))),
                lin, np.int64(len(linear)), np.int32(bool(step.linear_sqrt)), ctx_mode)
        dev.launch("prepare_inputs", grid_size(n), BLOCK, args)
        return data, weight, dq, lin

    def _pixmap(self, state, step):
        """The pixel map on the device: expanded there from ``step.pixmap_model`` when the step has
        one (a few kB cross the bus), else uploaded (16 bytes per input pixel)."""
        model = getattr(step, "pixmap_model", None)
        on_device = getattr(step.pixmap, "device_array", None)  # a caller's map on the device (DevicePixmap)
        if on_device is not None:
            return on_device
        if model is None:
            return self._up(step.pixmap, np.float64, readonly=True)
        ny, nx = model.shape
        out = state.scratch("pixmap", ny * nx * 2, np.float64, clear=False)
        up = self._up
        box = model.out_box or (0.0, 0.0, 0.0, 0.0)
        args = (up(model.by, np.float64), up(model.sy, np.int64), np.int64(ny),
                up(model.bx, np.float64), up(model.sx, np.int64), np.int64(nx),
                up(model.cx, np.float64), up(model.cy, np.float64), np.int64(model.cx.shape[1]),
                np.int64(model.k + 1), up(model.row_ok, np.uint8), up(model.col_ok, np.uint8),
                np.int32(model.out_box is not None), *(np.float64(v) for v in box),
                np.float64(model.offset[0]), np.float64(model.offset[1]), out)
        self.dev.launch("expand_pixmap", grid_size(ny * nx), BLOCK, args)
        return out

    def add_image(self, state, step):
        """Accumulate ``step`` into the device-resident outputs ``state``; return (nmiss, nskip).

        ``state`` has ``out_shape`` (the whole grid, ``(ny, nx)``), ``window``
        (``(y0, y1, x0, x1)``, half-open) and window-sized, C-contiguous
        device arrays ``out_img``, ``out_wht``, ``out_dq``, ``out_img2`` and
        ``out_ctx`` (``(nplanes, win_ny, win_nx)``), plus ``scratch(name, n,
        dtype)`` for the per-image sums; ``state.last_linear`` is set to the
        per-image means of ``step.linear`` (device arrays).
        """
        if step.kernel not in self.KERNELS:
            raise ValueError(f"kernel {step.kernel!r} is not ported to the GPU kernels yet")
        xp, dev = self.xp, self.dev
        ny, nx = step.data.shape
        ny_out, nx_out = state.out_shape
        wy0, wy1, wx0, wx1 = state.window
        wny, wnx = wy1 - wy0, wx1 - wx0
        n_out = wny * wnx
        nlin = len(getattr(step, "linear", None) or [])
        state.last_linear = None
        if step.kernel != "tophat":
            lim = step.row_limits  # the front end's scan (pixmap_checks.scan_limits)
            if lim is None:
                lim = row_limits(step.pixmap, state.out_shape, step.xmin, step.xmax, step.ymin, step.ymax)
            if not lim.visited:
                # drizzle processes nothing and reports nothing; the linear
                # means are those of an empty drizzle (fill NaN)
                if nlin:
                    state.last_linear = [dev.full((wny, wnx), np.nan, np.float32) for _ in range(nlin)]
                return 0, 0
        pixmap = self._pixmap(state, step)
        # who sets the context bits (drizzle_common.cuh): 1 = each contribution; prepare_inputs
        # turns a 0 into 1 when it meets a negative weight (a device-side flag: no host sync)
        ctx_mode = state.scratch("ctx_mode", 1, np.uint32, clear=False)
        dev.fill(ctx_mode, 0 if step.kernel in SIGN_PRESERVING else 1)
        data, weight, dq, lin = self._prepare(state, step, pixmap, ctx_mode)
        sum_wd = state.scratch("sum_wd", n_out, np.float64)
        sum_w = state.scratch("sum_w", n_out, np.float64)
        dq_acc = state.scratch("dq_acc", n_out, np.uint32) if dq is not None else None
        nmiss = state.scratch("nmiss", 1, np.uint64)
        extra = self._extra_inputs(state, step, n_out, lin)
        n2 = int(extra[1])
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
            rows = (self._up(lim.x1, np.int64), self._up(lim.x2, np.int64))
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
        del pixmap, data, weight, lin
        if nlin:
            # per-image weighted means (NaN where this image gave no weight), as a
            # fresh drizzle with fill NaN would produce them; on the device
            sum_wlin = extra[5]
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
            sum_w2d2 = extra[2]
            for m, out2 in enumerate(state.out_img2):
                args = (sum_w2d2[m * n_out : (m + 1) * n_out], sum_w, np.int64(n_out), state.out_wht.reshape(-1),
                        out2.reshape(-1), np.int32(do_fill2), fill2)
                dev.launch("merge_image2", grid_size(n_out), BLOCK, args)
        out_dq = state.out_dq if dq is not None else None
        args = (sum_wd, sum_w, np.int64(n_out), state.out_img.reshape(-1), state.out_wht.reshape(-1),
                dq_acc, None if out_dq is None else out_dq.reshape(-1), np.int32(do_fill), fill,
                None if ctx is None else ctx.reshape(-1), bit, ctx_mode)
        dev.launch("merge_image", grid_size(n_out), BLOCK, args)
        return int(dev.download(nmiss)[0]) + extra_miss, nskip
