"""Resampled products on disk: jwst-style ``_i2d.fits`` (or ``.asdf``), and reading them back.

FITS layout (jwst's ``ImageModel`` as the resample step writes it):

=========== ================================================================
PRIMARY     NDRIZ (exposure groups), PIXFRAC, PXSCLRT, RESWHT, KERNEL,
            FILLVAL, NINPUTS, EFFEXPTM / TMEASURE / DURATION, EXPSTART /
            EXPEND / EXPMID, FILENAME, DATAMODL, and with ``blendheaders``
            the blended primary-header cards of the inputs (never a second
            copy of one of the product's own keywords)
SCI         float32 ``(ny, nx)``; a celestial FITS WCS (TAN, with SIP terms
            only when the GWCS needs them) fitted to the GWCS, BUNIT,
            XPOSURE, PIXAR_SR, PIXAR_A2, S_REGION, GWCSERR (max |FITS - GWCS|
            in pixels at the corners and centre)
ERR, WHT    float32 ``(ny, nx)``
CON         int32 ``(nplanes, ny, nx)``: bit k of plane p = input 32p + k
VAR_*       float32 ``(ny, nx)``: VAR_RNOISE, VAR_POISSON, VAR_FLAT
DQ          uint32 ``(ny, nx)`` (with ``propagate_dq``)
ASDF        the exact GWCS (``meta.wcs``) and metadata tree
=========== ================================================================

With ``stdatamodels`` installed the file is written by
``stdatamodels.jwst.datamodels.ImageModel`` (so jwst tools read it natively)
and the FITS WCS is then put in the SCI header; without it the same HDUs and
an ``ASDF`` extension in the same layout are written with astropy and asdf.
A ``.asdf`` output holds the arrays under the same lower-case names plus
``wcs`` and ``meta``.

FITS arrays are streamed into the file a block of rows at a time
(:mod:`gpuresample.fits_stream`), so writing a memory-mapped product made
within ``allowed_memory`` stays within it; the headers are those of the same
product written with 1-pixel arrays, so they are exactly the ordinary writer's.

Writes are atomic (:mod:`gpuresample.atomic`): a temporary file in the
target folder renamed into place; an existing file is only replaced with
``overwrite=True``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from pathlib import Path

import numpy as np

from .atomic import atomic_output
from .fits_stream import grow_asdf_tree, write_streamed

__all__ = ["fits_wcs_header", "wcs_header_error", "write_product"]

log = logging.getLogger("gpuresample")

#: (result attribute, EXTNAME) of the array HDUs, in the order written
ARRAY_HDUS = (("data", "SCI"), ("err", "ERR"), ("con", "CON"), ("wht", "WHT"), ("var_rnoise", "VAR_RNOISE"),
               ("var_poisson", "VAR_POISSON"), ("var_flat", "VAR_FLAT"), ("dq", "DQ"))
_DTYPES = {"con": np.int32, "dq": np.uint32}
#: FITS WCS accuracy required against the GWCS (output pixels).
WCS_TOLERANCE = 0.01


# ---------------------------------------------------------------- FITS WCS


def _check_points(shape):
    """Pixel (x, y) at the four corners (pixel edges) and the centre of a (ny, nx) grid."""
    ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5, (nx - 1) / 2.0])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5, (ny - 1) / 2.0])
    return x, y


def wcs_header_error(header, wcs, shape):
    """Max distance (output pixels) between FITS WCS and GWCS positions at the corners and centre.

    Each check point is mapped to the sky with the GWCS and back to pixels
    with the FITS WCS.
    """
    from astropy.wcs import WCS

    x, y = _check_points(shape)
    ra, dec = wcs(x, y, with_bounding_box=False)[:2]
    fx, fy = WCS(header).all_world2pix(ra, dec, 0)
    return float(np.max(np.hypot(fx - x, fy - y)))


def fits_wcs_header(wcs, shape):
    """A celestial FITS WCS header (TAN, + SIP when needed) for a GWCS on a ``(ny, nx)`` grid.

    The fit uses gwcs's ``to_fits_sip`` over the whole grid and raises the
    polynomial degree until the FITS WCS is within ``WCS_TOLERANCE`` (0.01 pixel)
    pixel; the achieved error at the corners and centre is recorded as
    ``GWCSERR``.  A pure TAN output grid (the default grid) needs degree 1.
    """
    ny, nx = shape
    bbox = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fitting warnings: the result is checked below
        header = wcs.to_fits_sip(bounding_box=bbox, max_pix_error=WCS_TOLERANCE / 10, degree=range(1, 7),
                                 max_inv_pix_error=WCS_TOLERANCE / 10, inv_degree=range(1, 7))
    for key in ("NAXIS", "NAXIS1", "NAXIS2"):
        header.remove(key, ignore_missing=True)
    err = wcs_header_error(header, wcs, shape)
    header["GWCSERR"] = (float(f"{err:.3g}"), "[pix] max |FITS WCS - GWCS|, corners+centre")
    if not err <= WCS_TOLERANCE:
        log.warning("the FITS WCS in the SCI header differs from the GWCS by %.3g px (> %g); "
                    "use the GWCS in the ASDF extension", err, WCS_TOLERANCE)
    return header


# ---------------------------------------------------------------- keywords

# Per-input identities that would be wrong on the product (they name the first input).
_NOT_BLENDED = {"FILENAME", "GROUP_ID", "DATE", "ASNTABLE", "ASNPOOL", "EXPNAME"}


def _primary_cards(result, blended, filename):
    """[(keyword, value, comment)] for the PRIMARY header (each keyword once)."""
    meta = result.meta
    cards = []
    if blended:
        for key, value in blended.items():
            kw = key.upper()
            # the product's own cards (below, and XPOSURE in SCI) describe the
            # whole mosaic: an input's value must not stand beside them
            if kw in _NOT_BLENDED or kw in _OURS or kw == "XPOSURE":
                continue
            if len(kw) <= 8 and kw.replace("_", "").replace("-", "").isalnum() and isinstance(
                    value, (str, bool, int, float)) and not (isinstance(value, float) and not math.isfinite(value)):
                cards.append((kw, value, "blended from the inputs"))
    start, end = meta.get("start_time"), meta.get("end_time")
    ours = [
        ("NDRIZ", meta.get("pointings"), "number of exposure groups resampled"),
        ("NINPUTS", meta.get("ndrizzled"), "number of input images resampled"),
        ("PIXFRAC", meta.get("pixfrac"), "drizzle pixel fraction"),
        ("PXSCLRT", meta.get("pixel_scale_ratio"), "output / input pixel scale"),
        ("RESWHT", meta.get("weight_type"), "drizzle weighting"),
        ("KERNEL", meta.get("kernel"), "drizzle kernel"),
        ("FILLVAL", str(meta.get("fillval")), "value of pixels with no input"),
        ("EFFEXPTM", meta.get("exposure_time"), "[s] effective exposure time"),
        ("TMEASURE", meta.get("measurement_time"), "[s] measurement time"),
        ("DURATION", meta.get("duration"), "[s] total duration"),
        ("EXPSTART", start, "[d] exposure start (MJD)"),
        ("EXPEND", end, "[d] exposure end (MJD)"),
        ("EXPMID", (start + end) / 2 if start is not None and end is not None else None, "[d] mid time (MJD)"),
        ("RESAMPSW", "gpuresample", "software that resampled the product"),
        ("FILENAME", filename, "name of the file"),
        ("DATAMODL", "ImageModel", "type of data model (stdatamodels)"),
    ]
    return cards + [(k, v, c) for k, v, c in ours if v is not None]


def _sci_cards(result):
    meta = result.meta
    cards = [
        ("BUNIT", meta.get("bunit_data"), "physical units of the array values"),
        # jwst's schema keeps the effective exposure time in SCI (meta.exposure.effective_exposure_time)
        ("XPOSURE", meta.get("effective_exposure_time"), "[s] effective exposure time"),
        ("PIXAR_SR", meta.get("pixelarea_steradians"), "[sr] nominal pixel area"),
        ("PIXAR_A2", meta.get("pixelarea_arcsecsq"), "[arcsec^2] nominal pixel area"),
        ("S_REGION", meta.get("s_region"), "spatial extent of the product"),
    ]
    return [(k, v, c) for k, v, c in cards if v is not None]


def _arrays(result):
    out = {}
    for name, _ in ARRAY_HDUS:
        arr = getattr(result, name, None)
        if arr is not None:
            out[name] = np.asarray(arr, dtype=_DTYPES.get(name, np.float32))
    return out


def _tree_meta(result):
    """JSON/ASDF-safe copy of ``result.meta`` (+ blended inputs)."""
    def plain(v):
        if isinstance(v, np.generic):
            return v.item()
        return v if isinstance(v, (str, bool, int, float)) or v is None else str(v)

    meta = {k: plain(v) for k, v in result.meta.items()}
    if result.blended:
        meta["blended"] = {k: plain(v) for k, v in result.blended.items()}
    return meta


# ---------------------------------------------------------------- writers


def _write_datamodels(tmp, result, primary, sci_header, filename):
    from astropy.io import fits
    from stdatamodels.jwst import datamodels

    arrays = _arrays(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # schema-validation warnings for values jwst does not enumerate
        model = datamodels.ImageModel(data=arrays.pop("data"))
        for name, arr in arrays.items():
            setattr(model, name, arr)
        model.meta.wcs = result.wcs
        meta = result.meta
        model.meta.filename = filename  # the product's name, not the temporary file's
        model.meta.resample.pointings = int(meta.get("pointings") or 0)
        model.meta.resample.pixfrac = float(meta["pixfrac"])
        model.meta.resample.pixel_scale_ratio = float(meta["pixel_scale_ratio"])
        if meta.get("weight_type") in ("ivm", "exptime"):
            model.meta.resample.weight_type = meta["weight_type"]
        if meta.get("pixelarea_steradians") is not None:
            model.meta.photometry.pixelarea_steradians = float(meta["pixelarea_steradians"])
            model.meta.photometry.pixelarea_arcsecsq = float(meta["pixelarea_arcsecsq"])
        if meta.get("s_region"):
            model.meta.wcsinfo.s_region = meta["s_region"]
        # exposure times through the schema, so that each keyword lands in its HDU
        start, end = meta.get("start_time"), meta.get("end_time")
        times = {"exposure_time": meta.get("exposure_time"),
                 "effective_exposure_time": meta.get("effective_exposure_time"),
                 "measurement_time": meta.get("measurement_time"), "duration": meta.get("duration"),
                 "start_time": start, "end_time": end,
                 "mid_time": (start + end) / 2 if start is not None and end is not None else None}
        for name, value in times.items():
            if value is not None:
                setattr(model.meta.exposure, name, float(value))
        model.save(str(tmp), overwrite=True)
        model.close()
    # The SCI FITS WCS and the keywords jwst's schema does not have go in with astropy.
    with fits.open(tmp, mode="update") as hdul:
        hdul[0].header.extend([c for c in primary if c[0] not in hdul[0].header or c[0] in _OURS],
                              update=True)
        hdul["SCI"].header.extend(list(sci_header.cards) + _sci_cards(result), update=True)


#: PRIMARY keywords the product sets itself (they replace stdatamodels' and the inputs' values)
_OURS = {"NDRIZ", "NINPUTS", "PIXFRAC", "PXSCLRT", "RESWHT", "KERNEL", "FILLVAL", "EFFEXPTM", "TMEASURE",
         "DURATION", "EXPSTART", "EXPEND", "EXPMID", "RESAMPSW", "FILENAME", "DATAMODL"}


def _write_astropy(tmp, result, primary, sci_header):
    from astropy.io import fits

    from .asdf_extension import asdf_extension_hdu

    hdus = [fits.PrimaryHDU()]
    hdus[0].header.extend(primary, update=True)
    for name, arr in _arrays(result).items():
        hdu = fits.ImageHDU(arr, name=dict(ARRAY_HDUS)[name])
        if name == "data":
            hdu.header.extend(list(sci_header.cards) + _sci_cards(result), update=True)
        hdus.append(hdu)
    # The exact GWCS, in the layout of jwst's ASDF extension (meta.wcs).
    hdus.append(asdf_extension_hdu({"meta": {"wcs": result.wcs, **_tree_meta(result)}}))
    fits.HDUList(hdus).writeto(tmp, overwrite=True)


def _write_fits(tmp, result, primary, sci_header, use_datamodels):
    """The FITS product, its arrays streamed (see :mod:`gpuresample.fits_stream`) under the shell's headers."""
    from astropy.io import fits

    from .asdf_extension import asdf_bytes_hdu

    arrays = result.arrays()
    shell = dataclasses.replace(result, **{
        name: np.zeros((1,) * np.ndim(arr), _DTYPES.get(name, np.float32)) for name, arr in arrays.items()})
    # same file name as the product: stdatamodels records the name it saves to
    shell_path = tmp.parent / "shell" / tmp.name
    shell_path.parent.mkdir()
    if use_datamodels:
        _write_datamodels(shell_path, shell, primary, sci_header, tmp.name)
    else:
        _write_astropy(shell_path, shell, primary, sci_header)
    extnames = dict(ARRAY_HDUS)
    by_ext = {extnames[name]: arr for name, arr in arrays.items()}
    parts = []
    with fits.open(shell_path, memmap=False) as hdul:
        for hdu in hdul:
            if hdu.name in by_ext and hdu.is_image:
                header, arr = hdu.header.copy(), by_ext[hdu.name]
                if header["NAXIS"] != arr.ndim:
                    raise RuntimeError(f"the shell's {hdu.name} has {header['NAXIS']} axes, the product {arr.ndim}")
                for axis, n in enumerate(reversed(arr.shape), start=1):
                    header[f"NAXIS{axis}"] = int(n)
                parts.append((header, arr))
            elif hdu.name == "ASDF":
                raw = grow_asdf_tree(hdu.data.tobytes(), {e: np.shape(a) for e, a in by_ext.items()})
                parts.append((None, asdf_bytes_hdu(raw)))
            elif hdu.header.get("NAXIS", 0) == 0:
                parts.append((hdu.header.copy(), None))
            else:
                parts.append((None, hdu.copy()))
    shell_path.unlink()
    shell_path.parent.rmdir()
    write_streamed(tmp, parts)


