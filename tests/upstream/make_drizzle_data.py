"""Generate the ``data/`` folder that drizzle 3.0.0's sdist lacks (its tests need it).

Run by ``run_drizzle_suite.sh`` with the *real* drizzle 3.0.0 (before anything
is substituted, in its own process)::

    python make_drizzle_data.py PKG_DIR REALDATA_DIR

``PKG_DIR`` is the temporary copy of drizzle's ``drizzle/tests/`` (importable
as the package named by its folder, its parent on ``sys.path``); the files are
written to ``PKG_DIR/data``, where drizzle's ``helpers.wcs_from_file`` reads
them.  ``REALDATA_DIR`` is ``../shared/realdata``: the real WCS headers that
drizzle's own ``tests/data`` holds (read there, copied only into the temporary
folder).  See README.md in this folder for why the generated files are
equivalent to drizzle's.

What is written:

* ``j8bt06nyq_sip_flt.fits``, ``nrcb5_sip_wcs.hdr``,
  ``nrcb5_output_wcs_psr_{0p55,1p0,1p2}.hdr``: the real files, unchanged.
* ``j8bt06nyq_flt.fits``: the real HST ACS/HRC ``_flt`` header (SIP
  distortion) with deterministic synthetic SCI pixels (sky, stars, noise,
  cosmic rays) of the header's 1024x1024 shape.
* ``reference_{square,turbo}_image.fits`` (SCI, CTX, WHT) and
  ``reference_{kernel}_{point,grid}.fits`` (SCI): what drizzle 3.0.0 itself
  produces for exactly the inputs and arguments the tests use, on output grids
  chosen here (see ``native_frame`` and ``north_up_frame``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from drizzle import resample, utils

#: the real files of drizzle's tests/data found in ../shared/realdata
REAL_FILES = [
    "j8bt06nyq_sip_flt.fits",
    "nrcb5_sip_wcs.hdr",
    "nrcb5_output_wcs_psr_0p55.hdr",
    "nrcb5_output_wcs_psr_1p0.hdr",
    "nrcb5_output_wcs_psr_1p2.hdr",
]

#: (kernel, test image) pairs of test_resample_kernel's parametrization
KERNEL_REFERENCES = [
    ("square", "point"),
    ("square", "grid"),
    ("point", "grid"),
    ("turbo", "grid"),
    ("lanczos3", "grid"),
    ("gaussian", "grid"),
]

#: kernels of test_resample_kernel_image
IMAGE_REFERENCES = ["square", "turbo"]

#: test_resample_kernel_image compares only this part of the output; its
#: comment: the outline of the input image (its "staircase") must lie outside.
IMAGE_TEST_SLICE = np.s_[125:-125, 5:-5]

SEED = 20040330  # DATE of the flt file: any fixed number makes the data reproducible


def synthetic_sci(shape, header, seed=SEED):
    """Deterministic ACS/HRC-like pixels in electrons (the field is 47 Tuc, crowded).

    Sky from the header's MDRIZSKY, Gaussian stars of FWHM 2.2 pixels (HRC
    F606W) with fluxes from a power law, Poisson + read noise and a few cosmic
    ray hits; float32 as in an flt file.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    sky = float(header.get("MDRIZSKY", 200.0))
    img = np.full(shape, sky, dtype=np.float64)

    nstars = 3000
    sigma = 2.2 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    xs = rng.uniform(-5, nx + 5, nstars)
    ys = rng.uniform(-5, ny + 5, nstars)
    flux = 300.0 * (1.0 - rng.random(nstars)) ** (-1.0 / 0.8)  # N(>F) ~ F**-0.8
    flux = np.minimum(flux, 2.0e6)
    half = 7
    for x0, y0, f in zip(xs, ys, flux, strict=True):
        ix, iy = round(x0), round(y0)
        x1, x2 = max(ix - half, 0), min(ix + half + 1, nx)
        y1, y2 = max(iy - half, 0), min(iy + half + 1, ny)
        if x1 >= x2 or y1 >= y2:
            continue
        yy, xx = np.mgrid[y1:y2, x1:x2]
        img[y1:y2, x1:x2] += (f / (2 * np.pi * sigma**2)) * np.exp(
            -0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / sigma**2
        )
    img = np.minimum(img, float(header.get("GOODMAX", 1.5e5)))  # saturation

    # Poisson noise (normal approximation) and read noise, after sky subtraction
    # of nothing: the flt keeps the sky, as the real one does.
    img += rng.normal(0.0, 1.0, shape) * np.sqrt(img + 4.7**2)

    ncr = 400
    cy = rng.integers(0, ny, ncr)
    cx = rng.integers(0, nx, ncr)
    img[cy, cx] += rng.uniform(500.0, 5000.0, ncr)
    return img.astype(np.float32)


