"""``gpuresample.ResampleStep``: jwst 3.0's ``ResampleStep`` with gpuresample drizzling (needs jwst).

The step is a subclass of ``jwst.resample.ResampleStep``: the same spec
(every argument, with jwst's defaults), the same inputs (an association file,
a ``ModelLibrary``, an ``ImageModel``, a list of models), the same output
models, names and metadata, because all of that is jwst's own code: the
output model is made by jwst's ``ResampleImage``, whose engine, stcal's
``Resample``, is replaced by :class:`gpuresample.stcal_compat.Resample` (it
is placed ahead of stcal's class in the method resolution order, so every
drizzle, the finalisation of the arrays and the exposure-time bookkeeping are
gpuresample's, and jwst's model handling, header blending, S_REGION and FITS
WCS keywords are jwst's).  On the CPU backend SCI, WHT and CON equal jwst's
bitwise.

Ours on top of jwst's spec: ``backend`` (``auto``/``cpu``/``cuda``/``emulator``),
``allowed_memory`` (the seed step's argument, which jwst removed in 1.17:
checked before anything is allocated, against host memory), ``tile``
(``auto``, ``N`` or ``NX,NY``: the models are kept and drizzled tile by tile
at the end, bitwise the untiled result on the CPU backend) and
``tile_workers``.

Run it as ``strun gpuresample.ResampleStep asn.json --kernel=lanczos3``, or
with a parameter file whose ``class`` is ``gpuresample.ResampleStep``; it is
registered with stpipe as ``gpuresample_resample`` (``pyproject.toml``,
``[project.entry-points."stpipe.steps"]``).
"""

from __future__ import annotations

import logging

try:
    from jwst.datamodels import ImageModel, ModelContainer, ModelLibrary
except ImportError as exc:  # the step is an optional extra
    raise ImportError(f"gpuresample.ResampleStep needs jwst 3.0 (pip install 'gpuresample[jwst]'): {exc}") from exc
from jwst.lib.pipe_utils import match_nans_and_flags
from jwst.resample import ResampleStep as JwstResampleStep
from jwst.resample.resample import ResampleImage
from stcal.resample import Resample as StcalResample
from stdatamodels import filetype

from .cli_flags import parse_tile
from .memory import available_memory
from .stcal_compat import Resample as CompatResample

__all__ = ["GpuResampleImage", "ResampleStep"]

log = logging.getLogger("gpuresample")


class _Engine(CompatResample, StcalResample):
    """gpuresample's ``Resample`` where jwst's ``ResampleImage`` expects stcal's (ahead of it in the MRO)."""

    def __init__(self, *args, **kwargs):
        CompatResample.__init__(self, *args, **self._gpu_options, **kwargs)


class GpuResampleImage(ResampleImage, _Engine):
    """jwst's ``ResampleImage`` (models, metadata, blending) drizzling with gpuresample.

    Parameters are ``ResampleImage``'s, plus ``backend``.
    """

    def __init__(self, input_models, *args, backend="auto", tile=None, tile_workers=1, allowed_memory=None,
                 **kwargs):
        # read by _Engine.__init__, which ResampleImage.__init__ reaches
        self._gpu_options = {"backend": backend, "tile": tile, "tile_workers": tile_workers,
                             "allowed_memory": allowed_memory}
        super().__init__(input_models, *args, **kwargs)


def _library(step, input_data):
    """The step's input as a ``ModelLibrary`` (and whether header blending stays on), as jwst's step does."""
    prepared = step.prepare_output(input_data, open_models=False)
    if isinstance(prepared, ModelLibrary):
        return prepared, step.blendheaders
    if isinstance(prepared, ImageModel) or (
            isinstance(prepared, str) and filetype.check(prepared) in ("fits", "asdf")):
        return ModelLibrary([prepared], on_disk=not step.in_memory), False  # one image: nothing to blend
    if isinstance(prepared, (str, dict, list, ModelContainer)):
        return ModelLibrary(prepared, on_disk=not step.in_memory), step.blendheaders
    raise TypeError(f"Input {input_data} is not a 2D image.")


