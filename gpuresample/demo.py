"""The embedded default job: resample a synthetic dithered NIRCam-like scene.

Run ``python -m gpuresample.demo`` (options: ``--help``).  It builds the scene
with :func:`gpuresample.synthetic.dithered_scene` (distorted gwcs, stars and
galaxies, noise, variance arrays, flagged pixels), runs
:func:`gpuresample.resample` at jwst's defaults (north up), writes a FITS file
(SCI, ERR, CON, WHT, VAR_*) and prints where it is and how long it took.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from . import resample
from .synthetic import dithered_scene

__all__ = ["main", "run_demo"]


def run_demo(n_exposures=4, size=1024, kernel="square", pixfrac=1.0, backend="auto", seed=0):
    """Resample the synthetic scene; return ``(result, timings)``."""
    timings = {}
    t0 = time.perf_counter()
    exposures = dithered_scene(n_exposures=n_exposures, shape=(size, size), seed=seed)
    timings["scene"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = resample(exposures, kernel=kernel, pixfrac=pixfrac, rotation=0.0, backend=backend)
    timings["resample"] = time.perf_counter() - t0
    return result, timings


def _fits_header(result):
    """A celestial FITS WCS fitted to the output gwcs (the demo's file is for viewing)."""
    ny, nx = result.shape
    return result.wcs.to_fits_sip(bounding_box=((-0.5, nx - 0.5), (-0.5, ny - 0.5)), degree=1,
                                  max_pix_error=0.01)


def _write_fits(path, result, overwrite):
    from astropy.io import fits

    hdr = _fits_header(result)
    hdus = [fits.PrimaryHDU()]
    for name in ("data", "err", "con", "wht", "var_rnoise", "var_poisson", "var_flat"):
        arr = getattr(result, name)
        if arr is not None:
            hdus.append(fits.ImageHDU(np.asarray(arr), header=hdr if arr.ndim == 2 else None,
                                      name="SCI" if name == "data" else name.upper()))
    meta = result.meta
    hdus[0].header["KERNEL"] = meta["kernel"]
    hdus[0].header["PIXFRAC"] = meta["pixfrac"]
    hdus[0].header["NDRIZ"] = meta["ndrizzled"]
    hdus[0].header["EXPTIME"] = meta["exposure_time"]
    hdus[0].header["PIXAR_SR"] = meta["pixelarea_steradians"]
    # write next to the target and rename: never leave a half-written file
    tmp = path.with_name(path.name + ".part")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    if path.exists() and not overwrite:
        tmp.unlink()
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    tmp.replace(path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gpuresample.demo", description=__doc__.splitlines()[0])
    p.add_argument("--exposures", type=int, default=4, help="number of dithered exposures (default 4)")
    p.add_argument("--size", type=int, default=1024, help="detector size in pixels (default 1024)")
    p.add_argument("--kernel", default="square", help="drizzle kernel (default square)")
    p.add_argument("--pixfrac", type=float, default=1.0)
    p.add_argument("--backend", default="auto")
    p.add_argument("--output", default="gpuresample_demo_output/demo_drz.fits")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.exposures < 1 or args.size < 16:
        p.error("--exposures must be >= 1 and --size >= 16")
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        p.error(f"{out} exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    result, timings = run_demo(args.exposures, args.size, args.kernel, args.pixfrac, args.backend)
    _write_fits(out, result, args.overwrite)
    total = time.perf_counter() - t0
    good = result.wht > 0
    print(f"gpuresample demo: {args.exposures} exposures of {args.size}x{args.size} px -> "
          f"{result.shape[1]}x{result.shape[0]} px mosaic ({result.meta['kernel']})")
    print(f"  covered pixels: {good.mean():.1%}; median SCI {np.median(result.data[good]):.4g}, "
          f"median ERR {np.median(result.err[good]):.4g}")
    print("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()) + f"; total {total:.2f} s")
    print(f"  wrote {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
