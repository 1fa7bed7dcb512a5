"""`Drizzle`: a drop-in replacement of ``drizzle.resample.Drizzle`` with backends.

The class owns the output arrays and all bookkeeping (context planes, exposure
time, fill values) and validates every argument *before* any state changes
(:mod:`gpuresample.drizzle_args`, :mod:`gpuresample.drizzle_validate`); the
backend (:mod:`gpuresample.backends`) only computes.

Pixel conventions (the same as drizzle's)
-----------------------------------------
* Arrays are numpy ``(ny, nx)``; ``out_shape`` is ``(ny, nx)``.
* ``pixmap[j, i] = (x, y)`` is the 0-based position of the *centre* of input
  pixel ``(i, j)`` in the output frame; output pixel ``k`` spans
  ``[k - 0.5, k + 0.5]``.
* ``xmin, xmax, ymin, ymax`` are 0-based, inclusive input-pixel limits.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from .allocation import ram_zeros
from .backends import get_backend
from .drizzle_args import check_outputs, check_window, context_ids, fill_number, initial_exptime, process_fillval
from .drizzle_outputs import DrizzleOutputs
from .drizzle_validate import POINT_KERNEL_PIXFRAC as POINT_KERNEL_PIXFRAC  # re-exported
from .drizzle_validate import DrizzleStep, validate_add_image
from .errors import DeviceOutOfMemoryError, NonConservingKernelWarning
from .gpu.device import is_device_array
from .gpu.streams import PendingCounts
from .kernel_info import FLUX_CONSERVING_KERNELS, normalize_kernel
from .pixmap_checks import check_pixmap_model, model_pixmap
from .step_inputs import extend_step, host_inputs

__all__ = ["CTX_PLANE_BITS", "Drizzle", "DrizzleStep"]

log = logging.getLogger("gpuresample")

#: Number of inputs one int32 context plane records.
CTX_PLANE_BITS = 32

_DEPRECATED_ARG = object()


class Drizzle(DrizzleOutputs):
    """Resample and co-add images onto one output grid (the drizzle algorithm).

    Same constructor, ``add_image`` signature and properties as
    ``drizzle.resample.Drizzle`` (drizzle 2.2 / 3.0), plus ``backend`` and the
    ``"tophat"`` kernel.  See ``drizzle.resample.Drizzle`` for the meaning of
    each output; differences on purpose:

    * All arguments are validated before any state changes: a failing
      ``add_image`` leaves the context ID, exposure time and outputs as they
      were (drizzle advances the context ID before raising).
    * Input pixels whose data or weight is not finite get weight 0 (drizzle
      lets a NaN with positive weight poison the output pixel; jwst avoids it
      by flagging such pixels DO_NOT_USE before resampling).
    * ``pixfrac`` must lie in (0, 1]; at or below 0.001 the point kernel is
      used, with a warning (as drizzle does).
    * With no output shape given anywhere, the shape inferred from the pixel
      map is ``(ny, nx)`` (drizzle 3.0 builds ``(nx, ny)``).

    Parameters
    ----------
    kernel : {"square", "point", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat"}
        Kernel distributing each input pixel's flux.  gaussian, lanczos2/3 and
        tophat do not conserve flux (a warning is issued on every add).
    fillval, fillval2 : float, str or None
        Value of output pixels with zero weight in ``out_img`` / ``out_img2``:
        ``"INDEF"``/None leaves caller-supplied arrays untouched (NaN when we
        allocate), ``"NaN"`` or a number sets them after every ``add_image``.
    out_shape : tuple of int, optional
        ``(ny, nx)`` of the output.
    out_img, out_wht, out_ctx, out_img2, out_dq : array, optional
        Pre-allocated outputs (float32, float32, int32 2-D or 3-D, float32 or
        list, uint32).  Used in place when the dtype already matches.  None
        entries of an ``out_img2`` list are allocated (filled with
        ``fillval2``) once the output shape is known, as drizzle does.
    exptime : float
        Exposure time already contained in supplied outputs.
    begin_ctx_id, max_ctx_id : int
        0-based context ID of the first image added, and the largest expected
        ID (pre-allocates context planes; more planes are added as needed).
    disable_ctx : bool
        Do not keep a context image.
    allocator : callable, optional
        ``allocator(shape, dtype, fill)`` for the output arrays the object
        creates itself (default: numpy in RAM); gpuresample uses it for
        memory-mapped scratch outputs.
    backend : {"auto", "cpu", "cuda", "emulator"}
        Where the computation runs (see ``gpuresample.backends``).
        ``"auto"`` honours the ``GPURESAMPLE_BACKEND`` environment variable,
        else uses CUDA when it can run and the CPU otherwise, logging why.
    window : tuple of int, optional
        ``(y0, y1, x0, x1)``: the half-open, 0-based region of the outputs the
        caller will read (gpuresample extension, default the whole grid).  The
        kernel backends stage and accumulate only this region (device memory
        then scales with the window) and leave the outputs outside it as they
        are; the CPU backend (drizzle's C code) still computes the whole grid.
        Inside the window the outputs are those of the whole-grid run: the
        footprints are clipped against the whole grid either way.  Needs the
        output shape at construction.
    """

    def __init__(
        self,
        kernel="square",
        fillval=None,
        fillval2=None,
        out_shape=None,
        out_img=None,
        out_wht=None,
        out_ctx=None,
        out_img2=None,
        out_dq=None,
        exptime=0.0,
        begin_ctx_id=0,
        max_ctx_id=None,
        disable_ctx=False,
        backend="auto",
        allocator=None,
        window=None,
    ):
        self._alloc = allocator or ram_zeros
        self._kernel = normalize_kernel(kernel)
        self._requested_backend = backend.strip().lower() if isinstance(backend, str) else backend
        self._backend = get_backend(backend)
        self._disable_ctx = bool(disable_ctx)
        self._ctx_id, self._max_ctx_id = context_ids(self._disable_ctx, begin_ctx_id, max_ctx_id)
        self._texptime = initial_exptime(exptime, out_img, out_wht, out_ctx)
        self._fillval = process_fillval(fillval, out_img is not None, "fillval")
        self._fillval2 = process_fillval(fillval2, out_img2 is not None, "fillval2")
        outs = check_outputs(out_shape, out_img, out_wht, out_ctx, out_img2, out_dq)
        self._out_dq = outs.dq
        self._out_shape = outs.shape
        self._window = check_window(window, self._out_shape)
        self._out_img = self._out_wht = self._out_ctx = None
        self._out_img2 = None
        self._ncoadds = 0
        self.last_linear = None
        self._device_io = False  # the last image came as device arrays: outputs are read there
        #: the backend's own state for this object (a kernel backend keeps the
        #: outputs on the device there); None until a backend sets it
        self.backend_state = None
        #: fill values of the outputs this object allocated itself ({"img": v, ..., "img2": {m: v}})
        self.initial_fills = {}
        #: True when the caller supplied output arrays: they are updated in place after every image
        self.caller_outputs = any(a is not None for a in (out_img, out_wht, out_ctx, out_dq)) or (
            out_img2 is not None and any(a is not None for a in (out_img2 if isinstance(out_img2, list)
                                                                 else [out_img2])))
        if self._out_shape is not None:
            self._alloc_outputs(outs.img, outs.wht, outs.ctx)
        if outs.img2 is not None:
            # None entries are allocated once the shape is known (now or at the first add_image)
            self._out_img2 = list(outs.img2)
            self._alloc_img2()

    # ------------------------------------------------------------------ state
    def _alloc_outputs(self, out_img, out_wht, out_ctx):
        shape = self._out_shape
        if out_wht is None:
            out_wht = self._alloc(shape, np.float32, 0)
            self.initial_fills["wht"] = 0
        self._out_wht = out_wht
        if not self._disable_ctx:
            if out_ctx is None:
                nplanes = self._max_ctx_id // CTX_PLANE_BITS + 1
                out_ctx = self._alloc((nplanes, *shape), np.int32, 0)
                self.initial_fills["ctx"] = 0
            elif out_wht is not None and np.any(
                np.bitwise_xor(self._out_wht > 0.0, np.any(out_ctx != 0, axis=0))
            ):
                raise ValueError(
                    "Inconsistent 'out_wht' and 'out_ctx': pixels with non-zero context must "
                    "have positive weight and vice versa."
                )
            self._out_ctx = out_ctx
        if out_img is None:
            out_img = self._alloc(shape, np.float32, fill_number(self._fillval))
            self.initial_fills["img"] = fill_number(self._fillval)
        self._out_img = out_img

    def _alloc_img2(self):
        """Allocate the ``out_img2`` entries given as None (filled with ``fillval2``), if the shape is known."""
        if self._out_shape is None or self._out_img2 is None:
            return
        fv = np.float32(fill_number(self._fillval2))
        fills = self.initial_fills.setdefault("img2", {})
        fills.update({m: fv for m, a in enumerate(self._out_img2) if a is None})
        self._out_img2 = [np.full(self._out_shape, fv, np.float32) if a is None else a for a in self._out_img2]

    def _next_ctx_bit(self):
        """Return (plane, bit) of the image being added, growing the planes."""
        if self._disable_ctx:
            return None, None
        plane, bit = divmod(self._ctx_id, CTX_PLANE_BITS)
        if plane >= self._out_ctx.shape[0]:
            # drizzle appends one zero plane when an ID overflows the last one
            extra = np.zeros((plane + 1 - self._out_ctx.shape[0], *self._out_shape), np.int32)
            self._out_ctx = np.concatenate([self._out_ctx, extra], axis=0)
        self._ctx_id += 1
        return plane, bit

    # -------------------------------------------------------------- properties
    @property
    def kernel(self):
        """Resampling kernel name."""
        return self._kernel

    @property
    def backend(self):
        """Name of the backend that computes (``"cpu"``, ...)."""
        return self._backend.name

    @property
    def fillval(self):
        """Fill value (string) for output pixels without contributions."""
        return self._fillval

    @property
    def fillval2(self):
        """Fill value (string) for ``out_img2`` pixels without contributions."""
        return self._fillval2

    @property
    def ctx_id(self):
        """Context ID (0-based) of the next image to be added (None if disabled)."""
        return self._ctx_id

    @property
    def out_shape(self):
        """``(ny, nx)`` of the outputs, or None before it is known."""
        return self._out_shape

    @property
    def window(self):
        """``(y0, y1, x0, x1)`` of the outputs kept (see the class docstring); None before the shape is known."""
        if self._window is not None:
            return self._window
        return None if self._out_shape is None else (0, self._out_shape[0], 0, self._out_shape[1])

    @property
    def total_exptime(self):
        """Total exposure time of all images added so far."""
        return self._texptime

    # ----------------------------------------------------------------- adding
    def skip_context_id(self):
        """Consume the next context ID without adding an image (gpuresample extension): keeps context
        bit k == input k when an input is skipped (e.g. it does not overlap the output grid)."""
        if self._out_shape is None:
            raise ValueError("the output shape is not known yet")
        self._next_ctx_bit()

    def add_image(
        self,
        data,
        exptime,
        pixmap,
        data2=None,
        dq=None,
        scale=_DEPRECATED_ARG,
        iscale=1.0,
        pixel_scale_ratio=1.0,
        weight_map=None,
        wht_scale=1.0,
        pixfrac=1.0,
        in_units="cps",
        xmin=None,
        xmax=None,
        ymin=None,
        ymax=None,
        *,
        linear=None,
        pixmap_model=None,
        weight_rule=None,
        linear_sqrt=False,
        wait=True,
    ):
        """Resample ``data`` with ``pixmap`` and co-add it to the outputs.

        Arguments as ``drizzle.resample.Drizzle.add_image``: ``data`` is
        ``(ny, nx)``; ``pixmap`` ``(ny, nx, 2)`` holds output ``(x, y)`` of each
        input pixel centre (NaN skips the pixel); ``weight_map`` (default 1);
        ``data2`` one array or a list co-added with squared weights;
        ``dq`` (<= 32-bit integers) OR-combined into ``out_dq``; ``iscale``
        multiplies the data (``data2`` by ``iscale**2``); ``pixel_scale_ratio``
        sizes the turbo/gaussian/lanczos/tophat kernels (None: estimated
        from the pixel map as drizzle's C code does, here once for every
        backend; see :func:`gpuresample.drizzle_validate.
        estimate_pixel_scale_ratio`; tophat needs a number);
        ``in_units="counts"`` divides by ``exptime``;
        ``xmin..ymax`` are inclusive 0-based limits.

        ``linear`` (gpuresample extension): a list of arrays shaped like
        ``data`` drizzled with the data's weights in the same pass; their
        means over this image alone (NaN where it gave no weight, as a fresh
        drizzle with fill NaN) are left in ``self.last_linear`` (shaped like
        ``window``: the whole grid unless one was given).  This is how
        jwst's ``sqrt(variance)`` arrays are resampled.

        ``weight_rule`` (gpuresample extension, instead of ``weight_map``): a
        :class:`gpuresample.weights.WeightRule` saying how the weights are
        made (jwst's inverse-variance or exposure-time weights and DQ mask);
        the kernel backends make them on the device from the arrays it names,
        the CPU backend on the host, with the same float32 values.
        ``linear_sqrt`` (gpuresample extension): drizzle the square roots of
        the ``linear`` arrays (NaN for negative values), taken on the device
        by the kernel backends.

        ``pixmap_model`` (gpuresample extension): the
        :class:`~gpuresample.pixmap_model.SplinePixmap` that ``pixmap`` was
        evaluated from (:func:`gpuresample.pixmap.pixmap_and_model`).  The
        kernel backends then expand the map on the device instead of
        uploading it; the CPU backend ignores it.  It must describe
        ``pixmap`` (the expansion equals the host map to rounding).  With
        ``pixmap=None`` the map is the model's: a kernel backend then never
        makes the whole map on the host (drizzle's scan reads the model at
        the few pixels it needs, :class:`~gpuresample.pixmap_model.
        LazyPixmap`); the CPU backend evaluates it.

        Device arrays (gpuresample extension): with a kernel backend, the
        input arrays (``data``, ``pixmap``, ``weight_map``, ``dq``, ``data2``,
        ``linear``, a ``weight_rule``'s arrays) may be arrays of its device
        -- CuPy arrays for ``"cuda"``, :class:`~gpuresample.gpu.device.
        EmulatedDeviceArray` for ``"emulator"`` (``get_backend(...).asarray``
        makes either).  They are read where they are (never written; a
        dtype conversion happens on the device) and, when ``data`` is one,
        the ``out_*`` properties return the device arrays of the outputs
        (shaped like ``window``) instead of downloading them.  The host
        still runs drizzle's scan of the map, reading a few hundred pixels
        of a device ``pixmap`` (:class:`~gpuresample.device_pixmap.
        DevicePixmap`); without an output shape or a ``pixel_scale_ratio``
        the whole map is downloaded once.  The CPU backend downloads device
        arrays once.

        ``wait=False`` (gpuresample extension): return a
        :class:`~gpuresample.gpu.streams.PendingCounts` instead of the
        counts; its ``result()`` gives them.  A kernel backend then does not
        wait for the device at the end of the image (drizzle's miss counter
        is read back only when asked), so the host prepares the next image
        while the device drizzles this one -- what ``resample()`` does.

        Returns
        -------
        nmiss, nskip : int
            Input pixels and input lines that did not contribute
            (with ``wait=False``: a ``PendingCounts`` of them).

        Raises
        ------
        ValueError, TypeError
            For any invalid argument, before anything changes.
        """
        if scale is not _DEPRECATED_ARG:
            warnings.warn(
                # the same opening words as drizzle's, so warning filters written for drizzle apply
                "Argument 'scale' has been deprecated (as in drizzle 2.2): use iscale=scale**2 and "
                "pixel_scale_ratio=scale.",
                DeprecationWarning,
                stacklevel=2,
            )
            iscale = scale * scale
            pixel_scale_ratio = scale
        if pixmap is None:  # gpuresample extension: the model's map (lazy for a kernel backend)
            pixmap = model_pixmap(pixmap_model, np.shape(data)[:2], self._backend.prepares_inputs)
        # stacklevel=2: the warnings point at the caller of add_image
        step, new_shape, origin = validate_add_image(
            data, exptime, pixmap, data2, dq, iscale, pixel_scale_ratio, weight_map,
            wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax,
            kernel=self._kernel, out_shape=self._out_shape, out_img2=self._out_img2,
            ncoadds=self._ncoadds, fillval=self._fillval, fillval2=self._fillval2, weight_rule=weight_rule,
            stacklevel=2,
        )
        self._backend.check(self, step)
        extend_step(step, linear, linear_sqrt, weight_rule, dq)
        step.pixmap_model = check_pixmap_model(pixmap_model, step.data.shape, new_shape is not None and origin)
        if not self._backend.prepares_inputs:
            host_inputs(step)
        # From here on nothing raises on user input: state may change.
        if self._out_shape is None:
            # no shape anywhere: the pixel map's extent (step.pixmap is already shifted to it)
            self._out_shape = new_shape
            self._alloc_outputs(None, None, None)
            self._alloc_img2()
        if step.data2 is not None and self._out_img2 is None:
            self._out_img2 = [None] * len(step.data2)
            self._alloc_img2()
        if step.dq is not None and self._out_dq is None:
            self._out_dq = self._alloc(self._out_shape, np.uint32, 0)
            self.initial_fills["dq"] = 0
        saved = (self._ctx_id, self._texptime)
        step.ctx_plane, step.ctx_bit = self._next_ctx_bit()
        self._texptime += float(exptime)

        if step.kernel not in FLUX_CONSERVING_KERNELS:
            warnings.warn(
                f"Kernel '{step.kernel}' is not a flux-conserving kernel.",
                NonConservingKernelWarning,
                stacklevel=2,
            )
        try:
            counts = self._backend.add_image(self, step)
        except DeviceOutOfMemoryError as exc:
            # A GPU backend writes the outputs only after a successful image,
            # so they are untouched here.  "auto" falls back to the CPU;
            # an explicit backend re-raises with the bookkeeping rolled back.
            if self._requested_backend != "auto":
                self._ctx_id, self._texptime = saved
                raise
            log.info("backend %r ran out of device memory (%s): continuing on the CPU", self._backend.name, exc)
            self._backend.sync(self)  # the device holds the outputs of the images before this one
            self.backend_state = None
            self._backend = get_backend("cpu")
            host_inputs(step)
            self._backend.check(self, step)
            counts = self._backend.add_image(self, step)
        except BaseException:
            self._ctx_id, self._texptime = saved
            raise
        self._ncoadds += 1
        self._device_io = is_device_array(data) and self._backend.prepares_inputs and not self.caller_outputs
        if not isinstance(counts, PendingCounts):
            counts = PendingCounts.ready(*counts)  # a host backend's counts
        return counts.result() if wait else counts
