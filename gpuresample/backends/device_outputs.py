"""One Drizzle's outputs resident on the device, and the per-image scratch sums.

A kernel backend keeps, for every :class:`gpuresample.Drizzle` it computes
for, a :class:`DeviceOutputs` in ``driz.backend_state``: the running outputs
of the object's window (``out_img``, ``out_wht``, the context planes,
``out_dq``, the ``out_img2`` list) as device arrays shaped ``(win_ny,
win_nx)``, created once and updated in place by the merge kernels after
every image.  The host arrays of the Drizzle are brought up to date only
when something reads them (:meth:`to_host`, called by the Drizzle's
properties): a run downloads each output array once, at the end.

Outputs the Drizzle allocated itself start on the device as their fill
value (no upload).  Outputs the *caller* supplied as host arrays keep
drizzle's in-place contract instead: they are uploaded before and
downloaded after every image (``write_through``), because the caller may
read or change them between images.

The scratch sums of one image (float64 ``sum_wd``, ``sum_w``, the DQ OR,
the ``data2`` and ``linear`` sums) are allocated once per size and zeroed
on the device before each image.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DeviceOutputs"]


class DeviceOutputs:
    """The device copy of ``driz``'s outputs inside ``driz.window`` (see the module docstring).

    The attributes the launch code reads: ``out_shape`` (the whole grid,
    ``(ny, nx)``), ``window`` (``(y0, y1, x0, x1)``, half-open), ``out_img``,
    ``out_wht``, ``out_dq`` (or None), ``out_img2`` (list or None) and
    ``out_ctx`` (``(nplanes, win_ny, win_nx)`` or None), all C-contiguous
    device arrays; ``last_linear`` is set by the launch code.
    """

    def __init__(self, dev, driz):
        self.dev = dev
        self.out_shape = driz.out_shape
        self.window = driz.window
        y0, y1, x0, x1 = self.window
        self.shape = (y1 - y0, x1 - x0)
        self._sl = (slice(y0, y1), slice(x0, x1))
        self.write_through = driz.caller_outputs
        self.dirty = False
        self._scratch = {}
        host = driz.host_outputs()
        fills = driz.initial_fills
        self.out_img = self._start(host["img"], fills.get("img"), np.float32)
        self.out_wht = self._start(host["wht"], fills.get("wht"), np.float32)
        self.out_ctx = None
        if host["ctx"] is not None:
            self.out_ctx = self._start(host["ctx"], fills.get("ctx"), np.int32)
        self.out_dq = self._start(host["dq"], fills.get("dq"), np.uint32)
        self.out_img2 = None
        self._sync_img2(host, fills)
        self.last_linear = None

    def _start(self, host, fill, dtype):
        """The device array of one output: its fill value when we allocated it, else an upload."""
        if host is None:
            return None
        if fill is not None and not self.write_through:
            return self.dev.full((*host.shape[:-2], *self.shape), fill, dtype)
        return self.dev.upload(host[(..., *self._sl)], dtype)

    def _sync_img2(self, host, fills):
        if host["img2"] is None:
            return
        have = 0 if self.out_img2 is None else len(self.out_img2)
        fill2 = fills.get("img2", {})
        extra = [self._start(a, fill2.get(m), np.float32) for m, a in enumerate(host["img2"]) if m >= have]
        self.out_img2 = (self.out_img2 or []) + extra

    def follow(self, driz):
        """Catch up with outputs the Drizzle created since: more context planes, ``out_dq``, ``out_img2``."""
        host = driz.host_outputs()
        fills = driz.initial_fills
        ctx = host["ctx"]
        if ctx is not None and self.out_ctx is not None and ctx.shape[0] > self.out_ctx.shape[0]:
            # drizzle appends zero planes when a context ID overflows the last one
            grown = self.dev.zeros((ctx.shape[0], *self.shape), np.int32)
            grown[: self.out_ctx.shape[0]] = self.out_ctx
            self.out_ctx = grown
        if self.out_dq is None and host["dq"] is not None:
            self.out_dq = self._start(host["dq"], fills.get("dq"), np.uint32)
        self._sync_img2(host, fills)

    def scratch(self, name, n, dtype, clear=True):
        """A device buffer of ``n`` elements for one image (reused across images); zeroed unless
        ``clear`` is False (a buffer the next launch overwrites entirely)."""
        buf = self._scratch.get(name)
        if buf is None or buf.size != n or buf.dtype != dtype:
            buf = self._scratch[name] = self.dev.zeros(n, dtype)
        elif clear:
            self.dev.clear(buf)
        return buf

    def to_host(self, driz):
        """Download the outputs into ``driz``'s host arrays (their window); a no-op when up to date."""
        if not self.dirty:
            return
        host = driz.host_outputs()

        def put(dev_arr, host_arr):
            if dev_arr is not None and host_arr is not None:
                self.dev.download_into(dev_arr, host_arr[(..., *self._sl)])

        put(self.out_img, host["img"])
        put(self.out_wht, host["wht"])
        put(self.out_ctx, host["ctx"])
        put(self.out_dq, host["dq"])
        for dev_arr, host_arr in zip(self.out_img2 or [], host["img2"] or [], strict=False):
            put(dev_arr, host_arr)
        self.dirty = False

    def window_arrays(self):
        """The device arrays themselves: ``{"img", "wht", "ctx", "dq", "img2"}`` (no copy)."""
        return {"img": self.out_img, "wht": self.out_wht, "ctx": self.out_ctx, "dq": self.out_dq,
                "img2": self.out_img2}
