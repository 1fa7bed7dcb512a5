"""in_memory=False: file inputs read one at a time, scratch-mapped outputs; same results."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpuresample import resample
from gpuresample.asdf_io import read_exposure, write_exposure
from gpuresample.synthetic import dithered_scene


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("exposures")
    paths = []
    for k, e in enumerate(dithered_scene(8, (1024, 1024), seed=5, nstars=30, ngal=30, dither_arcsec=1.0)):
        p = d / f"exp{k}_cal.asdf"
        write_exposure(p, e)
        paths.append(p)
    return paths


def test_roundtrip_and_refuse_overwrite(files, tmp_path):
    img = read_exposure(files[0])
    assert img.data.shape == (1024, 1024) and img.var_rnoise is not None
    with pytest.raises(FileExistsError):
        write_exposure(files[0], img)
    assert not list(files[0].parent.glob(".*.part"))


def test_same_outputs_from_files_in_and_out_of_memory(files, tmp_path):
    a = resample(files[:3], in_memory=True)
    b = resample(files[:3], in_memory=False, workdir=tmp_path)
    assert not b.data.flags.owndata  # a view of a scratch memory map
    for name, arr in a.arrays().items():
        np.testing.assert_array_equal(np.asarray(getattr(b, name)), arr, err_msg=name)
    assert list(tmp_path.iterdir()) == []  # scratch files are unlinked at once


PEAK = textwrap.dedent("""
    import json, sys
    import numpy as np
    from gpuresample import resample
    files = sys.argv[2:]
    res = resample(files, in_memory=sys.argv[1] == "1", pixmap_stepsize="auto")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child of a
    # big pytest process would report the parent's size.
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    digest = {k: float(np.nansum(np.asarray(v, dtype=np.float64))) for k, v in res.arrays().items()}
    print(json.dumps({"peak_kib": peak, "digest": digest}))
""")


def _run(flag, files):
    out = subprocess.run([sys.executable, "-c", PEAK, flag, *map(str, files)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_out_of_memory_run_peaks_lower_with_same_outputs(files):
    in_mem = _run("1", files)
    on_disk = _run("0", files)
    assert on_disk["digest"] == in_mem["digest"]
    # 8 exposures of 1024^2 (data, dq, 3 variances, err: ~25 MiB each) are held
    # at once in memory; out of memory only one is: expect >= 100 MiB less.
    assert on_disk["peak_kib"] < in_mem["peak_kib"] - 100 * 1024, (on_disk, in_mem)
