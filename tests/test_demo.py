"""The embedded default job runs end to end (small size) and refuses to overwrite."""

import numpy as np
import pytest
from astropy.io import fits

from gpuresample.demo import main


def test_demo_writes_mosaic(tmp_path, capsys):
    out = tmp_path / "demo_drz.fits"
    assert main(["--exposures", "3", "--size", "128", "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with fits.open(out) as hdul:
        sci, wht, con, err = hdul["SCI"].data, hdul["WHT"].data, hdul["CON"].data, hdul["ERR"].data
        assert sci.shape == wht.shape == err.shape and np.any(wht > 0)
        assert set(np.unique(con[0])) <= set(range(8))
        assert np.all(np.isfinite(err[wht > 0]))
        assert hdul["SCI"].header["CTYPE1"] == "RA---TAN" and hdul[0].header["NDRIZ"] == 3
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(SystemExit):
        main(["--size", "128", "--output", str(out)])  # exists, no --overwrite