def _write_asdf(tmp, result):
    import asdf

    tree = dict(_arrays(result))
    tree["wcs"] = result.wcs
    tree["meta"] = _tree_meta(result)
    asdf.AsdfFile(tree).write_to(tmp)


def write_product(path, result, overwrite=False, blendheaders=True, use_datamodels=None):
    """Write a :class:`~gpuresample.ResampleResult` as ``_i2d.fits`` (or ``.asdf`` by suffix).

    Parameters
    ----------
    path : str or path
        Output file; ``.asdf`` writes ASDF, anything else FITS.
    overwrite : bool
        Replace an existing file (default: refuse with FileExistsError).
    blendheaders : bool
        Put the blended input metadata (``result.blended``) in PRIMARY.
    use_datamodels : bool, optional
        Write through stdatamodels (default: when importable).

    Returns
    -------
    pathlib.Path
        The written file.  Nothing is left behind on failure (full disk,
        interruption): the file is written beside the target and renamed.
    """
    path = Path(path)
    with atomic_output(path, overwrite) as tmp:
        if path.suffix.lower() == ".asdf":
            _write_asdf(tmp, result)
        else:
            primary = _primary_cards(result, result.blended if blendheaders else None, path.name)
            sci_header = fits_wcs_header(result.wcs, result.shape)
            if use_datamodels is None:
                from .readers import have_datamodels

                use_datamodels = have_datamodels()
            _write_fits(tmp, result, primary, sci_header, use_datamodels)
    log.info("wrote %s", path)
    return path
