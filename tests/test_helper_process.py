"""The forked variance helper stops when told, when interrupted and when its parent dies (issue 13, 5-6).

Before: a ProcessPoolExecutor whose shutdown joined a helper waiting in its
call queue (Ctrl-C could hang the run forever, and a second Ctrl-C printed the
helper's KeyboardInterrupt traceback); a SIGKILLed parent left the helper
running for over a minute.
"""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gpuresample.parallel import VarianceHelper
from gpuresample.workers import can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="the helper is forked")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (not yet reaped by a dead parent's init) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _never_answers(k, img, names):
    time.sleep(600)


def test_abort_does_not_wait_for_a_busy_helper():
    helper = VarianceHelper(3, lambda k: None, _never_answers, ("var_flat",))
    proc = helper.proc
    t0 = time.monotonic()
    helper.close(abort=True)
    assert time.monotonic() - t0 < 3
    assert not proc.is_alive()
    helper.close()  # idempotent


def test_the_helper_ignores_ctrl_c_and_the_loop_aborts_it(monkeypatch):
    """SIGINT to the helper (Ctrl-C reaches the process group) is ignored; a KeyboardInterrupt in the main
    process ends the exposure loop with the helper terminated, at once."""
    from gpuresample import resample
    from gpuresample.synthetic import dithered_scene

    scene = dithered_scene(n_exposures=4, shape=(48, 48), nstars=5, ngal=5)
    import gpuresample.drizzle_loop as loop

    seen = []
    real = loop.ProductAccumulators.add

    def add(self, ex, params, psr, helper, k, *a):
        if helper is not None and helper.proc is not None:
            seen.append(helper.proc)
            os.kill(helper.proc.pid, signal.SIGINT)  # ignored by the helper
            time.sleep(0.2)
            assert helper.proc.is_alive()
        if k == 2:
            raise KeyboardInterrupt
        return real(self, ex, params, psr, helper, k, *a)

    monkeypatch.setattr(loop.ProductAccumulators, "add", add)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        resample(scene, backend="cpu", workers=2)
    assert time.monotonic() - t0 < 30
    assert seen, "the run used the helper"
    assert not seen[-1].is_alive()
    assert not [p for p in mp.active_children() if p.name == "gpuresample-variance"]


def test_the_helper_dies_with_its_parent(tmp_path):
    """SIGKILL of the main process: the helper (blocked in its work) is gone within 2 s."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_helper_process import _never_answers
        from gpuresample.parallel import VarianceHelper
        h = VarianceHelper(3, lambda k: None, _never_answers, ("var_flat",))
        print(h.proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        helper_pid = int(parent.stdout.readline())
        assert _alive(helper_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 2.0
        while _alive(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(helper_pid)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
