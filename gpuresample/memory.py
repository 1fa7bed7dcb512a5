"""How much memory a resample run needs, checked before anything is allocated.

jwst removed ``allowed_memory`` in 1.17 because it counted only the science
array; we count every output array (context planes, DQ, the variance sums
and final variance/error arrays), the per-exposure working set (pixel map,
weights, scratch copies, the footprint-box variance drizzles) and compare the
total with ``allowed_memory`` x the memory available now.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from .errors import OutputTooLargeError
from .exposure import VARIANCE_NAMES
from .gpu.streams import SLOTS

__all__ = [
    "DEFAULT_TILE",
    "RunPlan",
    "available_memory",
    "check_device_memory",
    "check_memory",
    "device_estimate",
    "estimate_memory",
    "params_device_estimate",
    "params_estimate",
    "plan_run",
]

log = logging.getLogger("gpuresample")



def available_memory():
    """Bytes of host memory available now (MemAvailable; no swap)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return None


def estimate_memory(out_shape, n_inputs, max_input_pixels, *, enable_ctx, enable_var, propagate_dq,
                    box_pixels=None, workers=1):
    """Peak bytes a run allocates, as {component: bytes} (plus "total").

    ``max_input_pixels`` is the largest exposure; ``box_pixels`` the largest
    footprint box on the canvas (default: twice the input, the box of a
    detector rotated by 45 degrees, capped by the canvas).  Canvas arrays are
    counted in full: on a sparsely covered canvas the OS backs only the pages
    that are touched, so the estimate is then an upper bound.
    """
    n = int(out_shape[0]) * int(out_shape[1])
    m = int(max_input_pixels)
    box = min(n, 2 * m if box_pixels is None else int(box_pixels))
    est = {"data+wht": 8 * n}
    if enable_ctx:
        est["context"] = 4 * n * ((max(n_inputs, 1) - 1) // 32 + 1)
    if propagate_dq:
        est["dq"] = 4 * n
    if enable_var:
        est["variance sums"] = 3 * 8 * n  # float32 sum and weight per variance (finalised in place)
        est["err"] = 4 * n
    # per exposure: pixel map (16 B/px), weights (4) and their DQ-mask
    # temporaries (~8), sqrt(var) (4); a footprint-box drizzle (image + weight)
    est["per-exposure working set"] = 28 * m + (8 * box if enable_var else 0)
    if enable_var and workers >= 2:
        # the forked helper: its own pixel map and weights, two box drizzles
        est["variance helper process"] = 28 * m + 2 * 8 * box
    est["total"] = sum(est.values())
    return est


def check_memory(estimate, allowed_fraction, available=None, what="host"):
    """Raise :class:`OutputTooLargeError` when the estimate exceeds the allowance."""
    if allowed_fraction is None:
        return
    if available is None:
        available = available_memory()
    if available is None:
        return
    allowed = int(allowed_fraction * available)
    required = int(estimate["total"])
    if required > allowed:
        parts = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in estimate.items() if k != "total")
        raise OutputTooLargeError(
            f"resample needs about {required / 2**20:.1f} MiB of {what} memory but allowed_memory="
            f"{allowed_fraction:g} of {available / 2**20:.1f} MiB available allows {allowed / 2**20:.1f} MiB "
            f"({parts})",
            required=required,
            allowed=allowed,
        )


def device_estimate(out_shape, max_input_pixels, *, n_data2=0, n_linear=0, propagate_dq=False, enable_ctx=True):
    """Peak device bytes of one ``add_image`` on the CUDA backend, as {component: bytes}.

    ``out_shape`` is the ``(ny, nx)`` window the kernels keep: the whole grid,
    or one tile of a tiled run (see ``Drizzle(window=...)``).  Counted: the
    device copies of the outputs (image, weight, one context plane, DQ,
    ``data2`` outputs, the per-image means of the ``linear`` arrays), the
    float64 accumulators (sums of w*d and w, DQ bits, sums of w**2 * data2
    and of w * linear), the pixel map expanded on the device and the weights
    made there, and the staged inputs (data, a DQ array, the map, data2,
    linear, per-row limits) -- twice: exposure k+1 is staged in the other slot while
    exposure k drizzles (:mod:`gpuresample.gpu.streams`).
    """
    n = int(out_shape[0]) * int(out_shape[1])
    m = int(max_input_pixels)
    est = {
        "outputs": n * (8 + (4 if enable_ctx else 0) + (4 if propagate_dq else 0) + 4 * n_data2 + 4 * n_linear),
        "accumulators": n * (16 + (4 if propagate_dq else 0) + 8 * n_data2 + 8 * n_linear),
        "pixmap and weights": m * (16 + 4),
        # data, a DQ array, a float64 map (pixmap_stepsize=1; else the few kB of its model: an
        # upper bound), data2, linear + drizzle's per-row scan limits: two int64 per input row
        "staged inputs": SLOTS * (m * (4 + 4 + 16 + 4 * n_data2 + 4 * n_linear) + 16 * (math.isqrt(m) + 1)),
    }
    if n_linear:
        est["temporaries"] = 8 * n  # the float64 quotient of one mean (xp.where)
    est["total"] = sum(est.values())
    return est


