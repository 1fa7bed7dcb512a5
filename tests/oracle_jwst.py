"""Run jwst 3.0's ResampleStep and gpuresample.ResampleStep on the same models; print JSON.

Executed by ``tests/test_step_vs_jwst.py`` with the interpreter named in
``$GPURESAMPLE_JWST_PYTHON`` (an environment with jwst 3.0, which pins
drizzle<2.3 and asdf<6; ``.ci/run`` builds it).  Both steps run in that
process on deep copies of the same ImageModels (the real NIRCam B1 GWCS,
dithered, with VAR_*, DQ and exposure metadata), so they use the same drizzle
C code and SCI/WHT/CON can be compared bitwise.

Usage: python oracle_jwst.py REALDATA_DIR CASE_JSON
       python oracle_jwst.py --write REALDATA_DIR FOLDER   (the _cal.fits files and asn.json only)
"""

import json
import re
import sys
import warnings

import numpy as np
from oracle_stcal import dithered_nircam


def image_models(realdata, n=3, size=300):
    """ImageModels with jwst's metadata from the dithered real-WCS exposures of oracle_stcal."""
    from jwst.assign_wcs.util import update_s_region_imaging
    from stdatamodels.jwst.datamodels import ImageModel

    models = []
    for k, ex in enumerate(dithered_nircam(realdata, n=n, size=size)):
        m = ImageModel(data=ex["data"], dq=ex["dq"], err=ex["err"], var_rnoise=ex["var_rnoise"],
                       var_poisson=ex["var_poisson"], var_flat=ex["var_flat"])
        m.meta.wcs = ex["wcs"]
        m.meta.filename = f"jw01234001001_0210{k + 1}_00001_nrcb1_cal.fits"
        m.meta.bunit_data = m.meta.bunit_err = "MJy/sr"
        m.meta.instrument.name, m.meta.instrument.detector = "NIRCAM", "NRCB1"
        m.meta.instrument.filter, m.meta.instrument.pupil, m.meta.instrument.channel = "F200W", "CLEAR", "SHORT"
        m.meta.exposure.type = "NRC_IMAGE"
        m.meta.exposure.exposure_time = ex["exposure_time"]
        m.meta.exposure.effective_exposure_time = ex["exposure_time"]
        m.meta.exposure.measurement_time = ex["measurement_time"]
        m.meta.exposure.start_time, m.meta.exposure.end_time = ex["start_time"], ex["end_time"]
        m.meta.exposure.mid_time = (ex["start_time"] + ex["end_time"]) / 2
        m.meta.exposure.duration = ex["duration"]
        m.meta.exposure.elapsed_exposure_time = ex["duration"] - 5
        m.meta.photometry.pixelarea_steradians = ex["pixelarea_steradians"]
        m.meta.photometry.pixelarea_arcsecsq = ex["pixelarea_arcsecsq"]
        # exposures 0 and 1 are one exposure group (same exposure_number): single=True makes 2 products
        obs = m.meta.observation
        obs.program_number, obs.observation_number, obs.visit_number = "01234", "001", "001"
        obs.visit_group, obs.sequence_id, obs.activity_id = "02", "1", "01"
        obs.exposure_number = str(1 + k // 2)
        m.meta.observation.date, m.meta.observation.time = "2023-01-01", f"0{k}:00:00.000"
        m.meta.background.level, m.meta.background.subtracted = ex["level"], ex["subtracted"]
        m.meta.target.ra, m.meta.target.dec = 53.16, -27.79
        ra, dec = ex["wcs"](size / 2, size / 2)
        m.meta.wcsinfo.ra_ref, m.meta.wcsinfo.dec_ref = float(ra), float(dec)
        m.meta.wcsinfo.v3yangle, m.meta.wcsinfo.vparity, m.meta.wcsinfo.roll_ref = -0.57, -1, 12.3
        m.meta.wcsinfo.v2_ref, m.meta.wcsinfo.v3_ref = 86.1, -493.2
        m.meta.wcsinfo.ctype1, m.meta.wcsinfo.ctype2 = "RA---TAN", "DEC--TAN"
        update_s_region_imaging(m)
        m.meta.cal_step.flat_field = "COMPLETE"
        m.meta.asn.pool_name, m.meta.asn.table_name = "pool.csv", "asn.json"
        models.append(m)
    return models


def flat(node, prefix=""):
    """{dotted key: value} of a model's meta tree (arrays and the WCS left out)."""
    out = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, name + "."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
        elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            out[name] = list(value)
    return out


def compare_models(ref, ours):
    """Array and metadata comparison of two resampled ImageModels."""
    rec = {}
    for name in ("data", "wht", "con", "dq"):
        a, b = getattr(ref, name, None), getattr(ours, name, None)
        if a is None or b is None or np.size(a) == 0:
            rec[name] = None if a is None and b is None else f"present in only one: {a is not None}, {b is not None}"
            continue
        rec[name] = bool(a.shape == b.shape and np.array_equal(a, b, equal_nan=True))
    for name in ("err", "var_rnoise", "var_poisson", "var_flat"):
        a, b = getattr(ref, name, None), getattr(ours, name, None)
        if a is None or b is None or np.size(a) == 0 or np.size(b) == 0:
            rec[name] = None if (a is None or np.size(a) == 0) == (b is None or np.size(b) == 0) else "in one only"
            continue
        if a.shape != b.shape:
            rec[name] = f"shapes {a.shape} {b.shape}"
            continue
        same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
        ok = np.isfinite(a) & np.isfinite(b)
        rel = float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(a[ok]), 1e-30))) if ok.any() else 0.0
        rec[name] = {"same_nan": same_nan, "max_rel": rel}
    ny, nx = ref.data.shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5, nx / 2])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5, ny / 2])
    ra, dec = ref.meta.wcs(x, y, with_bounding_box=False)
    bx, by = ours.meta.wcs.invert(ra, dec, with_bounding_box=False)
    rec["wcs_corner_px"] = float(np.max(np.hypot(bx - x, by - y)))
    mr, mo = flat(ref.meta.instance), flat(ours.meta.instance)
    rec["meta_differences"] = {k: [mr.get(k), mo.get(k)] for k in sorted(set(mr) | set(mo))
                               if mr.get(k) != mo.get(k) and k not in ("date", "filename")}
    rec["filenames"] = [ref.meta.filename, ours.meta.filename]
    return rec


