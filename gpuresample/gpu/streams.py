"""Two streams and double-buffered staging: exposure k+1 crosses the bus while exposure k scatters.

Every input array of an image (data, variances, DQ, weights, scan rows,
the pixel-map model or the map) is *staged*: written by the host into a
pinned (page-locked) buffer of one of two slots -- image k takes slot
``k % 2`` -- and copied from there to the slot's device buffer by an
asynchronous copy on a second stream (the *copy* stream).  The kernels
run on the current stream (the *compute* stream).  Three events keep the
two apart, per slot:

* ``uploaded`` (copy stream, after the slot's last copy): the compute
  stream waits for it before the image's first launch, and the host before
  it rewrites the slot's pinned buffers two images later;
* ``released`` (compute stream, after the image's last launch): the copy
  stream waits for it before it overwrites the slot's device buffers;
* drizzle's miss counter comes back into the slot's pinned memory on the
  compute stream, and :class:`PendingCounts` waits for that copy only
  when the counts are read -- ``Drizzle.add_image(wait=False)``, which
  ``resample()`` uses, so nothing makes the host wait for the device
  between images.

On a GPU (:class:`CudaTimeline`) these are CUDA events on two CuPy
streams and ``cudaMemcpyAsync`` from pinned memory.  The emulator runs
everything at once, in program order, so no ordering bug could change its
values; :class:`CheckedTimeline` instead keeps a logical clock per stream
and checks, at each staged copy, each launch and each read of a count,
that the waits a GPU needs were issued, raising :class:`StreamHazardError`
otherwise (``tests/test_streams.py`` plants missing waits).
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["CheckedTimeline", "CudaTimeline", "PendingCounts", "Staging", "StreamHazardError", "copy_threads",
           "parallel_copyto"]

#: Slots of staged inputs (double buffering).
SLOTS = 2

#: Arrays at least this large are written into pinned memory by several threads:
#: one core's memcpy bandwidth (~10-15 GB/s) is below what the bus takes (~50 GB/s).
PARALLEL_COPY_BYTES = 4 << 20

_pool_lock = threading.Lock()
_pool = None  # (pid, executor): a forked child makes its own


def copy_threads():
    """Threads that write a large input into pinned memory: the cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def _copy_pool():
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(copy_threads(), thread_name_prefix="gpuresample-staging"))
        return _pool[1]


def parallel_copyto(dst, src):
    """``np.copyto(dst, src, casting="unsafe")`` (the conversion ``np.asarray(src, dst.dtype)`` makes),
    split along the first axis over :func:`copy_threads` threads for large arrays (numpy releases the
    GIL while it copies)."""
    threads = copy_threads()
    if dst.nbytes < PARALLEL_COPY_BYTES or threads == 1 or dst.ndim == 0 or dst.shape[0] < threads:
        np.copyto(dst, src, casting="unsafe")
        return
    edges = np.linspace(0, dst.shape[0], threads + 1).astype(int)
    parts = [(dst[a:b], src[a:b]) for a, b in itertools.pairwise(edges)]
    for f in [_copy_pool().submit(np.copyto, d, s_, casting="unsafe") for d, s_ in parts]:
        f.result()


class StreamHazardError(RuntimeError):
    """An operation that, on a GPU, could run before what it depends on (found by the emulator)."""


class _Mark:
    """An event of :class:`CheckedTimeline`: a stream and its clock when recorded."""

    __slots__ = ("seq", "stream")

    def __init__(self, stream, seq):
        self.stream, self.seq = stream, seq


class CheckedTimeline:
    """The emulator's two streams: run at once, with a logical clock checking the waits.

    ``seq[s]`` counts the operations issued on stream ``s`` ("copy",
    "compute"); ``known[(who, s)]`` is the last operation of ``s`` that
    ``who`` ("copy", "compute", "host") has waited for.  An operation that
    needs operation ``n`` of stream ``s`` to be finished calls
    :meth:`require`.
    """

    checked = True

    def __init__(self):
        self.seq = {"copy": 0, "compute": 0}
        self.known = {(w, s): 0 for w in ("copy", "compute", "host") for s in ("copy", "compute")}

    def tick(self, stream):
        """One more operation on ``stream``; its number."""
        self.seq[stream] += 1
        return self.seq[stream]

    def record(self, stream):
        return _Mark(stream, self.seq[stream])

    def wait(self, who, mark):
        """``who`` waits for ``mark`` (a device-side wait for a stream, a blocking one for the host)."""
        key = (who, mark.stream)
        self.known[key] = max(self.known[key], mark.seq)

    def require(self, who, stream, seq, what):
        if seq and self.known[(who, stream)] < seq:
            raise StreamHazardError(f"{what}: {who} has not waited for {stream} operation {seq} "
                                    f"(it has waited up to {self.known[(who, stream)]})")

    def h2d(self, pinned, device):
        device[...] = pinned.reshape(device.shape)
        return self.tick("copy")

    def d2h(self, device, pinned):
        pinned[...] = device.reshape(pinned.shape)
        return self.tick("compute")

    def launched(self):
        return self.tick("compute")

    @staticmethod
    def pinned(nbytes):
        return np.empty(nbytes, np.uint8)


