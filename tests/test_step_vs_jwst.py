"""gpuresample.ResampleStep equals jwst 3.0's ResampleStep on dithered real-NIRCam exposures (issue 14).

jwst 3.0 pins drizzle<2.3 and asdf<6, so it lives in its own environment:
``.ci/run`` installs ``jwst==3.0.0`` and gpuresample there and names its
interpreter in ``$GPURESAMPLE_JWST_PYTHON``; these tests skip when it is unset.
``oracle_jwst.py`` writes three ``_cal.fits`` files and an association, runs
both steps on it in that interpreter (same drizzle C code) and reports the
comparison as JSON; the command-line tests run ``strun`` there.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

CASES = [
    {},  # jwst's defaults
    {"kernel": "lanczos3"},
    {"kernel": "gaussian", "pixfrac": 0.7},
    {"pixfrac": 0.5},
    {"pixel_scale_ratio": 0.5},
    {"rotation": 30},
    {"weight_type": "exptime"},
    {"propagate_dq": True, "enable_ctx": False},
    {"enable_err": False},
    {"single": True},
    {"single": True, "kernel": "turbo"},
    # ours only: tiles (bitwise the untiled result, so jwst's too)
    {"tile": "64,48", "tile_workers": "2"},
    {"tile": "50", "propagate_dq": True, "kernel": "lanczos3"},
    {"tile": "auto", "allowed_memory": 0.5, "single": True},
]

#: metadata in which we differ from jwst on purpose (docs/differences.rst says why)
KNOWN = {
    # single=True: jwst's reused engine keeps the group IDs of the earlier products, so the second
    # product reports pointings=2 for its one exposure group; ours counts the product's own groups
    "resample.pointings": lambda case, k: case.get("single") and k > 0,
}


@pytest.fixture
def jwst_python(realdata):
    exe = os.environ.get("GPURESAMPLE_JWST_PYTHON")
    if not exe:
        pytest.skip("set GPURESAMPLE_JWST_PYTHON to a python with jwst 3.0 and gpuresample (.ci/run does)")
    return exe


@pytest.fixture(scope="module")
def jwst_reports(request):
    """Every case's report from one oracle process (jwst imported once: ~10 s instead of one start per case)."""
    exe = os.environ.get("GPURESAMPLE_JWST_PYTHON")
    from conftest import REALDATA

    if not exe or not (REALDATA / "nrcb1-wcs.asdf").is_file():
        return None  # the tests skip through their own fixtures
    out = subprocess.run([exe, str(HERE / "oracle_jwst.py"), str(REALDATA), json.dumps(CASES)],
                         capture_output=True, text=True, timeout=1800, cwd=HERE)
    if out.returncode != 0:
        return out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.realdata
@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[",".join(f"{k}={v}" for k, v in c.items()) or "defaults" for c in CASES])
def test_step_equals_jwst(jwst_python, realdata, jwst_reports, index):
    case = CASES[index]
    assert isinstance(jwst_reports, list), jwst_reports  # else the oracle's error output
    rep = jwst_reports[index]
    assert rep["n_products"][0] == rep["n_products"][1] == (2 if case.get("single") else 1)
    assert rep["gpuresample_engines"] >= 1  # our engine drizzled (not stcal's)
    assert rep["gpuresample_tiled_products"] == (rep["n_products"][1] if "tile" in case else 0)
    assert len(rep["inputs_unchanged"]) == 4  # the association and its 3 files, nothing written beside them
    for k, prod in enumerate(rep["products"]):
        for name in ("data", "wht", "con", "dq"):
            assert prod[name] in (True, None), (name, prod[name])  # bitwise, or absent from both
        assert (prod["con"] is None) == (case.get("enable_ctx") is False)
        assert (prod["dq"] is None) != bool(case.get("propagate_dq"))
        for name in ("err", "var_rnoise", "var_poisson", "var_flat"):
            if prod[name] is None:
                continue
            assert isinstance(prod[name], dict), (name, prod[name])
            assert prod[name]["same_nan"] and prod[name]["max_rel"] <= 1e-6, (name, prod[name])
        assert prod["wcs_corner_px"] <= 1e-6
        assert prod["filenames"][0] == prod["filenames"][1]
        unexpected = {key: v for key, v in prod["meta_differences"].items()
                      if not (key in KNOWN and KNOWN[key](case, k))}
        assert not unexpected, unexpected


@pytest.mark.realdata
def test_strun_by_class_alias_and_parameter_file(jwst_python, realdata, tmp_path):
    """``strun gpuresample.ResampleStep``, the registered alias and an ASDF parameter file whose ``class`` is
    ``gpuresample.ResampleStep``: each writes ``<name>_i2d.fits`` with the parameters asked for."""
    import hashlib

    import asdf
    import numpy as np
    from stdatamodels.jwst import datamodels

    subprocess.run([jwst_python, str(HERE / "oracle_jwst.py"), "--write", str(realdata), str(tmp_path)],
                   check=True, capture_output=True, timeout=300, cwd=HERE)
    inputs = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    asdf.AsdfFile({"class": "gpuresample.ResampleStep", "name": "gpuresample_resample",
                   "parameters": {"kernel": "turbo", "pixfrac": 0.8}}).write_to(tmp_path / "params.asdf")
    strun = str(Path(jwst_python).parent / "strun")
    env = dict(os.environ, STPIPE_DISABLE_CRDS_STEPPARS="True")  # no CRDS server: no pars-* reference files
    runs = {
        "jw01234-o001_t001_nircam_clear-f200w_i2d.fits": ([strun, "gpuresample.ResampleStep", "asn.json",
                                                           "--kernel=lanczos3"], ("lanczos3", 1.0)),
        "fromparams_i2d.fits": ([strun, "params.asdf", "asn.json", "--output_file=fromparams"], ("turbo", 0.8)),
        "alias_i2d.fits": ([strun, "gpuresample_resample", "asn.json", "--output_file=alias",
                            "--backend=emulator"], ("square", 1.0)),
    }
    for name, (cmd, (kernel, pixfrac)) in runs.items():
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        with datamodels.open(tmp_path / name) as m:
            assert (m.meta.resample.kernel, m.meta.resample.pixfrac) == (kernel, pixfrac)
            assert m.meta.cal_step.resample == "COMPLETE" and m.data.shape == m.wht.shape
            assert np.isfinite(m.data).mean() > 0.5
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir() if p.name in inputs} \
        == inputs  # inputs never modified


@pytest.mark.realdata
def test_every_kind_of_input_jwst_takes(jwst_python, realdata):
    """An association file, a ModelLibrary, one ImageModel, a list of models, a list of files: the same
    product as jwst's step for each (SCI and WHT bitwise, the same file name)."""
    out = subprocess.run([jwst_python, str(HERE / "oracle_jwst.py"), "--input-kinds", str(realdata)],
                         capture_output=True, text=True, timeout=600, cwd=HERE)
    assert out.returncode == 0, out.stderr[-3000:]
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(rep) == {"association file", "ModelLibrary", "ImageModel", "list of models", "list of files"}
    assert all(all(v) for v in rep.values()), rep
