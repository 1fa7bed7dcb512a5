"""Run stcal's Resample and gpuresample.resample on the same exposures; print JSON.

Executed by ``tests/test_step_vs_stcal.py`` with the interpreter named in
``$GPURESAMPLE_STCAL_PYTHON`` (an environment with stcal 1.20, which pins
drizzle 2.2; ``.ci/run`` builds it).  Both libraries run in that process, so
they use the same drizzle C code and data/wht/con can be compared bitwise.

Usage: python oracle_stcal.py REALDATA_DIR CASE_JSON
"""

import copy
import json
import math
import sys
import warnings

import numpy as np


def dithered_nircam(realdata, n=3, size=400, seed=7):
    """n exposures: a size x size region of the real NIRCam B1 GWCS, dithered on the sky."""
    import asdf
    from astropy.modeling import models as m
    from gwcs import WCS

    with asdf.open(f"{realdata}/nrcb1-wcs.asdf") as af:
        base = copy.deepcopy(af["wcs"])
    rng = np.random.default_rng(seed)
    x0, y0 = 700.0, 900.0  # detector region used
    ra0, dec0 = base(x0 + size / 2, y0 + size / 2, with_bounding_box=False)
    exposures = []
    for k in range(n):
        dra = (k * 0.7 + rng.uniform(-0.2, 0.2)) / 3600 / math.cos(math.radians(dec0))
        ddec = (k * 0.45 + rng.uniform(-0.2, 0.2)) / 3600
        move = m.RotateCelestial2Native(ra0, dec0, 180.0) | m.RotateNative2Celestial(ra0 + dra, dec0 + ddec, 180.0)
        fwd = (m.Shift(x0) & m.Shift(y0)) | base.forward_transform | move
        w = WCS(forward_transform=fwd, input_frame=base.input_frame, output_frame=base.output_frame)
        w.bounding_box = ((-0.5, size - 0.5), (-0.5, size - 0.5))
        w.array_shape = (size, size)
        yy, xx = np.mgrid[0:size, 0:size]
        data = (1.0 + 0.5 * np.sin(xx / 17.0 + k) * np.cos(yy / 23.0)).astype(np.float32)
        data += rng.normal(0, 0.05, data.shape).astype(np.float32)
        dq = np.zeros(data.shape, np.uint32)
        dq[rng.random(data.shape) < 0.003] = 1  # DO_NOT_USE
        dq[rng.random(data.shape) < 0.003] = 4  # JUMP_DET: good under jwst's good_bits
        dq[rng.random(data.shape) < 0.001] = 512  # NON_SCIENCE
        nan = rng.random(data.shape) < 0.001
        data[nan] = np.nan
        dq[nan] |= 1  # jwst flags NaNs DO_NOT_USE before resampling
        var_rnoise = rng.uniform(0.002, 0.004, data.shape).astype(np.float32)
        var_poisson = (np.abs(data) * 0.001).astype(np.float32)
        var_poisson[nan] = np.nan
        var_flat = (rng.uniform(1e-5, 2e-5, data.shape)).astype(np.float32)
        group = f"g{k // 2}"  # exposures 0,1 share a group: tests single + time sums
        exposures.append({
            "data": data, "dq": dq, "var_rnoise": var_rnoise, "var_poisson": var_poisson, "var_flat": var_flat,
            "err": np.sqrt(var_rnoise + np.nan_to_num(var_poisson) + var_flat).astype(np.float32),
            "wcs": w, "exposure_time": 100.0 + k, "measurement_time": 95.0 + k,
            "start_time": 60000.0 + k, "end_time": 60000.01 + k, "duration": 110.0 + k,
            "pixelarea_steradians": 2.25e-14, "pixelarea_arcsecsq": 0.000957,
            "group_id": group, "filename": f"exp{k}_cal.fits", "level": 0.1 * k, "subtracted": k == 2,
            "bunit_data": "MJy/sr",
        })
    return exposures


