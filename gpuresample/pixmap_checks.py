"""Checks of the pixel map passed to :meth:`gpuresample.Drizzle.add_image` (one place for every backend).

``pixmap[j, i] = (x, y)`` is the 0-based output position of the centre of
input pixel ``(i, j)``, shaped ``(ny, nx, 2)``.  drizzle's C code trusts the
map; these checks turn the maps on which it would crash or read undefined
memory into a defined result (far coordinates become NaN) or a
``ValueError`` naming ``pixmap`` (a scan drizzle cannot do), the same on
every backend.  See ``tests/test_degenerate_pixmaps.py`` for the cases.
"""

from __future__ import annotations

import numpy as np

from .device_pixmap import DevicePixmap
from .gpu.device import is_device_array
from .pixmap_model import FAR, LazyPixmap, SplinePixmap
from .scanner import row_limits
from .scanner_polygon import shrink_box

__all__ = ["MAX_PIXMAP_COORD", "check_finite_box", "check_pixmap", "check_pixmap_model", "model_pixmap", "scan_limits"]

#: Largest pixel-map coordinate (output pixels, either sign) taken as a position.
#: Farther values, and infinities, are "lands nowhere" (NaN): drizzle's C code
#: rounds coordinates to 32-bit ints (a value of 1e15 can crash it) and the
#: GPU's 64-bit conversion saturates, so neither could give a defined result.
#: No output grid is within a factor 1000 of this size (2**26 = 67,108,864 px).
MAX_PIXMAP_COORD = FAR  # one value for the host checks and the device expansion


def check_pixmap(pixmap, shape):
    """``pixmap`` as float64 ``(ny, nx, 2)`` matching ``data``'s ``shape``; coordinates beyond
    :data:`MAX_PIXMAP_COORD` (or infinite) become NaN, in a copy.  A
    :class:`~gpuresample.pixmap_model.LazyPixmap` is returned as it is (its
    model has no such values); a device array (CuPy, emulator) is checked on
    the device and returned as a :class:`~gpuresample.device_pixmap.DevicePixmap`."""
    ny, nx = shape
    if isinstance(pixmap, LazyPixmap):
        if pixmap.shape != (ny, nx, 2):
            raise ValueError(f"'pixmap_model' describes a {pixmap.shape[:2]} input; 'data' is {(ny, nx)}")
        return pixmap
    on_device = is_device_array(pixmap)
    pixmap = pixmap.astype(np.float64, copy=False) if on_device else np.asarray(pixmap, dtype=np.float64)
    if pixmap.shape != (ny, nx, 2):
        raise ValueError(
            f"'pixmap' must have shape (ny, nx, 2) = {(ny, nx, 2)} matching 'data'; "
            f"got {pixmap.shape}"
        )
    with np.errstate(invalid="ignore"):
        far = abs(pixmap) > MAX_PIXMAP_COORD  # inf too; NaN stays NaN (on the device for a device map)
    if bool(far.any()):
        pixmap = pixmap.copy()  # never the caller's array
        pixmap[far] = np.nan
    if on_device:
        return DevicePixmap(pixmap if pixmap.flags.c_contiguous else pixmap.copy(order="C"))
    return pixmap


def check_finite_box(pixmap, box):
    """Refuse a box with fewer than 2 rows or columns of non-NaN ``pixmap`` entries.

    drizzle shrinks the box to the rows/columns with non-NaN pixmap values and
    fails if fewer than 2 remain in either direction: check it here, before the
    context ID and exposure time change.
    """
    if not shrink_box(pixmap, *box)[4]:
        raise ValueError(
            "'pixmap' has too few finite entries: at least two rows and two columns of the "
            "input box need a non-NaN (x, y)"
        )


def scan_limits(pixmap, out_shape, box, kernel):
    """drizzle's per-row scan of the input ``box`` (None for the tophat kernel, which visits the box).

    Computed once here for every backend (the kernel backends launch over
    these rows).  A pixel map whose footprint edges degenerate (an edge
    through a NaN corner, a zero-length edge) makes drizzle's scan return
    column limits outside the box (its C code converts a NaN limit to
    ``INT_MIN`` and then reads outside the input): drizzle 3.0 crashes on
    such input, so it is refused here, on every backend, naming the row.
    """
    if kernel == "tophat":
        return None
    # a lazy map's model keeps the scans made of it (also by a prefetch helper process)
    cache = getattr(getattr(pixmap, "model", None), "scans", None)
    key = (tuple(int(n) for n in out_shape), tuple(int(v) for v in box))
    limits = None if cache is None else cache.get(key)
    if limits is None:
        limits = row_limits(pixmap, out_shape, *box)
        if cache is not None:
            cache[key] = limits
    if limits.nan_row is not None:
        j = limits.nan_row
        raise ValueError(
            f"'pixmap' is degenerate: drizzle's scan of input row {j} starts at a footprint edge whose "
            "position is NaN (drizzle's C code would then read outside the input image and crash). "
            f"Check the pixel map near row {j}: repeated or NaN corners of the input box's outline"
        )
    return limits


def model_pixmap(model, shape, lazy):
    """The map that ``pixmap=None`` stands for: ``model``'s (a :class:`SplinePixmap` of input ``shape``).

    ``lazy`` (a kernel backend, which expands the map on the device): a
    :class:`~gpuresample.pixmap_model.LazyPixmap` when the model allows it,
    so the host never makes the whole map; else the evaluated map.
    """
    if model is None:
        raise ValueError("'pixmap' is required (None only with a 'pixmap_model' that describes it)")
    model = check_pixmap_model(model, shape)
    return LazyPixmap(model) if lazy and model.lazy_ok else model.evaluate()


def check_pixmap_model(model, shape, origin=None):
    """``pixmap_model`` (None, or a :class:`~gpuresample.pixmap_model.SplinePixmap` of input ``shape``).

    ``origin``: the ``(x, y)`` an inferred output grid starts at (the host
    map was shifted by it); the model is shifted the same way.
    """
    if model is None:
        return None
    if not isinstance(model, SplinePixmap):
        raise TypeError(f"'pixmap_model' must be a SplinePixmap or None; got {type(model).__name__}")
    if model.shape != tuple(shape):
        raise ValueError(f"'pixmap_model' describes a {model.shape} input; 'data' is {tuple(shape)}")
    if origin:
        model = model.shifted(*origin)
    return model

