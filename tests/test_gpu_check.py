"""benchmarks/gpu_check runs end to end in its dry mode (host emulator) and writes its report."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry", "--skip-tests", "--size", "96",
         "--repeat", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["backend"] == "emulator"
    assert set(report["kernels"]) == {"square", "gaussian", "point", "turbo", "lanczos2", "lanczos3", "tophat"}
    for per_kernel in report["kernels"].values():
        assert all(r["gpix_per_s"] > 0 and r["wall_gpix_per_s"] > 0 for r in per_kernel.values())
        # the scatter alone is faster than the whole add_image it was timed in; every phase is reported
        assert all(r["phases_seconds"]["scatter"] <= r["phases_run_wall_seconds"] for r in per_kernel.values())
        assert all(set(r["phases_seconds"]) == {"upload", "pixmap", "prepare", "scatter", "merge", "download"}
                   for r in per_kernel.values())
    assert report["device_limits"]["copy_gb_per_s"] > 0 and report["device_limits"]["atomic_add_per_s"] > 0
    assert report["transfer"]["bytes"] > 0
    # the correctness matrix (7 kernels x 2 pixfrac x 2 ratios + >32 inputs) and the end-to-end runs
    assert report["correctness"]["failed"] == 0 and report["correctness"]["passed"] == 29
    assert report["end_to_end"]["N=2"]["equal_to_cpu"] and report["end_to_end"]["N=2"]["device_stats"]["launches"]
    assert report["end_to_end"]["N=2"]["device_phases_seconds"]["scatter"] > 0
    # the two staging slots hold pinned and device buffers of at least one exposure's data
    size = report["end_to_end"]["size"]
    assert report["end_to_end"]["N=2"]["staging_pinned_bytes"] >= 4 * size * size
    assert report["end_to_end"]["N=2"]["staging_device_bytes"] >= 4 * size * size
    assert report["verdict"] == {"tests_ok": True, "correctness_ok": True, "end_to_end_equal": True}
