"""Tiled resampling (issue 6): bitwise equal to the untiled run, memory-bounded, parallel, fault-aware."""

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpuresample import OutputTooLargeError, TilingError, resample, tiling
from gpuresample.options import check_tile, check_tile_workers

HERE = Path(__file__).resolve().parent
KERNELS = ["square", "point", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat"]
# every output array: data/wht/con/dq and the variance family
COMMON = dict(propagate_dq=True, workers=1)


@pytest.fixture(scope="module")
def nircam(request):
    """3 dithered exposures cut (160 x 160) from the real NIRCam B1 GWCS."""
    from conftest import REALDATA

    if not (REALDATA / "nrcb1-wcs.asdf").is_file():
        pytest.skip(f"real WCS files not found in {REALDATA}")
    from oracle_stcal import dithered_nircam

    return dithered_nircam(str(REALDATA), n=3, size=160)


def assert_same(tiled, untiled, full=True):
    names = set(untiled.arrays())
    assert set(tiled.arrays()) == names
    if full:
        assert {"data", "wht", "con", "dq", "err", "var_rnoise", "var_poisson", "var_flat"} <= names
    for name in sorted(names):
        # assert_array_equal treats NaN == NaN; dtypes must match too
        a, b = np.asarray(getattr(tiled, name)), getattr(untiled, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    for key, value in untiled.meta.items():
        if key == "device_stats":
            # a diagnostic, not a result: tiles upload each exposure once per tile they reach
            continue
        assert tiled.meta[key] == value, key
    assert tiled.inputs == untiled.inputs
    assert tiled.blended == untiled.blended


def _params(**kw):
    """DrizzleParams of a run at jwst's defaults (square, ivm, context, variance, error) with DQ."""
    from gpuresample.params import DrizzleParams

    base = dict(kernel="square", pixfrac=1.0, fillval="NAN", weight_type="ivm", good_bits=0, enable_ctx=True,
                enable_var=True, enable_err=True, report_var=True, err_from="var", propagate_dq=True,
                pixmap_stepsize="auto", pixmap_order=3, backend="cpu")
    return DrizzleParams(**{**base, **kw})


def _spy_selected(monkeypatch):
    calls = []
    real = tiling.tile.drizzle_tile

    def spy(region, load, selected, *args):
        calls.append((region, dict(selected)))
        return real(region, load, selected, *args)

    monkeypatch.setattr(tiling.tile, "drizzle_tile", spy)  # every runner calls it through its module
    return calls


# ------------------------------------------------------------------ exactness
@pytest.mark.realdata
@pytest.mark.parametrize("kernel", KERNELS)
def test_tiled_equals_untiled_bitwise(nircam, kernel, monkeypatch):
    """Tiles smaller than one exposure's footprint, not dividing the grid, one with no input."""
    # a grid larger than the inputs' union (which starts at pixel 0): the top and right tiles get no input
    kw = dict(COMMON, kernel=kernel, output_shape=(301, 263))
    ref = resample(nircam, **kw)
    ny, nx = ref.shape
    calls = _spy_selected(monkeypatch)
    for tile in [(30, 47), 96]:
        assert ny % 30 and nx % 47 and ny % 96 and nx % 96  # uneven last tiles
        calls.clear()
        res = resample(nircam, tile=tile, **kw)
        assert_same(res, ref)
        assert res.meta["tiles_complete"].all()
        assert res.meta["tiles_complete"].shape == (-(-ny // (tile if isinstance(tile, int) else tile[0])),
                                                   -(-nx // (tile if isinstance(tile, int) else tile[1])))
        if tile == (30, 47):
            assert min(len(sel) for _, sel in calls) == 0  # a tile with no input at all
            assert max(len(sel) for _, sel in calls) == 3


@pytest.mark.realdata
@pytest.mark.parametrize("backend", ["cpu", "emulator"])
def test_tiles_and_untiled_run_share_one_exposure_loop(nircam, backend, monkeypatch):
    """One loop (issue 11): the untiled product and every tile drizzle through drizzle_exposures, and on the
    kernel backends the tiles take the same-pass variance route too (no footprint-box variance drizzles)."""
    import gpuresample.dispatch as dispatch
    import gpuresample.drizzle_loop as loop
    import gpuresample.prepared as prepared

    assert dispatch.drizzle_exposures is loop.drizzle_exposures is tiling.tile.drizzle_exposures
    added, boxes = [], []
    real_add, real_box = loop.ProductAccumulators.add, prepared.resample_variance_box

    def add(self, ex, *args):
        added.append((self.window, self.same_pass))
        return real_add(self, ex, *args)

    def box(*args, **kwargs):
        boxes.append(1)
        return real_box(*args, **kwargs)

    monkeypatch.setattr(loop.ProductAccumulators, "add", add)
    monkeypatch.setattr(prepared, "resample_variance_box", box)
    kw = dict(COMMON, backend=backend, kernel="lanczos3")
    ref = resample(nircam, **kw)
    untiled = list(added)
    n_boxes = len(boxes)
    added.clear()
    res = resample(nircam, tile=(41, 64), **kw)
    assert_same(res, ref)
    same_pass = backend == "emulator"
    assert {w for w, _ in untiled} == {(0, ref.shape[0], 0, ref.shape[1])}
    assert len({w for w, _ in added}) > 4  # many tiles, each its own window
    assert all(sp == same_pass for _, sp in untiled + added)
    assert (len(boxes) == 0) if same_pass else (n_boxes > 0 and len(boxes) > n_boxes)


@pytest.mark.realdata
@pytest.mark.parametrize("case", [dict(pixfrac=0.5), dict(pixel_scale_ratio=0.6, kernel="turbo"),
                                  dict(weight_type="exptime", fillval=0.0, kernel="lanczos3"),
                                  dict(pixel_scale_ratio=1.7, kernel="gaussian")],
                         ids=["pixfrac0.5", "psr0.6-turbo", "exptime-fill0-lanczos3", "psr1.7-gaussian"])
def test_tiled_equals_untiled_other_parameters(nircam, case):
    kw = dict(COMMON, **case)
    ref = resample(nircam, **kw)
    assert_same(resample(nircam, tile=(41, 64), **kw), ref)


@pytest.mark.realdata
@pytest.mark.parametrize("kernel", ["square", "lanczos3"])
def test_single_products_tiled(nircam, kernel):
    """single=True: one product per exposure group, err drizzled from the err arrays; fill 0 and NaN."""
    for fillval in ("INDEF", 0.0):
        kw = dict(COMMON, single=True, kernel=kernel, fillval=fillval)
        ref = resample(nircam, **kw)
        res = resample(nircam, tile=(37, 53), tile_workers=2, **kw)
        assert len(ref) == len(res) == 2  # groups g0 (inputs 0, 1) and g1 (input 2)
        for a, b in zip(res, ref, strict=True):
            assert_same(a, b, full=False)
            assert {"data", "wht", "con", "dq", "err"} == set(b.arrays())


@pytest.mark.realdata
def test_tiled_without_context_and_error(nircam):
    kw = dict(COMMON, enable_ctx=False, enable_err=False, propagate_dq=False)
    ref = resample(nircam, **kw)
    res = resample(nircam, tile=(41, 64), **kw)
    assert_same(res, ref, full=False)
    assert set(res.arrays()) == {"data", "wht"}


@pytest.mark.realdata
def test_context_bits_stay_global_beyond_32_inputs():
    """34 small exposures: context plane 1 and the bits of inputs skipped by a tile keep their numbers."""
    from conftest import REALDATA

    if not (REALDATA / "nrcb1-wcs.asdf").is_file():
        pytest.skip(f"real WCS files not found in {REALDATA}")
    from oracle_stcal import dithered_nircam

    ex = dithered_nircam(str(REALDATA), n=34, size=40)
    ref = resample(ex, **COMMON)
    assert ref.con.shape[0] == 2 and np.any(ref.con[1])
    assert_same(resample(ex, tile=(30, 64), **COMMON), ref)  # grid (83, 920)


@pytest.mark.realdata
def test_reach_matters(nircam, monkeypatch):
    """The equality tests can fail: with no kernel reach the tile borders differ."""
    ref = resample(nircam, **COMMON)
    monkeypatch.setattr(tiling.plan, "kernel_reach", lambda *a: 0.0)
    res = resample(nircam, tile=40, **COMMON)
    assert not np.array_equal(res.data, ref.data, equal_nan=True)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [0, -3, (0, 5), (5, -1), "big", 2.5, True, (1, 2, 3), ("a", 2), None])
def test_bad_tile_values(bad):
    if bad is None:
        assert check_tile(bad) is None
        return
    with pytest.raises(ValueError, match="tile"):
        check_tile(bad)


def test_tile_parsing():
    assert check_tile("auto") == "auto"
    assert check_tile(" AUTO ") == "auto"
    assert check_tile(7) == (7, 7)
    assert check_tile((3, np.int64(5))) == (3, 5)
    assert tiling.tile_regions((5, 7), (2, 3)) == [
        (0, 2, 0, 3), (0, 2, 3, 6), (0, 2, 6, 7), (2, 4, 0, 3), (2, 4, 3, 6), (2, 4, 6, 7),
        (4, 5, 0, 3), (4, 5, 3, 6), (4, 5, 6, 7)]
    for w in (0, -1, 1.5, "x", True):
        with pytest.raises(ValueError, match="tile_workers"):
            check_tile_workers(w)


@pytest.mark.realdata
def test_tile_larger_than_grid_and_single_refused(nircam):
    with pytest.raises(ValueError, match=r"tile \(ny, nx\) = \(4000, 10\) is larger than the output grid"):
        resample(nircam, tile=(4000, 10), **COMMON)
    with pytest.raises(ValueError, match="tile must"):
        resample(nircam, tile="huge")
    with pytest.raises(ValueError, match="single=True"):
        resample(nircam, tile=64, single=True, tile_output="x")


@pytest.mark.realdata
def test_too_large_error_mentions_tile_auto(nircam):
    with pytest.raises(OutputTooLargeError, match='tile="auto"'):
        resample(nircam, allowed_memory=1e-9, **COMMON)
    with pytest.raises(OutputTooLargeError, match=r"even .* tiles need"):
        resample(nircam, allowed_memory=1e-9, tile="auto", **COMMON)
    with pytest.raises(OutputTooLargeError, match=r"tile=\(64, 64\) needs"):
        resample(nircam, allowed_memory=1e-9, tile=64, **COMMON)


@pytest.mark.realdata
def test_explicit_tile_over_the_limit_streams_to_files(nircam, tmp_path):
    from gpuresample.memory import available_memory, estimate_memory

    ref = resample(nircam, **COMMON)
    est = estimate_memory(ref.shape, 3, 160 * 160, enable_ctx=True, enable_var=True, propagate_dq=True,
                          workers=1)["total"]
    res = resample(nircam, tile=32, allowed_memory=0.9 * est / available_memory(), workdir=tmp_path, **COMMON)
    assert isinstance(res.data, np.memmap)  # streamed, not in RAM
    assert_same(res, ref)
    assert list(tmp_path.iterdir()) == []  # scratch removed once mapped


def test_argument_checks(tmp_path):
    with pytest.raises(FileExistsError, match="tile_output"):
        resample([{"data": np.zeros((4, 4)), "wcs": None}], tile=4, tile_output=tmp_path)
    with pytest.raises(ValueError, match="tile_output needs tile"):
        resample([{"data": np.zeros((4, 4)), "wcs": None}], tile_output="x")
    with pytest.raises(TypeError, match=r"scheduler must be a distributed\.Client"):
        resample([{"data": np.zeros((4, 4)), "wcs": None}], scheduler="tcp://host:8786")


# ------------------------------------------------------------------ pool and faults
@pytest.mark.realdata
def test_process_pool_identical(nircam, tmp_path, monkeypatch):
    ref = resample(nircam, kernel="lanczos2", **COMMON)
    real = tiling.tile.drizzle_tile

    def spy(region, *args):  # inherited by the forked workers: each records its process id
        with open(tmp_path / f"pid-{os.getpid()}", "a") as fh:
            fh.write(f"{region}\n")
        return real(region, *args)

    monkeypatch.setattr(tiling.tile, "drizzle_tile", spy)
    res = resample(nircam, kernel="lanczos2", tile=(60, 80), tile_workers=2, **COMMON)
    assert_same(res, ref)
    pids = [p.name for p in tmp_path.glob("pid-*")]
    assert len(pids) == 2 and f"pid-{os.getpid()}" not in pids  # two worker processes drizzled tiles
    assert sum(len(p.read_text().splitlines()) for p in tmp_path.glob("pid-*")) == res.meta["tiles_complete"].size


@pytest.mark.realdata
def test_on_disk_output_renamed_when_complete(nircam, tmp_path):
    ref = resample(nircam, **COMMON)
    out = tmp_path / "mosaic"
    res = resample(nircam, tile=64, tile_output=out, tile_workers=2, **COMMON)
    assert_same(res, ref)
    assert isinstance(res.data, np.memmap) and not res.data.flags.writeable
    assert not (tmp_path / "mosaic.partial").exists()
    rec = json.loads((out / "tiles.json").read_text())
    assert rec["all_complete"] and np.all(rec["complete"])
    np.testing.assert_array_equal(np.load(out / "con.npy"), ref.con)
    assert res.meta["output_dir"] == str(out)


@pytest.mark.realdata
def test_killed_worker_never_yields_a_complete_output(nircam, tmp_path, monkeypatch):
    real, parent = tiling.tile.drizzle_tile, os.getpid()

    def killed(region, *args):  # tile 1 (the second of the first row) kills its forked worker
        if region[0] == 0 and region[2] == 64 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(region, *args)

    monkeypatch.setattr(tiling.tile, "drizzle_tile", killed)  # inherited by the forked workers
    out = tmp_path / "mosaic"
    with pytest.raises(TilingError, match="worker process died") as info:
        resample(nircam, tile=64, tile_output=out, tile_workers=2, **COMMON)
    assert not out.exists()  # never renamed into place
    rec = json.loads((tmp_path / "mosaic.partial" / "tiles.json").read_text())
    assert not rec["all_complete"]
    assert rec["complete"][0][1] == 0  # the killed tile is not marked
    mask = info.value.tiles_complete
    assert mask is not None and not mask.all() and not mask.flat[1]
    assert np.array_equal(np.array(rec["complete"], bool), mask)


@pytest.mark.realdata
def test_failed_tile_raises_and_keeps_record(nircam, tmp_path, monkeypatch):
    real = tiling.tile.drizzle_tile

    def flaky(region, *args):
        if region[0] > 0:
            raise RuntimeError("boom")
        return real(region, *args)

    monkeypatch.setattr(tiling.tile, "drizzle_tile", flaky)
    out = tmp_path / "m"
    with pytest.raises(TilingError, match="boom") as info:
        resample(nircam, tile=64, tile_output=out, **COMMON)
    mask = info.value.tiles_complete
    assert mask[0].all() and not mask[1:].any()  # first row of tiles written, then the failure
    assert not out.exists()
    assert json.loads((tmp_path / "m.partial" / "tiles.json").read_text())["complete"] == mask.astype(int).tolist()
    # in RAM: the same error, and no result comes back
    with pytest.raises(TilingError):
        resample(nircam, tile=64, **COMMON)


@pytest.mark.realdata
def test_full_output_folder_fails_cleanly(nircam, tmp_path):
    """The output files are reserved up front: a full disk (here a file-size limit) fails before any work."""
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the default kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, old[1]))
    try:
        with pytest.raises(TilingError, match="output folder full") as info:
            resample(nircam, tile=64, tile_output=tmp_path / "m", **COMMON)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert not info.value.tiles_complete.any()
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()  # nothing was written
    # the same with the outputs streamed into scratch files: the workdir is left empty
    work = tmp_path / "work"
    work.mkdir()
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, old[1]))
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with pytest.raises(TilingError, match="output folder full"):
            resample(nircam, tile=64, in_memory=False, workdir=work, **COMMON)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert not list(work.iterdir())


