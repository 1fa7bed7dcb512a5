"""conftest for stcal 1.20.0's ``tests/resample`` run through gpuresample (``run_stcal_suite.sh``).

Copied by ``run_stcal_suite.sh`` to ``conftest.py`` at the root of a temporary
folder holding stcal's ``tests/resample`` (and ``tests/data/nrcb5-wcs.asdf``),
so pytest imports it before stcal's own conftest and test modules.  It:

* puts :class:`gpuresample.stcal_compat.Resample` in place of
  ``stcal.resample.Resample`` (``stcal.resample`` and
  ``stcal.resample.resample``) at import, before ``test_resample.py`` runs
  ``from stcal.resample import Resample`` and subclasses it;
* in ``test_resample_utils.py`` only, replaces the functions gpuresample
  claims to replace, with the same signature: ``calc_pixmap``
  (:func:`gpuresample.calc_pixmap`) and ``is_imaging_wcs`` (the adapter's,
  :func:`gpuresample.stcal_model_dicts.is_imaging_wcs`).
  ``test_resample.py`` keeps stcal's and drizzle's utilities: its
  ``add_model_hook`` test compares the adapter's pixel map, weights and input
  box with them;
* deselects the upstream tests in :data:`NOT_APPLICABLE`, each with its
  reason (none checks values or exceptions of the substituted API);
* writes the counts to ``$GPURESAMPLE_STCAL_SUITE_COUNTS`` (JSON) for the
  script's summary line, and fails the session if the substitution did not
  take.
"""

import json
import os

import pytest
import stcal.resample
import stcal.resample.resample

import gpuresample
from gpuresample.stcal_compat import Resample as GpuResample
from gpuresample.stcal_model_dicts import is_imaging_wcs

stcal.resample.Resample = GpuResample
stcal.resample.resample.Resample = GpuResample

#: ``{module name: {name: replacement}}``: what gpuresample replaces in each upstream test module.
SUBSTITUTES = {
    "test_resample_utils": {"calc_pixmap": gpuresample.calc_pixmap, "is_imaging_wcs": is_imaging_wcs},
}

_UTILITY = ("tests stcal.resample.utils.{}, which gpuresample does not replace (gpuresample's own "
            "{} is internal, with another signature{})")
_VIA_HOOK = "; the adapter's use of it is compared with stcal's in test_resample_add_model_hook"

#: Upstream tests that cannot apply to gpuresample, ``"module::function"`` (every parametrisation) -> reason.
NOT_APPLICABLE = {
    "test_resample_utils::test_build_mask":
        _UTILITY.format("build_mask", "dqflags.good_pixel_mask", ""),
    "test_resample_utils::test_resample_range":
        _UTILITY.format("resample_range", "drizzle_loop.input_limits (from the WCS, not a bounding box)", _VIA_HOOK),
    "test_resample_utils::test_get_tmeasure":
        _UTILITY.format("get_tmeasure", "exposure.measurement_time (on an Image)", ""),
    "test_resample_utils::test_compute_mean_pixel_area":
        _UTILITY.format("compute_mean_pixel_area", "output_grid.mean_pixel_area (no spherical_geometry)", ""),
    "test_resample_utils::test_is_flux_density":
        "tests stcal.resample.utils.is_flux_density: spectral flux-density scaling, which gpuresample "
        "(images only) does not do",
    "test_resample_utils::test_build_driz_weight":
        _UTILITY.format("build_driz_weight", "weights.driz_weight (on an Image)", _VIA_HOOK),
    "test_resample_utils::test_build_driz_weight_zeros":
        _UTILITY.format("build_driz_weight", "weights.driz_weight (on an Image)", _VIA_HOOK),
    "test_resample_utils::test_build_driz_weight_none":
        _UTILITY.format("build_driz_weight", "weights.driz_weight (on an Image)", _VIA_HOOK),
    "test_resample_utils::test_unsupported_weight_type":
        _UTILITY.format("build_driz_weight", "weights.driz_weight (on an Image)", ""),
    "test_resample_utils::test_get_inverse_variance_valid_and_invalid":
        "tests the private stcal.resample.utils._get_inverse_variance (and its log text); gpuresample's "
        "equivalent is the private weights._inverse",
}


def _key(item):
    module = item.module.__name__.rpartition(".")[2]
    return f"{module}::{item.originalname or item.name}"


def pytest_collection_modifyitems(config, items):
    """Deselect :data:`NOT_APPLICABLE`; refuse to run when an entry matches nothing or a substitution failed."""
    keep, dropped, seen = [], [], set()
    for item in items:
        key = _key(item)
        if key in NOT_APPLICABLE:
            dropped.append(item)
            seen.add(key)
        else:
            keep.append(item)
    collected = {item.module.__name__.rpartition(".")[2] for item in items}
    stale = sorted(k for k in set(NOT_APPLICABLE) - seen if k.partition("::")[0] in collected)
    if stale:
        raise pytest.UsageError(f"NOT_APPLICABLE entries that match no upstream test: {stale}")
    modules = {item.module for item in keep}
    for module in modules:
        name = module.__name__.rpartition(".")[2]
        if name == "test_resample" and module.Resample is not GpuResample:
            raise pytest.UsageError("test_resample imported stcal's Resample: the substitution came too late")
        if name == "test_resample" and GpuResample not in module._CustomResample.__mro__:
            raise pytest.UsageError("test_resample's _CustomResample does not subclass gpuresample's Resample")
    config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    config.stash[_COUNTS] = {"not_applicable": len(dropped)}


_COUNTS = pytest.StashKey[dict]()


@pytest.fixture(autouse=True)
def _gpuresample_substitutes(request, monkeypatch):
    """Put gpuresample's replacements into the test module's namespace (only where :data:`SUBSTITUTES` says)."""
    module = request.module
    for name, replacement in SUBSTITUTES.get(module.__name__.rpartition(".")[2], {}).items():
        monkeypatch.setattr(module, name, replacement)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Write the counts (passed, failed = failures + errors, skipped, not applicable) for the script."""
    path = os.environ.get("GPURESAMPLE_STCAL_SUITE_COUNTS")
    if not path:
        return
    stats = terminalreporter.stats
    counts = {
        "passed": len(stats.get("passed", [])),
        "failed": len(stats.get("failed", [])) + len(stats.get("error", [])),
        "skipped": len(stats.get("skipped", [])),
        "not_applicable": config.stash.get(_COUNTS, {}).get("not_applicable", 0),
        "exitstatus": int(exitstatus),
    }
    with open(path, "w") as fh:
        json.dump(counts, fh)
