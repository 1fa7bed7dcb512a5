"""Engine benchmark: pixel maps and per-kernel drizzle throughput vs drizzle.

Run:  python benchmarks/bench_engine.py [--size 2048] [--repeat 2]

Scene: one synthetic NIRCam-like exposure (gwcs, 5th-order polynomial
distortion, see gpuresample.synthetic) onto a north-up TAN grid, plus the real
NIRCam B1 GWCS from ../shared/realdata when present.  Every figure is printed
next to the reference measured in the same run (``drizzle.utils.calc_pixmap``
and ``drizzle.resample.Drizzle``); ratios > 1 mean gpuresample is faster.
Times are the best of ``--repeat`` runs, after one warm-up call.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def best_of(fn, repeat):
    best = np.inf
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def bench_pixmap(label, w_in, w_out, shape, repeat):
    from drizzle.utils import calc_pixmap as ref_calc

    from gpuresample import calc_pixmap

    t_ref, ref = best_of(lambda: ref_calc(w_in, w_out, shape=shape), repeat)
    t_exact, exact = best_of(lambda: calc_pixmap(w_in, w_out, shape=shape), repeat)
    t_auto, auto = best_of(lambda: calc_pixmap(w_in, w_out, shape=shape, stepsize="auto", order=3), repeat)
    same = np.array_equal(ref, exact, equal_nan=True)
    err = float(np.nanmax(np.hypot(auto[..., 0] - exact[..., 0], auto[..., 1] - exact[..., 1])))
    print(f"pixmap [{label}] {shape[1]}x{shape[0]}:")
    print(f"  drizzle.utils.calc_pixmap  {t_ref:7.3f} s   (reference)")
    print(f"  gpuresample exact          {t_exact:7.3f} s   x{t_ref / t_exact:6.1f}   bitwise equal: {same}")
    print(f"  gpuresample auto (order 3) {t_auto:7.3f} s   x{t_ref / t_auto:6.1f}   max error {err:.2e} px")
    return exact


def bench_kernels(pixmap, out_shape, repeat):
    from drizzle.resample import Drizzle as RefDrizzle

    from gpuresample import KERNELS, Drizzle

    ny, nx = pixmap.shape[:2]
    rng = np.random.default_rng(0)
    data = rng.normal(1.0, 0.1, (ny, nx)).astype(np.float32)
    wht = rng.uniform(0.5, 1.5, (ny, nx)).astype(np.float32)
    mpix = ny * nx / 1e6
    print(f"\ndrizzle add_image, {nx}x{ny} input -> {out_shape[1]}x{out_shape[0]} output "
          "(pixfrac 1, pixel_scale_ratio 1, weights + context):")
    print(f"  {'kernel':9s} {'drizzle Mpix/s':>15s} {'gpuresample Mpix/s':>19s} {'ratio':>7s}")
    for kernel in KERNELS:
        def ours(kernel=kernel):
            d = Drizzle(kernel=kernel, out_shape=out_shape, backend="cpu")
            d.add_image(data, exptime=1.0, pixmap=pixmap, weight_map=wht)
            return d

        def ref(kernel=kernel):
            d = RefDrizzle(kernel=kernel, out_shape=out_shape)
            d.add_image(data, exptime=1.0, pixmap=pixmap, weight_map=wht)
            return d

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_ours, d1 = best_of(ours, repeat)
            if kernel == "tophat":
                print(f"  {kernel:9s} {'(not in drizzle)':>15s} {mpix / t_ours:19.1f} {'-':>7s}")
                continue
            t_ref, d0 = best_of(ref, repeat)
        same = np.array_equal(d0.out_img, d1.out_img, equal_nan=True)
        print(f"  {kernel:9s} {mpix / t_ref:15.1f} {mpix / t_ours:19.1f} {t_ref / t_ours:7.2f}"
              f"{'' if same else '  OUTPUT DIFFERS'}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2048, help="detector size (default 2048)")
    p.add_argument("--repeat", type=int, default=2, help="best of N runs (default 2)")
    args = p.parse_args(argv)

    import drizzle

    import gpuresample
    from gpuresample.synthetic import nircam_like_wcs, tan_output_wcs

    print(f"gpuresample {gpuresample.__version__}, drizzle {drizzle.__version__}, numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    shape = (args.size, args.size)
    w = nircam_like_wcs(53.16, -27.78, roll=37.0, shape=shape)
    out, out_shape = tan_output_wcs([w])
    pm = bench_pixmap("synthetic NIRCam-like, 5th-order distortion", w, out, shape, args.repeat)

    if (REALDATA / "nrcb1-wcs.asdf").is_file():
        import asdf

        with asdf.open(REALDATA / "nrcb1-wcs.asdf") as af:
            real = copy.deepcopy(af["wcs"])
        real.array_shape = (2048, 2048)
        real_out, _ = tan_output_wcs([real])
        print()
        bench_pixmap("real NIRCam B1 GWCS (nrcb1-wcs.asdf)", real, real_out, (2048, 2048), args.repeat)
    else:
        print(f"\n(real NIRCam GWCS not found in {REALDATA}: skipped)")

    bench_kernels(pm, out_shape, args.repeat)


if __name__ == "__main__":
    main()
