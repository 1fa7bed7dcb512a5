"""Ctrl-C at random moments of command-line runs (issue 13, acceptance: 20 SIGINTs).

    python benchmarks/sigint_storm.py [--tries 20] [--seed 0] [--size 384] [--exposures 4] [--out storm.json]

Writes a demo association, times one uninterrupted run of each mode (in
memory, ``--no-in_memory``, tiled with 2 workers), then for each try starts a
run of the next mode in its own session, waits a uniformly random time within
that mode's duration (import time included) and sends SIGINT to the whole
process group, as a terminal's Ctrl-C does.  A run that finished before its
signal (the last moments of a run) is counted apart and the try is made
again with a new moment, so that ``--tries`` signals land in running runs.
Each try must:

* exit within 5 s of the signal with status 130 (or 0 when the run had
  already finished: counted apart) and write exactly one line,
  ``gpuresample: interrupted``, and no traceback;
* leave no process of its group alive 2 s later;
* leave nothing in its TMPDIR or its output folder.

Prints one JSON object (per try and totals); exit status 1 if any try failed.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"in-memory": [], "no-in-memory": ["--no-in_memory"],
         "tiled-workers": ["--tile", "96,96", "--tile_workers", "2"]}


def group_alive(pgid):
    """PIDs of live (not zombie) processes in process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def run_once(cmd, folder, delay=None):
    """Run ``cmd`` with TMPDIR and output in ``folder``; SIGINT its group after ``delay`` s (None: never)."""
    tmp, out = folder / "tmp", folder / "out"
    tmp.mkdir(parents=True)
    out.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    t0 = time.monotonic()
    proc = subprocess.Popen([*cmd, "-o", str(out / "x_i2d.fits")], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, start_new_session=True, text=True)
    rec = {}
    if delay is not None:
        time.sleep(delay)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=5)
            rec["stop_s"] = round(time.monotonic() - sent, 3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            rec["stop_s"] = None
        time.sleep(2.0)
        rec["alive_after_2s"] = group_alive(proc.pid)
    else:
        _, stderr = proc.communicate()
    rec.update(status=proc.returncode, wall_s=round(time.monotonic() - t0, 3), stderr=stderr,
               tmp_left=sorted(p.name for p in tmp.iterdir()), out_left=sorted(p.name for p in out.iterdir()))
    return rec


def verdict(rec):
    """'interrupted', 'finished' (the run ended before the signal) or the reason it failed."""
    if rec["stop_s"] is None:
        return "hang: still running 5 s after SIGINT"
    if rec["alive_after_2s"]:
        return f"processes alive 2 s later: {rec['alive_after_2s']}"
    if rec["tmp_left"]:
        return f"left in TMPDIR: {rec['tmp_left']}"
    if rec["status"] == 0 and rec["out_left"] == ["x_i2d.fits"] and rec["stderr"] == "":
        return "finished"
    if rec["status"] != 130:
        return f"status {rec['status']}"
    if rec["stderr"] != "gpuresample: interrupted\n":
        return f"stderr is not the one line: {rec['stderr'][-500:]!r}"
    if rec["out_left"]:
        return f"left in the output folder: {rec['out_left']}"
    return "interrupted"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=384, help="demo detector size")
    ap.add_argument("--exposures", type=int, default=4)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="sigint_storm_"))
    try:
        subprocess.run([sys.executable, "-m", "gpuresample", "demo", "--save-inputs", "--no-preview", "-q",
                        "--size", str(args.size), "--exposures", str(args.exposures),
                        "--output_dir", str(work / "inputs")], check=True)
        asn = work / "inputs" / "gpuresample_demo_asn.json"
        base = [sys.executable, "-m", "gpuresample", str(asn), "-q", "--progress", "none"]
        durations = {}
        for mode, extra in MODES.items():
            rec = run_once([*base, *extra], work / f"timing-{mode}")
            if rec["status"] != 0:
                raise SystemExit(f"the uninterrupted {mode} run failed: {rec['stderr'][-2000:]}")
            durations[mode] = rec["wall_s"]
        tries, names, k = [], list(MODES), 0
        while sum(t["verdict"] != "finished" for t in tries) < args.tries and len(tries) < 3 * args.tries:
            mode = names[sum(t["verdict"] != "finished" for t in tries) % len(names)]
            delay = rng.uniform(0.0, durations[mode])
            rec = run_once([*base, *MODES[mode]], work / f"try-{k}", delay)
            k += 1
            tries.append({"mode": mode, "delay_s": round(delay, 3), "stop_s": rec["stop_s"],
                          "status": rec["status"], "verdict": verdict(rec)})
        counts = {}
        for t in tries:
            key = t["verdict"] if t["verdict"] in ("interrupted", "finished") else "failed"
            counts[key] = counts.get(key, 0) + 1
        stops = [t["stop_s"] for t in tries if t["stop_s"] is not None]
        result = {"durations_s": durations, "counts": counts, "max_stop_s": max(stops, default=None),
                  "tries": tries}
        text = json.dumps(result, indent=1)
        print(text)
        if args.out:
            Path(args.out).write_text(text)
        return 1 if counts.get("failed") else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
