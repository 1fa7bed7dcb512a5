"""Two streams and double-buffered staging (issue 12, item 2), checked on the emulator.

The emulator runs every copy and launch at once, so a missing wait between
the copy and the compute stream cannot change its values; its
:class:`~gpuresample.gpu.streams.CheckedTimeline` instead checks that every
wait a GPU needs was issued.  Every emulator test runs under that check;
here each of the four waits is removed in turn and the run must fail with
:class:`StreamHazardError`, and ``wait=False`` must give the same counts
without reading them at the end of every image.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rotated_pixmap

from gpuresample import Drizzle
from gpuresample.gpu.device import STATS
from gpuresample.gpu.streams import CheckedTimeline, PendingCounts, StreamHazardError

SHAPE = (24, 26)


def _images(n):
    rng = np.random.default_rng(3)
    out = []
    for k in range(n):
        pm = rotated_pixmap(SHAPE, 5.0 * k, 1.0, (4.0 + k, 3.0 + 0.5 * k), curvature=1e-3)
        out.append((rng.random(SHAPE, np.float32), pm, rng.uniform(0.5, 1.5, SHAPE).astype(np.float32)))
    return out


def _run(images, wait=True, kernel="square"):
    d = Drizzle(kernel=kernel, out_shape=(36, 38), backend="emulator")
    counts = [d.add_image(data, exptime=1.0, pixmap=pm, weight_map=w, dq=(data > 0.5).astype(np.uint32),
                          linear=[w], pixel_scale_ratio=1.0, wait=wait) for data, pm, w in images]
    return d, counts


def test_deferred_counts_equal_the_immediate_ones():
    images = _images(5)
    now, counts_now = _run(images)
    later, pending = _run(images, wait=False)
    assert all(isinstance(p, PendingCounts) for p in pending)
    assert not pending[-1].done  # nothing read it yet: the host never waited for the last image
    assert [p.result() for p in pending] == counts_now
    np.testing.assert_array_equal(later.out_img, now.out_img)
    np.testing.assert_array_equal(later.out_dq, now.out_dq)
    assert any(n for n, _ in counts_now)  # the counts are not all zero


def test_images_alternate_between_two_slots_and_each_input_crosses_once():
    images = _images(4)
    _run(images[:1])  # compile, constants
    d = Drizzle(kernel="square", out_shape=(36, 38), backend="emulator")
    staging = d._backend.device.staging
    used = []
    before = STATS.snapshot()
    for data, pm, w in images:
        d.add_image(data, exptime=1.0, pixmap=pm, weight_map=w, pixel_scale_ratio=1.0)
        used.append(staging._next)
    moved = STATS.since(before)
    assert used in ([1, 0, 1, 0], [0, 1, 0, 1])  # the backend (and its staging) is shared across tests
    n = SHAPE[0] * SHAPE[1]
    # data and weights (float32), the float64 map and two int64 scan rows per image
    assert moved["h2d_bytes"] == len(images) * (n * (4 + 4 + 16) + 2 * 8 * SHAPE[0])


@pytest.mark.parametrize(("who", "stream", "match"), [
    ("copy", "compute", "overwriting device buffer"),
    ("compute", "copy", "a launch reading staged slot"),
    ("host", "copy", "rewriting pinned buffer"),
    ("host", "compute", "reading drizzle's miss counter"),
], ids=["copy-waits-for-kernels", "kernels-wait-for-copy", "host-waits-for-copy", "host-waits-for-counter"])
def test_a_missing_wait_is_caught(monkeypatch, who, stream, match):
    """Plant each missing wait: on a GPU the operation could run before what it depends on."""
    real_wait = CheckedTimeline.wait

    def forgetful(self, waiter, mark):
        if (waiter, mark.stream) != (who, stream):
            real_wait(self, waiter, mark)

    monkeypatch.setattr(CheckedTimeline, "wait", forgetful)
    def run_and_read():
        _, pending = _run(_images(3), wait=False)
        return [p.result() for p in pending]

    with pytest.raises(StreamHazardError, match=match):
        run_and_read()


def test_a_failed_image_frees_its_slot():
    """An image failing after its slot was taken leaves the staging usable, the outputs unchanged."""
    images = _images(3)
    d, _ = _run(images[:1])
    before = np.array(d.out_img)
    kernels = d._backend.kernels

    def fail(*args):
        raise RuntimeError("planted launch failure")

    real = kernels._launch
    kernels._launch = fail
    try:
        with pytest.raises(RuntimeError, match="planted"):
            d.add_image(images[1][0], exptime=1.0, pixmap=images[1][1], pixel_scale_ratio=1.0)
    finally:
        kernels._launch = real
    np.testing.assert_array_equal(d.out_img, before)
    for data, pm, _ in images:
        d.add_image(data, exptime=1.0, pixmap=pm, pixel_scale_ratio=1.0)


@pytest.mark.parametrize("case", ["f64-to-f32", "strided", "int-to-uint32"])
def test_parallel_copy_is_numpys_conversion(case):
    """The staging's threaded copy into pinned memory converts exactly as ``np.asarray(a, dtype)``."""
    from gpuresample.gpu.streams import PARALLEL_COPY_BYTES, parallel_copyto

    rng = np.random.default_rng(1)
    n = PARALLEL_COPY_BYTES // 4 + 1000  # large enough to be split
    if case == "f64-to-f32":
        src, dtype = rng.normal(0, 1e30, (n // 100, 100)), np.float32
    elif case == "strided":
        src, dtype = rng.random((n // 50, 200), np.float32)[:, ::2], np.float32
    else:
        src, dtype = rng.integers(-2**31, 2**31, (n // 100, 100)), np.uint32
    dst = np.empty(src.shape, dtype)
    parallel_copyto(dst, src)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(dst, np.asarray(src).astype(dtype))


def test_threads_have_their_own_staging(monkeypatch):
    """Two threads drizzling at once (a Dask worker's tiles) each stage into their own slots: the
    results are the serial ones and no hazard is raised.  A barrier before each image's first
    launch makes both threads hold a staged image at the same moment."""
    import threading

    from gpuresample.gpu.streams import Staging

    images = _images(4)
    serial = [_run(images[k::2])[0] for k in (0, 1)]
    results, errors = {}, []
    barrier = threading.Barrier(2, timeout=30)
    real_ready = Staging.ready

    def ready_together(self):
        barrier.wait()
        real_ready(self)

    monkeypatch.setattr(Staging, "ready", ready_together)

    def work(k):
        try:
            results[k] = _run(images[k::2])[0]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in (0, 1):
        np.testing.assert_array_equal(results[k].out_img, serial[k].out_img)
        np.testing.assert_array_equal(results[k].out_wht, serial[k].out_wht)
