"""Step benchmark: gpuresample.resample vs stcal.resample.Resample, same run.

Run in an environment with stcal (it pins drizzle<2.3), e.g.::

    python -m venv /tmp/stcal && /tmp/stcal/bin/pip install "stcal==1.20.0" .
    /tmp/stcal/bin/python benchmarks/bench_step.py            # N=8, 2048^2, two canvases

Scene: N dithered NIRCam-like exposures (gwcs with 5th-order distortion,
data, dq, three variance arrays) from :mod:`gpuresample.synthetic`.  Both
libraries run at jwst's defaults (square kernel, pixfrac 1, ivm weights,
good_bits "~DO_NOT_USE+NON_SCIENCE", context, variance and error); stcal with
its pixel-map defaults (every pixel evaluated), gpuresample with its own
(``pixmap_stepsize="auto"``, max error <= 1e-4 px).  Each run happens in a
fresh subprocess; we report wall time, peak RSS (ru_maxrss) and the peak
RSS above the process's state after building the inputs, and gpuresample's
memory estimate next to its measured increment.

Canvases: the grid the exposures span (~8 Mpix for N=8) and a large one
(``--big`` pixels per side, ~73 Mpix by default) with the same inputs, to show
how the time per exposure depends on the canvas size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
which, n, size, big, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
from gpuresample.synthetic import dithered_scene
ex = dithered_scene(n, (size, size), seed=11, dither_arcsec=9.0, nstars=300, ngal=300)
for k, e in enumerate(ex):
    e.update(start_time=60000.0 + k, end_time=60000.01 + k, duration=e["exposure_time"] + 10,
             pixelarea_steradians=2.26e-14, pixelarea_arcsecsq=0.000961, level=None, subtracted=True)
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base = rss_mib()
shape_kw = {}
if big:
    shape_kw = dict(output_shape=(big, big))
t0 = time.perf_counter()
if which == "stcal":
    from stcal.alignment.util import compute_scale, wcs_from_sregions
    from stcal.resample import Resample
    from gpuresample.dqflags import JWST_PIXEL_FLAGS
    from gpuresample.output_grid import derive_wcsinfo
    ref = ex[0]
    wi = derive_wcsinfo(ref["wcs"], ref["data"].shape)
    ps = compute_scale(ref["wcs"], (wi["ra_ref"], wi["dec_ref"]))
    kw = {}
    if big:
        kw = dict(shape=(big, big))
    owcs = wcs_from_sregions([e["wcs"].footprint() for e in ex], ref_wcs=ref["wcs"], ref_wcsinfo=wi,
                             pscale_ratio=1.0, pscale=ps, **kw)
    if big:  # centre the inputs on the big canvas
        pass
    Resample.dq_flag_name_map = JWST_PIXEL_FLAGS
    r = Resample(output_wcs={"wcs": owcs, "pixel_scale": 3600 * ps, "pixel_scale_ratio": 1.0},
                 n_input_models=n, fillval="NAN", good_bits="~DO_NOT_USE+NON_SCIENCE", enable_ctx=True,
                 enable_var=True, compute_err="from_var")
    for e in ex:
        r.add_model(e)
    r.finalize()
    out = r.output_model
    shape = out["data"].shape
    digest = float(np.nansum(out["data"].astype(np.float64)))
    est = None
else:
    import gpuresample
    from gpuresample.memory import estimate_memory
    if big:
        # same inputs in the middle of a big canvas
        crpix = None
        shape_kw = dict(output_shape=(big, big))
    res = gpuresample.resample(ex, fillval="NAN", workers=workers, **shape_kw)
    shape = res.data.shape
    digest = float(np.nansum(res.data.astype(np.float64)))
    est = estimate_memory(shape, n, size * size, enable_ctx=True, enable_var=True, propagate_dq=False,
                          workers=1)["total"]
elapsed = time.perf_counter() - t0
# VmHWM (reset at exec) rather than ru_maxrss (carried over exec from the parent)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"which": which, "seconds": elapsed, "peak_mib": peak, "base_mib": base, "shape": shape,
                  "helper_peak_mib": child,
                  "digest": digest, "estimate_mib": None if est is None else est / 2**20}))
"""


def run(which, n, size, big, workers):
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(n), str(size), str(big), str(workers)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=8, help="exposures (default 8)")
    p.add_argument("--size", type=int, default=2048, help="detector size (default 2048)")
    p.add_argument("--big", type=int, default=8544, help="side of the large canvas (default 8544: 73 Mpix)")
    p.add_argument("--workers", default="auto", help="gpuresample workers (default auto)")
    p.add_argument("--skip-big", action="store_true", help="only the natural canvas")
    args = p.parse_args(argv)
    import drizzle
    import stcal

    import gpuresample

    print(f"gpuresample {gpuresample.__version__}, stcal {stcal.__version__}, drizzle {drizzle.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    canvases = [0] if args.skip_big else [0, args.big]
    per_exp = {}
    for big in canvases:
        label = "natural canvas" if not big else f"{big}x{big} canvas"
        t = time.perf_counter()
        ref = run("stcal", args.n, args.size, big, 1)
        ours = run("gpuresample", args.n, args.size, big, args.workers)
        mpix = ours["shape"][0] * ours["shape"][1] / 1e6
        print(f"\n{args.n} exposures of {args.size}^2 -> {ours['shape'][1]}x{ours['shape'][0]} ({mpix:.1f} Mpix), "
              f"{label}  [{time.perf_counter() - t:.0f} s]")
        print(f"  {'':12s} {'time s':>8s} {'s/exposure':>11s} {'peak RSS MiB':>13s} {'above inputs':>13s}")
        for r in (ref, ours):
            print(f"  {r['which']:12s} {r['seconds']:8.1f} {r['seconds'] / args.n:11.2f} {r['peak_mib']:13.0f} "
                  f"{r['peak_mib'] - r['base_mib']:13.0f}")
        print(f"  speed-up x{ref['seconds'] / ours['seconds']:.2f}; peak RSS ratio "
              f"{ours['peak_mib'] / ref['peak_mib']:.2f}; sum(data) stcal {ref['digest']:.6g} vs "
              f"gpuresample {ours['digest']:.6g}")
        print(f"  gpuresample memory estimate (main process) {ours['estimate_mib']:.0f} MiB vs measured "
              f"increment {ours['peak_mib'] - ours['base_mib']:.0f} MiB; its variance helper process peaked at "
              f"{ours['helper_peak_mib']:.0f} MiB RSS (pages shared with the parent included)")
        per_exp[big] = (ref["seconds"] / args.n, ours["seconds"] / args.n, mpix)
    if len(per_exp) == 2:
        (s0, o0, m0), (s1, o1, m1) = per_exp[0], per_exp[args.big]
        print(f"\nper-exposure time, {m1:.0f} Mpix vs {m0:.0f} Mpix canvas: stcal x{s1 / s0:.2f}, "
              f"gpuresample x{o1 / o0:.2f}")


if __name__ == "__main__":
    main()
