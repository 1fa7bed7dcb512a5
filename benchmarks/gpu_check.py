"""GPU check kit: the whole hardware verdict in one call -> one JSON (issue 12, item 6).

On the lent GPU machine (no network; the wheels come from
``benchmarks/gpu_bundle.sh``, carried as ``.gpu_bundle``)::

    benchmarks/gpu_check --bundle .gpu_bundle          # writes $OUT/gpu_check.json

or anywhere, end to end on the host emulator (small sizes, same code path)::

    benchmarks/gpu_check --dry --out gpu_report_dry.json

Steps (each timed; the JSON says what passed):
0. with ``--bundle``: install its wheels offline (``pip --no-index --no-deps``);
1. the GPU test subset (``tests/test_gpu_kernels.py``, ``tests/test_backend_select.py``,
   ``tests/test_pixmap_device.py``, ``tests/test_device_resident.py``) with ``-W default``
   (warnings reported, not failures);
2. correctness: ``resample()`` on the kernel backend vs the CPU backend for all
   7 kernels x pixfrac {1, 0.5} x pixel_scale_ratio {0.5, 1} with context, DQ
   and variance, and a >32-input case (values rel 1e-5, context and DQ exact);
3. per-kernel scatter throughput (Gpix/s of input) on a NIRCam-like 2048**2 scene,
   timed by CUDA events around the scatter launch (``gpix_per_s``), beside the
   whole ``add_image``'s wall-clock rate and the device time of every phase
   (upload, pixmap, prepare, scatter, merge, download);
4. end to end: ``resample()`` of N=8 and N=64 NIRCam-like exposures from host
   RAM on the kernel backend, and N=8 on the CPU backend in the same run
   (N=64 on the CPU: 8x the N=8 time, stated as an estimate; the kernel
   backend with ``workers=min(8, cores)`` geometry helpers), with the
   transfer counts (``result.meta["device_stats"]``), the device time per
   phase and, on a GPU, the CuPy pool's peak bytes beside the device estimate;
5. the device's limits with the kernels' memory patterns: streaming copy
   bandwidth, float64 atomicAdd into the distinct output pixels the square
   kernel hits, host->device and device->host copies (pageable and pinned).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = ("test_gpu_kernels.py", "test_backend_select.py", "test_pixmap_device.py", "test_device_resident.py")
KERNEL_NAMES = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat")


def _sync(xp):
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def _timed(fn, xp, repeat):
    fn()  # warm-up (first call compiles / caches)
    _sync(xp)
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(xp)
        best = min(best, time.perf_counter() - t)
    return best


def _device_timing(backend):
    """``with _device_timing(b) as t``: the kernel backend's per-phase device times (CUDA events on a GPU)."""
    from gpuresample.backends import get_backend

    return get_backend(backend).device.timing()


def run_tests(backend):
    env_note = "emulator (dry run)" if backend == "emulator" else "cuda"
    # -W default: a newer numpy/astropy/CuPy on the GPU machine may warn where CI's does not; report those
    # warnings instead of failing on them (the project's filterwarnings = error is for CI)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default",
           *(str(ROOT / "tests" / name) for name in TEST_FILES)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-500:]
    return {"backend": env_note, "returncode": out.returncode, "summary": tail}


def kernel_throughput(backend, size, repeat):
    from gpuresample import Drizzle
    from gpuresample.synthetic import nircam_like_wcs, tan_output_wcs

    w = nircam_like_wcs(53.16, -27.78, roll=37.0, shape=(size, size))
    out, out_shape = tan_output_wcs([w])
    from gpuresample import calc_pixmap

    pm = calc_pixmap(w, out, stepsize="auto", order=3)
    rng = np.random.default_rng(0)
    data = rng.normal(1, 0.1, (size, size)).astype(np.float32)
    wht = rng.uniform(0.5, 1.5, (size, size)).astype(np.float32)
    dq = rng.integers(0, 4, (size, size)).astype(np.uint32)
    d2 = [np.abs(data) * 0.01, np.full_like(data, 0.001)]
    res = {}
    for kernel in KERNEL_NAMES:
        for label, extra, ctx in (("science", {}, False), ("with context, DQ, 2 data2", {"dq": dq, "data2": d2}, True)):
            def once(kernel=kernel, extra=extra, ctx=ctx):
                d = Drizzle(kernel=kernel, out_shape=out_shape, backend=backend, disable_ctx=not ctx)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    d.add_image(data, exptime=1.0, pixmap=pm, weight_map=wht, **extra)
            wall = _timed(once, np, repeat)
            t_timed = time.perf_counter()
            with _device_timing(backend) as timer:
                once()
            timed_wall = time.perf_counter() - t_timed
            phases = timer.seconds()
            # the kernel's own rate (CUDA events around the scatter launch), and the whole
            # add_image's (validation, drizzle's scan on the host, construction included)
            res.setdefault(kernel, {})[label] = {
                "gpix_per_s": size * size / max(phases["scatter"], 1e-12) / 1e9,
                "wall_gpix_per_s": size * size / wall / 1e9, "wall_seconds": wall, "phases_seconds": phases,
                "phases_run_wall_seconds": timed_wall}
    return res, pm, out_shape


