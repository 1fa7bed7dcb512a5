"""The emulator's concurrent mode catches races that the sequential mode hides (issue 12).

A copy of the kernels with one atomic replaced by a plain ``+=`` (a planted
race) gives the right answer in sequential mode and a wrong one in
concurrent mode; the real kernels are right in both.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpuresample.gpu.emulator import emulator_threads, load_emulator
from gpuresample.gpu.launch import BLOCK, grid_size

PLANTED = ("atomicAdd(&sum_w[idx], w);", "sum_w[idx] += w;")


def _planted(source):
    assert source.count(PLANTED[0]) == 1, "the planted race must replace exactly the weight atomic"
    return source.replace(*PLANTED)


def _point_launch(module, threads, n_in=1024 * 1024, n_out=4):
    """Every input pixel of a ``n_in`` image onto the same ``n_out`` output pixels: maximal contention."""
    nx = 1024
    ny = n_in // nx
    k = np.arange(n_in)
    pixmap = np.empty((ny, nx, 2))
    pixmap[..., 0] = (k % n_out).reshape(ny, nx)
    pixmap[..., 1] = 0.0
    data = np.ones((ny, nx), np.float32)
    weight = np.ones((ny, nx), np.float32)
    x1 = np.zeros(ny, np.int64)
    x2 = np.full(ny, nx - 1, np.int64)
    sum_wd = np.zeros(n_out, np.float64)
    sum_w = np.zeros(n_out, np.float64)
    nmiss = np.zeros(1, np.uint64)
    args = (pixmap, data, weight, None, x1, x2,
            np.int64(nx), np.int64(ny), np.int64(n_out), np.int64(1),
            np.int64(0), np.int64(0), np.int64(n_out), np.int64(1), np.float32(1), np.float32(1),
            sum_wd, sum_w, None, np.int32(0), np.ones(1, np.uint32), None, None, np.int64(0), None, None, np.int64(0),
            None, nmiss)
    module.launch("drizzle_point", grid_size(n_in), BLOCK, args, threads=threads, seed=7)
    return sum_w, n_in // n_out


@pytest.mark.parametrize("threads", [1, 4])
def test_real_kernels_are_right_in_both_modes(threads):
    sum_w, expected = _point_launch(load_emulator(), threads)
    np.testing.assert_array_equal(sum_w, expected)


def test_planted_race_passes_sequentially():
    """Sequential mode hides the race: this is why the concurrent mode exists."""
    sum_w, expected = _point_launch(load_emulator(transform=_planted), 1)
    np.testing.assert_array_equal(sum_w, expected)


def test_planted_race_is_caught_concurrently():
    """Concurrent mode: the plain ``+=`` loses updates (tried a few times: lost updates are a matter of timing)."""
    module = load_emulator(transform=_planted)
    for _ in range(5):
        sum_w, expected = _point_launch(module, 8)
        if np.any(sum_w != expected):
            return
    pytest.fail("the planted race went unnoticed in 5 concurrent launches")


def test_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GPURESAMPLE_EMULATOR_THREADS", "3")
    assert emulator_threads() == 3
    monkeypatch.setenv("GPURESAMPLE_EMULATOR_THREADS", "zero")
    with pytest.raises(ValueError, match="GPURESAMPLE_EMULATOR_THREADS must be an integer"):
        emulator_threads()
    monkeypatch.delenv("GPURESAMPLE_EMULATOR_THREADS")
    assert emulator_threads() == 1
