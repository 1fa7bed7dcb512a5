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


@pytest.mark.skipif(not can_fork() or not Path("/proc/self/task").is_dir(), reason="forks helpers; reads /proc")
def test_sigint_at_random_moments():
    """Ctrl-C (SIGINT to the process group) at random moments, import time included: every run exits
    within 5 s with status 130 and the one line, leaves no process, no scratch and no output
    (``benchmarks/sigint_storm.py``; the acceptance run is ``--tries 20``)."""
    import json

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "sigint_storm.py"
    run = subprocess.run([sys.executable, str(script), "--tries", "6", "--seed", "3", "--size", "256",
                          "--exposures", "3"], capture_output=True, text=True, timeout=600)
    report = json.loads(run.stdout)
    failed = [t for t in report["tries"] if t["verdict"] not in ("interrupted", "finished")]
    assert run.returncode == 0 and not failed, failed or run.stderr[-2000:]
    assert report["counts"].get("interrupted", 0) >= 4  # the moments fall inside the runs


def test_ctrl_c_while_the_command_line_loads(monkeypatch, capsys):
    """A Ctrl-C during the ~0.4 s of imports (numpy, astropy, gwcs) is the one line too, not a traceback."""
    from gpuresample import cli_entry

    class InterruptingFinder:  # asked for gpuresample.cli: the moment the Ctrl-C lands
        def find_spec(self, name, path=None, target=None):
            if name == "gpuresample.cli":
                raise KeyboardInterrupt
            return

    monkeypatch.delitem(sys.modules, "gpuresample.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [InterruptingFinder(), *sys.meta_path])
    assert cli_entry.main(["--version"]) == 130
    assert capsys.readouterr().err == "gpuresample: interrupted\n"


def test_the_command_imports_only_the_standard_library_first():
    """``import gpuresample.cli_entry`` (what the console script runs first) loads no numpy: the window
    in which a Ctrl-C could still give a traceback is the interpreter's own start-up."""
    code = "import sys, gpuresample.cli_entry; print(sorted(m for m in ('numpy', 'astropy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's flag")
def test_an_interrupt_inside_pyrun_string_still_exits_130(tmp_path):
    """A Ctrl-C that lands while an extension module runs code through ``PyRun_String`` (some do while
    they are imported) makes CPython flag it as unhandled even though we catch it: without clearing
    that flag the process ends by SIGINT (status -2) instead of 130.  Run with ``-m``, as the
    command is (``-c`` exits through another path that ignores the flag)."""
    code = "\n".join([
        "import ctypes, sys",
        "from gpuresample import cli_entry",
        "def run(argv):",
        "    f = ctypes.pythonapi.PyRun_String",
        "    f.restype, f.argtypes = ctypes.py_object, [ctypes.c_char_p, ctypes.c_int, ctypes.py_object,",
        "                                               ctypes.py_object]",
        "    f(b'raise KeyboardInterrupt', 257, {}, {})  # 257: Py_file_input",
        "cli_entry._run = run",
        "sys.exit(cli_entry.main(['x']))",
    ])
    (tmp_path / "fake_command.py").write_text(code)
    run = subprocess.run([sys.executable, "-m", "fake_command"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert (run.returncode, run.stderr) == (130, "gpuresample: interrupted\n")