class CudaTimeline:
    """Two CUDA streams of CuPy module ``xp``: the current one computes, a non-blocking one copies."""

    checked = False

    def __init__(self, xp):
        self.xp = xp
        self.copy_stream = xp.cuda.Stream(non_blocking=True)

    def _stream(self, name):
        return self.copy_stream if name == "copy" else self.xp.cuda.get_current_stream()

    def record(self, stream):
        ev = self.xp.cuda.Event(block=False, disable_timing=True)
        ev.record(self._stream(stream))
        return ev

    def wait(self, who, ev):
        if who == "host":
            ev.synchronize()
        else:
            self._stream(who).wait_event(ev)

    def require(self, who, stream, seq, what):
        """Nothing to check: the hardware orders what the events say."""

    def tick(self, stream):
        return 0

    def launched(self):
        return 0

    def h2d(self, pinned, device):
        rt = self.xp.cuda.runtime
        rt.memcpyAsync(device.data.ptr, pinned.ctypes.data, device.nbytes, rt.memcpyHostToDevice,
                       self.copy_stream.ptr)
        return 0

    def d2h(self, device, pinned):
        rt = self.xp.cuda.runtime
        rt.memcpyAsync(pinned.ctypes.data, device.data.ptr, device.nbytes, rt.memcpyDeviceToHost,
                       self.xp.cuda.get_current_stream().ptr)
        return 0

    def pinned(self, nbytes):
        mem = self.xp.cuda.alloc_pinned_memory(nbytes)
        return np.frombuffer(mem, np.uint8, nbytes)  # the view keeps ``mem`` alive


class PendingCounts:
    """drizzle's ``(nmiss, nskip)`` of one image, read when asked (:meth:`result`)."""

    def __init__(self, timeline=None, mark=None, seq=0, view=None, extra_miss=0, nskip=0):
        self._timeline, self._mark, self._seq, self._view = timeline, mark, seq, view
        self._extra, self._nskip = int(extra_miss), int(nskip)
        self._value = None if view is not None else (self._extra, self._nskip)

    @classmethod
    def ready(cls, nmiss, nskip):
        """Counts known already (the CPU backend, an image that visits nothing)."""
        return cls(extra_miss=nmiss, nskip=nskip)

    @property
    def done(self):
        return self._value is not None

    def result(self):
        """``(nmiss, nskip)``, waiting for the device's copy of the miss counter the first time."""
        if self._value is None:
            self._timeline.wait("host", self._mark)
            self._timeline.require("host", "compute", self._seq, "reading drizzle's miss counter")
            self._value = (int(self._view[0]) + self._extra, self._nskip)
            self._view = None
        return self._value


class _Slot:
    """One slot's pinned and device buffers (by name) and its events."""

    def __init__(self, index):
        self.index = index
        self.buffers = {}  # name -> (pinned uint8, device uint8)
        self.uploaded = self.released = None  # the last events (None: nothing to wait for)
        self.upload_seq = self.read_seq = 0  # CheckedTimeline clocks: the last copy in, the last launch
        self.copy_seq = {}  # name -> the last copy out of that pinned buffer
        self.pending = None  # the PendingCounts written into this slot's pinned memory
        self.result = None  # that pinned memory: 8 bytes, drizzle's miss counter
        self.ranges = []  # (start, end) device addresses of the buffers (launch checks)