def device_limits(backend, pm, out_shape, repeat):
    """Copy bandwidth and atomicAdd rate with the square kernel's address pattern."""
    from gpuresample.gpu.launch import BLOCK, grid_size
    from gpuresample.gpu.loader import cupy_module, emulator_module

    if backend == "cuda":
        import cupy as xp

        module = cupy_module()
    else:
        xp = np
        module = emulator_module()

    n = pm.shape[0] * pm.shape[1]
    src = xp.ones(n, np.float32)
    dst = xp.empty(n, np.float32)
    t_copy = _timed(lambda: module.launch("bench_copy", grid_size(n), BLOCK, (src, dst, np.int64(n))), xp, repeat)
    # the 2x2 output pixels around each input centre (what the square kernel
    # hits at pixfrac 1): 4 distinct addresses per input, neighbours of the
    # next input's, in input order -- the kernel's pattern, not contention
    ny_out, nx_out = out_shape
    x = np.nan_to_num(np.clip(np.floor(pm[..., 0]), 0, nx_out - 2)).astype(np.int64).ravel()
    y = np.nan_to_num(np.clip(np.floor(pm[..., 1]), 0, ny_out - 2)).astype(np.int64).ravel()
    base = y * nx_out + x
    target = xp.asarray(np.stack([base, base + 1, base + nx_out, base + nx_out + 1], axis=1).ravel())
    value = xp.ones(target.size, np.float64)
    acc = xp.zeros(ny_out * nx_out, np.float64)
    m = int(target.size)
    t_atomic = _timed(lambda: module.launch("bench_atomic_add", grid_size(m), BLOCK, (target, value, acc, np.int64(m))),
                      xp, repeat)
    return {
        "copy_gb_per_s": 2 * 4 * n / t_copy / 1e9,
        "atomic_add_per_s": m / t_atomic,
        "atomic_pattern": "4 float64 atomicAdd per input pixel into the 2x2 output pixels around its centre",
    }


