"""The tiled drizzle of :class:`gpuresample.stcal_compat.Resample` (``tile=``): all models at finalize, tile by tile.

With ``tile`` set the adapter keeps each model's validated exposure at
``add_model`` (its arrays are references, not copies) and drizzles nothing;
:func:`tiled_arrays` then runs :func:`gpuresample.tiling.resample_tiled`
over them, so that no full-size sum or weight array exists before the output
arrays themselves (``ny x nx``, written tile by tile).  On the CPU backend and
the emulator the arrays are bitwise those of the untiled adapter.

The adapter's ``tile`` is ``"auto"``, n or ``(ny, nx)``; ``tile_workers`` the
tiles drizzled at once; ``allowed_memory`` the fraction of the available
memory ``tile="auto"`` may use.  With tiles, ``add_model_hook`` is not called
and the output arrays appear only at ``finalize``.
"""

from __future__ import annotations

from .exposure import VARIANCE_NAMES
from .memory import available_memory
from .options import check_allowed_memory, check_tile, check_tile_workers
from .tiling.run import resample_tiled

__all__ = ["tile_options", "tiled_arrays"]


def tile_options(tile, tile_workers, allowed_memory):
    """``(tile, tile_workers, allowed_memory)`` validated as :func:`gpuresample.resample` does."""
    return check_tile(tile), check_tile_workers(tile_workers), check_allowed_memory(allowed_memory)


def tiled_arrays(images, grid, params, psr, tile, workers=1, allowed_memory=None):
    """``{name: array}`` as :meth:`ProductAccumulators.finish` returns it, drizzled tile by tile.

    Parameters
    ----------
    images : list of Image
        The product's exposures, in the order they were added.
    grid : OutputGrid
    params : DrizzleParams
    psr : float
        Pixel scale ratio (output / input).
    tile : "auto" or (ny, nx)
    workers : int
        Tiles drizzled at once (processes).
    allowed_memory : float, optional
        Fraction of the available memory the tiles may use (``tile="auto"``
        picks the largest tile that fits); None: no limit.
    """
    allowed = None if allowed_memory is None else allowed_memory * available_memory()
    res = resample_tiled(images.__getitem__, images, len(images), grid, params, psr, tile, workers=workers,
                         allowed_bytes=allowed, max_input_pixels=max(img.data.size for img in images))
    arrays = {"data": res.data, "wht": res.wht}
    for name in ("con", "dq", "err", *VARIANCE_NAMES):
        if getattr(res, name) is not None:
            arrays[name] = getattr(res, name)
    return arrays
