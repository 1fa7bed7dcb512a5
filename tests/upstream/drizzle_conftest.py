"""conftest.py for drizzle 3.0.0's own test-suite with gpuresample substituted.

``run_drizzle_suite.sh`` copies this file as ``conftest.py`` into the
temporary copy of drizzle's ``drizzle/tests/`` (a package); it is not a
conftest of gpuresample's own test-suite (hence its name here).

* ``drizzle.resample.Drizzle`` becomes ``gpuresample.Drizzle`` with
  ``backend=$GPURESAMPLE_UPSTREAM_BACKEND`` (``cpu``, ``emulator``, ``cuda``),
  and ``drizzle.utils.calc_pixmap`` becomes ``gpuresample.calc_pixmap``: the
  public names of drizzle that gpuresample claims to replace
  (``gpuresample/__init__.py``; its other public names have no drizzle
  counterpart).  The upstream tests look these up on the modules at call time
  (``resample.Drizzle(...)``) or import them at collection (``from
  drizzle.utils import calc_pixmap``), which happens after this file is
  imported; collection fails if a test module still holds drizzle's.
  gpuresample itself only uses drizzle's C extension (``drizzle.cdrizzle``),
  which stays as it is.  ``GPURESAMPLE_UPSTREAM_BACKEND=drizzle`` substitutes
  nothing: the suite then runs against drizzle itself (a check of the
  generated ``data/``).
* Everything else of drizzle (``cdrizzle``, ``blot_image``,
  ``estimate_pixel_scale_ratio``, ``decode_context``) stays drizzle's.  The
  tests of those are deselected (``NOT_APPLICABLE``, each with its reason); a
  test that only calls one of them on the side still runs
  (``test_resample_kernel`` computes ``estimate_pixel_scale_ratio``, then
  overwrites the result).
* In the tests listed in ``MESSAGE_TEXT`` the comparisons of an exception's
  message with drizzle's wording are not applicable; the exception type and
  all other assertions are checked.
* ``drizzle.tests.helpers`` (imported by ``test_utils.py``) is made this
  copy's ``helpers``: it reads this copy's generated ``data/``, never the
  installed drizzle's tests.

No tolerance of an upstream test is changed.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from types import SimpleNamespace

import drizzle
import drizzle.resample
import drizzle.utils
import pytest

from . import helpers

BACKEND = os.environ.get("GPURESAMPLE_UPSTREAM_BACKEND", "cpu").strip().lower()

# ------------------------------------------------------------- not applicable
#: Upstream tests that cannot apply to gpuresample, by node id without the
#: parametrization (all its cases) or by module, each with its reason.  None
#: of them checks a value or an exception type of the substituted API
#: (Drizzle, calc_pixmap): they exercise drizzle's private C extension or
#: drizzle utilities that gpuresample does not offer.
NOT_APPLICABLE = {
    # --- drizzle's private C extension (drizzle.cdrizzle), called directly
    "test_cdrizzle.py::test_cdrizzle":
        "runs cdrizzle.test_cdrizzle, drizzle's C unit tests of its private extension",
    "test_overlap_calc.py":
        "the whole module tests cdrizzle.clip_polygon and cdrizzle.invert_pixmap, private C helpers",
    "test_resample.py::test_zero_input_weight":
        "calls cdrizzle.tdriz directly, not Drizzle",
    "test_resample.py::test_flux_conservation_nondistorted":
        "calls cdrizzle.tdriz directly, not Drizzle",
    "test_resample.py::test_flux_conservation_distorted":
        "calls cdrizzle.tdriz directly, not Drizzle",
    # --- drizzle utilities that gpuresample does not replace
    "test_resample.py::test_blot_interpolation":
        "tests drizzle.resample.blot_image: gpuresample has no blot",
    "test_utils.py::test_estimate_pixel_scale_ratio":
        "tests drizzle.utils.estimate_pixel_scale_ratio: not part of gpuresample's API",
    "test_utils.py::test_estimate_pixel_scale_no_refpix":
        "tests drizzle.utils._estimate_pixel_scale (private): not part of gpuresample's API",
    "test_utils.py::test_decode_context":
        "tests drizzle.utils.decode_context: not part of gpuresample's API",
}

# ------------------------------------------------ message text (not applicable)
#: Upstream tests that compare an exception's *message* with drizzle's wording
#: (all tests that read ``str(err_info.value)``; the value is drizzle's text,
#: shortened).  The wording is not part of what gpuresample replaces (its
#: messages name the offending values), so in these tests -- only in them --
#: those comparisons are not applicable.  ``pytest.raises`` stays pytest's (the
#: exception must be raised and be of the expected type) and every other
#: assertion of the test (values, shapes, context IDs, fill values) runs
#: unchanged.  Each waived comparison is printed with both texts.
MESSAGE_TEXT = {
    "test_resample.py::test_context_planes": "'out_ctx' must be either a 2D or 3D array.",
    "test_resample.py::test_init_ctx_id": "Invalid context image ID; 'max_ctx_id' cannot be smaller ...",
    "test_resample.py::test_context_agrees_with_weight": "Inconsistent values of supplied 'out_wht' ...",
    "test_resample.py::test_drizzle_exptime": "Exposure time must be non-negative. (and 3 more)",
    "test_resample.py::test_drizzle_unsupported_kernel": "Kernel 'magic_image_improver' is not supported.",
    "test_resample.py::test_pixmap_shape_matches_image": "'pixmap' shape is not consistent with 'data' shape.",
    "test_resample.py::test_drizzle_fillval": "could not convert string to float: 'fillval'",
    "test_resample.py::test_resample_inconsistent_output": "Inconsistent data shapes specified",
    "test_resample.py::test_drizzle_weights_squared_bad_inputs": "Mismatch between the number of 'out_img2' ...",
    "test_resample.py::test_drizzle_weights_squared_array_shape_mismatch": "Inconsistent data shapes ...",
    "test_resample.py::test_drizzle_dq_propagation_wrong_shape": "Inconsistent data shapes specified: ...",
    "test_resample.py::test_drizzle_dq_propagation_wrong_type": "'out_dq' must be of an unsigned integer ...",
}


_State = SimpleNamespace(
    nodeid=None,  # the running test of MESSAGE_TEXT
    waived=[],  # (node id, comparison, drizzle's text, gpuresample's text)
    used=Counter(),  # gpuresample objects the tests used
    not_applicable=Counter(),  # deselected tests per NOT_APPLICABLE entry
)


# -------------------------------------------------------------- substitution
def _substitute():
    """Put gpuresample's objects in drizzle's modules; None for backend 'drizzle'."""
    if BACKEND == "drizzle":
        return None
    import gpuresample

    class Drizzle(gpuresample.Drizzle):
        """gpuresample.Drizzle on the backend under test."""

        def __init__(self, *args, backend=BACKEND, **kwargs):
            super().__init__(*args, backend=backend, **kwargs)
            if self.backend != BACKEND:  # never a silent fallback to another backend
                raise RuntimeError(f"asked for backend {BACKEND!r}, got {self.backend!r}")
            _State.used["Drizzle"] += 1

    def calc_pixmap(*args, **kwargs):
        """gpuresample.calc_pixmap, counted."""
        _State.used["calc_pixmap"] += 1
        return gpuresample.calc_pixmap(*args, **kwargs)

    drizzle.resample.Drizzle = Drizzle
    drizzle.utils.calc_pixmap = calc_pixmap
    return {"Drizzle": Drizzle, "calc_pixmap": calc_pixmap}


SUBSTITUTES = _substitute()

# test_utils.py does `from drizzle.tests.helpers import wcs_from_file`
_pkg = sys.modules[__package__]
drizzle.tests = _pkg
sys.modules["drizzle.tests"] = _pkg
sys.modules["drizzle.tests.helpers"] = helpers


# --------------------------------------------------- waived message comparisons
class _UncheckedMessage(str):
    """An expected exception's message: its comparisons with drizzle's text are recorded, not asserted."""

    def _record(self, op, expected):
        _State.waived.append((_State.nodeid, op, str(expected), str.__str__(self)))
        return True

    def startswith(self, prefix, *args):
        return self._record("startswith", prefix)

    def __eq__(self, other):
        return self._record("==", other)

    def __ne__(self, other):
        return not self._record("==", other)

    __hash__ = str.__hash__


class _RaisedException:
    """``err_info.value``: the raised exception, whose ``str()`` is an _UncheckedMessage."""

    def __init__(self, exc):
        self._exc = exc

    def __str__(self):
        return _UncheckedMessage(str(self._exc))

    def __getattr__(self, name):
        return getattr(self._exc, name)


class _ExceptionInfo:
    def __init__(self, info):
        self._info = info

    @property
    def value(self):
        return _RaisedException(self._info.value)

    def __getattr__(self, name):
        return getattr(self._info, name)


class _Raises:
    """``with pytest.raises(E) as err_info``: pytest's own context manager (it checks E)."""

    def __init__(self, cm):
        self._cm = cm

    def __enter__(self):
        return _ExceptionInfo(self._cm.__enter__())

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


