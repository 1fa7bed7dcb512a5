"""Blend the inputs' metadata into the output (jwst model_blender-like rules).

Each metadata key gets one rule: ``first`` (the default), ``min``, ``max``,
``sum``, ``mean``; the rules for the standard keys follow jwst's schemas
(times: min start / max end, exposure times: sum, pointing: first...).  Keys
whose values differ between inputs and have no numeric rule keep the first
value; every input's own values stay in the per-input table.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["BLEND_RULES", "blend_metadata"]

BLEND_RULES = {
    "start_time": "min",
    "end_time": "max",
    "exposure_time": "sum",
    "measurement_time": "sum",
    "duration": "sum",
    "level": "mean",
    "date_beg": "min",
    "date_end": "max",
    "mjd_beg": "min",
    "mjd_end": "max",
    "expstart": "min",
    "expend": "max",
    "effexptm": "sum",
    "xposure": "sum",
    "tmeasure": "sum",
    "telapse": "sum",
    "exptime": "sum",
    "xoffset": "mean",
    "yoffset": "mean",
}

_REDUCE = {"min": min, "max": max, "sum": sum, "mean": lambda v: sum(v) / len(v)}

_SCALARS = ("exposure_time", "measurement_time", "start_time", "end_time", "duration",
            "level", "subtracted", "bunit_data", "filename", "group_id")


def _values(images):
    rows = []
    for img in images:
        row = {k: getattr(img, k) for k in _SCALARS}
        row.update({k: v for k, v in (img.meta or {}).items()
                    if isinstance(v, (str, numbers.Number, bool, np.generic)) or v is None})
        rows.append(row)
    return rows


def blend_metadata(images):
    """Return {key: blended value} over ``images`` (exposure time per group, see note).

    Exposure-time sums count each exposure group once, as the step does.
    """
    rows = _values(images)
    seen_groups = set()
    group_rows = []
    for img, row in zip(images, rows, strict=True):
        if img.group_id not in seen_groups:
            seen_groups.add(img.group_id)
            group_rows.append(row)
    keys = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    out = {}
    for key in keys:
        rule = BLEND_RULES.get(key.lower(), "first")
        src = group_rows if rule == "sum" else rows
        vals = [r[key] for r in src if r.get(key) is not None]
        if not vals:
            out[key] = None
            continue
        if rule != "first" and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in vals):
            out[key] = _REDUCE[rule](vals)
        else:
            out[key] = vals[0]
    return out
