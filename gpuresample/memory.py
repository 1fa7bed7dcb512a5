"""How much memory a resample run needs, checked before anything is allocated.

jwst removed ``allowed_memory`` in 1.17 because it counted only the science
array; we count every output array (context planes, DQ, the variance sums
and final variance/error arrays), the per-exposure working set (pixel map,
weights, scratch copies, the footprint-box variance drizzles) and compare the
total with ``allowed_memory`` x the memory available now.
"""

from __future__ import annotations

import os

from .errors import OutputTooLargeError

__all__ = ["available_memory", "check_memory", "estimate_memory"]

_ENV = "DMODEL_ALLOWED_MEMORY"


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
                    box_pixels=None):
    """Peak bytes a run allocates, as {component: bytes} (plus "total").

    ``box_pixels`` is the largest footprint box (defaults to the canvas).
    """
    n = int(out_shape[0]) * int(out_shape[1])
    m = int(max_input_pixels)
    box = n if box_pixels is None else min(int(box_pixels), n)
    est = {"data+wht": 8 * n}
    if enable_ctx:
        est["context"] = 4 * n * ((max(n_inputs, 1) - 1) // 32 + 1)
    if propagate_dq:
        est["dq"] = 4 * n
    if enable_var:
        est["variance sums"] = 3 * 8 * n
    # per exposure: pixmap (16), weight (4), data/level copy (4), sqrt(var) (4),
    # drizzle's float32 conversions and masks (~6)
    work = 34 * m
    if enable_var:
        # box drizzle (img, wht, squared: 12), combine weight (float64) + masks (~12), shifted pixmap (16/in)
        work += 24 * box + 16 * m
    est["per-exposure working set"] = work
    if enable_var:
        # finalize: three variance arrays, the stack for err and err itself
        est["finalize"] = 4 * 3 * n + 4 * 3 * n + 4 * n + n * 3
    est["total"] = sum(est.values())
    return est


def resolve_allowed_memory(allowed_memory):
    """The fraction to enforce (argument, else $DMODEL_ALLOWED_MEMORY), or None."""
    if allowed_memory is None:
        env = os.environ.get(_ENV, "").strip()
        if not env:
            return None
        try:
            allowed_memory = float(env)
        except ValueError:
            raise ValueError(f"environment variable {_ENV}={env!r} is not a number") from None
        source = f"${_ENV}"
    else:
        source = "allowed_memory"
    try:
        frac = float(allowed_memory)
    except (TypeError, ValueError):
        raise ValueError(f"allowed_memory must be a number in (0, 1] or None; got {allowed_memory!r}") from None
    if not (frac > 0):
        raise ValueError(f"{source} must be > 0 (a fraction of available memory); got {allowed_memory!r}")
    return frac


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
