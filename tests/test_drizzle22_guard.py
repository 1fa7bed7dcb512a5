"""drizzle 2.2 crashes on a footprint corner just outside the output: we guard.

The crash itself can only be shown with drizzle 2.2 installed; ``.ci/run``
builds such an environment and points ``GPURESAMPLE_DRIZZLE22_PYTHON`` at its
interpreter.  The detection (our port of drizzle's footprint polygon) is
tested in any environment.
"""

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from corner_case import corner_case

from gpuresample.scanner import inverted_footprint, shrink_box

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("delta", "degenerate"), [(1e-3, True), (5e-2, False), (0.3, False)])
def test_duplicate_vertex_detection(delta, degenerate):
    pm = corner_case(delta)
    xmin, xmax, ymin, ymax, ok = shrink_box(pm, 0, 47, 0, 47)
    assert ok
    poly = inverted_footprint(pm, (48, 48), xmin, xmax, ymin, ymax)
    assert poly.valid
    assert poly.has_duplicates is degenerate


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from corner_case import corner_case
    which, delta = sys.argv[1], float(sys.argv[2])
    if which == "drizzle":
        from drizzle.resample import Drizzle
    else:
        from gpuresample import Drizzle
    d = Drizzle(out_shape=(48, 48), fillval="nan", disable_ctx=True)
    try:
        d.add_image(np.full((48, 48), 7, np.float32), exptime=1.0, pixmap=corner_case(delta))
        print("OK", float(np.nanmax(d.out_img)))
    except Exception as exc:
        print(type(exc).__name__)
""")


@pytest.fixture
def drizzle22_python():
    exe = os.environ.get("GPURESAMPLE_DRIZZLE22_PYTHON")
    if not exe:
        pytest.skip("set GPURESAMPLE_DRIZZLE22_PYTHON to a python with drizzle 2.2 (.ci/run does)")
    version = subprocess.run([exe, "-c", "import drizzle; print(drizzle.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("2.2"), version
    return exe


def _run(exe, which, delta):
    code = SCRIPT.format(tests=str(ROOT / "tests"))
    return subprocess.run([exe, "-c", code, which, str(delta)], capture_output=True, text=True)


def test_drizzle22_crashes_and_we_raise_instead(drizzle22_python):
    raw = _run(drizzle22_python, "drizzle", 1e-3)
    assert raw.returncode < 0, (raw.returncode, raw.stdout, raw.stderr)  # killed by a signal
    ours = _run(drizzle22_python, "gpuresample", 1e-3)
    assert ours.returncode == 0 and ours.stdout.strip() == "DrizzleCrashGuardError", ours.stderr


def test_drizzle22_ordinary_case_unchanged(drizzle22_python):
    raw = _run(drizzle22_python, "drizzle", 0.3)
    ours = _run(drizzle22_python, "gpuresample", 0.3)
    assert raw.returncode == 0 and raw.stdout.startswith("OK")
    assert ours.stdout == raw.stdout