class _Pytest:
    """The ``pytest`` module as the MESSAGE_TEXT tests see it: only ``raises`` differs."""

    @staticmethod
    def raises(expected_exception, *args, **kwargs):
        if args:  # the callable form (unused upstream) stays pytest's
            return pytest.raises(expected_exception, *args, **kwargs)
        return _Raises(pytest.raises(expected_exception, **kwargs))

    def __getattr__(self, name):
        return getattr(pytest, name)


@pytest.fixture(autouse=True)
def _message_text_not_compared(request, monkeypatch):
    # against drizzle itself (backend 'drizzle') its own wording is compared, as upstream
    if SUBSTITUTES is not None and _test_key(request.node.nodeid)[1] in MESSAGE_TEXT:
        _State.nodeid = request.node.nodeid
        monkeypatch.setattr(request.module, "pytest", _Pytest())


# ------------------------------------------------------------------ selection
def _test_key(nodeid):
    """'pkg/test_x.py::test_f[a-b]' -> ('test_x.py', 'test_x.py::test_f')."""
    path, _, rest = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    return module, f"{module}::{rest.split('[', 1)[0]}"


def _exists_upstream(key):
    """Each list entry must name a module / test function of this copy of drizzle's tests."""
    module, _, func = key.partition("::")
    path = os.path.join(os.path.dirname(__file__), module)
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        return not func or f"\ndef {func}(" in f.read()