@pytest.mark.realdata
def test_write_error_in_the_fork_pool_reports_the_parent_record(nircam, tmp_path, monkeypatch):
    """A worker's failed write (disk full part-way): the error's mask is the tiles.json record, not the
    worker's stale copy of it."""
    import errno

    real = tiling.TileOutput._pwrite

    def full_below_row_64(self, name, shp, dt, region, block):
        if region[0] >= 64:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, name, shp, dt, region, block)

    monkeypatch.setattr(tiling.TileOutput, "_pwrite", full_below_row_64)  # inherited by the forked workers
    out = tmp_path / "m"
    with pytest.raises(TilingError, match="No space left") as info:
        resample(nircam, tile=32, tile_output=out, tile_workers=2, **COMMON)
    rec = np.array(json.loads((tmp_path / "m.partial" / "tiles.json").read_text())["complete"], bool)
    assert rec.any() and not rec.all()
    np.testing.assert_array_equal(info.value.tiles_complete, rec)
    assert not rec[2:].any()  # no tile of the rows that failed is claimed


@pytest.mark.realdata
def test_leftover_partial_folder_is_refused_not_deleted(nircam, tmp_path):
    left = tmp_path / "m.partial"
    left.mkdir()
    (left / "tiles.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"m\.partial exists"):
        resample(nircam, tile=64, tile_output=tmp_path / "m", **COMMON)
    assert (left / "tiles.json").read_text() == "{}"


@pytest.mark.realdata
def test_empty_mosaic_leaves_no_output_folder(nircam, tmp_path):
    """No input pixel with a positive weight: ValueError, as untiled, and no folder that looks complete."""
    dead = [dict(e, dq=np.ones_like(e["dq"])) for e in nircam]  # DO_NOT_USE everywhere
    with pytest.raises(ValueError, match="no input pixel landed"):
        resample(dead, **COMMON)
    with pytest.raises(ValueError, match="no input pixel landed"):
        resample(dead, tile=64, tile_output=tmp_path / "m", **COMMON)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not Path("/proc/sys/vm/overcommit_memory").is_file()
                    or Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "2",
                    reason="needs Linux with heuristic overcommit (strict accounting reserves every mapping)")