def transfer(backend, size, repeat):
    """One exposure's input arrays (data, 3 variances, dq: 20 B/px) host->device and back."""
    nbytes = 20 * size * size
    host = np.ones(nbytes // 4, np.float32)
    if backend != "cuda":
        t = _timed(lambda: host.copy(), np, repeat)
        return {"bytes": nbytes, "h2d_gb_per_s": nbytes / t / 1e9, "note": "host copy (dry run)"}
    import cupy as xp

    dev = xp.empty_like(xp.asarray(host))
    res = {"bytes": nbytes}
    t = _timed(lambda: dev.set(host), xp, repeat)
    res["h2d_pageable_gb_per_s"] = nbytes / t / 1e9
    t = _timed(lambda: dev.get(), xp, repeat)
    res["d2h_pageable_gb_per_s"] = nbytes / t / 1e9
    mem = xp.cuda.alloc_pinned_memory(nbytes)
    pinned = np.frombuffer(mem, np.float32, host.size)
    pinned[...] = host
    t = _timed(lambda: dev.set(pinned), xp, repeat)
    res["h2d_pinned_gb_per_s"] = nbytes / t / 1e9
    t = _timed(lambda: dev.get(out=pinned), xp, repeat)
    res["d2h_pinned_gb_per_s"] = nbytes / t / 1e9
    return res


def _compare(a, b):
    """(ok, worst relative difference) of two ResampleResults (values rel 1e-5; con, dq exact)."""
    worst = 0.0
    if set(a.arrays()) != set(b.arrays()):
        return False, float("inf")
    for name, ref in b.arrays().items():
        got = np.asarray(getattr(a, name))
        if name in ("con", "dq"):
            if not np.array_equal(got, ref):
                return False, float("inf")
            continue
        if not np.array_equal(np.isnan(got), np.isnan(ref)):
            return False, float("inf")
        good = ~np.isnan(ref)
        if good.any():
            scale = max(float(np.max(np.abs(ref[good]))), 1e-30)
            diff = np.abs(got[good] - ref[good]) - 1e-5 * np.abs(ref[good])
            rel = np.abs(got[good] - ref[good]) / np.maximum(np.abs(ref[good]), scale * 1e-3)
            worst = max(worst, float(np.max(rel)))
            if np.any(diff > 1e-6 * scale):
                return False, worst
    return True, worst


def correctness(backend, size):
    """The kernel backend vs the CPU backend, every kernel x pixfrac x ratio, with ctx, DQ and variance."""
    from gpuresample import resample
    from gpuresample.synthetic import dithered_scene

    scene = dithered_scene(3, (size, size), nstars=20, ngal=20)
    many = dithered_scene(34, (max(32, size // 4),) * 2, nstars=5, ngal=5, dither_arcsec=0.5)
    cases = [(k, pf, psr) for k in KERNEL_NAMES for pf in (1.0, 0.5) for psr in (0.5, 1.0)]
    out = {"cases": [], "passed": 0, "failed": 0}
    for label, inputs, (kernel, pixfrac, psr) in [("3 inputs", scene, c) for c in cases] + \
            [(">32 inputs", many, ("square", 1.0, 1.0))]:
        kw = dict(kernel=kernel, pixfrac=pixfrac, pixel_scale_ratio=psr, propagate_dq=True)
        results = []
        for b in (backend, "cpu"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    results.append(resample(inputs, backend=b, **kw))
            except ValueError as exc:  # e.g. tophat's radius 0.25 lands nowhere: both must say so
                results.append(str(exc))
        if isinstance(results[0], str) or isinstance(results[1], str):
            ok, worst = results[0] == results[1], 0.0
        else:
            ok, worst = _compare(*results)
        out["cases"].append({"inputs": label, "kernel": kernel, "pixfrac": pixfrac, "pixel_scale_ratio": psr,
                             "ok": bool(ok), "worst_rel_diff": worst})
        out["passed" if ok else "failed"] += 1
    return out


def end_to_end(backend, size, n_small, n_large):
    """resample() of N NIRCam-like exposures from host RAM: the kernel backend vs the CPU backend."""
    from gpuresample import resample
    from gpuresample.synthetic import dithered_scene

    base = dithered_scene(n_small, (size, size), nstars=50, ngal=50)
    # geometry helpers for the kernel backend (gpuresample.prefetch): the node's cores, up to 8
    helpers = max(2, min(8, os.cpu_count() or 2))
    res = {"size": size, "geometry_helpers": helpers}

    phases = {}

    def run(inputs, b):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if b == "cpu":
                r = resample(inputs, backend=b)
            else:
                with _device_timing(b) as timer:
                    r = resample(inputs, backend=b, workers=helpers)
                phases[len(inputs)] = timer.seconds()
        return time.perf_counter() - t, r

    pool = None
    if backend == "cuda":
        import cupy

        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
    t_dev, r_dev = run(base, backend)
    t_cpu, r_cpu = run(base, "cpu")
    ok, worst = _compare(r_dev, r_cpu)
    res[f"N={n_small}"] = {"seconds": t_dev, "cpu_seconds": t_cpu, "speedup": t_cpu / t_dev,
                           "equal_to_cpu": bool(ok), "worst_rel_diff": worst,
                           "grid_mpix": r_dev.data.size / 1e6, "device_stats": r_dev.meta.get("device_stats"),
                           "device_phases_seconds": phases[n_small]}
    if pool is not None:
        from gpuresample.memory import device_estimate

        # jwst defaults: context on, DQ off, the three variances in the same pass
        est = device_estimate(r_dev.data.shape, size * size, n_linear=3, propagate_dq=False, enable_ctx=True)
        res[f"N={n_small}"]["device_pool_bytes"] = int(pool.total_bytes())
        res[f"N={n_small}"]["device_estimate_bytes"] = int(est["total"])
    if backend != "cpu":
        from gpuresample.backends import get_backend
        from gpuresample.gpu.streams import copy_threads

        # the double-buffered staging (gpuresample.gpu.streams): what its two slots hold
        pinned, staged = get_backend(backend).device.staging.nbytes()
        res[f"N={n_small}"].update(staging_pinned_bytes=int(pinned), staging_device_bytes=int(staged),
                                   staging_copy_threads=copy_threads())
    large = [base[k % n_small] for k in range(n_large)]  # the same pointings repeated: timing only
    t_dev, r_dev = run(large, backend)
    res[f"N={n_large}"] = {"seconds": t_dev, "cpu_seconds_estimate": t_cpu * n_large / n_small,
                           "speedup_estimate": t_cpu * n_large / n_small / t_dev,
                           "device_stats": r_dev.meta.get("device_stats"),
                           "device_phases_seconds": phases[n_large]}
    return res


def install_bundle(folder):
    """pip-install the bundle's wheels offline (no index, no dependency resolution)."""
    wheels = sorted(str(p) for p in (Path(folder) / "wheels").glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", *wheels]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return {"wheels": len(wheels), "returncode": proc.returncode, "stderr": proc.stderr[-1500:]}


def _default_out():
    out = os.environ.get("OUT")
    return str(Path(out) / "gpu_check.json") if out else "gpu_check_report.json"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry", action="store_true", help="no GPU: run everything on the host emulator, small sizes")
    p.add_argument("--size", type=int, default=None, help="detector size of the throughput/end-to-end scenes "
                                                          "(default 2048, dry 128)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=_default_out(), help="the JSON (default $OUT/gpu_check.json)")
    p.add_argument("--bundle", help="install the wheels of this benchmarks/gpu_bundle.sh folder first (offline)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--n-large", type=int, default=None, help="the large end-to-end N (default 64, dry 4)")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    report = {"steps_seconds": {}}
    if args.bundle:
        report["bundle"] = install_bundle(args.bundle)
        realdata = Path(args.bundle) / "realdata"
        if realdata.is_dir():
            os.environ["GPURESAMPLE_REALDATA"] = str(realdata.resolve())
    backend = "emulator" if args.dry else "cuda"
    size = args.size or (128 if args.dry else 2048)
    import gpuresample

    report.update({"gpuresample": gpuresample.__version__, "backend": backend,
                   "python": platform.python_version(), "size": size})
    if backend == "cuda":
        from gpuresample.backends import cuda_unavailable_reason

        reason = cuda_unavailable_reason()
        if reason:
            sys.exit(f"gpu_check: the CUDA backend cannot run here ({reason}); use --dry for the emulator")
        report["device"] = _device_info()

    def step(name, fn, *a):
        t = time.perf_counter()
        try:
            report[name] = fn(*a)
        except Exception as exc:  # one failing step must not lose the others' numbers
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        report["steps_seconds"][name] = round(time.perf_counter() - t, 1)
        print(f"gpu_check: {name} done in {report['steps_seconds'][name]} s", flush=True)

    if not args.skip_tests:
        step("tests", run_tests, backend)
    step("correctness", correctness, backend, 48 if args.dry else 256)
    t = time.perf_counter()
    kernels, pm, out_shape = kernel_throughput(backend, size, args.repeat)
    report["kernels"] = kernels
    report["steps_seconds"]["kernels"] = round(time.perf_counter() - t, 1)
    step("device_limits", device_limits, backend, pm, out_shape, args.repeat)
    step("transfer", transfer, backend, size, args.repeat)
    step("end_to_end", end_to_end, backend, size, 2 if args.dry else 8, args.n_large or (4 if args.dry else 64))
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    verdict = {
        "tests_ok": report.get("tests", {}).get("returncode", 0) == 0,
        "correctness_ok": report["correctness"].get("failed", 1) == 0 if "error" not in report["correctness"]
        else False,
        "end_to_end_equal": report["end_to_end"].get(f"N={2 if args.dry else 8}", {}).get("equal_to_cpu", False),
    }
    report["verdict"] = verdict
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    for k, v in kernels.items():
        print(f"{k:9s} " + "  ".join(f"{lab}: {r['gpix_per_s']:.4f} Gpix/s" for lab, r in v.items()))
    print("gpu_check verdict:", json.dumps(verdict), f"({report['seconds']} s); wrote {args.out}")
    return 0 if all(verdict.values()) else 1


def _device_info():
    try:
        import pynvml  # nvidia-ml-py

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        return {"name": pynvml.nvmlDeviceGetName(h), "memory_total": pynvml.nvmlDeviceGetMemoryInfo(h).total}
    except Exception as exc:  # NVML is informative only
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        return {"name": props["name"].decode(), "memory_total": props["totalGlobalMem"], "nvml": str(exc)}


if __name__ == "__main__":
    sys.exit(main())
