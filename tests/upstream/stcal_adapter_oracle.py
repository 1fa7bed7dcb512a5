"""Run stcal 1.20's ``Resample`` and ``gpuresample.stcal_compat.Resample`` on the same models; print JSON.

Executed by ``tests/test_stcal_compat.py`` with the interpreter named in
``$GPURESAMPLE_STCAL_PYTHON`` (stcal 1.20 beside drizzle 2.2): both classes
run in that process on the same drizzle C code, so ``data``/``wht``/``con``/
``dq`` can be compared bitwise.  Every case subclasses both classes with the
same ``add_model_hook`` recorder, so the hook's arguments are compared too.

Usage: python stcal_adapter_oracle.py CASE_JSON   (one case: Resample keyword arguments
plus ``"grid"``: which keys ``output_wcs`` gets, ``"psr"``: the grid's pixel scale ratio, ``"n"``:
models, ``"nans"``: whether some data are NaN)
"""

import json
import sys
import warnings
from typing import ClassVar

import numpy as np


def models(n, seed=3, nans=True):
    """``n`` dithered synthetic NIRCam-like model dicts (distorted gwcs), with NaNs flagged DO_NOT_USE.

    ``nans=False``: no NaN data (a NaN with a positive weight is where gpuresample differs on purpose:
    it gets weight 0).
    """
    from gpuresample.synthetic import dithered_scene

    rng = np.random.default_rng(seed)
    out = []
    for k, e in enumerate(dithered_scene(n_exposures=n, shape=(160, 190), nstars=15, ngal=15, seed=seed)):
        m = dict(e)
        nan = (rng.random(m["data"].shape) < 0.002) & nans
        m["data"] = m["data"].copy()
        m["data"][nan] = np.nan
        m["dq"] = m["dq"].copy()
        m["dq"][nan] |= 1
        m["dq"][rng.random(m["data"].shape) < 0.003] |= 4  # JUMP_DET
        m["var_sky"] = np.full(m["data"].shape, 0.02, np.float32)
        m.update(start_time=60000.0 + k, end_time=60000.01 + k, duration=100.0 + k,
                 pixelarea_steradians=2.26e-14 * (1 + 0.01 * k), level=0.1 * k, subtracted=k == 1,
                 group_id=f"g{k // 2}", exposure_time=1000.0 + k)
        out.append(m)
    return out


def recording(cls):
    class Recorder(cls):
        calls: ClassVar[list] = []

        def add_model_hook(self, model, pixmap, pixel_scale_ratio, iscale, weight_map, xmin, xmax, ymin, ymax):
            self.calls.append({"pixmap": pixmap.copy(), "weight": weight_map.copy(),
                               "rest": [pixel_scale_ratio, iscale, xmin, xmax, ymin, ymax]})

    return Recorder


def compare(ref, ours):
    a, b = np.asarray(ref), np.asarray(ours)
    if a.shape != b.shape or a.dtype != b.dtype:
        return {"equal": False, "shape": [list(a.shape), list(b.shape)], "dtype": [str(a.dtype), str(b.dtype)]}
    out = {"equal": bool(np.array_equal(a, b, equal_nan=True))}
    if a.dtype.kind == "f":
        fa, fb = np.isfinite(a), np.isfinite(b)
        out["same_nan"] = bool(np.array_equal(fa, fb))
        both = fa & fb
        scale = np.maximum(np.abs(a[both]), np.abs(b[both]))
        scale[scale == 0] = 1
        out["max_rel"] = float(np.max(np.abs(a[both] - b[both]) / scale)) if both.any() else 0.0
    return out


def run(cls, case, grid, inputs, flag_map):
    cls = recording(cls)
    cls.calls = []
    cls.dq_flag_name_map = flag_map
    kwargs = {k: v for k, v in case.items() if k not in ("grid", "n", "nans")}
    r = cls(output_wcs=dict(grid), **kwargs)
    for m in inputs:
        r.add_model(m)
    r.finalize()
    return r.output_model, cls.calls


def main():
    case = json.loads(sys.argv[1])
    warnings.simplefilter("ignore")
    from stcal.resample import Resample as StcalResample

    import gpuresample
    from gpuresample.dqflags import JWST_PIXEL_FLAGS
    from gpuresample.stcal_compat import Resample as GpuResample

    inputs = models(case.get("n", 3), nans=case.get("nans", True))
    ref_run = gpuresample.resample([dict(m) for m in inputs], pixel_scale_ratio=case.get("psr", 1.0),
                                   blendheaders=False, backend="cpu", pixmap_stepsize=1, pixmap_order=1)
    grid = {"wcs": ref_run.wcs}
    keys = case.get("grid", ["pixel_scale", "pixel_scale_ratio"])
    if "pixel_scale" in keys:
        grid["pixel_scale"] = float(np.sqrt(ref_run.meta["pixelarea_arcsecsq"]))
    if "pixel_scale_ratio" in keys:
        grid["pixel_scale_ratio"] = ref_run.meta["pixel_scale_ratio"]
    case = {k: v for k, v in case.items() if k != "psr"}
    ref, ref_calls = run(StcalResample, case, grid, inputs, JWST_PIXEL_FLAGS)
    ours, our_calls = run(GpuResample, case, grid, inputs, JWST_PIXEL_FLAGS)
    report = {"keys": [sorted(ref), sorted(ours)], "arrays": {}, "scalars": {}, "hook": []}
    for key, value in ref.items():
        if key == "wcs" or key not in ours:
            continue
        if isinstance(value, np.ndarray) or isinstance(ours[key], np.ndarray):
            report["arrays"][key] = compare(value, ours[key]) if value is not None and ours[key] is not None \
                else {"equal": value is None and ours[key] is None, "none": [value is None, ours[key] is None]}
        else:
            report["scalars"][key] = [None if v is None else (v if isinstance(v, (str, bool)) else float(v))
                                      for v in (value, ours[key])]
    report["n_hook_calls"] = [len(ref_calls), len(our_calls)]
    for a, b in zip(ref_calls, our_calls, strict=False):
        report["hook"].append({"pixmap": compare(a["pixmap"], b["pixmap"]), "weight": compare(a["weight"], b["weight"]),
                               "rest": [a["rest"], b["rest"]]})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
