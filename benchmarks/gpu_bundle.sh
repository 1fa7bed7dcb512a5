#!/usr/bin/env bash
# Everything the lent GPU machine needs that it does not have, as wheels, into
# an ignored folder that the device tool carries (issue 12, item 6).
#
#   benchmarks/gpu_bundle.sh [FOLDER]      (default: .gpu_bundle/ in the repository)
#
# The machine has Python 3.12, cupy-cuda13x, numpy, scipy, pytest and
# hypothesis (so also packaging and attrs) and no network.  This downloads
# exactly the remaining runtime dependencies of gpuresample -- astropy, gwcs,
# asdf, drizzle and their own requirements -- as manylinux x86-64 cp312
# wheels, --no-deps with the explicit list below (pinned: the versions the
# test-suite runs with), plus the real WCS files the GPU tests read (from
# ../shared/realdata, which the tool does not send).  It prints the size and
# fails above 40 MiB.  benchmarks/gpu_check installs from the folder offline.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/.gpu_bundle}"
PY=${PYTHON:-python3}
limit_mib=40

# name==version, one per line: the runtime closure of gpuresample minus what the machine has
WHEELS="
astropy==8.0.2
astropy-iers-data==0.2026.11.16.0.37.44
pyerfa==2.0.1.5
pyyaml==6.0.4
gwcs==1.0.3
asdf==6.0.0
asdf-astropy==0.11.0
asdf-coordinates-schemas==0.5.1
asdf-standard==1.5.0
asdf-transform-schemas==0.6.0
asdf-wcs-schemas==0.5.0
importlib-metadata==10.2.0
zipp==4.1.2
jmespath==1.1.0
lazy-importer==0.1.0
semantic-version==2.10.0
typing-extensions==4.16.0
drizzle==3.0.0
tqdm==4.70.1
"

rm -rf "$out"
mkdir -p "$out/wheels" "$out/realdata"
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
  --abi abi3 --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d "$out/wheels" $WHEELS
# gpuresample itself, as a wheel of this checkout (no dependencies: they are above)
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$out/wheels" "$root"

shared="$root/../shared/realdata"
if [ -d "$shared" ]; then
  # what the GPU tests and gpu_check read; never committed (the folder is ignored)
  cp "$shared/nrcb1-wcs.asdf" "$shared/README.md" "$out/realdata/" 2>/dev/null || true
fi

bytes=$(du -sb "$out" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "gpu_bundle: $(ls "$out/wheels" | wc -l) wheels, $(ls "$out/realdata" | wc -l) data files, ${mib} MiB in $out"
if [ "$mib" -gt "$limit_mib" ]; then
  echo "gpu_bundle: over the ${limit_mib} MiB budget" >&2
  exit 1
fi
