"""Peak memory of a big tiled command-line run, writing included, against ``--allowed_memory`` (issue 13, item 3).

    python benchmarks/bench_writer_memory.py [--size 20000] [--allowed 0.1] [--workdir DIR] [--keep]

Writes the demo's inputs (4 dithered 1024^2 exposures), then runs
``gpuresample <asn> --output_shape N,N --tile auto --allowed_memory A -o big_i2d.fits``
and samples, every 50 ms, the resident memory of the whole process tree (the
run and its tile workers together, VmRSS summed); the largest single process
is also taken from the kernel (the run's ``ru_maxrss`` from ``wait4``).  The
allowed bytes are ``A`` x MemAvailable read just before the run, as the
library computes them.  Prints one JSON line; exit status 1 when a peak
exceeds the allowed bytes.  Needs ~11 GB of free disk for N = 20000.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tree_rss(pid):
    """Bytes resident in ``pid`` and all its descendants now."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue  # the process ended between the listing and the read
    return total


def mem_available():
    return next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemAvailable"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--allowed", type=float, default=0.1)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the product")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_writer_", dir=args.workdir))
    try:
        exe = [sys.executable, "-m", "gpuresample"]
        subprocess.run([*exe, "demo", "--save-inputs", "--no-preview", "-q", "--output_dir", str(work / "demo")],
                       check=True)
        allowed = args.allowed * mem_available()
        cmd = [*exe, str(work / "demo" / "gpuresample_demo_asn.json"), "--output_shape", f"{args.size},{args.size}",
               "--tile", "auto", "--allowed_memory", str(args.allowed), "-o", str(work / "big_i2d.fits"), "-q"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd)
        peak_tree = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:  # the run's own rusage: the largest of it and its waited workers
                break
            peak_tree = max(peak_tree, tree_rss(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        single = usage.ru_maxrss * 1024
        product = work / "big_i2d.fits"
        out = {"size": args.size, "allowed_memory": args.allowed, "allowed_bytes": int(allowed),
               "returncode": proc.returncode, "wall_s": round(wall, 1),
               "product_bytes": product.stat().st_size if product.exists() else None,
               "peak_tree_rss_bytes": peak_tree, "peak_single_process_bytes": single,
               "peak_over_allowed": round(max(peak_tree, single) / allowed, 3)}
        print(json.dumps(out))
        if args.keep:
            print(f"product kept in {work}", file=sys.stderr)
        return 0 if proc.returncode == 0 and out["peak_over_allowed"] <= 1 else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
