"""Drive the products of a run through the exposure loop (the middle layer).

:func:`run_products` knows how a run is organised — one product, or one per
exposure group with ``single=True``; untiled, or in tiles on a pool or a Dask
cluster; outputs in RAM or in scratch files — but neither how a kernel
computes (the backends, behind :class:`gpuresample.Drizzle`) nor how the
user spelled the arguments (:mod:`gpuresample.options`).  Every path ends in
:func:`gpuresample.drizzle_loop.drizzle_exposures`.
"""

from __future__ import annotations

import logging
import tempfile

import numpy as np

from .allocation import ScratchAllocator
from .backends import get_backend
from .blend import blend_metadata
from .drizzle_loop import drizzle_exposures
from .exposure import VARIANCE_NAMES, as_exposure
from .kernel_info import no_weight_message
from .products import product_meta, ratio_from_input
from .result import ResampleResult
from .tiling import resample_tiled

__all__ = ["drizzle_product", "products", "run_products"]

log = logging.getLogger("gpuresample")


def drizzle_product(load, n_inputs, grid, params, psr, *, alloc=None, progress=None, workers=1, sources=None):
    """Resample exposures ``load(0) .. load(n_inputs - 1)`` onto the whole ``grid``: one product.

    ``load(k)`` returns exposure k loaded (a file input is read only then).
    ``alloc(shape, dtype, fill)`` provides the canvas-sized arrays (RAM or
    scratch memory maps); ``progress(k, image, seconds)`` runs after each
    exposure; ``workers >= 2`` lets a forked helper drizzle variances of the
    next exposure meanwhile (CPU), or helpers prepare the geometry of the
    coming exposures from their ``sources`` ``[(wcs, shape)]`` (kernel
    backends); same results.
    """
    res = drizzle_exposures(load, n_inputs, grid, params, psr, alloc=alloc, progress=progress, workers=workers,
                            sources=sources)
    if not res.rows:
        raise ValueError("no inputs to resample")
    arrays = res.arrays
    result = ResampleResult(data=arrays["data"], wht=arrays["wht"], wcs=grid.wcs, con=arrays.get("con"),
                            dq=arrays.get("dq"), err=arrays.get("err"), inputs=res.rows)
    for name in VARIANCE_NAMES:
        setattr(result, name, arrays.get(name))
    result.meta = product_meta(res.groups, res.rows, params, psr, grid, res.bunit)
    return result


class _Members:
    """The exposures of one product: ``load(j)`` reads a file input only when its turn comes."""

    def __init__(self, members, images, lazy):
        self.members = members
        index_of = {id(img): k for k, img in enumerate(images)}
        self.indices = [index_of[id(m)] for m in members]
        self.lazy = lazy

    def load(self, j):
        k = self.indices[j]
        return as_exposure(self.lazy[k].load(), k) if k in self.lazy else self.members[j]

    def sources(self):
        """What another process needs to load each member (the lazy file exposure, or the image)."""
        return [self.lazy.get(k, m) for k, m in zip(self.indices, self.members, strict=True)]


def products(images, single):
    """``[members]``: one list per exposure group with ``single``, else all images."""
    if not single:
        return [images]
    groups = {}
    for img in images:
        groups.setdefault(img.group_id, []).append(img)
    return list(groups.values())


def run_products(images, lazy, grid, params, plan, opts):
    """Resample every product of the run; a list with ``opts.single``, else one :class:`ResampleResult`.

    ``images`` are the exposures (loaded, or stubs of the file inputs in
    ``lazy`` = ``{index: lazy exposure}`` read while drizzling);
    ``plan`` is the :class:`gpuresample.memory.RunPlan`.
    """
    alloc = ScratchAllocator(on_disk=not opts.in_memory, workdir=opts.workdir)
    done = [0]

    def report(_k, img, _seconds):
        done[0] += 1
        if opts.progress is not None:
            opts.progress(done[0], len(images), img.filename)

    results = []
    stats = get_backend(params.backend).transfer_stats()
    try:
        for members in products(images, opts.single):
            before = None if stats is None else stats.snapshot()
            product = _Members(members, images, lazy)
            # the pixel scale ratio of a user grid comes from the product's first input
            psr = grid.pixel_scale_ratio
            if psr is None:
                psr = ratio_from_input(members[0], grid)
            if plan.tiled:
                res = resample_tiled(
                    product.load, product.sources(), len(members), grid, params, psr, plan.tile_shape,
                    workers=opts.tile_workers, scheduler=opts.scheduler, folder=opts.tile_output,
                    scratch_dir=(opts.workdir or tempfile.gettempdir()) if plan.stream else None,
                    allowed_bytes=plan.host_allowed, device_bytes=plan.device_allowed,
                    max_input_pixels=plan.max_input_pixels, progress=opts.progress,
                )
            else:
                if opts.single:
                    log.info("single: drizzling exposure group %s (%d inputs)", members[0].group_id, len(members))
                res = drizzle_product(product.load, len(members), grid, params, psr, alloc=alloc,
                                      progress=report, workers=opts.workers,
                                      sources=[(m.wcs, m.shape) for m in members])
                if not opts.single and not np.any(res.wht > 0):
                    raise ValueError(no_weight_message(params.kernel, params.pixfrac, psr))
            if stats is not None:
                # bytes over the bus and launches of this product, in this process
                # (tile workers in other processes count their own)
                res.meta["device_stats"] = stats.since(before)
                log.debug("device transfers: %s", res.meta["device_stats"])
            if opts.blendheaders:
                res.blended = blend_metadata(members)
            else:
                res.inputs = []
            results.append(res)
    finally:
        alloc.close()
    return results if opts.single else results[0]