def stcal_run(exposures, case, grid_kwargs):
    from stcal.alignment.util import compute_scale, wcs_from_sregions
    from stcal.resample import Resample

    from gpuresample.output_grid import derive_wcsinfo

    ref = exposures[0]
    wcsinfo = derive_wcsinfo(ref["wcs"], ref["data"].shape)
    footprints = [e["wcs"].footprint() for e in exposures]
    psr = case.get("pixel_scale_ratio", 1.0)
    pscale_in = compute_scale(ref["wcs"], (wcsinfo["ra_ref"], wcsinfo["dec_ref"]))
    pscale = pscale_in * psr
    owcs = wcs_from_sregions(footprints, ref_wcs=ref["wcs"], ref_wcsinfo=wcsinfo, pscale_ratio=psr,
                             pscale=pscale, rotation=case.get("rotation"), **grid_kwargs)
    ow = {"wcs": owcs, "pixel_scale": 3600 * pscale, "pixel_scale_ratio": psr}
    common = dict(pixfrac=case.get("pixfrac", 1.0), kernel=case.get("kernel", "square"), fillval="NAN",
                  weight_type=case.get("weight_type", "ivm"), good_bits="~DO_NOT_USE+NON_SCIENCE",
                  propagate_dq=case.get("propagate_dq", False), pixmap_stepsize=1, pixmap_order=1)
    Resample.dq_flag_name_map = None
    from gpuresample.dqflags import JWST_PIXEL_FLAGS

    Resample.dq_flag_name_map = JWST_PIXEL_FLAGS
    if case.get("single"):
        outs = []
        groups = {}
        for e in exposures:
            groups.setdefault(e["group_id"], []).append(e)
        for members in groups.values():
            r = Resample(output_wcs=dict(ow), n_input_models=len(members), enable_ctx=True,
                         enable_var=False, compute_err="driz_err", **common)
            for e in members:
                r.add_model(e)
            r.finalize()
            outs.append(r.output_model)
        return owcs, outs
    r = Resample(output_wcs=ow, n_input_models=len(exposures), enable_ctx=True, enable_var=True,
                 compute_err="from_var", **common)
    for e in exposures:
        r.add_model(e)
    r.finalize()
    return owcs, [r.output_model]


def compare(ref, ours, name):
    a = np.asarray(ref)
    b = np.asarray(ours)
    if a.shape != b.shape:
        return {"name": name, "shape_ref": a.shape, "shape_ours": b.shape, "equal": False}
    out = {"name": name, "equal": bool(np.array_equal(a, b, equal_nan=True))}
    if a.dtype.kind == "f":
        fa, fb = np.isfinite(a), np.isfinite(b)
        out["same_nan"] = bool(np.array_equal(fa, fb))
        both = fa & fb
        if both.any():
            scale = np.maximum(np.abs(a[both]), np.abs(b[both]))
            scale[scale == 0] = 1.0
            out["max_rel"] = float(np.max(np.abs(a[both] - b[both]) / scale))
        out["finite"] = int(both.sum())
    return out


def main():
    realdata, case = sys.argv[1], json.loads(sys.argv[2])
    warnings.simplefilter("ignore")
    import gpuresample

    exposures = dithered_nircam(realdata, n=case.get("n", 3))
    from gpuresample.output_grid import derive_wcsinfo

    grid_kwargs = {}
    owcs, refs = stcal_run(exposures, case, grid_kwargs)
    wcsinfo = derive_wcsinfo(exposures[0]["wcs"], exposures[0]["data"].shape)
    ours_in = [dict(e) for e in exposures]
    ours_in[0]["wcsinfo"] = wcsinfo
    res = gpuresample.resample(
        ours_in, pixfrac=case.get("pixfrac", 1.0), kernel=case.get("kernel", "square"),
        pixel_scale_ratio=case.get("pixel_scale_ratio", 1.0), rotation=case.get("rotation"),
        fillval="NAN", weight_type=case.get("weight_type", "ivm"), single=case.get("single", False),
        propagate_dq=case.get("propagate_dq", False), pixmap_stepsize=1, pixmap_order=1, backend="cpu",
    )
    results = res if isinstance(res, list) else [res]
    report = {"n_products": [len(refs), len(results)], "arrays": []}
    # output grid: shape and the world coordinates of our corners in stcal's pixel frame
    ours_wcs = results[0].wcs
    report["grid_shape"] = [list(owcs.array_shape), list(ours_wcs.array_shape)]
    ny, nx = ours_wcs.array_shape
    cx = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5, (nx - 1) / 2])
    cy = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5, (ny - 1) / 2])
    ra, dec = ours_wcs(cx, cy, with_bounding_box=False)
    px, py = owcs.invert(ra, dec, with_bounding_box=False)
    report["grid_corner_px"] = float(np.max(np.hypot(px - cx, py - cy)))
    for ref, ours in zip(refs, results, strict=False):
        for name in ("data", "wht", "con", "err", "var_rnoise", "var_poisson", "var_flat", "dq"):
            if ref.get(name) is None or getattr(ours, name) is None:
                if (ref.get(name) is None) != (getattr(ours, name) is None) and name != "dq":
                    report["arrays"].append({"name": name, "missing": True, "equal": False})
                continue
            report["arrays"].append(compare(ref[name], getattr(ours, name), name))
        for key in ("exposure_time", "measurement_time", "start_time", "end_time", "duration"):
            report.setdefault("meta", []).append([key, ref.get(key), ours.meta.get(key)])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
