"""SIGINT and SIGTERM of command-line runs: one line, status 130 / 143, nothing left behind (issue 13, item 5).

Before: SIGTERM killed the process without clean-up (the hidden
``.<name>.*.part`` of the product and the ``gpuresample-*`` scratch folder in
TMPDIR stayed) and SIGKILL left the variance helper running.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from gpuresample.workers import can_fork


@pytest.fixture(scope="module")
def association(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    subprocess.run([sys.executable, "-m", "gpuresample", "demo", "--size", "256", "--exposures", "3",
                    "--no-preview", "--save-inputs", "--output_dir", str(folder), "-q"], check=True)
    return folder / "gpuresample_demo_asn.json"


def _interrupt(association, tmp_path, sig, extra):
    """Start a run, send ``sig`` once it has drizzled its first exposure; return (status, stderr, tmpdir, out)."""
    tmpdir = tmp_path / "tmp"
    out = tmp_path / "out"
    tmpdir.mkdir()
    out.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    cmd = [sys.executable, "-m", "gpuresample", str(association), "-o", str(out / "x_i2d.fits"), "-v", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "drizzled 1/" in line:  # an exposure (or a tile) is done
            proc.send_signal(sig)
            break
    t0 = time.monotonic()
    rest = proc.stderr.read()
    status = proc.wait(30)
    proc.stderr.close()
    assert time.monotonic() - t0 < 5, "the run took more than 5 s to stop"
    return status, rest, tmpdir, out


@pytest.mark.parametrize(("sig", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("extra", [[], ["--no-in_memory"], ["--tile", "100,100", "--tile_workers", "2"]],
                         ids=["in-memory", "no-in-memory", "tiled-workers"])
def test_a_signal_stops_the_run_cleanly(association, tmp_path, sig, status, word, extra):
    if extra and not can_fork():
        pytest.skip("helpers and tile pools fork")
    code, rest, tmpdir, out = _interrupt(association, tmp_path, sig, extra)
    assert code == status, rest
    assert rest.strip().splitlines()[-1] == f"gpuresample: {word}"
    assert "Traceback" not in rest
    assert list(tmpdir.iterdir()) == []  # no scratch folder outlives the run
    assert list(out.iterdir()) == []  # no product, no hidden .part file
