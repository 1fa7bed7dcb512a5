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
from pathlib import Path

import pytest
from conftest import demo_association

from gpuresample.workers import can_fork


@pytest.fixture(scope="module")
def association(tmp_path_factory):
    return demo_association(tmp_path_factory.mktemp("inputs"), 256, 3)


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


def _descendants(pid):
    """Process IDs below ``pid`` (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _gone(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("extra", [["--no-in_memory"], ["--tile", "100,100", "--tile_workers", "2"]],
                         ids=["no-in-memory", "tiled-workers"])
def test_sigkill_leaves_no_process_and_no_scratch(association, tmp_path, extra):
    """SIGKILL cannot be handled: the helpers must die with the run (PR_SET_PDEATHSIG / EOF on their
    pipes) and the scratch arrays have no names on disk; a second run then writes the product."""
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    out.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    cmd = [sys.executable, "-m", "gpuresample", str(association), "-o", str(out / "x_i2d.fits"), "-v", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if "drizzled 1/" in line:
            break
    children = _descendants(proc.pid)
    proc.kill()
    proc.wait(10)
    proc.stderr.close()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and not all(_gone(c) for c in children):
        time.sleep(0.05)
    assert all(_gone(c) for c in children), f"alive 2 s after SIGKILL: {[c for c in children if not _gone(c)]}"
    assert list(tmpdir.iterdir()) == []
    assert [p.name for p in out.iterdir() if not p.name.endswith(".part")] == []
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert [p.name for p in out.iterdir()] == ["x_i2d.fits"]  # a stale .part folder is removed too
