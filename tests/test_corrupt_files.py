"""Corrupted input files give one error naming the file, never a raw Python error (issue 13, item 9).

Seen before: a byte flipped in a SCI header raised astropy's ASCII message
without the file name; flipped bytes in the ASDF extension raised "cannot
convert float NaN to integer", "'Pix2Sky_Gnomonic' object has no attribute
'__name__'", "'wcs' is a TaggedDict" or "ReaderError.__init__() missing 4
... arguments".
"""

import warnings

import numpy as np
import pytest

from gpuresample.cal_writer import write_cal
from gpuresample.errors import InputFileError
from gpuresample.readers import open_input
from gpuresample.synthetic import dithered_scene


@pytest.fixture(scope="module")
def cal_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cal")
    exp = dithered_scene(1, (32, 32), nstars=3, ngal=3)[0]
    path = write_cal(folder / "jw_ok_cal.fits", exp, use_datamodels=False)
    return path.read_bytes()


def _regions(raw):
    """Byte ranges of the SCI header and of the ASDF extension's data (where corruption bites)."""
    sci = raw.find(b"EXTNAME = 'SCI")
    sci_start = sci - sci % 2880
    asdf = raw.find(b"#ASDF")
    return {"sci header": (sci_start, sci_start + 2880), "asdf": (asdf, min(len(raw), asdf + 6000))}


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = open_input(path)
        img = exp.load()
    return img


@pytest.mark.parametrize("region", ["sci header", "asdf"])
def test_flipped_bytes_name_the_file(tmp_path, cal_bytes, region):
    lo, hi = _regions(cal_bytes)[region]
    assert lo >= 0 and hi > lo
    rng = np.random.default_rng(13)
    outcomes = {"read": 0, "refused": 0}
    for trial in range(60):
        raw = bytearray(cal_bytes)
        for pos in rng.integers(lo, hi, size=int(rng.integers(1, 4))):
            raw[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"jw_{trial}_cal.fits"
        path.write_bytes(bytes(raw))
        try:
            _read(path)
            outcomes["read"] += 1  # a flip in a comment or padding changes nothing
        except InputFileError as exc:  # anything else (a raw error) fails the test
            message = str(exc)
            outcomes["refused"] += 1
            if str(path) not in message:
                pytest.fail(f"the error does not name the file: {message}")
    assert outcomes["refused"] > 0
