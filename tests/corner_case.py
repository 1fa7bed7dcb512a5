"""The input that crashes drizzle 2.2 (importable without pytest, for subprocesses)."""

import numpy as np


def corner_case(delta, n=48, angle=-33.0):
    """Rotation with a parity flip; input corner (-0.5, -0.5) lands ``delta`` above the top edge.

    The two points where the input edges cross the output's top edge are then
    closer than drizzle's pixmap-inversion tolerance and invert to the same
    input point (a zero-length polygon edge).
    """
    t = np.radians(angle)
    c, s = np.cos(t), np.sin(t)
    a = np.array([[c, -s], [s, c]]) @ np.diag([1.0, -1.0])
    y, x = np.indices((n, n), float)
    u, v = x + 0.5, y + 0.5
    xo = a[0, 0] * u + a[0, 1] * v + 0.6 * n
    yo = a[1, 0] * u + a[1, 1] * v - 0.012 * u**2 + n - 0.5 + delta
    return np.dstack([xo, yo])
