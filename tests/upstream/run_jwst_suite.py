"""Run jwst 3.0's own resample tests against gpuresample.ResampleStep, as far as they run offline.

    python tests/upstream/run_jwst_suite.py [--json OUT]      (with the jwst environment's python)

The tests ship inside the jwst wheel (``jwst.resample.tests``).  They run
twice in a temporary folder: first as they are, which tells which of them
can run here at all (most build their inputs with ``AssignWcsStep``, which
needs CRDS reference files, and no CRDS server is reachable), then with
``jwst_substitute`` (beside this script) putting gpuresample's step and
engine in place of jwst's.  Every test that passes with jwst must pass with
gpuresample.  Prints one summary line and the list of tests that cannot run
with the first line of their reason; exit status 1 if a runnable test fails
with gpuresample or nothing was runnable.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(folder, substitute):
    xml = folder / ("ours.xml" if substitute else "jwst.xml")
    env = dict(os.environ, STPIPE_DISABLE_CRDS_STEPPARS="True", CRDS_PATH=str(folder / "crds"),
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    env.pop("CRDS_SERVER_URL", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "jwst.resample.tests",
           f"--junitxml={xml}", "-o", "junit_family=xunit1", "-W", "ignore::DeprecationWarning"]
    if substitute:
        cmd[3:3] = ["-p", "jwst_substitute"]
    subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=3000)
    outcomes = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            text = f"{bad.get('message') or ''}\n{bad.text or ''}"
            if "crds" in text.lower():  # CRDS's fatal exit, or a fixture whose AssignWcsStep needed it
                why = "needs CRDS reference files (no CRDS server here), e.g. for AssignWcsStep in a fixture"
            else:
                lines = text.strip().splitlines()
                why = lines[0][:200] if lines else ""
            outcomes[name] = ("failed", why)
        elif case.find("skipped") is not None:
            outcomes[name] = ("skipped", (case.find("skipped").get("message") or "")[:200])
        else:
            outcomes[name] = ("passed", "")
    return outcomes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpuresample-jwst-suite-") as tmp:
        folder = Path(tmp)
        theirs = run(folder, substitute=False)
        ours = run(folder, substitute=True)
    runnable = sorted(n for n, (o, _) in theirs.items() if o == "passed")
    failed = sorted(n for n in runnable if ours.get(n, ("missing",))[0] != "passed")
    cannot = {n: why for n, (o, why) in sorted(theirs.items()) if o != "passed"}
    reasons = {}
    for why in cannot.values():
        reasons[why] = reasons.get(why, 0) + 1
    report = {"tests": len(theirs), "runnable_offline": len(runnable),
              "passed_with_gpuresample": len(runnable) - len(failed),
              "failed_with_gpuresample": failed, "runnable": runnable,
              "cannot_run": len(cannot), "cannot_run_reasons": reasons}
    print(f"jwst-suite: {len(theirs)} tests, {len(runnable)} run offline, {len(runnable) - len(failed)} of them pass "
          f"with gpuresample, {len(failed)} fail; {len(cannot)} cannot run here")
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  cannot run ({n}): {why}")
    for name in failed:
        print(f"  FAILED with gpuresample: {name}: {ours.get(name)}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 1 if failed or not runnable else 0


if __name__ == "__main__":
    sys.exit(main())
