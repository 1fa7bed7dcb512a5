#!/usr/bin/env bash
# Run stcal 1.20.0's resample tests (tests/resample of its sdist) with
# gpuresample.stcal_compat.Resample in place of stcal.resample.Resample.
#
#   tests/upstream/run_stcal_suite.sh [PYTHON [PYTEST ARGS...]]
#
# PYTHON (default $GPURESAMPLE_STCAL_PYTHON): an environment with
# stcal==1.20.0, drizzle==2.2.0, pytest and gpuresample (.ci/run builds it).
# The sdist is downloaded with pip (or taken from $STCAL_SDIST, a local
# stcal-1.20.0.tar.gz); everything happens in a temporary folder, removed at
# the end.  stcal_conftest.py (beside this script) does the substitution and
# deselects the upstream tests that cannot apply, each with its reason.
# Prints one line "stcal-suite: N passed, F failed, M not applicable" and
# exits non-zero when a test failed or errored, or nothing ran.
set -euo pipefail

PY="${1:-${GPURESAMPLE_STCAL_PYTHON:-}}"
shift || true  # the rest: extra pytest arguments (e.g. -k NAME, -x) for a partial run
if [ -z "$PY" ]; then
    echo "usage: $0 PYTHON (or set GPURESAMPLE_STCAL_PYTHON)" >&2
    exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$PY" -c "import stcal, drizzle, pytest, gpuresample.stcal_compat; assert stcal.__version__ == '1.20.0', stcal.__version__" \
    || { echo "stcal-suite: $PY needs stcal==1.20.0, drizzle, pytest and gpuresample" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpuresample-stcal-suite.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ -n "${STCAL_SDIST:-}" ]; then
    SDIST="$STCAL_SDIST"
else
    "$PY" -m pip download --quiet --no-deps --no-binary=stcal "stcal==1.20.0" -d "$WORK/sdist"
    SDIST="$(ls "$WORK"/sdist/stcal-1.20.0.tar.gz)"
fi
tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/stcal-1.20.0"

RUN="$WORK/run"
mkdir -p "$RUN/tests/data"
cp -r "$SRC/tests/resample" "$RUN/tests/resample"
cp "$SRC/tests/__init__.py" "$RUN/tests/__init__.py"
cp "$SRC/tests/data/nrcb5-wcs.asdf" "$RUN/tests/data/"
cp "$HERE/stcal_conftest.py" "$RUN/conftest.py"
printf '[pytest]\n' > "$RUN/pytest.ini"  # rootdir here; no ini file of the caller's applies

COUNTS="$WORK/counts.json"
set +e
(cd "$RUN" && GPURESAMPLE_STCAL_SUITE_COUNTS="$COUNTS" "$PY" -m pytest -q -p no:cacheprovider -rfE tests/resample "$@")
RC=$?
set -e

if [ ! -s "$COUNTS" ]; then
    echo "stcal-suite: pytest exited with status $RC before reporting counts"
    exit 1
fi
"$PY" - "$COUNTS" "$RC" <<'PYEOF'
import json
import sys

c = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
extra = f", {c['skipped']} skipped" if c["skipped"] else ""
print(f"stcal-suite: {c['passed']} passed, {c['failed']} failed, {c['not_applicable']} not applicable{extra}")
sys.exit(0 if rc == 0 and c["failed"] == 0 and c["passed"] > 0 else 1)
PYEOF