class Staging:
    """The double-buffered staging of one :class:`~gpuresample.gpu.device.Device`'s image inputs.

    Per image: :meth:`begin` (take the next slot), :meth:`put` for each
    host input (returns the device view), :meth:`ready` before the first
    launch, :meth:`counts` after the last one.
    """

    def __init__(self, dev, timeline):
        self.dev = dev
        self.timeline = timeline
        self.slots = [_Slot(i) for i in range(SLOTS)]
        self._next = 0
        self.slot = None

    def nbytes(self):
        """``(pinned, device)`` bytes the slots hold now."""
        pairs = [pair for slot in self.slots for pair in slot.buffers.values()]
        return sum(p.nbytes for p, _ in pairs), sum(d.nbytes for _, d in pairs)

    def begin(self):
        """Take the next slot: its previous counts are read, its buffers free to be rewritten."""
        slot = self.slots[self._next]
        self._next = (self._next + 1) % SLOTS
        tl = self.timeline
        if slot.pending is not None:
            slot.pending.result()  # its pinned counter is about to be reused
            slot.pending = None
        if slot.uploaded is not None:
            tl.wait("host", slot.uploaded)  # the last copies out of its pinned buffers are done
        if slot.released is not None:
            tl.wait("copy", slot.released)  # its last image's kernels are done with its device buffers
        self.slot = slot
        return slot

    def _buffers(self, name, nbytes):
        slot = self.slot
        have = slot.buffers.get(name)
        if have is None or have[0].nbytes < nbytes:
            size = max(nbytes, 1)
            device = self.dev.xp.empty(size, np.uint8)
            have = slot.buffers[name] = (self.timeline.pinned(size), device)
            slot.ranges = [_address_range(d) for _, d in slot.buffers.values()]
        return have

    def put(self, name, a, dtype):
        """Stage host array ``a`` (converted to ``dtype`` while it is written into pinned memory);
        its C-contiguous device view."""
        a = np.asarray(a)
        return self._stage(name, dtype, a.shape, lambda host: parallel_copyto(host, a))

    def put_stack(self, name, arrays, dtype, n):
        """Stage ``arrays`` (``n`` elements each; None: zeros) one after another; the flat device view."""

        def fill(host):
            for m, a in enumerate(arrays):
                if a is None:
                    host[m] = 0
                else:
                    parallel_copyto(host[m], np.asarray(a).reshape(n))

        return self._stage(name, dtype, (len(arrays), n), fill).reshape(-1)

    def _stage(self, name, dtype, shape, fill):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        pinned, device = self._buffers(name, nbytes)
        tl, slot = self.timeline, self.slot
        tl.require("host", "copy", slot.copy_seq.get(name, 0), f"rewriting pinned buffer {name!r} of slot {slot.index}")
        host = pinned[:nbytes].view(dtype).reshape(shape)
        fill(host)
        dev_view = device[:nbytes].view(dtype).reshape(shape)
        tl.require("copy", "compute", slot.read_seq, f"overwriting device buffer {name!r} of slot {slot.index}")
        slot.copy_seq[name] = slot.upload_seq = self.dev.counted_h2d(nbytes, lambda: tl.h2d(host, dev_view))
        return self.dev.mark(dev_view)

    def ready(self):
        """The compute stream waits for the slot's copies (before the image's first launch)."""
        slot, tl = self.slot, self.timeline
        slot.uploaded = tl.record("copy")
        tl.wait("compute", slot.uploaded)

    def abort(self):
        """End the slot's image after a failure (its buffers are free once what was issued is done)."""
        if self.slot is not None:
            self.slot.uploaded = self.timeline.record("copy")
            self.slot.released = self.timeline.record("compute")
            self.slot = None

    def check_reads(self, args):
        """Before a launch (emulator): staged buffers it reads must have arrived; note the read."""
        seq = self.timeline.seq["compute"] + 1
        for slot in self.slots:
            if not slot.ranges:
                continue
            hit = False
            for a in args:
                if hasattr(a, "nbytes") and getattr(a, "ndim", 0) and _inside(a, slot.ranges):
                    self.timeline.require("compute", "copy", slot.upload_seq,
                                          f"a launch reading staged slot {slot.index}")
                    hit = True
            if hit:
                slot.read_seq = seq

    def counts(self, nmiss, extra_miss, nskip):
        """Release the slot (after the image's last launch) and bring its miss counter back later."""
        slot, tl = self.slot, self.timeline
        if slot.result is None:
            slot.result = tl.pinned(8).view(np.uint64)
        view = slot.result
        seq = self.dev.counted_d2h(8, lambda: tl.d2h(nmiss, view))
        slot.released = mark = tl.record("compute")
        slot.pending = PendingCounts(tl, mark, seq, view, extra_miss, nskip)
        self.slot = None
        return slot.pending


def _address_range(a):
    start = a.data.ptr if hasattr(a.data, "ptr") else a.__array_interface__["data"][0]
    return start, start + a.nbytes


def _inside(a, ranges):
    start, _ = _address_range(a)
    return any(lo <= start < hi for lo, hi in ranges)
