"""GPU check kit: correctness subset, per-kernel throughput, device limits, transfers -> one JSON.

Run on a machine with a GPU (``pip install .[cuda12,test]``)::

    benchmarks/gpu_check --out gpu_report.json

or anywhere, end to end on the host emulator (small sizes, same code path)::

    benchmarks/gpu_check --dry --out gpu_report_dry.json

Steps:
1. the GPU test subset (``tests/test_gpu_kernels.py``, ``tests/test_backend_select.py``);
2. per-kernel throughput (Gpix/s of input) on a NIRCam-like scene, science
   only and with context, DQ and two data2 arrays;
3. the device's own limits with the same memory patterns: a streaming copy
   (bandwidth) and float64 atomicAdd into the output pixels the square kernel
   hits, so each kernel can be read as a fraction of them;
4. host->device transfer of one exposure's arrays.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


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


def run_tests(backend):
    env_note = "emulator (dry run)" if backend == "emulator" else "cuda"
    # -W default: a newer numpy/astropy/CuPy on the GPU machine may warn where CI's does not; report those
    # warnings instead of failing on them (the project's filterwarnings = error is for CI)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default",
           str(ROOT / "tests" / "test_gpu_kernels.py"), str(ROOT / "tests" / "test_backend_select.py")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-500:]
    return {"backend": env_note, "returncode": out.returncode, "summary": tail}


def kernel_throughput(backend, size, repeat):
    from gpuresample import KERNELS, Drizzle
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
    for kernel in KERNELS:
        for label, extra, ctx in (("science", {}, False), ("with context, DQ, 2 data2", {"dq": dq, "data2": d2}, True)):
            def once(kernel=kernel, extra=extra, ctx=ctx):
                d = Drizzle(kernel=kernel, out_shape=out_shape, backend=backend, disable_ctx=not ctx)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    d.add_image(data, exptime=1.0, pixmap=pm, weight_map=wht, **extra)
            t = _timed(once, np, repeat)
            res.setdefault(kernel, {})[label] = {"seconds": t, "gpix_per_s": size * size / t / 1e9}
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
    # the output pixel nearest to each input centre, repeated 4x as a square
    # kernel hits ~4 outputs per input at pixfrac 1
    ny_out, nx_out = out_shape
    x = np.nan_to_num(np.clip(np.round(pm[..., 0]), 0, nx_out - 1)).astype(np.int64).ravel()
    y = np.nan_to_num(np.clip(np.round(pm[..., 1]), 0, ny_out - 1)).astype(np.int64).ravel()
    target = xp.asarray(np.repeat(y * nx_out + x, 4))
    value = xp.ones(target.size, np.float64)
    acc = xp.zeros(ny_out * nx_out, np.float64)
    m = int(target.size)
    t_atomic = _timed(lambda: module.launch("bench_atomic_add", grid_size(m), BLOCK, (target, value, acc, np.int64(m))),
                      xp, repeat)
    return {
        "copy_gb_per_s": 2 * 4 * n / t_copy / 1e9,
        "atomic_add_per_s": m / t_atomic,
        "atomic_pattern": "4 float64 atomicAdd per input pixel into its nearest output pixel",
    }


def transfer(backend, size, repeat):
    arrays = {"pixmap": np.zeros((size, size, 2)), "data": np.zeros((size, size), np.float32),
              "weight": np.zeros((size, size), np.float32), "dq": np.zeros((size, size), np.uint32)}
    nbytes = sum(a.nbytes for a in arrays.values())
    if backend == "cuda":
        import cupy as xp

        t = _timed(lambda: [xp.asarray(a) for a in arrays.values()], xp, repeat)
    else:
        t = _timed(lambda: [a.copy() for a in arrays.values()], np, repeat)
    return {"bytes": nbytes, "seconds": t, "gb_per_s": nbytes / t / 1e9,
            "note": "host->device" if backend == "cuda" else "host copy (dry run)"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry", action="store_true", help="no GPU: run everything on the host emulator, small sizes")
    p.add_argument("--size", type=int, default=None, help="detector size (default 2048, dry 256)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="gpu_check_report.json")
    p.add_argument("--skip-tests", action="store_true")
    args = p.parse_args(argv)
    backend = "emulator" if args.dry else "cuda"
    size = args.size or (256 if args.dry else 2048)
    import gpuresample

    report = {"gpuresample": gpuresample.__version__, "backend": backend, "python": platform.python_version(),
              "size": size}
    if backend == "cuda":
        from gpuresample.backends import cuda_unavailable_reason

        reason = cuda_unavailable_reason()
        if reason:
            sys.exit(f"gpu_check: the CUDA backend cannot run here ({reason}); use --dry for the emulator")
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            h = pynvml.nvmlDeviceGetHandleByIndex(0)
            report["device"] = {"name": pynvml.nvmlDeviceGetName(h),
                                "memory_total": pynvml.nvmlDeviceGetMemoryInfo(h).total}
        except Exception as exc:  # NVML is informative only
            report["device"] = {"error": str(exc)}
    if not args.skip_tests:
        report["tests"] = run_tests(backend)
        print("tests:", report["tests"]["summary"])
    kernels, pm, out_shape = kernel_throughput(backend, size, args.repeat)
    report["kernels"] = kernels
    report["device_limits"] = device_limits(backend, pm, out_shape, args.repeat)
    report["transfer"] = transfer(backend, size, args.repeat)
    for k, v in kernels.items():
        print(f"{k:9s} " + "  ".join(f"{lab}: {r['gpix_per_s']:.4f} Gpix/s" for lab, r in v.items()))
    lim = report["device_limits"]
    print(f"copy {lim['copy_gb_per_s']:.2f} GB/s, atomicAdd {lim['atomic_add_per_s'] / 1e9:.4f} G/s, "
          f"transfer {report['transfer']['gb_per_s']:.2f} GB/s")
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0 if report.get("tests", {}).get("returncode", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
