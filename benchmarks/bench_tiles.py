"""Tiles x workers scaling of ``resample(tile=..., tile_workers=...)`` against the untiled run.

Scene: a mosaic of ``--grid`` x ``--grid`` cut-outs (``--size`` pixels square)
taken from the real NIRCam B1 GWCS (``../shared/realdata/nrcb1-wcs.asdf``)
at overlapping detector positions, each with a small sky dither, data, DQ
and the three variance arrays: a wide field whose exposures fall mostly
into different tiles.  Without the real WCS file the synthetic NIRCam-like
WCS of :mod:`gpuresample.synthetic` is used instead.

Every configuration runs in a fresh subprocess (jwst defaults: square
kernel, ivm weights, context, variance and error; CPU backend); we report
the wall time of the ``resample`` call, its ratio to the untiled
single-process run measured in the same invocation, the peak RSS of the
main process and of the largest worker process, and whether the outputs are
bitwise equal to the untiled run's.

Usage::

    python benchmarks/bench_tiles.py                 # 4 x 4 cut-outs of 512^2, tiles 1030 and 515, 1-2 workers
    python benchmarks/bench_tiles.py --grid 3 --size 400 --tiles 0 800 400 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "nrcb1-wcs.asdf"

CHILD = r"""
import hashlib, json, resource, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from bench_tiles import build_mosaic
import numpy as np
from gpuresample import resample
grid, size, tile, workers = (int(a) for a in sys.argv[2:6])
ex = build_mosaic(grid, size)
kw = dict(workers=1, propagate_dq=True)
if tile:
    kw.update(tile=tile, tile_workers=workers)
else:
    kw.update(workers=workers)  # untiled: workers=2 is the variance helper of the plain step
import os
c0 = os.times()
t0 = time.perf_counter()
res = resample(ex, **kw)
dt = time.perf_counter() - t0
c1 = os.times()
cpu = sum(getattr(c1, a) - getattr(c0, a) for a in ("user", "system", "children_user", "children_system"))
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
h = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in res.arrays().items()}
print(json.dumps({"seconds": dt, "cpu": cpu, "peak_mib": peak, "child_mib": child, "shape": list(res.shape), "hash": h,
                  "tile": list(res.meta.get("tile_shape") or [])}))
"""


def build_mosaic(grid=4, size=512, seed=3):
    """``grid**2`` exposures: cut-outs of the real NIRCam GWCS at overlapping positions (or synthetic)."""
    import copy
    import math

    import numpy as np
    from astropy.modeling import models as m
    from gwcs import WCS

    if REALDATA.is_file():
        import asdf

        with asdf.open(REALDATA) as af:
            base = copy.deepcopy(af["wcs"])
    else:
        from gpuresample.synthetic import nircam_like_wcs

        base = nircam_like_wcs(53.16, -27.78, roll=20.0)
    det = 2048
    pitch = (det - size) / max(grid - 1, 1)  # spread the cut-outs over the detector, overlapping
    rng = np.random.default_rng(seed)
    ra0, dec0 = base(det / 2, det / 2, with_bounding_box=False)
    out = []
    for j in range(grid):
        for i in range(grid):
            k = j * grid + i
            dra = rng.uniform(-0.3, 0.3) / 3600 / math.cos(math.radians(dec0))
            ddec = rng.uniform(-0.3, 0.3) / 3600
            move = m.RotateCelestial2Native(ra0, dec0, 180.0) | m.RotateNative2Celestial(ra0 + dra, dec0 + ddec, 180.0)
            fwd = (m.Shift(i * pitch) & m.Shift(j * pitch)) | base.forward_transform | move
            w = WCS(forward_transform=fwd, input_frame=base.input_frame, output_frame=base.output_frame)
            w.bounding_box = ((-0.5, size - 0.5), (-0.5, size - 0.5))
            w.array_shape = (size, size)
            yy, xx = np.mgrid[0:size, 0:size]
            data = (1.0 + 0.5 * np.sin(xx / 17.0 + k) * np.cos(yy / 23.0)).astype(np.float32)
            data += rng.normal(0, 0.05, data.shape).astype(np.float32)
            dq = np.zeros(data.shape, np.uint32)
            dq[rng.random(data.shape) < 0.002] = 1
            out.append({
                "data": data, "dq": dq, "wcs": w,
                "var_rnoise": rng.uniform(0.002, 0.004, data.shape).astype(np.float32),
                "var_poisson": (np.abs(data) * 0.001).astype(np.float32),
                "var_flat": np.full(data.shape, 1.5e-5, np.float32),
                "exposure_time": 100.0, "measurement_time": 95.0, "group_id": f"g{k}",
                "filename": f"tile{k:02d}_cal.fits", "bunit_data": "MJy/sr",
            })
    return out


def run(args, tile, workers):
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(Path(__file__).resolve().parent), str(args.grid), str(args.size),
             str(tile), str(workers), tmp],
            capture_output=True, text=True, check=False,
        )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=int, default=4, help="cut-outs per side")
    ap.add_argument("--size", type=int, default=512, help="cut-out side (pixels)")
    ap.add_argument("--tiles", type=int, nargs="+", default=[1030, 515], help="tile sides (0: untiled)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"# {args.grid}x{args.grid} NIRCam cut-outs of {args.size}^2 "
          f"({'real' if REALDATA.is_file() else 'synthetic'} GWCS), square kernel, context+variance+err+dq")
    ref = run(args, 0, 1)
    print(f"# output grid (ny, nx) = {tuple(ref['shape'])}")
    print(f"# load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    print("| tiles | tile (ny, nx) | workers | time (s) | vs untiled 1 process | CPU time (s) "
          "| peak RSS main / worker (MiB) | bitwise = untiled |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| untiled | - | 1 | {ref['seconds']:.2f} | 1.00 | {ref['cpu']:.2f} | {ref['peak_mib']:.0f} / - "
          "| (reference) |")
    for tile in [0, *args.tiles]:
        for workers in args.workers:
            if tile == 0 and workers == 1:
                continue
            r = ref if (tile == 0 and workers == 1) else run(args, tile, workers)
            ny, nx = ref["shape"]
            ntiles = "untiled" if tile == 0 else f"{-(-ny // tile) * -(-nx // tile)}"
            child = f"{r['child_mib']:.0f}" if r["child_mib"] > 1 and workers > 1 else "-"
            print(f"| {ntiles} | {tuple(r['tile']) if r['tile'] else '-'} | {workers} | {r['seconds']:.2f} "
                  f"| {r['seconds'] / ref['seconds']:.2f} | {r['cpu']:.2f} | {r['peak_mib']:.0f} / {child} "
                  f"| {'yes' if r['hash'] == ref['hash'] else 'NO'} |", flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
