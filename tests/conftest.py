"""Shared fixtures: synthetic pixel maps and the optional real WCS files."""

import os
from pathlib import Path

import numpy as np
import pytest

# ../shared/realdata beside the repository (never copied into it); $GPURESAMPLE_REALDATA where
# the files travel elsewhere (benchmarks/gpu_check --bundle on a lent GPU machine)
REALDATA = Path(os.environ.get("GPURESAMPLE_REALDATA") or Path(__file__).resolve().parents[2] / "shared" / "realdata")


@pytest.fixture
def realdata():
    if not (REALDATA / "nrcb1-wcs.asdf").is_file():
        pytest.skip(f"real WCS files not found in {REALDATA}")
    return REALDATA


def rotated_pixmap(shape, angle_deg, scale, offset, rng=None, jitter=0.0, curvature=0.0):
    """Pixel map of a rotated, scaled (1/scale output px per input px) grid.

    ``curvature`` adds a quadratic term so that the map is not affine.
    """
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    t = np.radians(angle_deg)
    c, s = np.cos(t), np.sin(t)
    xc, yc = x - (nx - 1) / 2, y - (ny - 1) / 2
    xo = (c * xc - s * yc) / scale + offset[0] + curvature * xc**2 / nx
    yo = (s * xc + c * yc) / scale + offset[1] + curvature * yc**2 / ny
    if rng is not None and jitter:
        xo = xo + rng.uniform(-jitter, jitter)
        yo = yo + rng.uniform(-jitter, jitter)
    return np.dstack([xo, yo])


def demo_association(folder, size, exposures):
    """``gpuresample demo --save-inputs`` into ``folder``: its association file (for command-line tests)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "gpuresample", "demo", "--size", str(size), "--exposures", str(exposures),
                    "--no-preview", "--save-inputs", "--output_dir", str(folder), "-q"], check=True)
    return Path(folder) / "gpuresample_demo_asn.json"

