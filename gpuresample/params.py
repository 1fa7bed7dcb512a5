"""The parameters shared by every exposure of one product, and the arrays such a run produces.

:class:`DrizzleParams` is what the dispatcher, the exposure loop and the
tiles need of the validated options (:mod:`gpuresample.options`);
:func:`output_layout` is the one rule for *which* arrays a run holds, used by
the tile outputs and the memory estimates alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accumulator import CTX_PLANE_BITS
from .exposure import VARIANCE_NAMES

__all__ = ["DrizzleParams", "bytes_per_pixel", "context_planes", "output_layout"]


@dataclass(frozen=True)
class DrizzleParams:
    """Validated parameters shared by every exposure of a run.

    ``backend`` is the *requested* name (``"auto"`` stays ``"auto"``, so that
    :class:`gpuresample.Drizzle` can fall back to the CPU when the device runs
    out of memory); ``fillval`` the processed fill string; ``enable_var``:
    the variances are propagated (jwst: ``enable_err`` and not ``single``);
    ``err_from``: ``"var"`` (err = sqrt of the summed variances) or
    ``"driz"`` (the err arrays drizzled like the data: ``single=True`` or
    ``compute_err="driz_err"``).
    """

    kernel: str
    pixfrac: float
    fillval: str
    weight_type: str
    good_bits: object
    enable_ctx: bool
    enable_var: bool
    enable_err: bool
    report_var: bool
    err_from: str  # "var" (mosaic) or "driz" (single: drizzle the err array)
    propagate_dq: bool
    pixmap_stepsize: object
    pixmap_order: int
    backend: str
    output_device: bool = False  # the outputs stay on the device (resample(output="device"))

    @classmethod
    def from_options(cls, opts):
        """The parameters of a run with :class:`gpuresample.options.ResampleOptions` ``opts``."""
        return cls(
            kernel=opts.kernel, pixfrac=opts.pixfrac, fillval=opts.fillval, weight_type=opts.weight_type,
            good_bits=opts.good_bits, enable_ctx=opts.enable_ctx, enable_var=opts.enable_var,
            enable_err=opts.enable_err, report_var=opts.report_var_effective, err_from=opts.err_from,
            propagate_dq=opts.propagate_dq,
            pixmap_stepsize=opts.pixmap_stepsize, pixmap_order=opts.pixmap_order, backend=opts.backend,
            output_device=opts.output == "device",
        )


def context_planes(n_inputs):
    """Number of int32 context planes for ``n_inputs`` inputs (at least one)."""
    return (max(n_inputs, 1) - 1) // CTX_PLANE_BITS + 1


def output_layout(params, n_inputs, grid_shape):
    """``{name: (shape, dtype)}`` of the arrays a product holds (2-D ``(ny, nx)``; ``con`` ``(nplanes, ny, nx)``)."""
    ny, nx = grid_shape
    layout = {"data": ((ny, nx), np.float32), "wht": ((ny, nx), np.float32)}
    if params.enable_ctx:
        layout["con"] = ((context_planes(n_inputs), ny, nx), np.int32)
    if params.propagate_dq:
        layout["dq"] = ((ny, nx), np.uint32)
    if params.enable_err:
        layout["err"] = ((ny, nx), np.float32)
    if params.report_var:
        for n in VARIANCE_NAMES:
            layout[n] = ((ny, nx), np.float32)
    return layout


def bytes_per_pixel(params, n_inputs):
    """Bytes per output pixel of the arrays in :func:`output_layout`."""
    total = 0
    for shape, dtype in output_layout(params, n_inputs, (1, 1)).values():
        total += int(np.prod(shape)) * np.dtype(dtype).itemsize
    return total