class ResampleStep(JwstResampleStep):
    """Resample imaging data onto a regular grid with drizzle, on gpuresample's backends.

    jwst 3.0's ``ResampleStep`` (same spec, inputs, outputs and metadata) plus
    ``backend``, ``allowed_memory``, ``tile`` and ``tile_workers``; see
    :mod:`gpuresample.jwst_step`.
    """

    class_alias = "gpuresample_resample"

    spec = JwstResampleStep.spec + """
        backend = option('auto', 'cpu', 'cuda', 'emulator', default='auto')  # gpuresample backend
        allowed_memory = float(min=0.0, default=None)  # Fraction of the available memory the output may use
        tile = string(default=None)  # Drizzle tile by tile: 'auto', N (N x N) or 'NX,NY'
        tile_workers = string(default='1')  # Tiles drizzled at once: an integer or 'auto' (one per core)
    """

    def process(self, input_data):
        """Resample ``input_data`` (association, ModelLibrary, ImageModel or list of models).

        Returns the resampled ``ImageModel`` (``single=False``) or a
        ``ModelLibrary`` of one model per exposure group (``single=True``).
        """
        library, blend = _library(self, input_data)
        self.blendheaders = blend
        output = (library.asn.get("products") or [{}])[0].get("name") if library.asn else None
        with library:
            first = library.borrow(0)
            ndim = first.data.ndim
            library.shelve(first, 0, modify=False)
            if ndim != 2:
                raise RuntimeError(f"Input {first} is not a 2D image.")
            for model in library:  # NaN <-> DO_NOT_USE made consistent, as jwst does
                match_nans_and_flags(model)
                library.shelve(model)
        kwargs = self.get_drizpars()
        ours = {"backend": self.backend, "tile": None if self.tile is None else parse_tile(self.tile, "tile"),
                "tile_workers": self.tile_workers if self.tile_workers == "auto" else int(self.tile_workers),
                "allowed_memory": self.allowed_memory}
        if self.save_results and not self.single and output and not self.output_file:
            # saved as Image3Pipeline saves it, <product>_i2d.fits (jwst's step alone names it
            # after the association file), unless --output_file says otherwise
            self.output_file = output
        if self.single:
            engine = GpuResampleImage(library, output=output, enable_var=False, compute_err="driz_err",
                                      **ours, **kwargs)
            self._check_memory(engine, library)
            return engine.resample_many_to_many(in_memory=self.in_memory)
        err = bool(self.enable_err)
        engine = GpuResampleImage(library, output=output, enable_ctx=self.enable_ctx, enable_var=err,
                                  report_var=err and self.report_var, compute_err="from_var" if err else None,
                                  **ours, **kwargs)
        self._check_memory(engine, library)
        return engine.resample_many_to_one()

    def default_suffix(self):
        """``i2d``, the suffix of resampled images in the jwst pipeline (jwst's step alone: its class name)."""
        return "i2d"

    def _check_memory(self, engine, library):
        """``allowed_memory``: the output arrays must fit that fraction of the available memory."""
        if self.allowed_memory is None or self.tile is not None:
            return  # tiles: the tiled drizzle checks (and tile='auto' chooses) within the limit
        ny, nx = engine.output_array_shape
        planes = (len(library) + 31) // 32 if self.enable_ctx else 0
        arrays = 2 + (5 if self.enable_err else 0) + (1 if self.propagate_dq else 0)
        need = ny * nx * 4 * (arrays + planes)
        allowed = self.allowed_memory * available_memory()
        if need > allowed:
            raise MemoryError(f"the output ({nx} x {ny} px, {need / 2**30:.2f} GiB) does not fit "
                              f"allowed_memory={self.allowed_memory} ({allowed / 2**30:.2f} GiB available)")