PRODUCT = "jw01234-o001_t001_nircam_clear-f200w"
#: arguments of gpuresample.ResampleStep that jwst's step does not have
OURS_ONLY = {"backend", "tile", "tile_workers", "allowed_memory"}


def write_association(realdata, folder):
    """The models as ``_cal.fits`` files in ``folder`` and an association naming them; returns its path."""
    from pathlib import Path

    folder = Path(folder)
    members = []
    for m in image_models(realdata):
        m.save(str(folder / m.meta.filename))
        members.append({"expname": m.meta.filename, "exptype": "science"})
    asn = {"asn_type": "image3", "asn_rule": "candidate_Asn_Lv3Image", "asn_id": "o001", "asn_pool": "pool.csv",
           "program": "01234", "target": "t001", "version_id": None, "code_version": "3.0.0", "degraded_status": "",
           "constraints": "", "products": [{"name": PRODUCT, "members": members}]}
    path = folder / "asn.json"
    path.write_text(json.dumps(asn))
    return path


def input_kinds(realdata):
    """Both steps on each kind of input jwst's step takes: {kind: [SCI equal, WHT equal, same filename]}."""
    import os
    import tempfile

    os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
    from jwst.datamodels import ModelLibrary
    from jwst.resample import ResampleStep as JwstStep
    from stdatamodels.jwst.datamodels import ImageModel

    from gpuresample import ResampleStep

    warnings.simplefilter("ignore")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        asn = write_association(realdata, tmp)
        files = sorted(str(p) for p in asn.parent.glob("*_cal.fits"))
        kinds = {
            "association file": lambda: str(asn),
            "ModelLibrary": lambda: ModelLibrary(str(asn), on_disk=False),
            "ImageModel": lambda: ImageModel(files[0]),
            "list of models": lambda: [ImageModel(f) for f in files],
            "list of files": lambda: list(files),
        }
        for kind, make in kinds.items():
            ref, ours = JwstStep.call(make()), ResampleStep.call(make())
            out[kind] = [bool(np.array_equal(ref.data, ours.data, equal_nan=True)),
                         bool(np.array_equal(ref.wht, ours.wht)), ref.meta.filename == ours.meta.filename]
    return out


def main():
    import os
    import tempfile

    if sys.argv[1] == "--write":  # python oracle_jwst.py --write REALDATA_DIR FOLDER: the inputs only
        print(write_association(sys.argv[2], sys.argv[3]))
        return
    if sys.argv[1] == "--input-kinds":  # python oracle_jwst.py --input-kinds REALDATA_DIR
        print(json.dumps(input_kinds(sys.argv[2])))
        return
    # python oracle_jwst.py REALDATA_DIR CASE_JSON: one case (a dict) or several (a list, one report each:
    # jwst is imported once for all of them)
    realdata, cases = sys.argv[1], json.loads(sys.argv[2])
    # no CRDS server here: the steps' parameter reference files (pars-*) are not fetched
    os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
    warnings.simplefilter("ignore")
    import logging

    class Count(logging.Handler):  # proof that gpuresample's engine drizzled in our step (and tiled)
        engines = tiled = 0

        def emit(self, record):
            Count.engines += record.getMessage().startswith("stcal_compat.Resample:")
            Count.tiled += bool(re.match(r"\d+ tiles of \(ny, nx\)", record.getMessage()))  # one per product

    logging.getLogger("gpuresample").addHandler(Count())
    logging.getLogger("gpuresample").setLevel(logging.INFO)
    reports = []
    for case in cases if isinstance(cases, list) else [cases]:
        Count.engines = Count.tiled = 0
        with tempfile.TemporaryDirectory() as tmp:
            reports.append(run_case(realdata, case, tmp, Count))
    print(json.dumps(reports if isinstance(cases, list) else reports[0]))


def run_case(realdata, case, tmp, count):
    """Both steps on one association written into ``tmp``; the comparison report."""
    import os

    from jwst.datamodels import ModelLibrary
    from jwst.resample import ResampleStep as JwstStep

    from gpuresample import ResampleStep

    asn = str(write_association(realdata, tmp))
    results = []
    for step_class in (JwstStep, ResampleStep):
        # our extra arguments (tile, backend, ...) go to our step only
        args = case if step_class is ResampleStep else {k: v for k, v in case.items() if k not in OURS_ONLY}
        out = step_class.call(asn, **args)
        if isinstance(out, ModelLibrary):
            with out:
                got = [out.borrow(i) for i in range(len(out))]
                for i, m in enumerate(got):
                    out.shelve(m, i, modify=False)
            results.append(got)
        else:
            results.append([out])
    ref, ours = results
    return {"n_products": [len(ref), len(ours)], "gpuresample_engines": count.engines,
            "gpuresample_tiled_products": count.tiled,
            "inputs_unchanged": sorted(os.listdir(tmp)),
            "products": [compare_models(a, b) for a, b in zip(ref, ours, strict=False)]}


if __name__ == "__main__":
    main()
