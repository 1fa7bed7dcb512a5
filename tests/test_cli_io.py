"""Files and the command line: readers, the _i2d writer, `gpuresample`, `gpuresample demo`, previews.

Inputs are the synthetic dithered scene written as `_cal.fits` (through
stdatamodels and through our astropy/asdf fallback), as ASDF exposure files
and as a jwst association; every result read from files is compared with
`resample()` on the same exposures in memory.
"""

import os
import pty
import resource
import signal
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.io import fits
from conftest import REALDATA

import gpuresample
from gpuresample.asdf_io import write_exposure
from gpuresample.cal_writer import write_association, write_cal
from gpuresample.cli import main
from gpuresample.errors import InputFileError
from gpuresample.i2d import WCS_TOLERANCE, wcs_header_error, write_product
from gpuresample.i2d_read import read_product
from gpuresample.preview import preview_size, save_preview
from gpuresample.readers import FitsExposure, open_input
from gpuresample.synthetic import dithered_scene

datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _equal(a, b):
    for name, arr in a.arrays().items():
        other = getattr(b, name)
        assert other is not None, name
        np.testing.assert_array_equal(np.asarray(other), arr, err_msg=name)


def _dm_open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stdatamodels schema notes about our extra keywords
        return datamodels.open(path)


@pytest.fixture(scope="module")
def scene():
    return [dict(e) for e in dithered_scene(n_exposures=3, shape=(128, 128), seed=3)]


@pytest.fixture(scope="module")
def files(scene, tmp_path_factory):
    """The scene as _cal.fits (stdatamodels, fallback, stdatamodels), an ASDF copy and an association."""
    d = tmp_path_factory.mktemp("inputs")
    cal = [write_cal(d / f"jw_{k}_cal.fits", e, use_datamodels=(k != 1)) for k, e in enumerate(scene)]
    asdf_files = [write_exposure(d / f"exp_{k}.asdf", e) or d / f"exp_{k}.asdf" for k, e in enumerate(scene)]
    asn = write_association(d / "mosaic_asn.json", cal, product="mosaic")
    return {"dir": d, "cal": cal, "asdf": asdf_files, "asn": asn}


@pytest.fixture(scope="module")
def reference(scene):
    return gpuresample.resample(scene, propagate_dq=True)


# ---------------------------------------------------------------- readers


@pytest.mark.parametrize("use_datamodels", [True, False], ids=["stdatamodels", "asdf-extension"])
def test_cal_reader_paths_agree(files, scene, use_datamodels):
    for path, exp in zip(files["cal"], scene, strict=True):
        lazy = FitsExposure(path, use_datamodels=use_datamodels)
        assert lazy.used_datamodels == use_datamodels
        img = lazy.load()
        np.testing.assert_array_equal(img.data, exp["data"])
        np.testing.assert_array_equal(img.dq, exp["dq"])
        np.testing.assert_array_equal(img.var_rnoise, exp["var_rnoise"])
        assert img.exposure_time == exp["exposure_time"]
        assert img.measurement_time == exp["measurement_time"]
        assert img.bunit_data == exp["bunit_data"]
        x, y = np.array([0.0, 64.0, 127.0]), np.array([5.0, 64.0, 120.0])
        np.testing.assert_array_equal(img.wcs(x, y), exp["wcs"](x, y))


def test_association_and_asdf_round_trip(files, reference):
    """_cal.fits via an association, and ASDF files, give resample()'s in-memory arrays exactly."""
    _equal(reference, gpuresample.resample(str(files["asn"]), propagate_dq=True))
    _equal(reference, gpuresample.resample(files["asdf"], propagate_dq=True, in_memory=False))


