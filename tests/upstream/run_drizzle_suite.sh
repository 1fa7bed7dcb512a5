#!/usr/bin/env bash
# drizzle 3.0.0's own test-suite with gpuresample substituted (issue 15).
#
#   tests/upstream/run_drizzle_suite.sh BACKEND [BACKEND ...]    # cpu, emulator, cuda;
#                                                                # drizzle = no substitution
#
# With the current python (the test environment: drizzle 3.0.0 and gpuresample
# installed; override with GPURESAMPLE_UPSTREAM_PYTHON), in a temporary folder
# that is removed afterwards:
#   1. download drizzle 3.0.0's sdist with pip (hash-pinned) and copy its
#      drizzle/tests/ -- nothing of the installed drizzle's tests is used;
#   2. generate the data/ the sdist lacks (make_drizzle_data.py, with the real
#      drizzle as the oracle, from the real WCS files in ../shared/realdata or
#      $GPURESAMPLE_REALDATA; without them the suite is skipped, exit 0);
#   3. drop in drizzle_conftest.py as conftest.py (the substitution, the
#      not-applicable list) and run pytest once per BACKEND, offline.
# Prints one line per backend,
#   drizzle-suite[cpu]: 214 passed, 0 failed, 54 not applicable; ...
# and exits non-zero when any test failed on any backend.  Works from any cwd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ $# -eq 0 ]; then
  echo "usage: $0 BACKEND [BACKEND ...]   (cpu, emulator, cuda, or drizzle for no substitution)" >&2
  exit 2
fi
for backend in "$@"; do
  case "$backend" in
    cpu|emulator|cuda|drizzle) ;;
    *) echo "run_drizzle_suite: unknown backend '$backend' (cpu, emulator, cuda, drizzle)" >&2; exit 2 ;;
  esac
done

py=${GPURESAMPLE_UPSTREAM_PYTHON:-$(command -v python || command -v python3)}
realdata=${GPURESAMPLE_REALDATA:-$root/../shared/realdata}

# the pinned upstream release: the sdist on PyPI, which holds drizzle/tests/
DRIZZLE_VERSION=3.0.0
DRIZZLE_SDIST_SHA256=ee1c7fde6abf7570e2032d9ad2a5c7969eb3ef1134194818a716f2d76f00f587
REAL_FILES="j8bt06nyq_sip_flt.fits nrcb5_sip_wcs.hdr nrcb5_output_wcs_psr_0p55.hdr
            nrcb5_output_wcs_psr_1p0.hdr nrcb5_output_wcs_psr_1p2.hdr"

missing=""
for f in $REAL_FILES; do
  [ -f "$realdata/$f" ] || missing="${missing:+$missing, }$f"
done
if [ -n "$missing" ]; then
  for backend in "$@"; do
    echo "drizzle-suite[$backend]: skipped: the real WCS files ($missing) are not in $realdata" \
         "(../shared/realdata; set GPURESAMPLE_REALDATA)"
  done
  exit 0
fi

if ! installed=$("$py" -c 'import importlib.metadata as m, gpuresample; print(m.version("drizzle"))' 2>/dev/null)
then
  echo "run_drizzle_suite: $py cannot import gpuresample and drizzle (activate the test environment" \
       "or set GPURESAMPLE_UPSTREAM_PYTHON)" >&2
  exit 2
fi
if [ "$installed" != "$DRIZZLE_VERSION" ]; then
  echo "run_drizzle_suite: $py has drizzle $installed; the suite and its oracle need $DRIZZLE_VERSION" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/drizzle-suite.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. the sdist (network: only here, before any test runs)
echo "drizzle==$DRIZZLE_VERSION --hash=sha256:$DRIZZLE_SDIST_SHA256" > "$work/requirements.txt"
"$py" -m pip download -q --no-deps --no-binary=drizzle --require-hashes \
  -r "$work/requirements.txt" -d "$work/sdist"
pkg="$work/suite/drizzle_upstream_tests"
mkdir -p "$work/suite"
"$py" - "$work/sdist/drizzle-$DRIZZLE_VERSION.tar.gz" "$pkg" <<'EOF'
import shutil, sys, tarfile, tempfile
from pathlib import Path

sdist, dest = sys.argv[1], Path(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp, tarfile.open(sdist) as tar:
    members = [m for m in tar.getmembers() if "/drizzle/tests/" in m.name]
    # the "data" filter (no links out, no absolute paths) where this Python has it
    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tar.extractall(tmp, members=members, **kwargs)
    (src,) = Path(tmp).glob("drizzle-*/drizzle/tests")
    shutil.copytree(src, dest)
names = sorted(p.name for p in dest.glob("test_*.py"))
print(f"run_drizzle_suite: drizzle's tests from {Path(sdist).name}: {', '.join(names)}")
EOF

# 2. data/ (drizzle itself, before any substitution, in its own process)
"$py" "$here/make_drizzle_data.py" "$pkg" "$realdata"

# 3. our conftest and a pytest configuration of the suite's own (not gpuresample's)
cp "$here/drizzle_conftest.py" "$pkg/conftest.py"
cat > "$work/suite/pytest.ini" <<'EOF'
[pytest]
# drizzle 3.0.0's own [tool.pytest] sets only minversion and norecursedirs.
filterwarnings =
    # drizzle's tests hand generators to parametrize (deprecated by pytest 9): drizzle's own code
    ignore:Passing a non-Collection iterable to parametrize:pytest.PytestRemovedIn10Warning
EOF

status=0
summary=()
cd "$work/suite"
for backend in "$@"; do
  echo "run_drizzle_suite: backend=$backend"
  start=$SECONDS
  rc=0
  GPURESAMPLE_UPSTREAM_BACKEND=$backend GPURESAMPLE_UPSTREAM_COUNTS="$work/counts-$backend.json" \
    "$py" -m pytest -c "$work/suite/pytest.ini" --rootdir "$work/suite" -p no:cacheprovider \
    -q -rfE "$pkg" || rc=$?
  seconds=$((SECONDS - start))
  if [ -f "$work/counts-$backend.json" ]; then
    line=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["line"])' "$work/counts-$backend.json")
  else
    line="drizzle-suite[$backend]: pytest exited with status $rc before reporting"
  fi
  summary+=("$line; ${seconds}s")
  [ "$rc" -eq 0 ] || status=1
done

printf '%s\n' "${summary[@]}"
exit "$status"
