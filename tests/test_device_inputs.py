"""Inputs that already live on the device: ``Drizzle.add_image`` with device arrays (issue 12, item 1).

On the emulator a device array is an :class:`EmulatedDeviceArray` (what
``backend.asarray`` returns; a CuPy array on a GPU).  Given one, the
kernel backend must read it where it is -- nothing of it crosses the "bus"
(the transfer counters) and the caller's array is never written -- and the
outputs come back as device arrays without a download.  The values must be
bitwise those of the same images given as numpy arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rotated_pixmap

from gpuresample import Drizzle
from gpuresample.backends import get_backend
from gpuresample.device_pixmap import DevicePixmap
from gpuresample.gpu.device import STATS, EmulatedDeviceArray, is_device_array
from gpuresample.weights import WeightRule

SHAPE = (30, 34)
OUT = (44, 46)


def _inputs(seed):
    rng = np.random.default_rng(seed)
    ny, nx = SHAPE
    data = rng.normal(1.0, 0.3, SHAPE).astype(np.float32)
    data[3, 4] = np.nan  # the non-finite rule zeroes it (on a copy, never the caller's array)
    var = rng.uniform(0.5, 2.0, SHAPE).astype(np.float32)
    dq = np.where(rng.random(SHAPE) < 0.05, 4, 0).astype(np.uint32)
    dq[rng.random(SHAPE) < 0.03] |= 1
    pixmap = rotated_pixmap(SHAPE, 7.0 * seed, 1.1, (6.0 + seed, 5.0), rng=rng, curvature=1e-3)
    weight = rng.uniform(0.5, 1.5, SHAPE).astype(np.float32)
    return dict(data=data, var=var, dq=dq, pixmap=pixmap, weight=weight, nx=nx, ny=ny)


def _on_device(images):
    """The images' arrays as emulator device arrays (what the emulator backend's asarray makes)."""
    emu = get_backend("emulator")
    return [{k: emu.asarray(v) if isinstance(v, np.ndarray) else v for k, v in im.items()} for im in images]


def _run(kernel, images, with_rule, backend="emulator"):
    """Drizzle ``images`` on ``backend`` (the variance drizzled as data2 and as a linear sqrt)."""
    d = Drizzle(kernel=kernel, out_shape=OUT, fillval=0, backend=backend)
    counts = []
    for im in images:
        data, var, dq, pm = (im[k] for k in ("data", "var", "dq", "pixmap"))
        kw = dict(data2=[var], linear=[var], linear_sqrt=True, dq=dq)
        if with_rule:
            kw["weight_rule"] = WeightRule(SHAPE, var=var, dq=dq, good_bits="~1")
        else:
            kw["weight_map"] = im["weight"]
        counts.append(d.add_image(data, exptime=10.0, pixmap=pm, pixfrac=0.8, pixel_scale_ratio=1.0, **kw))
    return d, counts


@pytest.mark.parametrize("kernel", ["square", "turbo", "lanczos3", "point", "gaussian"])
@pytest.mark.parametrize("with_rule", [False, True], ids=["weight_map", "weight_rule"])
def test_device_inputs_give_the_host_inputs_result_without_crossing_the_bus(kernel, with_rule):
    images = [_inputs(s) for s in (1, 2, 3)]
    originals = [{k: v.copy() for k, v in im.items() if isinstance(v, np.ndarray)} for im in images]
    host, host_counts = _run(kernel, images, with_rule)
    host_out = {k: np.array(getattr(host, f"out_{k}")) for k in ("img", "wht", "ctx", "dq")}
    host_var = np.array(host.out_img2[0])
    host_lin = np.array(host.last_linear[0])

    on_device = _on_device(images)
    before = STATS.snapshot()
    dev, dev_counts = _run(kernel, on_device, with_rule)
    moved = STATS.since(before)
    assert dev_counts == host_counts
    for k, a in host_out.items():
        out = getattr(dev, f"out_{k}")
        assert isinstance(out, EmulatedDeviceArray), k  # no download: the device's own array
        np.testing.assert_array_equal(out, a, err_msg=k)
    np.testing.assert_array_equal(dev.out_img2[0], host_var)
    np.testing.assert_array_equal(dev.last_linear[0], host_lin)
    assert is_device_array(dev.last_linear[0])
    # only the uploads the kernels make of host-side scan rows and tables; every input array
    # (data, var, dq, weights, pixmap: 32 bytes per input pixel) stayed on the device
    n_in = SHAPE[0] * SHAPE[1]
    assert moved["h2d_bytes"] < 3 * 16 * SHAPE[0] + 8 * 1000, moved
    assert moved["h2d_bytes"] < 0.25 * 32 * n_in * len(images), moved
    # back came the miss counters, the box's NaN rows/columns and the few map pixels drizzle's
    # scan reads (~200 here, whatever the map's size: test_device_pixmap_scan_reads_few_pixels)
    assert moved["d2h_bytes"] < 6000 * len(images), moved
    for im, orig in zip(images, originals, strict=True):
        for k, a in orig.items():
            np.testing.assert_array_equal(im[k], a, err_msg=f"the caller's {k} was written")


def test_cpu_backend_downloads_device_inputs_once():
    images = [_inputs(s) for s in (1, 2)]
    host, _ = _run("square", images, True, backend="cpu")
    on_device = _on_device(images)
    before = STATS.snapshot()
    dev, _ = _run("square", on_device, True, backend="cpu")
    moved = STATS.since(before)
    assert moved["d2h_bytes"] > 0 and moved["h2d_bytes"] == 0
    assert type(dev.out_img) is np.ndarray  # the host backend's outputs are host arrays
    np.testing.assert_array_equal(dev.out_img, host.out_img)
    np.testing.assert_array_equal(dev.out_wht, host.out_wht)


def test_device_pixmap_far_values_and_inferred_grid():
    """A device map gets the host map's checks (far values land nowhere), done on the device; without
    an output shape the whole map is read once (the inferred grid needs it)."""
    emu = get_backend("emulator")
    im = _inputs(4)
    pm = im["pixmap"].copy()
    pm[5, 6] = (1e30, 3.0)
    pm[7, :] = np.inf
    runs = {}
    for device in (False, True):
        put = emu.asarray if device else (lambda a: a)
        for shape in (OUT, None):
            d = Drizzle(kernel="square", out_shape=shape, backend="emulator")
            counts = d.add_image(put(im["data"]), exptime=1.0, pixmap=put(pm), pixel_scale_ratio=1.0)
            runs[device, shape] = (counts, np.array(d.out_img), np.array(d.out_wht))
    for shape in (OUT, None):
        host, dev = runs[False, shape], runs[True, shape]
        assert dev[0] == host[0]
        np.testing.assert_array_equal(dev[1], host[1])
        np.testing.assert_array_equal(dev[2], host[2])


def test_device_pixmap_scan_reads_few_pixels():
    """drizzle's scan reads the outline of the input box, not the map: a few hundred 16-byte reads."""
    from gpuresample.scanner import row_limits

    ny, nx = 400, 420
    pm = rotated_pixmap((ny, nx), 20.0, 1.0, (60.0, 40.0), curvature=1e-4)
    dpm = DevicePixmap(get_backend("emulator").asarray(pm))
    host, dev = row_limits(pm, (600, 600), 0, nx - 1, 0, ny - 1), row_limits(dpm, (600, 600), 0, nx - 1, 0, ny - 1)
    np.testing.assert_array_equal(dev.x1, host.x1)
    np.testing.assert_array_equal(dev.x2, host.x2)
    assert (dev.nskip, dev.nmiss_base) == (host.nskip, host.nmiss_base)
    assert 0 < dpm.values_read < 2000 < ny * nx


def test_device_arrays_as_outputs_are_refused():
    emu = get_backend("emulator")
    with pytest.raises(TypeError, match="'out_img' is a device array"):
        Drizzle(out_img=emu.asarray(np.zeros(OUT, np.float32)), backend="emulator")


def test_float64_device_variance_is_weighted_on_the_host_path():
    """A rule the device cannot reproduce bitwise (float64 variance) is evaluated on the host from a
    download of its arrays, as for host arrays."""
    emu = get_backend("emulator")
    im = _inputs(5)
    var64 = im["var"].astype(np.float64) * 1.0000001
    outs = []
    for put in ((lambda a: a), emu.asarray):
        d = Drizzle(kernel="square", out_shape=OUT, backend="emulator")
        rule = WeightRule(SHAPE, var=put(var64), dq=put(im["dq"]), good_bits=0)
        d.add_image(put(im["data"]), exptime=1.0, pixmap=put(im["pixmap"]), weight_rule=rule)
        outs.append((np.array(d.out_img), np.array(d.out_wht)))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
