"""Tiled resampling: the output grid cut into tiles, each drizzled independently.

Why the tiles are exact
-----------------------
drizzle's output pixel only depends on the input pixels whose kernel lands on
it, so a tile can be computed from the inputs that reach it.  Two details of
drizzle's C code decide *how* that must be done to stay bitwise equal to the
untiled run:

* drizzle clips every input footprint against the output canvas and scans
  input rows inside the clipped polygon, and the pixel-map values enter its
  floating-point arithmetic.  Shifting the pixel map onto a tile-sized canvas
  or cutting an input sub-box therefore changes rounding and which pixels are
  scanned.  A tile run instead drizzles onto a canvas of the **full grid
  shape with the unchanged pixel maps**.  Memory stays tile-sized because the
  canvas is an anonymous memory map (pages the OS provides on first write)
  and nothing touches the canvas outside the tile's neighbourhood: the fill
  value is written into the tile region only, and every finalisation
  (variance, error) runs on tile-sized arrays.
* An input pixel with weight 0 returns from drizzle's update before it
  touches data, weight, context or DQ.  A tile run passes the unchanged data
  and pixel map with a weight map that is zero for input pixels whose mapped
  centre lies farther than a safe *reach* from the tile
  (:mod:`gpuresample.restrict`).  Pixels of the tile then receive the same
  contributions, with the same values, in the same order: bitwise the same
  result.

A tile is the exposure loop of the untiled run
(:func:`gpuresample.drizzle_loop.drizzle_exposures`) with the tile as its
``window``: on the kernel backends (CUDA, emulator) the kernels clip and count
against the whole grid but accumulate tile-sized sums and stage only the
tile's outputs, so device memory also scales with the tile
(:func:`per_tile_device_bytes`), and the variance arrays ride along in the
same kernel pass, as in the untiled run.

Exposures whose footprint (plus reach) misses a tile are not drizzled for it,
but context bit k always means input k (the skipped inputs consume their
context ID).

Pixel conventions: 0-based pixel indices, arrays ``(ny, nx)``; a tile region
is ``(y0, y1, x0, x1)`` with half-open bounds; output pixel ``i`` spans
``[i - 0.5, i + 0.5]``.

Completion record
-----------------
Every run keeps a boolean ``(ntiles_y, ntiles_x)`` mask of the tiles written
(``result.meta["tiles_complete"]``).  A tiled output on disk is written into
``<folder>.partial`` with ``tiles.json`` updated after every tile, and only
renamed to ``<folder>`` when every tile is complete; a failed run (a tile
raising, a worker process killed, the disk filling up) raises
:class:`gpuresample.TilingError` carrying the mask and never returns a
result.

Modules: :mod:`.plan` (tiles, footprints, memory per tile), :mod:`.tile` (one
tile), :mod:`.storage` (RAM / ``.npy`` outputs), :mod:`.runners` (serial,
fork and spawn pools), :mod:`.dask_runner` (Dask), :mod:`.run` (the run).
"""

from .plan import (
    MIN_AUTO_TILE,
    ExposureFootprint,
    auto_tile_shape,
    check_tile_shape,
    collect_plan,
    kernel_reach,
    per_tile_bytes,
    per_tile_device_bytes,
    plan_one,
    tile_regions,
)
from .run import resample_tiled
from .storage import TileOutput
from .tile import drizzle_tile

__all__ = [
    "MIN_AUTO_TILE",
    "ExposureFootprint",
    "TileOutput",
    "auto_tile_shape",
    "check_tile_shape",
    "collect_plan",
    "drizzle_tile",
    "kernel_reach",
    "per_tile_bytes",
    "per_tile_device_bytes",
    "plan_one",
    "resample_tiled",
    "tile_regions",
]
