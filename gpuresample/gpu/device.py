"""The device as the launch code sees it: memory, counted transfers and counted launches.

Every byte that crosses the bus between host and device goes through
:meth:`Device.upload` or :meth:`Device.download`, and every kernel launch
through :meth:`Device.launch`; each is counted in :data:`STATS` (one
process-wide record, because a run's Drizzle objects and its variance
accumulators share the device).  That is how CI proves the transfer design
without a GPU: the emulator moves its "device" arrays through the same
methods, so its counts are the counts of a GPU run of the same inputs.

``xp`` is the array module of the device: CuPy on a GPU, numpy for the
emulator (where "device" arrays are host arrays that only the launch code
creates: an upload is a real copy, so a missing upload is not hidden by
aliasing).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from .streams import CheckedTimeline, CudaTimeline, Staging

__all__ = ["PHASES", "STATS", "Device", "EmulatedDeviceArray", "PhaseTimer", "TransferStats", "host_copy",
           "is_device_array"]

log = logging.getLogger("gpuresample")


@dataclass
class TransferStats:
    """Bytes and copies host->device (``h2d``) and device->host (``d2h``), and kernel launches."""

    h2d_bytes: int = 0
    h2d_copies: int = 0
    d2h_bytes: int = 0
    d2h_copies: int = 0
    launches: int = 0
    #: copies made on the device of arrays the caller passed as device arrays (no bus crossed)
    d2d_bytes: int = 0

    def snapshot(self):
        """A copy of the counters now."""
        return TransferStats(**asdict(self))

    def since(self, before):
        """The counts accumulated after ``before`` (a :meth:`snapshot`), as a dict."""
        now = asdict(self)
        return {k: v - getattr(before, k) for k, v in now.items()}

    def add(self, counts):
        """Add ``counts`` (a :meth:`since` dict, e.g. from a tile worker in another process)."""
        for k, v in counts.items():
            setattr(self, k, getattr(self, k) + int(v))


#: The process's counters (all kernel backends, all devices of this process).
STATS = TransferStats()


class EmulatedDeviceArray(np.ndarray):
    """An array in the emulator's "device" memory: what a CuPy array is on a GPU.

    The emulator's :class:`Device` makes its arrays of this numpy subclass,
    so that an array a caller got from it (``backend.asarray``,
    ``Drizzle.device_outputs``, ``resample(output="device")``) is told apart
    from a host array when it comes back as an input: it is used where it is,
    not uploaded (and not counted as a transfer), as a CuPy array on a GPU.
    Arithmetic on it stays on the "device" (numpy keeps the subclass).
    """


def is_device_array(a):
    """True for a CuPy array or an :class:`EmulatedDeviceArray` (without importing CuPy)."""
    if isinstance(a, EmulatedDeviceArray):
        return True
    return type(a).__module__.partition(".")[0] in ("cupy", "cupy_backends")


def host_copy(a):
    """A numpy copy of device array ``a`` (counted as a download); other arrays as numpy, uncopied."""
    if not is_device_array(a):
        return np.asarray(a)
    STATS.d2h_bytes += a.nbytes
    STATS.d2h_copies += 1
    return np.array(a, copy=True) if isinstance(a, EmulatedDeviceArray) else a.get()

#: Phases of an image on the device, as :class:`PhaseTimer` reports them.
PHASES = ("upload", "pixmap", "prepare", "scatter", "merge", "download")


def _phase_of(kernel):
    """The phase a kernel launch belongs to (:data:`PHASES`)."""
    if kernel == "expand_pixmap":
        return "pixmap"
    if kernel == "prepare_inputs":
        return "prepare"
    return "merge" if kernel.startswith("merge") else "scatter"


class PhaseTimer:
    """Device time per phase (:data:`PHASES`) of the transfers and launches made while it is on.

    On a GPU each transfer and launch is bracketed by CUDA events on the
    current stream, so the times are the device's own (host work between
    them is not counted); on the emulator, where everything is synchronous,
    by ``time.perf_counter``.  :meth:`seconds` synchronises and sums.
    """

    def __init__(self, xp):
        self.xp = xp
        self.marks = []  # (phase, start, end)

    def start(self, stream=None):
        """A start mark: now (emulator), or an event recorded on ``stream`` (default: the current one)."""
        if self.xp is np:
            return time.perf_counter()
        ev = self.xp.cuda.Event()
        ev.record(stream)
        return ev

    def stop(self, phase, start, stream=None):
        self.marks.append((phase, start, self.start(stream)))

    def seconds(self):
        """``{phase: seconds}`` summed over the marks (every phase present, 0 when unused)."""
        out = dict.fromkeys(PHASES, 0.0)
        for phase, a, b in self.marks:
            if self.xp is np:
                out[phase] += b - a
            else:
                b.synchronize()
                out[phase] += self.xp.cuda.get_elapsed_time(a, b) / 1e3  # milliseconds
        return out


class Device:
    """Allocation, transfers and launches on one device through array module ``xp``.

    Parameters
    ----------
    xp : module
        ``cupy`` or ``numpy`` (the emulator).
    module : object
        The loaded kernels, with ``launch(name, grid, block, args)``.
    """

    def __init__(self, xp, module):
        self.xp = xp
        self.module = module
        self._constants = {}
        self.timer = None  # a PhaseTimer while timing() is on
        self._local = threading.local()

    @property
    def staging(self):
        """This thread's double-buffered input staging (:class:`~gpuresample.gpu.streams.Staging`).

        One per thread, with its own copy stream: tiles drizzled by the
        threads of one process (a Dask worker's) never share slots.
        """
        staging = getattr(self._local, "staging", None)
        if staging is None:
            timeline = CheckedTimeline() if self.xp is np else CudaTimeline(self.xp)
            staging = self._local.staging = Staging(self, timeline)
        return staging

    @property
    def timeline(self):
        """This thread's two streams (checked on the emulator: :class:`~gpuresample.gpu.streams.CheckedTimeline`)."""
        return self.staging.timeline

    @contextmanager
    def timing(self):
        """Time the device's phases meanwhile: ``with dev.timing() as t: ...; t.seconds()``."""
        self.timer = PhaseTimer(self.xp)
        try:
            yield self.timer
        finally:
            self.timer = None

    @contextmanager
    def _phase(self, phase, copy_stream=False):
        timer = self.timer
        if timer is None:
            yield
            return
        stream = self.timeline.copy_stream if copy_stream and self.xp is not np else None
        start = timer.start(stream)
        yield
        timer.stop(phase, start, stream)

    # -- memory on the device (no transfer)
    def mark(self, a):
        """``a`` (an array the launch code made with ``xp``) as a device array: on the emulator a
        view of type :class:`EmulatedDeviceArray`, so that it is recognised when it comes back."""
        if self.xp is np and not isinstance(a, EmulatedDeviceArray):
            return a.view(EmulatedDeviceArray)
        return a

    def zeros(self, shape, dtype):
        """A zeroed device array."""
        return self.mark(self.xp.zeros(shape, dtype))

    def full(self, shape, value, dtype):
        """A device array filled with ``value``."""
        return self.mark(self.xp.full(shape, value, dtype))

    @staticmethod
    def clear(a):
        """Zero device array ``a`` in place (a device memset, not a transfer)."""
        a.fill(0)

    @staticmethod
    def fill(a, value):
        """Set every element of device array ``a`` to ``value`` (on the device, not a transfer)."""
        a.fill(value)

    # -- transfers (counted)
    def upload(self, a, dtype, readonly=False):
        """Copy host array ``a`` to the device as C-contiguous ``dtype`` (converted on the host first).

        Converting before the copy means the bus carries exactly the bytes the
        kernels read (a float64 input travels as float32, once).  A device
        array ``a`` (:func:`is_device_array`) crosses no bus: it is converted
        on the device, and copied there (counted in ``d2d_bytes``) unless
        ``readonly`` (the kernels only read it) and it already has ``dtype``
        and C order -- a caller's device array is never written.
        """
        if is_device_array(a):
            return self._on_device(a, dtype, readonly)
        host = np.ascontiguousarray(a, dtype=dtype)
        STATS.h2d_bytes += host.nbytes
        STATS.h2d_copies += 1
        with self._phase("upload"):
            if self.xp is np:
                return self.mark(host.copy())  # a distinct buffer: the "device" array is never the caller's
            return self.xp.asarray(host)

    def _on_device(self, a, dtype, readonly):
        if not isinstance(a, self.xp.ndarray):
            raise TypeError(f"a {type(a).__module__}.{type(a).__name__} array cannot be used by the "
                            f"{'emulator' if self.xp is np else 'CUDA'} backend: pass numpy arrays or arrays "
                            "of this backend's device")
        if readonly and a.dtype == dtype and a.flags.c_contiguous:
            return a
        STATS.d2d_bytes += a.size * np.dtype(dtype).itemsize
        return self.mark(self.xp.array(a, dtype=dtype, order="C", copy=True))

    def upload_into(self, a, d):
        """Copy host array ``a`` into the contiguous device array (or slice) ``d`` of as many elements.

        ``a`` is converted to ``d``'s dtype on the host first, as :meth:`upload`;
        a device array ``a`` is copied on the device (``d2d_bytes``).
        """
        if is_device_array(a):
            STATS.d2d_bytes += d.nbytes
            d[...] = a.reshape(d.shape)
            return
        host = np.ascontiguousarray(a, dtype=d.dtype).reshape(d.shape)
        STATS.h2d_bytes += host.nbytes
        STATS.h2d_copies += 1
        with self._phase("upload"):
            if self.xp is np:
                d[...] = host
            else:
                d.set(host)

    def download(self, d):
        """Copy device array ``d`` to a new numpy array."""
        STATS.d2h_bytes += d.nbytes
        STATS.d2h_copies += 1
        with self._phase("download"):
            if self.xp is np:
                return np.array(d, copy=True)
            return d.get()

    def download_into(self, d, host_view):
        """Copy device array ``d`` into the host array (or view) ``host_view`` of the same shape."""
        if self.xp is np:
            STATS.d2h_bytes += d.nbytes
            STATS.d2h_copies += 1
            with self._phase("download"):
                host_view[...] = d
        else:
            host_view[...] = self.download(d)

    def counted_h2d(self, nbytes, copy):
        """Run ``copy()`` (an asynchronous copy to the device on the copy stream), counted and timed."""
        STATS.h2d_bytes += nbytes
        STATS.h2d_copies += 1
        with self._phase("upload", copy_stream=True):
            return copy()

    def counted_d2h(self, nbytes, copy):
        """Run ``copy()`` (an asynchronous copy to pinned host memory on the compute stream), counted."""
        STATS.d2h_bytes += nbytes
        STATS.d2h_copies += 1
        with self._phase("download"):
            return copy()

    def constant(self, key, make, dtype):
        """A small read-only table uploaded once per device (``make()`` builds it on the host)."""
        if key not in self._constants:
            self._constants[key] = self.upload(make(), dtype, readonly=True)
        return self._constants[key]

    # -- kernels (counted)
    def launch(self, name, grid, block, args):
        """Launch kernel ``name`` of the module (1-D ``grid`` x ``block``)."""
        STATS.launches += 1
        staging = self.staging
        if staging.timeline.checked:
            staging.check_reads(args)
        with self._phase(_phase_of(name)):
            self.module.launch(name, grid, block, args)
        staging.timeline.launched()
