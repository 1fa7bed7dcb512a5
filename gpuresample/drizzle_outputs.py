"""The outputs of a :class:`gpuresample.Drizzle` as its backend and its callers read them.

A kernel backend keeps the running outputs on the device and brings the
host arrays up to date only when they are read (``backend.sync``).  After
an image given as device arrays (CuPy, or the emulator's
:class:`~gpuresample.gpu.device.EmulatedDeviceArray`) the ``out_*``
properties return the device arrays themselves, shaped like ``window``:
no copy to the host at all.
"""

from __future__ import annotations

__all__ = ["DrizzleOutputs"]


def _output(key, doc):
    """A read-only property returning output ``key`` as :meth:`DrizzleOutputs._read` gives it."""
    return property(lambda self: self._read(key), doc=doc)


class DrizzleOutputs:
    """The output properties of :class:`gpuresample.Drizzle` (mixed in; the state is the Drizzle's)."""

    def host_outputs(self):
        """The host output arrays as they are, without bringing them up to date (for backends).

        ``{"img", "wht", "ctx", "dq", "img2"}`` (None where absent).  A kernel
        backend may hold newer values on the device: the ``out_*`` properties
        are what callers read.
        """
        return {"img": self._out_img, "wht": self._out_wht, "ctx": self._out_ctx, "dq": self._out_dq,
                "img2": self._out_img2}

    def device_outputs(self):
        """The outputs of the window as the backend holds them, without a copy to the host.

        ``{"img", "wht", "ctx", "dq", "img2"}`` (None where absent), shaped
        like :attr:`window` (``(nplanes, ny, nx)`` for ``ctx``): a kernel
        backend's device arrays (CuPy with ``backend="cuda"``; no download),
        the host arrays' window on the CPU backend.  They are the live
        outputs: the next ``add_image`` updates them.
        """
        return self._backend.device_outputs(self)

    def _read(self, key):
        """An output as callers read it: the device array after device inputs, else the host array."""
        if self._device_io:
            return self._backend.device_outputs(self)[key]
        self._backend.sync(self)  # a kernel backend downloads its newer outputs (once)
        return self.host_outputs()[key]

    out_img = _output("img", "Output resampled image (float32, ``(ny, nx)``; a device array after device inputs, "
                             "see add_image).")
    out_wht = _output("wht", "Output weight image (float32).")
    out_ctx = _output("ctx", "Output context planes (int32, ``(nplanes, ny, nx)``); bit k of plane p is input 32p+k.")
    out_img2 = _output("img2", "List of images co-added with squared weights (``data2``), or None.")
    out_dq = _output("dq", "Bitwise OR of the DQ of the input pixels contributing to each output pixel.")