def _tan_header(crpix, crval, matrix, shape, form):
    """FITS header of a TAN grid: the linear part as CD or as PC (CDELT = 1)."""
    hdr = fits.Header()
    hdr["WCSAXES"] = 2
    hdr["CTYPE1"], hdr["CTYPE2"] = "RA---TAN", "DEC--TAN"
    hdr["CUNIT1"], hdr["CUNIT2"] = "deg", "deg"
    hdr["CRPIX1"], hdr["CRPIX2"] = float(crpix[0]), float(crpix[1])
    hdr["CRVAL1"], hdr["CRVAL2"] = float(crval[0]), float(crval[1])
    key = "CD{}_{}" if form == "cd" else "PC{}_{}"
    for i in range(2):
        for j in range(2):
            hdr[key.format(i + 1, j + 1)] = float(matrix[i, j])
    if form == "pc":
        hdr["CDELT1"], hdr["CDELT2"] = 1.0, 1.0
    hdr["RADESYS"] = "ICRS"
    hdr["NAXIS1"], hdr["NAXIS2"] = int(shape[1]), int(shape[0])
    return hdr


def native_frame(inwcs):
    """The input's undistorted frame: its CRPIX, CRVAL, CD without SIP, same shape.

    The SIP terms of the HRC move the input's edges by at most ~4 pixels in
    this frame, so the outline lies outside the slice test_resample_kernel_image
    compares (checked in ``write_image_reference``).
    """
    return inwcs.wcs.crpix.copy(), inwcs.wcs.crval.copy(), inwcs.wcs.cd.copy(), tuple(inwcs.array_shape)


def north_up_frame(inwcs, margin=3):
    """A north-up TAN grid at the input's mean pixel scale holding its whole footprint.

    What a pipeline picks by default (AstroDrizzle's ``final_rot=0``): a
    rotation of 15.5 degrees from the detector axes, the HRC skew removed and
    a pixel-scale ratio of ~0.93 by the tests' "old" pscale definition.
    """
    cd = inwcs.wcs.cd
    scale = np.sqrt(abs(np.linalg.det(cd)))
    matrix = np.array([[-scale, 0.0], [0.0, scale]])
    ny, nx = inwcs.array_shape
    # footprint: the input's border pixels, through the full (SIP) WCS
    t = np.arange(-0.5, max(nx, ny) + 0.5, 1.0)
    ex = np.concatenate([np.clip(t, -0.5, nx - 0.5), np.full(t.size, nx - 0.5),
                         np.clip(t, -0.5, nx - 0.5), np.full(t.size, -0.5)])
    ey = np.concatenate([np.full(t.size, -0.5), np.clip(t, -0.5, ny - 0.5),
                         np.full(t.size, ny - 0.5), np.clip(t, -0.5, ny - 0.5)])
    ra, dec = inwcs.all_pix2world(ex, ey, 0)
    trial = WCS(_tan_header((0.0, 0.0), inwcs.wcs.crval, matrix, (1, 1), "cd"))
    ox, oy = trial.all_world2pix(ra, dec, 0)
    x0, y0 = np.floor(ox.min()) - margin, np.floor(oy.min()) - margin
    shape = (int(np.ceil(oy.max() - y0)) + margin + 1, int(np.ceil(ox.max() - x0)) + margin + 1)
    crpix = (1.0 - x0, 1.0 - y0)  # FITS CRPIX is 1-based: the trial's pixel 0 is at CRPIX 1
    return np.array(crpix), inwcs.wcs.crval.copy(), matrix, shape


def _write(path, header, arrays):
    """Write SCI (extension 1, with the WCS) and the other named extensions."""
    hdus = [fits.PrimaryHDU()]
    for name, data in arrays:
        hdr = header.copy() if name == "SCI" else fits.Header()
        hdr.remove("NAXIS1", ignore_missing=True)
        hdr.remove("NAXIS2", ignore_missing=True)
        hdus.append(fits.ImageHDU(data=data, header=hdr, name=name))
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _read_output_wcs(helpers, name):
    """The output WCS exactly as the test will build it (drizzle's own helper)."""
    return helpers.wcs_from_file(name, ext=1)