@pytest.mark.parametrize("in_memory", ["--in_memory", "--no-in_memory"])
def test_cli_round_trip(files, reference, tmp_path, in_memory):
    out = tmp_path / "mosaic_i2d.fits"
    assert main([str(files["asn"]), "-o", str(out), "--propagate_dq", "--progress", "none", in_memory]) == 0
    with fits.open(out) as hdul:
        for name, ext in (("data", "SCI"), ("wht", "WHT"), ("con", "CON"), ("err", "ERR"),
                          ("var_rnoise", "VAR_RNOISE"), ("var_poisson", "VAR_POISSON"),
                          ("var_flat", "VAR_FLAT"), ("dq", "DQ")):
            np.testing.assert_array_equal(hdul[ext].data, getattr(reference, name), err_msg=ext)
        prim, sci = hdul[0].header, hdul["SCI"].header
        assert prim["NDRIZ"] == 3 and prim["PIXFRAC"] == 1.0 and prim["PXSCLRT"] == 1.0
        assert prim["EFFEXPTM"] == reference.meta["exposure_time"] and prim["RESWHT"] == "ivm"
        assert prim["EXP_TYPE"] == "NRC_IMAGE"  # blended from the inputs' primary headers
        assert prim.get("FILENAME") != "jw_0_cal.fits"  # per-input identities are not copied
        assert sci["BUNIT"] == "MJy/sr" and sci["PIXAR_SR"] > 0 and sci["PIXAR_A2"] > 0
        assert sci["S_REGION"].startswith("POLYGON")
    model = _dm_open(out)
    with model:
        assert type(model).__name__ == "ImageModel"
        np.testing.assert_array_equal(model.data, reference.data)
        assert model.meta.resample.pointings == 3
        x, y = np.array([0.0, 50.0]), np.array([0.0, 70.0])
        np.testing.assert_allclose(model.meta.wcs(x, y), reference.wcs(x, y), rtol=0, atol=1e-12)


def test_cli_round_trip_of_asdf_exposures(files, reference, tmp_path):
    """ASDF exposure files listed in an association, resampled on the command line: resample()'s arrays."""
    asn = write_association(files["dir"] / "asdf_asn.json", files["asdf"], product="asdf_mosaic")
    out = tmp_path / "a_i2d.fits"
    assert main([str(asn), "-o", str(out), "--propagate_dq", "--progress", "none", "--no-in_memory"]) == 0
    with fits.open(out) as hdul:
        for name, ext in (("data", "SCI"), ("wht", "WHT"), ("con", "CON"), ("err", "ERR"), ("dq", "DQ"),
                          ("var_rnoise", "VAR_RNOISE")):
            np.testing.assert_array_equal(hdul[ext].data, getattr(reference, name), err_msg=ext)


@pytest.mark.parametrize("use_datamodels", [True, False], ids=["stdatamodels", "astropy"])
@pytest.mark.parametrize("grid", [{}, {"rotation": 30.0, "pixel_scale_ratio": 0.7}], ids=["default", "rotated"])
def test_i2d_header_wcs_matches_gwcs(scene, tmp_path, use_datamodels, grid):
    res = gpuresample.resample(scene, **grid)
    out = write_product(tmp_path / "p_i2d.fits", res, use_datamodels=use_datamodels)
    with fits.open(out) as hdul:
        header = hdul["SCI"].header
        assert header["CTYPE1"].startswith("RA---TAN") and header["CTYPE2"].startswith("DEC--TAN")
        assert wcs_header_error(header, res.wcs, res.shape) <= WCS_TOLERANCE
        assert header["GWCSERR"] <= WCS_TOLERANCE
    back = read_product(out)  # the exact GWCS comes back from the ASDF extension
    x, y = np.array([0.0, res.shape[1] - 1.0]), np.array([0.0, res.shape[0] - 1.0])
    np.testing.assert_allclose(back.wcs(x, y), res.wcs(x, y), rtol=0, atol=1e-12)
    _equal(res, back)
    with _dm_open(out) as model:  # stdatamodels reads the fallback layout too
        np.testing.assert_array_equal(model.wht, res.wht)