def pytest_report_header(config):
    if SUBSTITUTES is None:
        return "drizzle suite: nothing substituted (drizzle itself: a check of the generated data)"
    import gpuresample

    return (f"drizzle suite: drizzle {drizzle.__version__}'s tests with gpuresample "
            f"{gpuresample.__version__} substituted (Drizzle, calc_pixmap), backend={BACKEND!r}")


def pytest_collection_modifyitems(session, config, items):
    stale = [key for key in [*NOT_APPLICABLE, *MESSAGE_TEXT] if not _exists_upstream(key)]
    if stale:
        raise pytest.UsageError(f"NOT_APPLICABLE / MESSAGE_TEXT entries name no upstream test: {stale}")
    keep, deselected = [], []
    for item in items:
        module, test = _test_key(item.nodeid)
        key = test if test in NOT_APPLICABLE else module if module in NOT_APPLICABLE else None
        if key is None:
            keep.append(item)
        else:
            _State.not_applicable[key] += 1
            deselected.append(item)
    if SUBSTITUTES is not None:
        # every test module that runs holds gpuresample's objects, not drizzle's
        for mod in {item.module for item in keep if getattr(item, "module", None)}:
            for name, obj in SUBSTITUTES.items():
                if name in vars(mod) and vars(mod)[name] is not obj:
                    raise pytest.UsageError(f"{mod.__name__}.{name} is drizzle's, not gpuresample's")
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = keep


# -------------------------------------------------------------------- summary
def _same_message(op, expected, actual):
    return actual.startswith(expected) if op == "startswith" else actual == expected


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    write = terminalreporter.write_line
    stats = terminalreporter.stats
    counts = {key: len(stats.get(key, [])) for key in ("passed", "failed", "error", "skipped",
                                                       "xfailed", "xpassed")}
    counts["failed"] += counts.pop("error")
    counts["not_applicable"] = sum(_State.not_applicable.values())

    if _State.not_applicable:
        terminalreporter.section("not applicable (deselected)")
        for key, n in _State.not_applicable.items():
            write(f"{key} ({n}): {NOT_APPLICABLE[key]}")
    waived = _State.waived
    differ = [w for w in waived if not _same_message(*w[1:])]
    if waived:
        terminalreporter.section("exception messages not compared (not applicable)")
        for nodeid, op, expected, actual in differ:
            write(f"{nodeid}: drizzle {expected!r} ({op}), gpuresample {actual!r}")
        write(f"{len(waived)} message comparisons waived in {len({w[0] for w in waived})} tests; "
              f"{len(differ)} differ from drizzle's text (listed)")
    if SUBSTITUTES is not None:
        write(f"gpuresample used: {_State.used['Drizzle']} Drizzle objects (backend {BACKEND!r}), "
              f"{_State.used['calc_pixmap']} calc_pixmap calls")

    line = (f"drizzle-suite[{BACKEND}]: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['not_applicable']} not applicable")
    extra = [f"{counts[k]} {k}" for k in ("skipped", "xfailed", "xpassed") if counts[k]]
    if extra:
        line += " (" + ", ".join(extra) + ")"
    if waived:
        line += f"; message text not compared in {len({w[0] for w in waived})} tests"
    write(line)
    out = os.environ.get("GPURESAMPLE_UPSTREAM_COUNTS")
    if out:
        with open(out, "w") as f:
            json.dump({**counts, "backend": BACKEND, "messages_waived": len(waived),
                       "messages_differing": len(differ), "used": dict(_State.used), "line": line}, f)