def write_kernel_reference(tr, data_dir, inwcs, frame, kernel, image_type):
    """reference_{kernel}_{image_type}.fits: test_resample_kernel's drizzle run, by drizzle."""
    name = f"reference_{kernel}_{image_type}.fits"
    crpix, crval, matrix, shape = frame
    header = _tan_header(crpix, crval, matrix, shape, "pc")  # the test reads .wcs.pc
    _write(data_dir / name, header, [("SCI", np.zeros(shape, np.float32))])
    output_wcs = _read_output_wcs(tr, name)

    if image_type == "point":
        insci = tr.make_point_image(inwcs.array_shape, (500, 200), 100.0)
    else:
        insci = tr.make_grid_image(inwcs.array_shape, 64, 100.0)
    inwht = np.ones_like(insci)
    pixmap = utils.calc_pixmap(inwcs, output_wcs)
    if kernel == "point":
        pscale_ratio = 1.0
    else:  # the "old" definition the test uses
        pscale_ratio = np.sqrt(
            np.sum(output_wcs.wcs.pc**2, axis=0)[0] / np.sum(inwcs.wcs.cd**2, axis=0)[0]
        )
    driz = resample.Drizzle(kernel=kernel, out_shape=output_wcs.array_shape, fillval=0.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Kernel '.*' is not a flux-conserving kernel")
        driz.add_image(insci, exptime=1.0, pixmap=pixmap, weight_map=inwht,
                       iscale=pscale_ratio**2, pixel_scale_ratio=pscale_ratio)
    _write(data_dir / name, header, [("SCI", driz.out_img)])
    return name


def write_image_reference(tr, data_dir, inwcs, insci, frame, kernel):
    """reference_{kernel}_image.fits: test_resample_kernel_image's run, by drizzle."""
    name = f"reference_{kernel}_image.fits"
    crpix, crval, matrix, shape = frame
    header = _tan_header(crpix, crval, matrix, shape, "cd")  # the test reads .wcs.cd
    _write(data_dir / name, header, [("SCI", np.zeros(shape, np.float32))])
    outwcs = _read_output_wcs(tr, name)

    inwht = np.ones_like(insci)
    pixmap = utils.calc_pixmap(inwcs, outwcs)
    pscale_ratio = np.sqrt(np.sum(outwcs.wcs.cd**2, axis=0)[0] / np.sum(inwcs.wcs.cd**2, axis=0)[0])
    driz = resample.Drizzle(kernel=kernel, out_shape=shape, fillval=0.0)
    driz.add_image(insci, exptime=1.0, pixmap=pixmap, weight_map=inwht,
                   iscale=pscale_ratio**2, pixel_scale_ratio=pscale_ratio)
    ctx = driz.out_ctx[0]
    # the test's premise: every compared pixel lies inside the input's footprint
    sl = IMAGE_TEST_SLICE
    if not (np.all(ctx[sl] == 1) and np.all(driz.out_wht[sl] > 0.5)):
        raise RuntimeError(f"{name}: the input's outline reaches into the compared slice")
    _write(data_dir / name, header,
           [("SCI", driz.out_img), ("CTX", ctx.astype(np.int32)), ("WHT", driz.out_wht)])
    return name


def main(pkg_dir, realdata):
    version = importlib.metadata.version("drizzle")
    if version != "3.0.0":
        raise RuntimeError(f"the references must come from drizzle 3.0.0, not {version}")
    pkg_dir = Path(pkg_dir).resolve()
    realdata = Path(realdata)
    data_dir = pkg_dir / "data"
    data_dir.mkdir(exist_ok=True)
    for name in REAL_FILES:
        shutil.copyfile(realdata / name, data_dir / name)

    # the flt: real header, synthetic pixels
    with fits.open(data_dir / "j8bt06nyq_sip_flt.fits") as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    sci = hdul["SCI", 1]
    shape = (sci.header["WCSNAX2"], sci.header["WCSNAX1"])
    sci.data = synthetic_sci(shape, sci.header)
    hdul[0].header["FILENAME"] = "j8bt06nyq_flt.fits"
    hdul[0].header["HISTORY"] = "gpuresample tests/upstream: synthetic SCI pixels on the real header"
    hdul.writeto(data_dir / "j8bt06nyq_flt.fits", overwrite=True)

    # drizzle's own test module (unsubstituted: real drizzle) for its helpers
    sys.path.insert(0, str(pkg_dir.parent))
    tr = importlib.import_module(f"{pkg_dir.name}.test_resample")
    inwcs, insci = tr.wcs_from_file("j8bt06nyq_flt.fits", ext=1, return_data=True)

    written = []
    north = north_up_frame(inwcs)
    for kernel, image_type in KERNEL_REFERENCES:
        written.append(write_kernel_reference(tr, data_dir, inwcs, north, kernel, image_type))
    native = native_frame(inwcs)
    for kernel in IMAGE_REFERENCES:
        written.append(write_image_reference(tr, data_dir, inwcs, insci, native, kernel))
    print(f"make_drizzle_data: {data_dir}: {len(REAL_FILES)} real files copied; "
          f"j8bt06nyq_flt.fits (synthetic pixels) and {len(written)} references by drizzle {version} "
          f"(north-up grid {north[3]}, native grid {native[3]})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_drizzle_data.py PKG_DIR REALDATA_DIR")
    main(sys.argv[1], sys.argv[2])