@pytest.mark.parametrize("use_datamodels", [True, False], ids=["stdatamodels", "astropy"])
def test_i2d_keywords_once_and_where_jwst_has_them(files, scene, tmp_path, use_datamodels):
    """With blended _cal.fits headers: each PRIMARY keyword once, the product's values (not the first
    input's), FILENAME the product's name, XPOSURE in SCI (jwst's schema), read back by stdatamodels."""
    res = gpuresample.resample(str(files["asn"]))
    assert res.blended["tmeasure"] == sum(e["measurement_time"] for e in scene)  # summed, not the first input's
    assert res.blended["filename"] == "jw_0_cal.fits"  # the inputs recorded their real names
    out = write_product(tmp_path / "m_i2d.fits", res, use_datamodels=use_datamodels)
    total_tmeasure = sum(e["measurement_time"] for e in scene)
    with fits.open(out) as hdul:
        prim, sci = hdul[0].header, hdul["SCI"].header
        keys = [k for k in prim if k not in ("", "COMMENT", "HISTORY")]
        assert len(keys) == len(set(keys)), sorted(k for k in set(keys) if keys.count(k) > 1)
        assert prim["FILENAME"] == "m_i2d.fits" and prim["DATAMODL"] == "ImageModel"
        assert prim["TMEASURE"] == total_tmeasure == res.meta["measurement_time"]
        assert prim["EFFEXPTM"] == res.meta["exposure_time"]
        assert "XPOSURE" not in prim and sci["XPOSURE"] == res.meta["effective_exposure_time"]
        assert res.meta["duration"] is None and "DURATION" not in prim  # no input knows its duration
    with warnings.catch_warnings():
        warnings.simplefilter("error", datamodels.util.NoTypeWarning)  # DATAMODL names the model
        with datamodels.open(out) as model:
            assert type(model).__name__ == "ImageModel"
            assert model.meta.exposure.measurement_time == total_tmeasure
            assert model.meta.exposure.effective_exposure_time == res.meta["effective_exposure_time"]


def test_asdf_output(scene, tmp_path):
    res = gpuresample.resample(scene)
    out = write_product(tmp_path / "p_i2d.asdf", res)
    back = read_product(out)
    _equal(res, back)
    assert back.meta["kernel"] == "square"


def test_fits_sip_input(tmp_path, realdata):
    """A FITS image with a SIP WCS (real NIRCam B5 header) is read with its distortion."""
    from astropy.wcs import WCS

    header = fits.Header.fromtextfile(realdata / "nrcb5_sip_wcs.hdr")
    wcs = WCS(header)
    ny, nx = header.get("NAXIS2", 2048), header.get("NAXIS1", 2048)
    rng = np.random.default_rng(0)
    data = rng.normal(1.0, 0.1, (ny, nx)).astype(np.float32)
    header["EXPTIME"] = 300.0
    path = tmp_path / "sip.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header=header, name="SCI")]).writeto(path)
    img = open_input(path).load()
    assert img.exposure_time == 300.0 and img.wcs.sip is not None
    a = gpuresample.resample([path], pixel_scale_ratio=4.0, enable_err=False)
    b = gpuresample.resample([{"data": data, "wcs": wcs, "exposure_time": 300.0}], pixel_scale_ratio=4.0,
                             enable_err=False)
    _equal(b, a)


# ---------------------------------------------------------------- bad input


def _truncate(src, dst, fraction):
    raw = src.read_bytes()
    dst.write_bytes(raw[: int(len(raw) * fraction)])
    return dst


def _write(path, raw):
    path.write_bytes(raw)
    return path


def _no_wcs_asdf(path):
    import asdf

    asdf.AsdfFile({"data": np.ones((32, 32), np.float32)}).write_to(path)
    return path


def _no_wcs_cal(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = datamodels.ImageModel(data=np.ones((32, 32), np.float32))
        model.meta.exposure.type = "NRC_IMAGE"
        model.save(str(path))
    return path


def _no_wcs_fits(path):
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((32, 32), np.float32), name="SCI")]).writeto(path)
    return path


