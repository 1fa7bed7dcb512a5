"""``stcal.resample.Resample`` (stcal 1.20) on gpuresample's engine.

:class:`Resample` has the public API of stcal's class that stcal's own tests
and its subclasses (jwst's ``ResampleImage``, romancal's ``ResampleData``)
use, and computes with the pieces of gpuresample's exposure loop:
:class:`~gpuresample.drizzle_loop.PreparedExposure` (weights, pixel map, input
box) and :class:`~gpuresample.drizzle_loop.ProductAccumulators` (the science,
err and variance drizzles of one product, in the loop's order), on any
backend.  The stcal-style dicts it reads and writes are
:mod:`gpuresample.stcal_model_dicts`.

Pixel conventions are drizzle's: arrays ``(ny, nx)``; ``pixmap[j, i] = (x,
y)`` is the 0-based output position of the centre of input pixel ``(i, j)``;
``xmin, xmax, ymin, ymax`` are inclusive 0-based input limits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from typing import ClassVar

import numpy as np

from .allocation import ram_zeros
from .backends import get_backend
from .drizzle_loop import PreparedExposure, ProductAccumulators
from .exposure import VARIANCE_NAMES, as_exposure
from .output_grid import OutputGrid, mean_pixel_area
from .stcal_model_dicts import (
    UnsupportedWCSError,
    check_output_wcs,
    check_settings,
    drizzle_params,
    exposure_keywords,
    final_arrays,
    input_pixel_area,
    is_imaging_wcs,
    new_output_model,
    pixel_scale_arcsec,
    required_keys,
    resolve_good_bits,
    time_row,
)
from .stcal_tiles import tile_options, tiled_arrays

__all__ = ["Resample", "UnsupportedWCSError"]

log = logging.getLogger("gpuresample")


class Resample:
    """Resample and co-add model dicts onto one output WCS: stcal 1.20's ``Resample`` on gpuresample.

    Same constructor (plus ``backend``), methods, properties and output model
    dict as ``stcal.resample.Resample``; on the CPU backend the output
    ``data``, ``wht`` and ``con`` (and ``dq``) equal stcal's bitwise and the
    variances and ``err`` agree to float32 rounding.  ``add_model(model)``
    drizzles one stcal-style model dict (``data``, ``dq``, ``var_rnoise``,
    ``var_flat``, ``var_poisson``, ``var_sky``, ``err``, ``wcs``,
    ``exposure_time``, ``measurement_time``, ``start_time``, ``end_time``,
    ``duration``, ``group_id``, ``pixelarea_steradians``, ``level``,
    ``subtracted``...); ``finalize()`` fills :attr:`output_model`.

    **add_model_hook** keeps stcal's semantics: it is called once per model,
    right after that model's science drizzle and before its err and variance
    drizzles and its exposure-time bookkeeping, with stcal's keyword
    arguments ``model`` (the dict given to ``add_model``), ``pixmap`` (the
    pixel map used, ``(ny, nx, 2)``, unmodified), ``pixel_scale_ratio``,
    ``iscale`` (1: images), ``weight_map`` (the float32 drizzle weights) and
    ``xmin, xmax, ymin, ymax``.  It is called on every backend (the kernel
    backends have by then drizzled the variances too, in the science pass)
    and also for a model that is skipped (below).  The default does nothing.

    Differences on purpose:

    * Imaging only: a spectral output WCS raises
      :class:`UnsupportedWCSError`, and ``_get_intensity_scale`` must stay 1.
    * The variances are drizzled by the engine (on each model's footprint
      box, or in the science pass): a subclass may choose
      ``variance_array_names`` among stcal's three and ``error_from_variances``,
      but may not override ``init_variance_arrays``,
      ``resample_variance_arrays`` or ``finalize_resample_variance``
      (``TypeError`` when constructed).
    * A model whose pixel map has fewer than two finite rows or columns
      (e.g. a bounding box of one pixel) is skipped with a logged warning,
      its context bit consumed, as :func:`gpuresample.resample` does (stcal
      raises drizzle's ``ValueError``).
    * Input pixels whose data is not finite get weight 0
      (:class:`gpuresample.Drizzle`'s rule; jwst flags them DO_NOT_USE).
    * A mean pixel area (used when ``output_wcs`` has no ``pixel_scale`` or
      an input no ``pixelarea_steradians``) is gpuresample's
      (:func:`gpuresample.output_grid.mean_pixel_area`: the outline's exact
      area to ~1e-9; stcal's spherical-polygon area is off by up to ~1e-5 on
      small images), so the pixel scale ratio and the variance scaling differ
      at that level there.
    * ``pixmap_stepsize > 1`` uses :func:`gpuresample.calc_pixmap`'s sparse grid.
    * ``reset_arrays()`` starts from scratch: empty arrays (stcal, called
      before ``finalize``, keeps drizzling into the current data, weight and
      context) and no group IDs (stcal keeps them: a reused object counts the
      earlier products' groups in ``pointings`` and skips the time keywords
      of a group it saw before).
    * ``dq_flag_name_map = None`` reads mnemonic ``good_bits`` as JWST flags.
    * ``compute_err`` must be None, False, ``"from_var"`` or ``"driz_err"``.

    Parameters
    ----------
    output_wcs : dict
        ``"wcs"`` (a 2-D imaging gwcs; its ``array_shape`` ``(ny, nx)`` is set
        from the bounding box when missing), optional ``"pixel_scale"``
        (arcsec; else measured) and ``"pixel_scale_ratio"`` (output / input
        scale; else from the first model's ``pixelarea_steradians``).
    n_input_models : int, optional
        Inputs expected: pre-allocates the context planes (more are added as needed).
    pixfrac, kernel, fillval
        Drizzle parameters (``kernel`` also ``"tophat"``); ``fillval`` for
        output pixels no input reaches (None / ``"INDEF"``: NaN).
    weight_type : {"ivm", "ivm-sky", "exptime"}
        Inverse read-noise variance, inverse sky variance, measurement time.
    good_bits : int, str or None
        DQ bits that do not make a pixel bad (flag names through ``dq_flag_name_map``).
    enable_ctx, enable_var : bool
        Keep the context planes; drizzle and report the variance arrays.
    compute_err : {None, "from_var", "driz_err"}
        ``err`` from the resampled variances (needs ``enable_var``) or the
        inputs' ``err`` drizzled like the data (divided by the pixel scale ratio).
    propagate_dq : bool
        OR the contributing input DQ into an output ``dq``.
    pixmap_stepsize, pixmap_order
        Pixel map on a sparse grid with spline interpolation (1: exact).
    backend : {"auto", "cpu", "cuda", "emulator"}
        Where the drizzles run (see :class:`gpuresample.Drizzle`).
    tile, tile_workers, allowed_memory
        Drizzle at :meth:`finalize`, tile by tile (see :mod:`gpuresample.stcal_tiles`).
    """

    #: Output dtypes (informational: the engine's are these).
    output_array_types: ClassVar[defaultdict] = defaultdict(lambda: np.float32)
    output_array_types.update({"data": np.float32, "wht": np.float32, "con": np.int32, "var_rnoise": np.float32,
                               "var_flat": np.float32, "var_poisson": np.float32, "err": np.float32})
    #: Variance arrays drizzled (any of stcal's three, in any order).
    variance_array_names: ClassVar[list] = list(VARIANCE_NAMES)
    #: Variances summed into a ``"from_var"`` err (None: ``variance_array_names``).
    error_from_variances = None
    #: Mnemonic DQ flag names for ``good_bits`` (a dict or astropy ``BitFlagNameMap``).
    dq_flag_name_map = None

    def __init__(self, output_wcs, n_input_models=None, pixfrac=1.0, kernel="square", fillval=0.0,
                 weight_type="ivm", good_bits=0, enable_ctx=True, enable_var=True, compute_err=None,
                 propagate_dq=False, pixmap_stepsize=1, pixmap_order=1, *, backend="auto", tile=None,
                 tile_workers=1, allowed_memory=None):
        check_settings(type(self), Resample, self.variance_array_names, weight_type, compute_err, backend)
        self._tile = tile_options(tile, tile_workers, allowed_memory)
        self._finalized = False
        self._enable_ctx = enable_ctx
        self._enable_var = enable_var
        self._compute_err = compute_err
        self._propagate_dq = propagate_dq
        self._backend = backend
        self.pixfrac = pixfrac
        self.kernel = kernel
        self.fillval = fillval
        self.good_bits = good_bits
        self.weight_type = weight_type
        self.pixmap_stepsize = pixmap_stepsize
        self.pixmap_order = pixmap_order
        if output_wcs is None:
            raise ValueError("Output WCS must be provided through the 'output_wcs' parameter.")
        self._output_pixel_scale = output_wcs.get("pixel_scale")
        self._pixel_scale_ratio = output_wcs.get("pixel_scale_ratio")
        self._output_wcs = output_wcs.get("wcs")
        self.check_output_wcs(self._output_wcs)
        if self._output_pixel_scale is None:
            area = self.get_output_model_pixel_area({"wcs": self._output_wcs})
            self._output_pixel_scale = pixel_scale_arcsec(area)
            log.info("Computed output pixel scale: %s arcsec.", self._output_pixel_scale)
        self._output_array_shape = tuple(int(n) for n in self._output_wcs.array_shape)
        if not np.prod(self._output_array_shape):
            raise ValueError(f"Invalid output frame shape: {self._output_array_shape}")
        log.info("stcal_compat.Resample: kernel=%s pixfrac=%s fillval=%s weight_type=%s backend=%s",
                 kernel, pixfrac, fillval, weight_type, backend)
        self.reset_arrays(n_input_models=n_input_models)

    # ------------------------------------------------------------- properties
    @property
    def output_model(self):
        """The output model dict (arrays and keywords; complete after :meth:`finalize`)."""
        return self._output_model

    @property
    def output_array_shape(self):
        """``(ny, nx)`` of the output arrays."""
        return self._output_array_shape

    @property
    def output_wcs(self):
        """The output gwcs."""
        return self._output_wcs

    @property
    def pixel_scale_ratio(self):
        """Output / input pixel scale (None until given or derived from the first model)."""
        return self._pixel_scale_ratio

    @property
    def output_pixel_scale(self):
        """Output pixel scale, arcsec."""
        return self._output_pixel_scale

    @property
    def group_ids(self):
        """Exposure group IDs of the models added, in order of first appearance."""
        return self._group_ids

    @property
    def enable_ctx(self):
        """Whether a context image is kept."""
        return self._enable_ctx

    @property
    def enable_var(self):
        """Whether the variance arrays are resampled."""
        return self._enable_var

    @property
    def compute_err(self):
        """How the error array is computed (None: not at all)."""
        return self._compute_err

    @property
    def propagate_dq(self):
        """Whether the output model has a ``dq`` array."""
        return self._propagate_dq

    @property
    def backend(self):
        """The backend requested (``"auto"`` resolves per drizzle, see :class:`gpuresample.Drizzle`)."""
        return self._backend

    def is_finalized(self):
        """True after :meth:`finalize` (until :meth:`reset_arrays`)."""
        return self._finalized

    # ----------------------------------------------------------------- set-up
    def check_output_wcs(self, output_wcs, estimate_output_shape=True):
        """Check the output gwcs; may set its ``array_shape`` (see ``stcal_model_dicts.check_output_wcs``)."""
        check_output_wcs(output_wcs, estimate_output_shape)

    def get_input_model_pixel_area(self, model, prefer_mean=True):
        """Pixel area (sr) of an input model (see :func:`gpuresample.stcal_model_dicts.input_pixel_area`)."""
        return input_pixel_area(model, prefer_mean)

    def get_output_model_pixel_area(self, model):
        """Mean pixel area (sr) of the output WCS ``model["wcs"]`` over its ``array_shape``."""
        return mean_pixel_area(model["wcs"], model["wcs"].array_shape)

    def create_output_model(self):
        """A new output model dict: the WCS, resample keywords and pixel areas; arrays None."""
        variances = self.variance_array_names if self._enable_var else None
        pars = {"pixfrac": self.pixfrac, "kernel": self.kernel, "fillval": self.fillval,
                "weight_type": self.weight_type}
        return new_output_model(self._output_wcs, self._output_pixel_scale, self._pixel_scale_ratio, pars,
                                variances, self._compute_err)

    def reset_arrays(self, n_input_models=None):
        """Start new, empty output arrays, variance sums, group IDs and time counters (clears "finalized").

        A new output model dict too after :meth:`finalize`; the output WCS
        and shape stay.  Call it before adding models after ``finalize``.
        """
        if not hasattr(self, "_output_model") or self.is_finalized():
            self._output_model = self.create_output_model()
        self._params = drizzle_params(self)  # the exposure loop's; good_bits resolved per model
        self._grid = OutputGrid(self._output_wcs, self._output_array_shape, self._output_pixel_scale,
                                self._pixel_scale_ratio)
        same_pass = self._params.enable_var and get_backend(self._backend).same_pass_linear
        n_inputs = 1 if n_input_models is None else n_input_models
        self._deferred = []  # tile=: the exposures, drizzled at finalize
        self._acc = None if self._tile[0] else ProductAccumulators(self._grid, self._params, n_inputs, None,
                                                                   ram_zeros, same_pass)
        self._group_ids = []
        self._n_res_models = 0
        self.init_time_counters()
        self._finalized = False

    # ----------------------------------------------------------------- adding
    def validate_input_model(self, model):
        """Check that ``model`` is a dict with every key these settings read.

        Raises
        ------
        TypeError
            ``model`` is not a dict.
        KeyError
            A required key is missing (the message names it).
        """
        if not isinstance(model, dict):
            raise TypeError(f"a model must be a dict of arrays and keywords; got {type(model).__name__}")
        wcs = model.get("wcs")
        keys = required_keys(wcs, self._enable_var, self.variance_array_names, self._compute_err, self.weight_type)
        for key in keys:
            if key not in model:
                raise KeyError(f"Attempt to access non-existent key '{key}' in a data model.")

    def _get_intensity_scale(self, model):
        """The factor applied to the data before drizzling: 1 for images (stcal's rule)."""
        return 1.0

    def _compute_pixel_scale_ratio(self, model):
        """Derive the pixel scale ratio from the first imaging model when it was not given (stcal rule)."""
        if self._pixel_scale_ratio is not None or not is_imaging_wcs(model["wcs"]):
            return
        area = self.get_input_model_pixel_area(model, prefer_mean=False)
        if not (area is not None and area > 0):
            return
        self._pixel_scale_ratio = self._output_pixel_scale / pixel_scale_arcsec(area)
        if self._output_model.get("pixel_scale_ratio") is None:
            self._output_model["pixel_scale_ratio"] = self._pixel_scale_ratio

    def add_model(self, model):
        """Resample one model dict and co-add it (data, weight, context, DQ, err and variances as enabled).

        Raises
        ------
        RuntimeError
            After :meth:`finalize` (call :meth:`reset_arrays` first), or the
            data is not 2-D.
        KeyError
            A required key is missing (:meth:`validate_input_model`).
        """
        if self._finalized:
            raise RuntimeError("Resampling has been finalized and no new models can be added to the resampled "
                               "output model. Call 'reset_arrays' to initialize a new output model and "
                               "associated arrays.")
        self.validate_input_model(model)
        self._n_res_models += 1
        k = self._n_res_models - 1
        if np.ndim(model["data"]) != 2:
            raise RuntimeError(f"Input model '{model.get('filename') or 'Unknown'}' is not a 2D image.")
        self._compute_pixel_scale_ratio(model)
        iscale = self._get_intensity_scale(model)
        if iscale != 1:
            raise NotImplementedError(f"iscale={iscale}: gpuresample drizzles images with an intensity scale of 1")
        psr = self.pixel_scale_ratio
        img = as_exposure(model, k, self.weight_type)
        params = replace(self._params, pixfrac=self.pixfrac, weight_type=self.weight_type,
                         good_bits=resolve_good_bits(self.good_bits, self.dq_flag_name_map),
                         pixmap_stepsize=self.pixmap_stepsize, pixmap_order=self.pixmap_order)
        ex = PreparedExposure(img, self._grid, params, psr)
        # the weights are made: drop the variances that are not to be drizzled
        for name in VARIANCE_NAMES:
            if name not in self.variance_array_names:
                setattr(img, name, None)
        xmin, xmax, ymin, ymax = ex.limits

        def hook():
            self.add_model_hook(model=model, pixmap=ex.pixmap, pixel_scale_ratio=psr, iscale=iscale,
                                weight_map=ex.weight, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax)

        if self._acc is None:
            self._deferred.append(img)
            self._params = params
        elif ex.active:
            self._acc.add(ex, params, psr, None, k, after_science=hook)
        else:
            log.warning("%s: no pixel maps onto the output grid; skipped", img.filename)
            self._acc.driz.skip_context_id()
            hook()
        if (group_id := model["group_id"]) not in self._group_ids:
            self.update_time(model)
            self._group_ids.append(group_id)
            self._output_model["pointings"] += 1
        self._show_arrays()

    def add_model_hook(self, model, pixmap, pixel_scale_ratio, iscale, weight_map, xmin, xmax, ymin, ymax):
        """Called by :meth:`add_model` right after a model's science drizzle (see the class docstring).

        Parameters
        ----------
        model : dict
            The model given to :meth:`add_model`.
        pixmap : ndarray, shape (ny, nx, 2)
            Output ``(x, y)`` (0-based) of the centre of every input pixel; NaN outside its bounding box.
        pixel_scale_ratio : float
            Output / input pixel scale.
        iscale : float
            Intensity scale applied to the data (1).
        weight_map : ndarray, float32, shape (ny, nx)
            The drizzle weights (0 for bad pixels).
        xmin, xmax, ymin, ymax : int
            Inclusive 0-based input box drizzled.
        """

    def _show_arrays(self):
        """Point the output model at the running arrays (variances only at :meth:`finalize`, as stcal)."""
        if self._acc is None:
            return  # tile=: no arrays before finalize
        driz = self._acc.driz
        om = self._output_model
        om["data"], om["wht"] = driz.out_img, driz.out_wht
        if driz.out_ctx is not None:
            om["con"] = driz.out_ctx
        if self._propagate_dq:
            om["dq"] = driz.out_dq
        if self._acc.err_driz is not None:
            om["err"] = self._acc.err_driz.out_img

    # ------------------------------------------------------------- finishing
    def finalize(self):
        """Compute the final arrays and keywords into :attr:`output_model`; no model can be added after.

        Raises
        ------
        RuntimeError
            No model was added.
        """
        if self._finalized:
            return
        if not self._n_res_models:
            raise RuntimeError("finalize: no model was added")
        self._finalized = True
        om = self._output_model
        om["pointings"] = len(self.group_ids)
        if self._acc is None:
            tile, workers, allowed = self._tile
            arrays = tiled_arrays(self._deferred, self._grid, self._params, self.pixel_scale_ratio, tile, workers,
                                  allowed)
            self._deferred = []
        else:
            arrays = self._acc.finish(self._params, self.pixel_scale_ratio)
        om.update(final_arrays(arrays, self))
        del self._acc
        self.finalize_time_info()

    def init_time_counters(self):
        """Forget the time keywords of the models added so far."""
        self._time_rows = []

    def update_time(self, model):
        """Record the time keywords of ``model``, the first of a new exposure group (called by :meth:`add_model`)."""
        if model["group_id"] in self._group_ids:
            return
        self._time_rows.append(time_row(model))

    def finalize_time_info(self):
        """Set the output model's exposure, measurement and elapsed times, start, end and duration."""
        if not self._n_res_models:
            raise RuntimeError("finalize_time_info: no model was added")
        self._output_model.update(exposure_keywords(self._time_rows))
