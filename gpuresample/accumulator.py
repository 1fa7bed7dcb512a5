"""`Drizzle`: a drop-in replacement of ``drizzle.resample.Drizzle`` with backends.

The class owns the output arrays and all bookkeeping (context planes, exposure
time, fill values) and validates every argument *before* any state changes;
the backend (:mod:`gpuresample.backends`) only computes.

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
import math
import numbers
import warnings

import numpy as np

from .allocation import ram_zeros
from .backends import get_backend
from .drizzle_args import as_2d_float32, check_dq_type, check_window, fill_number, finite_positive, process_fillval
from .errors import DeviceOutOfMemoryError, NonConservingKernelWarning
from .kernel_info import FLUX_CONSERVING_KERNELS, normalize_kernel
from .scanner import shrink_box

__all__ = ["CTX_PLANE_BITS", "Drizzle", "DrizzleStep"]

log = logging.getLogger("gpuresample")

#: Number of inputs one int32 context plane records.
CTX_PLANE_BITS = 32

#: drizzle silently switches to the point kernel at or below this pixfrac.
POINT_KERNEL_PIXFRAC = 0.001

_DEPRECATED_ARG = object()


class DrizzleStep:
    """Everything one ``add_image`` call hands to a backend (validated).

    Attributes mirror drizzle's C parameters: ``data`` (float32), ``weights``
    (float32, non-finite data/weights already set to weight 0), ``pixmap``
    (float64, ``(ny, nx, 2)``), ``data2`` (list of float32 arrays or None),
    ``dq`` (uint32 or None), ``ctx_plane``/``ctx_bit`` (0-based bit of this
    input, or None), ``iscale`` (already divided by the exposure time for
    ``in_units="counts"``), ``pscale_ratio``, ``pixfrac``, ``kernel``,
    ``wht_scale``, ``in_units``, ``expscale``, inclusive input limits
    ``xmin..xmax``, ``ymin..ymax`` and the processed fill strings.
    """

    __slots__ = (
        "ctx_bit", "ctx_plane", "data", "data2", "dq", "expscale", "fillval", "fillval2",
        "in_units", "iscale", "kernel", "linear", "pixfrac", "pixmap", "pscale_ratio", "weights",
        "wht_scale", "xmax", "xmin", "ymax", "ymin",
    )

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class Drizzle:
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
        list, uint32).  Used in place when the dtype already matches.
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
        Where the computation runs (see :mod:`gpuresample.backends`).
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
        if self._disable_ctx:
            self._ctx_id = None
            self._max_ctx_id = None
        else:
            if not isinstance(begin_ctx_id, numbers.Integral) or begin_ctx_id < 0:
                raise ValueError(f"'begin_ctx_id' must be an integer >= 0; got {begin_ctx_id!r}")
            if max_ctx_id is None:
                max_ctx_id = begin_ctx_id
            elif max_ctx_id < begin_ctx_id:
                raise ValueError("'max_ctx_id' cannot be smaller than 'begin_ctx_id'.")
            self._ctx_id = int(begin_ctx_id)
            self._max_ctx_id = int(max_ctx_id)

        exptime = finite_positive(exptime, "exptime", allow_zero=True)
        any_out = out_img is not None or out_ctx is not None or out_wht is not None
        if exptime > 0.0 and not any_out:
            raise ValueError(
                "'exptime' must be 0.0 for the first resampling "
                "(when no output resampled images have been provided)."
            )
        if exptime == 0.0 and (
            (out_ctx is not None and np.any(out_ctx)) or (out_wht is not None and np.any(out_wht))
        ):
            raise ValueError(
                "Inconsistent 'exptime' and context/weight images: exptime cannot be 0 "
                "when context and/or weight arrays are non-zero."
            )
        self._texptime = exptime

        self._fillval = process_fillval(fillval, out_img is not None, "fillval")
        self._fillval2 = process_fillval(fillval2, out_img2 is not None, "fillval2")

        shapes = set()
        if out_img is not None:
            out_img = as_2d_float32(out_img, "out_img")
            shapes.add(out_img.shape)
        if out_wht is not None:
            out_wht = as_2d_float32(out_wht, "out_wht")
            shapes.add(out_wht.shape)
        if out_ctx is not None:
            out_ctx = np.asarray(out_ctx, dtype=np.int32)
            if out_ctx.ndim == 2:
                out_ctx = out_ctx[None, :, :]
            elif out_ctx.ndim != 3:
                raise ValueError(f"'out_ctx' must be a 2-D or 3-D array; got shape {out_ctx.shape}")
            shapes.add(out_ctx.shape[1:])
        self._out_dq = None
        if out_dq is not None:
            out_dq = np.asarray(check_dq_type(out_dq, "out_dq"), dtype=np.uint32)
            shapes.add(out_dq.shape)
            self._out_dq = out_dq
        if out_shape is not None:
            out_shape = tuple(int(n) for n in out_shape)
            if len(out_shape) != 2 or min(out_shape) < 1:
                raise ValueError(f"'out_shape' must be (ny, nx) with positive sizes; got {out_shape}")
            shapes.add(out_shape)

        img2_list = None
        if out_img2 is not None:
            img2_list = [out_img2] if isinstance(out_img2, np.ndarray) else list(out_img2)
            for k, a in enumerate(img2_list):
                if a is not None:
                    img2_list[k] = as_2d_float32(a, f"out_img2[{k}]")
                    shapes.add(img2_list[k].shape)
        if len(shapes) > 1:
            raise ValueError(
                "Inconsistent shapes: 'out_shape' and/or out_img, out_img2, out_wht, out_ctx, "
                f"out_dq have different shapes: {sorted(shapes)}"
            )
        self._out_shape = shapes.pop() if shapes else None
        self._window = check_window(window, self._out_shape)
        self._out_img = self._out_wht = self._out_ctx = None
        self._out_img2 = None
        self._ncoadds = 0
        self.last_linear = None
        if self._out_shape is not None:
            self._alloc_outputs(out_img, out_wht, out_ctx)
        if img2_list is not None:
            fv = np.float32(fill_number(self._fillval2))
            self._out_img2 = [
                np.full(self._out_shape, fv, dtype=np.float32) if a is None else a for a in img2_list
            ]

    # ------------------------------------------------------------------ state
    def _alloc_outputs(self, out_img, out_wht, out_ctx):
        shape = self._out_shape
        self._out_wht = self._alloc(shape, np.float32, 0) if out_wht is None else out_wht
        if not self._disable_ctx:
            if out_ctx is None:
                nplanes = self._max_ctx_id // CTX_PLANE_BITS + 1
                out_ctx = self._alloc((nplanes, *shape), np.int32, 0)
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
        self._out_img = out_img

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
    def out_img(self):
        """Output resampled image (float32, ``(ny, nx)``)."""
        return self._out_img

    @property
    def out_wht(self):
        """Output weight image (float32)."""
        return self._out_wht

    @property
    def out_ctx(self):
        """Output context planes (int32, ``(nplanes, ny, nx)``); bit k of plane p is input 32p+k."""
        return self._out_ctx

    @property
    def out_img2(self):
        """List of images co-added with squared weights (``data2``), or None."""
        return self._out_img2

    @property
    def out_dq(self):
        """Bitwise OR of the DQ of the input pixels contributing to each output pixel."""
        return self._out_dq

    @property
    def total_exptime(self):
        """Total exposure time of all images added so far."""
        return self._texptime

    # ----------------------------------------------------------------- adding
    def skip_context_id(self):
        """Consume the next context ID without adding an image (gpuresample extension).

        Keeps context bit k == input k when an input is skipped (e.g. it does
        not overlap the output grid).
        """
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
    ):
        """Resample ``data`` with ``pixmap`` and co-add it to the outputs.

        Arguments as ``drizzle.resample.Drizzle.add_image``: ``data`` is
        ``(ny, nx)``; ``pixmap`` ``(ny, nx, 2)`` holds output ``(x, y)`` of each
        input pixel centre (NaN skips the pixel); ``weight_map`` (default 1);
        ``data2`` one array or a list co-added with squared weights;
        ``dq`` (<= 32-bit integers) OR-combined into ``out_dq``; ``iscale``
        multiplies the data (``data2`` by ``iscale**2``); ``pixel_scale_ratio``
        sizes the turbo/gaussian/lanczos/tophat kernels; ``in_units="counts"``
        divides by ``exptime``; ``xmin..ymax`` are inclusive 0-based limits.

        ``linear`` (gpuresample extension): a list of arrays shaped like
        ``data`` drizzled with the data's weights in the same pass; their
        means over this image alone (NaN where it gave no weight, as a fresh
        drizzle with fill NaN) are left in ``self.last_linear`` (shaped like
        ``window``: the whole grid unless one was given).  This is how
        jwst's ``sqrt(variance)`` arrays are resampled.

        Returns
        -------
        nmiss, nskip : int
            Input pixels and input lines that did not contribute.

        Raises
        ------
        ValueError, TypeError
            For any invalid argument, before anything changes.
        """
        if scale is not _DEPRECATED_ARG:
            warnings.warn(
                "Argument 'scale' is deprecated (as in drizzle): use iscale=scale**2 and "
                "pixel_scale_ratio=scale.",
                DeprecationWarning,
                stacklevel=2,
            )
            iscale = scale * scale
            pixel_scale_ratio = scale
        step, new_shape, origin = self._validate(
            data, exptime, pixmap, data2, dq, iscale, pixel_scale_ratio, weight_map,
            wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax,
        )
        step.linear = None
        if linear is not None:
            step.linear = [as_2d_float32(a, f"linear[{k}]") for k, a in enumerate(linear)]
            for k, a in enumerate(step.linear):
                if a.shape != step.data.shape:
                    raise ValueError(f"'linear[{k}]' shape {a.shape} is not consistent with 'data' shape "
                                     f"{step.data.shape}")
        # From here on nothing raises on user input: state may change.
        if self._out_shape is None:
            # no shape anywhere: cover the pixel map's extent (as drizzle does)
            self._out_shape = new_shape
            step.pixmap = step.pixmap.copy()
            step.pixmap[..., 0] -= origin[0]
            step.pixmap[..., 1] -= origin[1]
            self._alloc_outputs(None, None, None)
        if step.data2 is not None and self._out_img2 is None:
            fv = np.float32(fill_number(self._fillval2))
            self._out_img2 = [np.full(self._out_shape, fv, np.float32) for _ in step.data2]
        if step.dq is not None and self._out_dq is None:
            self._out_dq = self._alloc(self._out_shape, np.uint32, 0)
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
            nmiss, nskip = self._backend.add_image(self, step)
        except DeviceOutOfMemoryError as exc:
            # A GPU backend writes the outputs only after a successful image,
            # so they are untouched here.  "auto" falls back to the CPU;
            # an explicit backend re-raises with the bookkeeping rolled back.
            if self._requested_backend != "auto":
                self._ctx_id, self._texptime = saved
                raise
            log.info("backend %r ran out of device memory (%s): continuing on the CPU", self._backend.name, exc)
            self._backend = get_backend("cpu")
            self._backend.check(self, step)
            nmiss, nskip = self._backend.add_image(self, step)
        except BaseException:
            self._ctx_id, self._texptime = saved
            raise
        self._ncoadds += 1
        return nmiss, nskip

    def _validate(
        self, data, exptime, pixmap, data2, dq, iscale, pixel_scale_ratio, weight_map,
        wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax,
    ):
        data = as_2d_float32(data, "data")
        ny, nx = data.shape
        if nx < 2 or ny < 2:
            raise ValueError(
                f"'data' must be at least 2x2 pixels (drizzle interpolates pixel corners from a "
                f"2x2 neighbourhood of the pixel map); got shape {data.shape}"
            )
        exptime = finite_positive(exptime, "exptime")
        pixmap = np.asarray(pixmap, dtype=np.float64)
        if pixmap.shape != (ny, nx, 2):
            raise ValueError(
                f"'pixmap' must have shape (ny, nx, 2) = {(ny, nx, 2)} matching 'data'; "
                f"got {pixmap.shape}"
            )
        weights = None
        if weight_map is not None:
            weights = as_2d_float32(weight_map, "weight_map")
            if weights.shape != data.shape:
                raise ValueError(
                    f"'weight_map' shape {weights.shape} is not consistent with 'data' shape {data.shape}"
                )
        d2list = None
        if data2 is not None:
            items = [data2] if isinstance(data2, np.ndarray) else list(data2)
            d2list = []
            for k, d2 in enumerate(items):
                if d2 is None or np.size(d2) == 0:
                    d2list.append(None)
                    continue
                d2 = as_2d_float32(d2, f"data2[{k}]")
                if d2.shape != data.shape:
                    raise ValueError(
                        f"'data2[{k}]' shape {d2.shape} is not consistent with 'data' shape {data.shape}"
                    )
                d2list.append(d2)
            if self._out_img2 is not None and len(self._out_img2) != len(d2list):
                raise ValueError(
                    f"'data2' has {len(d2list)} arrays but {len(self._out_img2)} 'out_img2' arrays "
                    "were set up before."
                )
        elif self._out_img2 is not None and self._ncoadds > 0:
            raise ValueError(
                "'data2' is required: previous images were added with data2 "
                f"({len(self._out_img2)} 'out_img2' arrays)."
            )
        if d2list is not None and self._out_img2 is None and self._ncoadds > 0:
            raise ValueError(
                "Mismatch between the number of 'out_img2' images and the number of inputs: "
                "earlier images were added without 'data2'."
            )
        if dq is not None:
            dq = np.asarray(check_dq_type(dq, "dq"), dtype=np.uint32)
            if dq.shape != data.shape:
                raise ValueError(f"'dq' shape {dq.shape} is not consistent with 'data' shape {data.shape}")
        try:
            pixfrac = float(pixfrac)
        except (TypeError, ValueError):
            raise ValueError(f"'pixfrac' must be a number in (0, 1]; got {pixfrac!r}") from None
        if not (math.isfinite(pixfrac) and 0.0 < pixfrac <= 1.0):
            raise ValueError(f"'pixfrac' must be finite and in (0, 1]; got {pixfrac!r}")
        iscale = float(iscale)
        if not math.isfinite(iscale):
            raise ValueError(f"'iscale' must be finite; got {iscale!r}")
        if pixel_scale_ratio is not None:
            pixel_scale_ratio = finite_positive(pixel_scale_ratio, "pixel_scale_ratio")
        elif self._kernel == "tophat":
            raise ValueError("'pixel_scale_ratio' must be given for the tophat kernel")
        wht_scale = finite_positive(wht_scale, "wht_scale")
        if in_units not in ("cps", "counts"):
            raise ValueError(f"'in_units' must be 'cps' or 'counts'; got {in_units!r}")

        def _limit(v, name, default, hi):
            if v is None:
                return default
            if not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"'{name}' must be a finite number; got {v!r}")
            return int(min(max(v, 0), hi))

        # drizzle: negative/None -> 0, above the image -> the last pixel
        xmin = _limit(xmin, "xmin", 0, nx - 1)
        ymin = _limit(ymin, "ymin", 0, ny - 1)
        xmax = _limit(xmax, "xmax", nx - 1, nx - 1)
        ymax = _limit(ymax, "ymax", ny - 1, ny - 1)
        if xmax <= xmin or ymax <= ymin:
            raise ValueError(
                f"input box xmin={xmin}, xmax={xmax}, ymin={ymin}, ymax={ymax} must span at least "
                "2 pixels in x and in y"
            )

        # drizzle shrinks the box to the rows/columns with non-NaN pixmap
        # values and fails if fewer than 2 remain in either direction: check it
        # here, before the context ID and exposure time change.
        if not shrink_box(pixmap, xmin, xmax, ymin, ymax)[4]:
            raise ValueError(
                "'pixmap' has too few finite entries: at least two rows and two columns of the "
                "input box need a non-NaN (x, y)"
            )

        new_shape = origin = None
        if self._out_shape is None:
            sub = pixmap[ymin : ymax + 1, xmin : xmax + 1]
            ok = ~(np.isnan(sub[..., 0]) | np.isnan(sub[..., 1]))
            xs, ys = sub[..., 0][ok], sub[..., 1][ok]
            x0, x1 = int(np.floor(xs.min())), int(np.ceil(xs.max()))
            y0, y1 = int(np.floor(ys.min())), int(np.ceil(ys.max()))
            origin = (x0, y0)
            new_shape = (y1 - y0 + 1, x1 - x0 + 1)

        kernel = self._kernel
        if pixfrac <= POINT_KERNEL_PIXFRAC and kernel != "point":
            warnings.warn(
                f"pixfrac={pixfrac} <= {POINT_KERNEL_PIXFRAC}: using the 'point' kernel instead of "
                f"'{kernel}' (as drizzle does).",
                UserWarning,
                stacklevel=3,
            )
            kernel = "point"
        if kernel in ("lanczos2", "lanczos3") and abs(pixfrac - 1.0) > 1.0e-5:
            warnings.warn(
                "In lanczos kernel, pixel_fraction is ignored and assumed to be 1.0",
                UserWarning,
                stacklevel=3,
            )

        # Non-finite data or weight -> weight 0 (see class docstring).  A sum
        # is finite only if every term is (or overflows, which the exact
        # check below then handles): one cheap reduction on the usual path.
        with np.errstate(over="ignore", invalid="ignore"):
            clean = np.isfinite(np.sum(data)) and (weights is None or np.isfinite(np.sum(weights)))
        bad = None
        if not clean:
            bad = ~np.isfinite(data)
            if weights is not None:
                bad |= ~np.isfinite(weights)
        if bad is not None and bad.any():
            weights = np.ones_like(data) if weights is None else weights.copy()
            weights[bad] = 0.0
            data = np.where(bad, np.float32(0), data)
        if weights is None:
            weights = np.ones_like(data)

        expscale = 1.0 if in_units == "cps" else exptime
        step = DrizzleStep(
            data=data, weights=weights, pixmap=pixmap, data2=d2list, dq=dq,
            ctx_plane=None, ctx_bit=None, iscale=iscale, pscale_ratio=pixel_scale_ratio,
            pixfrac=pixfrac, kernel=kernel, wht_scale=wht_scale, in_units=in_units,
            expscale=expscale, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax,
            fillval=self._fillval, fillval2=self._fillval2,
        )
        self._backend.check(self, step)
        return step, new_shape, origin