BAD_INPUTS = {
    "missing": (lambda d, f: d / "nope_cal.fits", "file not found"),
    "nirspec": (lambda d, f: REALDATA / "nirspec_mos_cal.fits", "not an imaging mode"),
    "truncated-fits": (lambda d, f: _truncate(f["cal"][0], d / "trunc_cal.fits", 0.6), "truncated"),
    "truncated-asdf": (lambda d, f: _truncate(f["asdf"][0], d / "trunc.asdf", 0.7), "truncated"),
    "garbage": (lambda d, f: _write(d / "junk_cal.fits", b"\x00" * 4000), "not a FITS, ASDF"),
    "no-wcs": (lambda d, f: _no_wcs_fits(d / "nowcs.fits"), "no celestial 2-D FITS WCS"),
    "no-wcs-asdf": (lambda d, f: _no_wcs_asdf(d / "nowcs.asdf"), "missing 'wcs'"),
    "no-wcs-cal": (lambda d, f: _no_wcs_cal(d / "nowcs_cal.fits"), "no WCS in meta.wcs"),
    "header-only": (lambda d, f: REALDATA / "j8bt06nyq_sip_flt.fits", "no 2-D image"),
    "asn-missing-member": (lambda d, f: _write(d / "bad_asn.json", (
        b'{"products": [{"name": "x", "members": [{"expname": "jw_0_cal.fits"}, {"expname": "gone_cal.fits"}]}]}')),
        "not found beside it: gone_cal.fits"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_line_error(case, files, tmp_path, capsys):
    if case in ("nirspec", "header-only") and not REALDATA.is_dir():
        pytest.skip(f"real data not found in {REALDATA}")
    make, message = BAD_INPUTS[case]
    bad = make(files["dir"] if case == "asn-missing-member" else tmp_path, files)
    out = tmp_path / "out_i2d.fits"
    rc = main([str(bad), str(files["cal"][1]), "-o", str(out), "--preview", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpuresample: error: "), err
    assert message in lines[0] and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "p.png").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_nirspec_rejected_in_a_subprocess(tmp_path, realdata):
    """The real console entry point: one line on stderr, exit 1, no traceback, nothing written."""
    proc = subprocess.run([sys.executable, "-m", "gpuresample", str(realdata / "nirspec_mos_cal.fits"),
                           "-o", str(tmp_path / "o_i2d.fits")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "nirspec_mos_cal.fits: EXP_TYPE NRS_FIXEDSLIT" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("flags", [["--crpix", "1"], ["--output_shape", "a,b"], ["--pixfrac", "2"],
                                   ["--crval", "1,2,3"], ["--kernel", "box"], ["--single=perhaps"],
                                   ["--pixmap_stepsize", "0"], ["--rotation", "nan"]])
def test_malformed_flags(flags, files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(files["cal"][0]), "-o", str(tmp_path / "o.fits"), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpuresample: error: argument"), err
    assert not list(tmp_path.iterdir())


def test_outputs_are_protected(files, tmp_path, capsys):
    cal = str(files["cal"][0])
    before = files["cal"][0].read_bytes()
    # the output may not be an input, even with --overwrite
    assert main([cal, "-o", cal, "--overwrite"]) == 1
    assert "would replace an input" in capsys.readouterr().err
    assert files["cal"][0].read_bytes() == before
    # an existing output is kept without --overwrite, replaced with it
    out = tmp_path / "o_i2d.fits"
    out.write_bytes(b"keep me")
    assert main([cal, "-o", str(out), "--progress", "none"]) == 1
    assert "output exists" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main([cal, "-o", str(out), "--overwrite", "--quiet"]) == 0
    assert fits.getheader(out, "SCI")["NAXIS"] == 2
    # a folder that does not exist, or is a file
    assert main([cal, "-o", str(tmp_path / "nowhere" / "o.fits")]) == 1
    assert "output folder does not exist" in capsys.readouterr().err
    assert main([cal, "-o", str(out / "o.fits")]) == 1
    capsys.readouterr()


def _drop_dac_override():
    """preexec_fn: the child (and what it execs) loses root's permission to bypass file modes.

    Dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the capability
    bounding set survives exec (root's capabilities are recomputed from it),
    so a root test run still meets a real read-only folder.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unwritable_folder(files, tmp_path):
    """A read-only output folder: one line naming it, exit 1, nothing written (as root too)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cmd = [sys.executable, "-m", "gpuresample", str(files["cal"][0]), "-o", str(ro / "o.fits")]
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                                  preexec_fn=_drop_dac_override if os.geteuid() == 0 else None)
        except subprocess.SubprocessError as exc:  # no CAP_SETPCAP to drop capabilities with
            pytest.skip(f"cannot run the command line without root's file-permission override: {exc}")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.count("\n") == 1 and "output folder is not writable" in proc.stderr, proc.stderr
        assert str(ro) in proc.stderr and "Traceback" not in proc.stderr
        assert not list(ro.iterdir())
    finally:
        ro.chmod(0o700)


def test_disk_full_leaves_nothing(files, tmp_path):
    """A write that fails part-way (file-size limit: the disk-full path) leaves no output behind."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    out = tmp_path / "o_i2d.fits"
    proc = subprocess.run([sys.executable, "-m", "gpuresample", str(files["asn"]), "-o", str(out),
                           "--progress", "none"], capture_output=True, text=True, preexec_fn=limit, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "o_i2d.fits: could not write the output" in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())


def test_reader_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nothing\.asdf: file not found"):
        open_input(tmp_path / "nothing.asdf")
    p = tmp_path / "a_asn.json"
    p.write_text("{}")
    with pytest.raises(InputFileError, match="association has no 'products'"):
        gpuresample.resample([p])


# ---------------------------------------------------------------- progress


def _cli(files, out, extra=()):
    return [sys.executable, "-m", "gpuresample", str(files["asn"]), "-o", str(out), *extra]


def test_progress_bar_on_a_terminal_not_in_a_pipe(files, tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen(_cli(files, tmp_path / "tty_i2d.fits"), stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    tty = b"".join(chunks).decode(errors="replace")
    assert "drizzling" in tty and "3/3" in tty and "%|" in tty, tty  # tqdm's bar
    assert "drizzled 1/3" not in tty

    piped = subprocess.run(_cli(files, tmp_path / "pipe_i2d.fits"), capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0
    assert "%|" not in piped.stderr
    assert [ln for ln in piped.stderr.splitlines() if ln.startswith("gpuresample: drizzled")] == [
        f"gpuresample: drizzled {k}/3: jw_{k - 1}_cal.fits" for k in (1, 2, 3)]


def test_forced_bar_and_quiet(files, tmp_path):
    forced = subprocess.run(_cli(files, tmp_path / "a_i2d.fits", ["--progress", "bar"]), capture_output=True,
                            text=True, timeout=120)
    assert forced.returncode == 0 and "%|" in forced.stderr
    quiet = subprocess.run(_cli(files, tmp_path / "b_i2d.fits", ["--quiet"]), capture_output=True, text=True,
                           timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


# ---------------------------------------------------------------- single, demo, preview


def test_single_writes_one_product_per_group(files, tmp_path, capsys):
    assert main([str(files["asn"]), "--single", "--output_dir", str(tmp_path), "--progress", "none"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"jw_{k}_outlier_i2d.fits" for k in range(3)]
    assert fits.getheader(tmp_path / names[0])["NDRIZ"] == 1
    capsys.readouterr()


def test_demo_command(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output_dir", str(out), "--size", "96", "--exposures", "3", "--progress", "none"]) == 0
    text = capsys.readouterr().out
    product, png = out / "gpuresample_demo_i2d.fits", out / "gpuresample_demo_i2d.png"
    assert str(product.resolve()) in text and str(png.resolve()) in text and "total" in text
    with fits.open(product) as hdul:
        assert {"SCI", "ERR", "CON", "WHT", "VAR_RNOISE", "VAR_POISSON", "VAR_FLAT", "ASDF"} <= {h.name for h in hdul}
        assert np.any(hdul["WHT"].data > 0) and hdul[0].header["NDRIZ"] == 3
    with _dm_open(product) as model:
        assert model.meta.wcs is not None
    ny, nx = fits.getdata(product, "SCI").shape
    assert _png_size(png) == preview_size((ny, nx))
    stamp = product.stat().st_mtime_ns
    assert main(["demo", "--output_dir", str(out), "--size", "96", "--exposures", "3"]) == 1
    assert "output exists" in capsys.readouterr().err and product.stat().st_mtime_ns == stamp
    assert main(["demo", "--output_dir", str(out), "--size", "96", "--exposures", "3", "--overwrite",
                 "--quiet"]) == 0


def test_demo_save_inputs_then_the_command_line(tmp_path, capsys, monkeypatch):
    """`demo --save-inputs` writes _cal.fits files and an association that the command line resamples
    to the demo's own mosaic; an --output_dir that is a file is refused before any work."""
    out = tmp_path / "demo"
    assert main(["demo", "--output_dir", str(out), "--size", "64", "--exposures", "2", "--progress", "none",
                 "--no-preview", "--save-inputs"]) == 0
    asn = out / "gpuresample_demo_asn.json"
    assert str(asn.resolve()) in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "gpuresample_demo_01_cal.fits", "gpuresample_demo_02_cal.fits", "gpuresample_demo_asn.json",
        "gpuresample_demo_i2d.fits"]
    monkeypatch.chdir(tmp_path)
    assert main([str(asn), "--rotation", "0", "--progress", "none"]) == 0  # the demo's grid is north up
    for ext in ("SCI", "WHT", "CON", "ERR"):
        np.testing.assert_array_equal(fits.getdata(tmp_path / "gpuresample_demo_cli_i2d.fits", ext),
                                      fits.getdata(out / "gpuresample_demo_i2d.fits", ext), err_msg=ext)
    afile = tmp_path / "afile"
    afile.write_text("x")
    called = []
    monkeypatch.setattr("gpuresample.synthetic.dithered_scene", lambda *a, **k: called.append(1))
    assert main(["demo", "--output_dir", str(afile)]) == 1
    assert "afile: exists and is not a folder" in capsys.readouterr().err and not called


@pytest.mark.parametrize("with_matplotlib", [True, False], ids=["matplotlib", "plain"])
def test_preview_png(reference, tmp_path, monkeypatch, with_matplotlib):
    if with_matplotlib:
        pytest.importorskip("matplotlib")
    else:
        monkeypatch.setattr("gpuresample.preview._have_matplotlib", lambda: False)
    png = save_preview(tmp_path / "p.png", reference)
    assert _png_size(png) == preview_size(reference.shape, have_matplotlib=with_matplotlib)
    assert png.stat().st_size > 5000
    with pytest.raises(FileExistsError):
        reference.save_preview(png)


@pytest.mark.parametrize("with_matplotlib", [True, False], ids=["matplotlib", "plain"])
def test_preview_of_a_large_mosaic_is_block_averaged(reference, tmp_path, monkeypatch, with_matplotlib):
    from gpuresample.preview import preview_wcs

    monkeypatch.setattr("gpuresample.preview.MAX_DISPLAY", 100)  # the 282 x 294 mosaic -> blocks of 3
    if not with_matplotlib:
        monkeypatch.setattr("gpuresample.preview._have_matplotlib", lambda: False)
    png = save_preview(tmp_path / "p.png", reference)
    assert _png_size(png) == preview_size(reference.shape, have_matplotlib=with_matplotlib)
    # block pixel (k, l) is centred on mosaic pixel (3k + 1, 3l + 1)
    ra, dec = preview_wcs(reference, 3).pixel_to_world_values([0, 10], [0, 20])
    ra0, dec0 = reference.wcs(np.array([1.0, 31.0]), np.array([1.0, 61.0]))
    np.testing.assert_allclose(ra, ra0, atol=1e-9)
    np.testing.assert_allclose(dec, dec0, atol=1e-9)


def test_python_m_gpuresample_demo_still_works(tmp_path, capsys):
    from gpuresample.demo import main as demo_main

    assert demo_main(["--output_dir", str(tmp_path), "--size", "64", "--exposures", "2", "--no-preview",
                      "--progress", "none"]) == 0
    assert (tmp_path / "gpuresample_demo_i2d.fits").is_file() and not (tmp_path / "gpuresample_demo_i2d.png").exists()
    capsys.readouterr()


def test_console_script_is_declared():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert eps.get("gpuresample") == "gpuresample.cli_entry:main"  # Ctrl-C handled before the imports


def test_cli_tiles_equal_untiled(files, reference, tmp_path, capsys):
    out = tmp_path / "tiled_i2d.fits"
    assert main([str(files["asn"]), "-o", str(out), "--propagate_dq", "--tile", "100,70", "--tile_workers", "2",
                 "--progress", "plain"]) == 0
    err = capsys.readouterr().err
    tiles = [ln for ln in err.splitlines() if ln.startswith("gpuresample: drizzled ")]
    assert tiles and all(": tile " in ln for ln in tiles) and tiles[-1].split()[2].startswith(f"{len(tiles)}/")
    with fits.open(out) as hdul:
        for name, ext in (("data", "SCI"), ("wht", "WHT"), ("con", "CON"), ("err", "ERR"), ("dq", "DQ"),
                          ("var_rnoise", "VAR_RNOISE")):
            np.testing.assert_array_equal(hdul[ext].data, getattr(reference, name), err_msg=ext)


@pytest.mark.parametrize("value", ["0", "a,b", "10,0", "big"])
def test_cli_bad_tile(value, files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(files["cal"][0]), "-o", str(tmp_path / "o.fits"), "--tile", value])
    assert exc.value.code == 2 and "argument --tile" in capsys.readouterr().err


def test_cli_tile_larger_than_grid(files, tmp_path, capsys):
    assert main([str(files["cal"][0]), "-o", str(tmp_path / "o.fits"), "--tile", "100000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tile" in err[0] and not (tmp_path / "o.fits").exists()
