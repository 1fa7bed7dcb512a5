"""The long fuzz run (issue 13): ``Drizzle.add_image`` and ``resample()`` cases, crash- and hang-safe.

    python benchmarks/fuzz.py --examples 20000 --resample-examples 1000 [--seed N] [--timeout S] [--out fuzz.json]

Each case is checked by ``tests/fuzz_cases.py`` (every ``Drizzle`` case runs
on the CPU backend *and* the emulator, and against drizzle itself where the
inputs are tame).  Cases run in worker processes, in batches, each with a
per-case timeout (SIGALRM): a worker that dies (a segmentation fault in C
code) is a *crash*, a case over its time a *hang*, an exception that names
no parameter a *raw error*, a disagreement a *mismatch*.  The batch is then
replayed one case at a time to name the case.  Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

BATCH = 200


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout


def _examples(kind, n, seed):
    """The (up to) ``n`` cases hypothesis draws for ``kind`` with ``seed`` (deterministic)."""
    import fuzz_cases
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    strategy = fuzz_cases.cases() if kind == "drizzle" else fuzz_cases.resample_cases()
    out = []

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        out.append(case)

    collect()
    return out


def _worker(kind, n, seed, start, stop, timeout, queue):
    """Run cases ``start..stop`` of the deterministic sequence; put one result per case."""
    import warnings

    import fuzz_cases

    logging.getLogger("gpuresample").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, _alarm)
    # each batch has its own seed: no batch regenerates the cases of the others
    cases = _examples(kind, BATCH, seed * 1_000_003 + start // BATCH)[start % BATCH : start % BATCH + stop - start]
    check = fuzz_cases.check_case if kind == "drizzle" else fuzz_cases.check_resample_case
    for k, case in enumerate(cases, start):
        backend = "cpu+emulator" if kind == "drizzle" else case["backend"]
        signal.alarm(timeout)
        try:
            outcome = check(case)
        except _Timeout:
            outcome = "hang"
        except AssertionError as exc:
            outcome = "raw_error" if str(exc).startswith("raw error") else "mismatch"
            queue.put((k, outcome, backend, str(exc)[:300]))
            continue
        finally:
            signal.alarm(0)
        queue.put((k, outcome, backend, ""))
    queue.put(None)  # done (hypothesis may draw fewer cases than asked)


def _run_batch(kind, n, seed, start, stop, timeout):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(kind, n, seed, start, stop, timeout, queue))
    proc.start()
    results, done = {}, False
    while True:
        try:
            item = queue.get(timeout=timeout + 120)
        except Exception:  # the queue timed out: the worker died or hangs outside a case
            break
        if item is None:
            done = True
            break
        k, outcome, backend, detail = item
        results[k] = (outcome, backend, detail)
    proc.join(5)
    if proc.is_alive():
        proc.kill()
    died = not done or proc.exitcode not in (0, None)
    return results, died, proc.exitcode


def run(kind, n, seed, timeout, log):
    counts = {"cases": 0, "accepted": 0, "refused": 0, "crash": 0, "hang": 0, "raw_error": 0, "mismatch": 0,
              "emulator_cases": 0}
    findings = []
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        results, died, code = _run_batch(kind, n, seed, start, stop, timeout)
        if died:
            # the case after the last result crashed the worker: note it, go on after it
            first_missing = max(results, default=start - 1) + 1
            findings.append({"kind": kind, "case": first_missing, "outcome": "crash", "exitcode": code})
            counts["crash"] += 1
            counts["cases"] += 1
            rest, _, _ = _run_batch(kind, n, seed, first_missing + 1, stop, timeout)
            results.update(rest)
        for k, (outcome, backend, detail) in sorted(results.items()):
            counts["cases"] += 1
            counts[outcome] += 1
            counts["emulator_cases"] += "emulator" in backend
            if outcome not in ("accepted", "refused"):
                findings.append({"kind": kind, "case": k, "outcome": outcome, "detail": detail})
        log(f"{kind}: {counts['cases']}/{n} cases, {len(findings)} findings")
    return counts, findings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20000, help="Drizzle.add_image cases")
    ap.add_argument("--resample-examples", type=int, default=1000, help="resample() cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=60, help="seconds per case")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)

    summary = {"seed": args.seed, "timeout_s": args.timeout}
    findings = []
    for kind, n in (("drizzle", args.examples), ("resample", args.resample_examples)):
        if n > 0:
            summary[kind], found = run(kind, n, args.seed, args.timeout, log)
            findings += found
    summary["findings"] = findings[:50]
    summary["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    bad = sum(summary[k][o] for k in ("drizzle", "resample") if k in summary
              for o in ("crash", "hang", "raw_error", "mismatch"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