def check_device_memory(estimate, allowed_fraction, free_bytes):
    """Raise :class:`OutputTooLargeError` when the device estimate exceeds allowed x ``free_bytes``."""
    if allowed_fraction is None:
        return
    check_memory(estimate, allowed_fraction, available=free_bytes, what="device")


def params_estimate(out_shape, n_inputs, max_input_pixels, params, workers=1):
    """:func:`estimate_memory` of a product run with :class:`~gpuresample.params.DrizzleParams` ``params``.

    The one place that says which arrays a run holds, for the untiled run
    and for every tile alike.
    """
    est = estimate_memory(out_shape, n_inputs, max_input_pixels, enable_ctx=params.enable_ctx,
                          enable_var=params.enable_var, propagate_dq=params.propagate_dq, workers=workers)
    if params.enable_err and params.err_from == "driz":
        est["drizzled err"] = 4 * int(out_shape[0]) * int(out_shape[1])
        est["total"] += est["drizzled err"]
    return est


def params_device_estimate(window_shape, max_input_pixels, params):
    """:func:`device_estimate` of a run (or tile) on the CUDA backend: the variances ride in the same pass."""
    return device_estimate(window_shape, max_input_pixels, propagate_dq=params.propagate_dq,
                           enable_ctx=params.enable_ctx, n_linear=len(VARIANCE_NAMES) if params.enable_var else 0)


#: Tile size (pixels per side) used with a scheduler and no ``tile``.
DEFAULT_TILE = 2048


@dataclass(frozen=True)
class RunPlan:
    """How a run is organised, decided once before anything is allocated (see :func:`plan_run`).

    ``tiled``: drizzle in tiles of ``tile_shape`` (``(ny, nx)`` or ``"auto"``);
    ``stream``: the outputs go to scratch files (over the host limit, or
    ``in_memory=False``); ``host_bytes``/``device_bytes``: the estimates of
    the untiled run (device: None without a device); ``host_allowed`` /
    ``device_allowed``: the byte limits the tiles are checked against (None:
    no limit applies); ``max_input_pixels``: the largest exposure.
    """

    tiled: bool
    tile_shape: object
    stream: bool
    host_bytes: int
    device_bytes: int | None
    host_allowed: float | None
    device_allowed: float | None
    max_input_pixels: int


def _tile_budget(estimate, allowed, available, what, untiled, why):
    """None when ``estimate`` fits ``allowed`` x ``available``; else the byte budget the tiles must fit.

    Without tiles (``untiled``) the run is refused, naming ``tile="auto"`` and ``why`` it helps.
    """
    try:
        check_memory(estimate, allowed, available=available, what=what)
    except OutputTooLargeError as exc:
        if untiled:
            raise OutputTooLargeError(f'{exc}; pass tile="auto" (or a tile size): {why}', exc.required,
                                      exc.allowed) from None
        return allowed * (available or 0)
    return None


def plan_run(grid_shape, n_per_product, max_input_pixels, params, *, allowed, tile, scheduler, in_memory,
             workers, backend):
    """The :class:`RunPlan` of a run: estimates checked against ``allowed`` x available memory.

    ``tile`` is the validated ``tile`` option (None, ``"auto"`` or ``(ny,
    nx)``); ``backend`` the backend object (its ``device_memory()`` is the
    second limit when it has a device).  Without ``tile`` (and no
    ``scheduler``, whose runs are tiled anyway) a run over a limit raises
    :class:`OutputTooLargeError` naming ``tile="auto"``; with it the run is
    tiled and each tile checked later.
    """
    untiled = tile is None and scheduler is None
    est = params_estimate(grid_shape, n_per_product, max_input_pixels, params, workers)
    log.info("memory estimate: %.1f MiB", est["total"] / 2**20)
    # over the host limit, tiles are checked one by one and their outputs go to files
    host_allowed = _tile_budget(est, allowed, available_memory(), "host", untiled,
                                "the mosaic is then resampled in tiles within this limit")
    device = backend.device_memory()
    dev_total = device_allowed = None
    if device is not None:
        dev = params_device_estimate(grid_shape, max_input_pixels, params)
        dev_total = dev["total"]
        log.info("device memory estimate: %.1f MiB", dev_total / 2**20)
        # the kernels keep one tile on the device: over the device limit, tiles are checked one by one
        device_allowed = _tile_budget(dev, allowed, device[0], "device", untiled,
                                      "tiles keep only their own part of the grid on the device")
    over = host_allowed is not None or device_allowed is not None
    tile_shape = tile if over or tile != "auto" else None
    if tile == "auto" and tile_shape is None:
        log.info('tile="auto": the run fits the memory limits untiled; not tiling')
    if scheduler is not None and tile_shape is None:
        tile_shape = tuple(min(DEFAULT_TILE, n) for n in grid_shape)
    return RunPlan(tiled=tile_shape is not None, tile_shape=tile_shape,
                   stream=host_allowed is not None or not in_memory, host_bytes=est["total"], device_bytes=dev_total,
                   host_allowed=host_allowed, device_allowed=device_allowed,
                   max_input_pixels=int(max_input_pixels))
