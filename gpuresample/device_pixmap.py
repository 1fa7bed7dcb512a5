"""A caller's pixel map that lives on the device, read by the host only where drizzle's scan needs it.

``Drizzle.add_image`` accepts device arrays (CuPy on a GPU, the emulator's
:class:`~gpuresample.gpu.device.EmulatedDeviceArray`) for a kernel backend.
The kernels read such a map where it is; the host front end still runs
drizzle's scan of the input box (:func:`gpuresample.scanner.row_limits`),
which needs the map's NaN rows and columns (:meth:`DevicePixmap.
shrink_box`: reduced on the device, three ``ny``-long vectors come back)
and the values at a few hundred pixels near the outline
(``DevicePixmap[j, i]``: one 16-byte download each, memoized).  Everything
else that reads the whole map -- an output grid inferred from it, drizzle's
pixel-scale estimate, a host backend -- downloads it once
(:meth:`DevicePixmap.materialize`, counted like every transfer).
"""

from __future__ import annotations

import numpy as np

from .gpu.device import host_copy

__all__ = ["DevicePixmap"]


class DevicePixmap:
    """A ``(ny, nx, 2)`` float64 pixel map held on the device (``device_array``, C order).

    The array must already have the pixel-map checks applied
    (:func:`gpuresample.pixmap_checks.check_pixmap`: far values are NaN);
    it is the caller's array, never written.
    """

    def __init__(self, device_array):
        self.device_array = device_array
        self.shape = tuple(int(n) for n in device_array.shape)
        self._values = {}

    def __getitem__(self, key):
        j, i = (int(k) for k in key)
        v = self._values.get((j, i))
        if v is None:
            v = self._values[(j, i)] = host_copy(self.device_array[j, i])
        return v

    @property
    def values_read(self):
        """How many single pixels the host has read (a measure of the scan's traffic)."""
        return len(self._values)

    def shrink_box(self, xmin, xmax, ymin, ymax):
        """:func:`gpuresample.scanner_polygon.shrink_box` of the map, reduced on the device."""
        sub = self.device_array[ymin : ymax + 1, xmin : xmax + 1]
        ok = (sub[..., 0] == sub[..., 0]) & (sub[..., 1] == sub[..., 1])  # not NaN, without xp.isnan
        row_any = host_copy(ok.any(axis=1))
        rows = np.flatnonzero(row_any)
        if rows.size == 0:
            return xmin, xmax, ymin, ymax, False
        ok = ok.astype(np.int8)  # argmax over integers (not every array library reduces booleans)
        first = host_copy(ok.argmax(axis=1))[rows]
        last = ok.shape[1] - 1 - host_copy(ok[:, ::-1].argmax(axis=1))[rows]
        imin, imax = xmin + int(first.min()), xmin + int(last.max())
        jmin, jmax = ymin + int(rows[0]), ymin + int(rows[-1])
        return imin, imax, jmin, jmax, (imin < imax and jmin < jmax)

    def materialize(self):
        """The whole map on the host (one download of 16 bytes per input pixel)."""
        return host_copy(self.device_array)
