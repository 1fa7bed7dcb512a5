"""What the file readers take from a file's metadata, as :class:`~gpuresample.Image` fields.

Used by :mod:`gpuresample.readers`: the primary-header cards kept as
metadata (:func:`header_meta`), the scalars of a FITS-WCS image from its
headers (:func:`fits_scalars`) and of a JWST product from its ``meta`` tree
(:func:`jwst_scalars`, with jwst's exposure-group id :func:`jwst_group_id`),
and the JWST exposure types that are images (:data:`IMAGING_EXP_TYPES`).
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["IMAGING_EXP_TYPES", "fits_scalars", "header_meta", "jwst_group_id", "jwst_scalars"]

log = logging.getLogger("gpuresample")

#: JWST exposure types that are images (jwst.lib.exposure_types.IMAGING_TYPES).
IMAGING_EXP_TYPES = frozenset({
    "FGS_FOCUS", "FGS_IMAGE", "MIR_4QPM", "MIR_CORONCAL", "MIR_IMAGE", "MIR_LYOT", "MIR_TACONFIRM",
    "MIR_TACQ", "NIS_AMI", "NIS_FOCUS", "NIS_IMAGE", "NIS_TACONFIRM", "NIS_TACQ", "NRC_CORON",
    "NRC_FOCUS", "NRC_IMAGE", "NRC_TACONFIRM", "NRC_TACQ", "NRC_TSIMAGE", "NRS_CONFIRM", "NRS_FOCUS",
    "NRS_IMAGE", "NRS_MIMF", "NRS_MSATA", "NRS_TACONFIRM", "NRS_TACQ", "NRS_TASLIT", "NRS_VERIFY",
    "NRS_WATA",
})

# Primary-header cards that describe the file layout, not the observation.
_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "COMMENT", "HISTORY", "", "CHECKSUM", "DATASUM",
               "BSCALE", "BZERO", "PCOUNT", "GCOUNT", "XTENSION", "EXTNAME", "EXTVER"}


def header_meta(header):
    """Primary-header cards as lower-case metadata (blended into the output header)."""
    meta = {}
    for card in header.cards:
        key = card.keyword
        if key in _STRUCTURAL or key.startswith("NAXIS") or card.value is None:
            continue
        value = card.value
        if isinstance(value, (str, bool, int, float)):
            meta.setdefault(key.lower(), value)
    return meta


def _first_float(*headers_keys):
    for header, key in headers_keys:
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value > 0:
            return float(value)
    return None


def fits_scalars(prim, hdr, path):
    """Image fields from the primary and the image HDU's headers of a FITS-WCS image.

    Exposure time from ``EFFEXPTM``, ``XPOSURE`` or ``EXPTIME`` (primary
    header first; None when none is a positive number: the caller decides), start
    and end times (MJD) from ``EXPSTART``/``MJD-BEG`` and ``EXPEND``/``MJD-END``.
    """
    texp = _first_float((prim, "EFFEXPTM"), (hdr, "EFFEXPTM"), (prim, "XPOSURE"), (hdr, "XPOSURE"),
                        (prim, "EXPTIME"), (hdr, "EXPTIME"))
    return {
        "exposure_time": texp,
        "start_time": _first_float((prim, "EXPSTART"), (prim, "MJD-BEG")),
        "end_time": _first_float((prim, "EXPEND"), (prim, "MJD-END")),
        "bunit_data": hdr.get("BUNIT") or prim.get("BUNIT"),
        "filename": path.name,
    }


def jwst_group_id(obs):
    """jwst's exposure-group id from meta.observation (None when incomplete)."""
    keys = ("program_number", "observation_number", "visit_number", "visit_group", "sequence_id",
            "activity_id", "exposure_number")
    if obs is None or any(obs.get(k) is None for k in keys):
        return None
    o = {k: str(obs[k]) for k in keys}
    return (f"jw{o['program_number']}{o['observation_number']}{o['visit_number']}"
            f"_{o['visit_group']}{o['sequence_id']}{o['activity_id']}_{o['exposure_number']}")


def jwst_scalars(meta, path):
    """Image fields from a JWST ``meta`` tree (plain dicts)."""
    exposure = meta.get("exposure") or {}
    photometry = meta.get("photometry") or {}
    background = meta.get("background") or {}
    wcsinfo = meta.get("wcsinfo")
    out = {
        "exposure_time": exposure.get("exposure_time") or exposure.get("effective_exposure_time"),
        "measurement_time": exposure.get("measurement_time"),
        "start_time": exposure.get("start_time"),
        "end_time": exposure.get("end_time"),
        "duration": exposure.get("duration"),
        "pixelarea_steradians": photometry.get("pixelarea_steradians"),
        "pixelarea_arcsecsq": photometry.get("pixelarea_arcsecsq"),
        "level": background.get("level"),
        "subtracted": bool(background.get("subtracted") or False),
        "bunit_data": meta.get("bunit_data"),
        "wcsinfo": {k: v for k, v in wcsinfo.items() if not isinstance(v, dict)} if wcsinfo else None,
        "group_id": jwst_group_id(meta.get("observation")),
        "filename": path.name,
    }
    return out  # a missing exposure time stays None: as_exposure refuses it for exptime weights
