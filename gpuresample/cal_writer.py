"""Write exposures as JWST level-2 ``_cal.fits`` files (and associations listing them).

For making test data and for trying the command line on the demo scene
(``gpuresample demo --save-inputs``): the file has the layout jwst's
``ImageModel`` writes — PRIMARY (EXP_TYPE, exposure times), SCI, ERR, DQ,
VAR_RNOISE / VAR_POISSON / VAR_FLAT, and an ``ASDF`` extension with the GWCS
under ``meta.wcs``.  With ``stdatamodels`` installed it is written by
``ImageModel.save``; otherwise with astropy and asdf in the same layout.
Both are read back by :mod:`gpuresample.readers` either way.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .atomic import atomic_output
from .exposure import Image

__all__ = ["write_association", "write_cal"]

_HDUS = (("data", "SCI", np.float32), ("err", "ERR", np.float32), ("dq", "DQ", np.uint32),
         ("var_rnoise", "VAR_RNOISE", np.float32), ("var_poisson", "VAR_POISSON", np.float32),
         ("var_flat", "VAR_FLAT", np.float32))


def _meta_tree(img, exp_type):
    exposure = {"type": exp_type, "exposure_time": float(img.exposure_time)}
    for key in ("measurement_time", "start_time", "end_time", "duration"):
        if getattr(img, key) is not None:
            exposure[key] = float(getattr(img, key))
    meta = {"exposure": exposure}
    if img.bunit_data:
        meta["bunit_data"] = img.bunit_data
    if img.pixelarea_steradians:
        meta["photometry"] = {"pixelarea_steradians": float(img.pixelarea_steradians),
                              "pixelarea_arcsecsq": float(img.pixelarea_arcsecsq or 0.0)}
    if img.wcsinfo:
        meta["wcsinfo"] = {k: v for k, v in img.wcsinfo.items() if isinstance(v, (str, int, float))}
    if img.level is not None:
        meta["background"] = {"level": float(img.level), "subtracted": bool(img.subtracted)}
    return meta


def write_cal(path, image, overwrite=False, exp_type="NRC_IMAGE", use_datamodels=None):
    """Write one exposure (an :class:`~gpuresample.Image` or model dict) as a ``_cal.fits`` file.

    Arrays are stored as float32 (DQ uint32), as jwst stores them.  Written
    atomically; an existing file is only replaced with ``overwrite=True``.
    """
    img = Image.from_dict(image) if isinstance(image, dict) else image
    if use_datamodels is None:
        from .readers import have_datamodels

        use_datamodels = have_datamodels()
    path = Path(path)
    meta = _meta_tree(img, exp_type)
    arrays = {name: np.asarray(getattr(img, name), dtype=dt) for name, _, dt in _HDUS
              if getattr(img, name) is not None}
    with atomic_output(path, overwrite) as tmp:
        if use_datamodels:
            from stdatamodels.jwst import datamodels

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # schema validation of partial metadata
                model = datamodels.ImageModel(data=arrays.pop("data"))
                for name, arr in arrays.items():
                    setattr(model, name, arr)
                model.meta.wcs = img.wcs
                model.meta.filename = path.name
                for section, values in meta.items():
                    if isinstance(values, dict):
                        for key, value in values.items():
                            setattr(getattr(model.meta, section), key, value)
                    else:
                        setattr(model.meta, section, values)
                model.save(str(tmp), overwrite=True)
                model.close()
        else:
            _write_plain(tmp, path.name, arrays, img.wcs, meta)
    return path


def _write_plain(tmp, name, arrays, wcs, meta):
    from astropy.io import fits

    from .asdf_extension import asdf_extension_hdu

    primary = fits.PrimaryHDU()
    primary.header["FILENAME"] = name
    primary.header["EXP_TYPE"] = meta["exposure"]["type"]
    # the exposure keywords stdatamodels writes into PRIMARY (jwst's core schema)
    exposure = meta["exposure"]
    for kw, key in (("EFFEXPTM", "exposure_time"), ("TMEASURE", "measurement_time"), ("DURATION", "duration"),
                    ("EXPSTART", "start_time"), ("EXPEND", "end_time")):
        if key in exposure:
            primary.header[kw] = exposure[key]
    hdus = [primary]
    for key, ext, _ in _HDUS:
        if key in arrays:
            hdu = fits.ImageHDU(arrays[key], name=ext)
            if key == "data" and "bunit_data" in meta:
                hdu.header["BUNIT"] = meta["bunit_data"]
            hdus.append(hdu)
    hdus.append(asdf_extension_hdu({"meta": {"wcs": wcs, "filename": name, **meta}}))
    fits.HDUList(hdus).writeto(tmp, overwrite=True)


def write_association(path, members, product="gpuresample", overwrite=False, group_ids=None):
    """Write a jwst-style image3 association listing ``members`` (paths relative to ``path``'s folder)."""
    path = Path(path)
    rows = []
    for k, m in enumerate(members):
        m = Path(m)
        try:
            rel = m.resolve().relative_to(path.parent.resolve())
        except ValueError:
            rel = m.resolve()
        row = {"expname": str(rel), "exptype": "science"}
        if group_ids is not None and group_ids[k] is not None:
            row["group_id"] = str(group_ids[k])
        rows.append(row)
    asn = {"asn_type": "image3", "asn_rule": "gpuresample", "asn_id": product,
           "products": [{"name": product, "members": rows}]}
    with atomic_output(path, overwrite) as tmp:
        tmp.write_text(json.dumps(asn, indent=2) + "\n")
    return path