def test_tile_of_a_grid_larger_than_memory():
    """A tile's canvas has the whole grid's shape but only the tile's pages are written: a grid far larger
    than this machine's RAM + swap (80000^2: four 25.6 GB canvases) still drizzles a tile."""
    from types import SimpleNamespace

    params = _params(enable_var=False, enable_err=False, report_var=False)
    out = tiling.drizzle_tile((0, 64, 0, 64), None, {}, 40, SimpleNamespace(shape=(80000, 80000)), params, 1.0)
    assert out["data"].shape == (64, 64) and np.all(np.isnan(out["data"])) and out["con"].shape == (2, 64, 64)
    assert not out["any_weight"]


@pytest.mark.realdata
def test_dask_run_over_the_limit_is_tiled_without_tile(nircam, tmp_path):
    """scheduler= always runs tiles: over allowed_memory it does not ask for tile="auto" but submits."""

    class Submitted(Exception):
        pass

    class Client:
        def submit(self, *args, **kwargs):
            raise Submitted

    with pytest.raises(Submitted):
        resample(nircam, scheduler=Client(), tile_output=tmp_path / "m", allowed_memory=1e-7, **COMMON)


# ------------------------------------------------------------------ auto tiling and memory
PEAK = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_tiling import wide_mosaic
    from gpuresample import resample
    from gpuresample.memory import available_memory
    ex = wide_mosaic(sys.argv[2])
    limit = int(sys.argv[3])
    kw = dict(workers=1, propagate_dq=True, workdir=sys.argv[4])
    tile = sys.argv[5]
    run = dict(tile=None) if tile == "none" else dict(tile="auto", allowed_memory=limit / available_memory())

    def rss(key):
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))

    # warm up on one exposure: code loaded on first use is not the run's memory
    resample(ex[:1], tile=64, **kw)
    base = rss("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM: measure this call only
    res = resample(ex, **kw, **run)
    peak = rss("VmHWM") - base
    np.savez(sys.argv[6], **{k: np.asarray(v) for k, v in res.arrays().items()})
    print(json.dumps({"peak": peak, "tile": list(res.meta.get("tile_shape") or [])}))
""")


def wide_mosaic(realdata, n=4, size=256):
    """n real-NIRCam cut-outs spread far apart: a large, sparsely covered output grid."""
    from astropy.modeling import models as m
    from gwcs import WCS
    from oracle_stcal import dithered_nircam

    ex = dithered_nircam(realdata, n=n, size=size)
    for k, e in enumerate(ex):
        # cut-out k taken ~(4, -3.4) footprints away on the detector: still on the real distortion
        dx, dy = (k % 2) * 4.0 * size, -(k // 2) * 3.4 * size
        w = e["wcs"]
        new = WCS(forward_transform=(m.Shift(dx) & m.Shift(dy)) | w.forward_transform, input_frame=w.input_frame,
                  output_frame=w.output_frame)
        new.bounding_box = w.bounding_box
        new.array_shape = w.array_shape
        e["wcs"] = new
    return ex


def _peak_run(realdata, limit, tile, tmp_path, name):
    out = tmp_path / f"{name}.npz"
    proc = subprocess.run([sys.executable, "-c", PEAK, str(HERE), str(realdata), str(limit), str(tmp_path), tile,
                           str(out)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out)


@pytest.mark.realdata
@pytest.mark.slow
def test_auto_tiling_stays_within_allowed_memory(realdata, tmp_path):
    from gpuresample.memory import estimate_memory

    # the full run's estimate: a grid of ~1550 x 1550 for 4 exposures of 256^2
    untiled, ref = _peak_run(realdata, 0, "none", tmp_path, "untiled")
    ny, nx = ref["data"].shape
    est = estimate_memory((ny, nx), 4, 256 * 256, enable_ctx=True, enable_var=True, propagate_dq=True)["total"]
    limit = est // 4
    tiled, res = _peak_run(realdata, limit, "auto", tmp_path, "tiled")
    assert tiled["tile"] and tiled["tile"] != [ny, nx]  # it did tile
    for name in ref.files:
        np.testing.assert_array_equal(res[name], ref[name], err_msg=name)
    print(f"grid {ny}x{nx}: limit {limit / 2**20:.1f} MiB, tiled {tiled['tile']} peak {tiled['peak'] / 2**20:.1f} MiB, "
          f"untiled peak {untiled['peak'] / 2**20:.1f} MiB")
    assert tiled["peak"] <= limit, (tiled, untiled, limit)
    assert untiled["peak"] > limit  # the untiled run really needs more


@pytest.mark.realdata
def test_spawned_pool_for_kernel_backends(nircam):
    """The kernel backends' pool (spawned workers, as CUDA needs; the emulator runs the same kernels here)."""
    ref = resample(nircam, backend="emulator", **COMMON)
    res = resample(nircam, backend="emulator", tile=(60, 80), tile_workers=2, **COMMON)
    # the kernels accumulate each image in float64 and add weight-0 pixels as exact zeros: bitwise here too
    assert_same(res, ref)
    # the workers' transfers come back with their tiles: the same counts as the same tiles in this process
    serial = resample(nircam, backend="emulator", tile=(60, 80), **COMMON)
    assert res.meta["device_stats"] == serial.meta["device_stats"]
    assert res.meta["device_stats"]["launches"] > 0


def _window_spy(monkeypatch):
    """Windows (win_ny, win_nx) and sums sizes of the emulator's drizzle launches on the whole grid."""
    from gpuresample.backends import get_backend

    module = get_backend("emulator").kernels.module
    real = module.launch
    seen = []

    def spy(name, grid, block, args):
        if name.startswith("drizzle_"):
            names = [p.name for p in module.sigs[name].params]
            a = dict(zip(names, args, strict=True))
            seen.append(((int(a["ny_out"]), int(a["nx_out"])), (int(a["win_ny"]), int(a["win_nx"])), a["sum_w"].size))
        return real(name, grid, block, args)

    monkeypatch.setattr(module, "launch", spy)
    return seen


@pytest.mark.realdata
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_backend_tiles_keep_only_the_tile(nircam, kernel, monkeypatch):
    """The CUDA launch path (emulator): tiles == untiled bitwise, and the kernels hold one tile, not the grid."""
    kw = dict(COMMON, kernel=kernel, output_shape=(301, 263), backend="emulator")
    ref = resample(nircam, **kw)
    seen = _window_spy(monkeypatch)
    assert_same(resample(nircam, tile=(30, 47), **kw), ref)
    on_grid = [(win, n) for grid, win, n in seen if grid == ref.shape]  # not the variance box drizzles
    assert on_grid and all(win[0] <= 30 and win[1] <= 47 and n == win[0] * win[1] for win, n in on_grid)


@pytest.mark.realdata
def test_tile_auto_fits_device_memory(nircam, monkeypatch):
    """Kernel backend with a small device: no tile -> the error names tile='auto'; tile='auto' picks tiles
    whose device estimate fits, and the result equals the untiled run."""
    from gpuresample.backends.emulator import EmulatorBackend

    ref = resample(nircam, backend="emulator", **COMMON)
    m = max(e["data"].size for e in nircam)
    params = _params(backend="emulator")
    need_128 = tiling.per_tile_device_bytes((128, 128), ref.shape, 3, m, params)
    need_grid = tiling.per_tile_device_bytes(ref.shape, ref.shape, 3, m, params)
    assert need_128 < need_grid
    free = (need_128 + need_grid) // 2  # the grid does not fit, 128 x 128 tiles do
    # the emulator stands in for a device with `free` bytes free (the CUDA backend asks CuPy)
    monkeypatch.setattr(EmulatorBackend, "device_memory", lambda self: (free, 4 * free))
    with pytest.raises(OutputTooLargeError, match=r"of device memory.*tile=\"auto\""):
        resample(nircam, backend="emulator", allowed_memory=1.0, **COMMON)
    with pytest.raises(OutputTooLargeError, match="device memory"):
        resample(nircam, backend="emulator", allowed_memory=1.0, tile=ref.shape, **COMMON)
    seen = _window_spy(monkeypatch)
    res = resample(nircam, backend="emulator", allowed_memory=1.0, tile="auto", **COMMON)
    assert_same(res, ref)
    tile = res.meta["tile_shape"]
    assert tile[0] < ref.shape[0] or tile[1] < ref.shape[1]
    assert tiling.per_tile_device_bytes(tile, ref.shape, 3, m, params) <= free
    assert max(n for grid, _, n in seen if grid == ref.shape) <= tile[0] * tile[1]


_FAKE_CUPY = """
import os, time

class _Device:
    current = None

    def __init__(self, i=None):
        self.id = i

    def use(self):
        _Device.current = self.id

class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 2

class cuda:
    Device = _Device
    runtime = _Runtime

def pinned(delay):
    time.sleep(delay)
    return os.getpid(), _Device.current
"""


def test_cuda_pool_pins_one_worker_per_gpu(tmp_path, monkeypatch):
    """With CUDA the tile pool is capped at one spawned worker per GPU, each pinned to its own device.

    A stand-in ``cupy`` module (2 devices) replaces CuPy in this process and
    in the spawned workers (they inherit ``sys.path``).
    """
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(_FAKE_CUPY)
    monkeypatch.syspath_prepend(str(tmp_path))
    real_cupy = sys.modules.pop("cupy", None)
    from gpuresample.backends.cuda import CudaBackend

    params = _params(enable_var=False, enable_err=False, report_var=False, propagate_dq=False, backend="cuda")
    runner = tiling.runners.SpawnRunner([], 0, None, params, 1.0, 4, CudaBackend)
    try:
        import cupy

        assert runner.pool._max_workers == 2
        seen = [f.result(timeout=120) for f in [runner.pool.submit(cupy.pinned, 0.3) for _ in range(8)]]
    finally:
        runner.close()
        sys.modules.pop("cupy", None)  # the stand-in must not leak into later tests
        if real_cupy is not None:
            sys.modules["cupy"] = real_cupy
    device_of = {}
    for pid, dev in seen:
        assert device_of.setdefault(pid, dev) == dev  # a worker stays on its device
    assert sorted(device_of.values()) == [0, 1]


@pytest.mark.realdata
def test_file_inputs_out_of_memory(nircam, tmp_path):
    """ASDF exposure files read when their tile needs them, outputs streamed into scratch files."""
    from gpuresample.asdf_io import write_exposure

    paths = []
    for k, e in enumerate(nircam):
        paths.append(tmp_path / f"exp{k}_cal.asdf")
        write_exposure(paths[-1], e)
    ref = resample(nircam, **COMMON)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    res = resample(paths, in_memory=False, workdir=scratch, tile=(50, 70), tile_workers=2, **COMMON)
    assert isinstance(res.data, np.memmap)
    assert_same(res, ref)
    assert list(scratch.iterdir()) == []
    # spawned workers (kernel backends) get the file exposures by path and read them themselves
    ref_emu = resample(nircam, backend="emulator", **COMMON)
    res_emu = resample(paths, in_memory=False, workdir=scratch, tile=(50, 70), tile_workers=2, backend="emulator",
                       **COMMON)
    assert_same(res_emu, ref_emu)


# ------------------------------------------------------------------ dask
# Each dask test runs in its own interpreter: a closed LocalCluster leaves a
# thread behind ("Dask-Offload"), and forking a multi-threaded process (the
# pools of the other tests) warns on Python >= 3.12.
DASK = textwrap.dedent("""
    import os, sys, warnings
    warnings.simplefilter("ignore")
    sys.path.insert(0, sys.argv[1])
    import distributed
    from conftest import REALDATA
    from oracle_stcal import dithered_nircam
    from test_tiling import COMMON, assert_same
    from gpuresample import dask as gdask, resample, tiling


    class KillOnce(distributed.WorkerPlugin):
        # fault injection from the test: the first worker to drizzle `region` kills itself (once)

        def __init__(self, flag, region):
            self.flag, self.region = flag, tuple(region)

        def setup(self, worker):
            import signal
            from gpuresample.tiling import tile

            real, flag, target = tile.drizzle_tile, self.flag, self.region

            def killed(region, *args):
                if tuple(region) == target:
                    try:
                        os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
                    except FileExistsError:
                        return real(region, *args)
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(region, *args)

            tile.drizzle_tile = killed

    nircam = dithered_nircam(str(REALDATA), n=3, size=160)
    case, tmp = sys.argv[2], sys.argv[3]
    ref = resample(nircam, kernel="turbo", **COMMON)
    cluster_kw = dict(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.LocalCluster(**cluster_kw) as cluster, distributed.Client(cluster) as client:
        if case == "plain":
            with distributed.get_task_stream(client) as stream:
                res = gdask.resample(client, nircam, kernel="turbo", tile=(70, 90), tile_output=tmp + "/m", **COMMON)
            assert_same(res, ref)
            assert res.meta["tiles_complete"].all()
            # both workers drizzled tiles
            tiles = [t for t in stream.data if t["key"].startswith("gpuresample-tile-")]
            assert len(tiles) == res.meta["tiles_complete"].size, len(tiles)
            assert len({t["worker"] for t in tiles}) == 2
            res2 = resample(nircam, kernel="turbo", scheduler=client, **COMMON)  # default tile: capped by the grid
            assert_same(res2, ref)
        else:
            flag = tmp + "/killed"
            regions = tiling.tile_regions(ref.shape, (70, 90))
            client.register_plugin(KillOnce(flag, regions[min(2, len(regions) - 1)]))
            res = resample(nircam, kernel="turbo", tile=(70, 90), scheduler=client, **COMMON)
            assert os.path.exists(flag)  # the plugin did kill a worker
            assert_same(res, ref)
            assert res.meta["tiles_complete"].all()
    print("DASK-OK")
""")


def _dask_case(case, tmp_path, env=None):
    pytest.importorskip("distributed")
    proc = subprocess.run([sys.executable, "-c", DASK, str(HERE), case, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0 and "DASK-OK" in proc.stdout, proc.stderr[-4000:]


@pytest.mark.realdata
@pytest.mark.slow
def test_dask_local_cluster_equals_local_run(realdata, tmp_path):
    """LocalCluster(2 worker processes): the same arrays and metadata as the local untiled run."""
    _dask_case("plain", tmp_path)


@pytest.mark.realdata
@pytest.mark.slow
def test_dask_killed_worker_is_retried(realdata, tmp_path):
    """A worker killed mid-tile: distributed re-runs the tile elsewhere and the mosaic is complete and equal."""
    _dask_case("killed", tmp_path)
    assert (tmp_path / "killed").exists()
