"""The command line feels like strun (issue 14, items 3-4): its own words, one line per warning, --version,
an --output_dir that is made, a demo hint that reproduces the demo."""

import subprocess
import sys

import pytest
from conftest import demo_association

import gpuresample


@pytest.fixture(scope="module")
def association(tmp_path_factory):
    return demo_association(tmp_path_factory.mktemp("inputs"), 128, 2)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpuresample", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_version():
    run = _cli("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"gpuresample {gpuresample.__version__}"


def test_the_namespace_has_only_dunder_version():
    assert isinstance(gpuresample.__version__, str)
    assert not hasattr(gpuresample, "version") and not hasattr(gpuresample, "PackageNotFoundError")


def test_errors_name_flags_not_keywords(association, tmp_path):
    out = tmp_path / "x_i2d.fits"
    out.write_bytes(b"keep me")
    run = _cli(association, "-o", out)
    assert run.returncode == 1
    assert "pass --overwrite to replace it" in run.stderr and "overwrite=True" not in run.stderr
    run = _cli(association, "-o", tmp_path / "y_i2d.fits", "--tile", "auto", "--allowed_memory", "1e-9")
    assert run.returncode == 1 and "--tile auto" in run.stderr and 'tile="auto"' not in run.stderr


def test_one_line_per_distinct_warning_and_quiet_silences_them(association, tmp_path):
    run = _cli(association, "-o", tmp_path / "l_i2d.fits", "--kernel", "lanczos3")
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if "flux-conserving" in ln]
    assert lines == ["gpuresample: WARNING: Kernel 'lanczos3' is not a flux-conserving kernel."]
    assert "warnings.warn" not in run.stderr and ".py:" not in run.stderr  # no source lines
    quiet = _cli(association, "-o", tmp_path / "q_i2d.fits", "--kernel", "lanczos3", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_grammar_and_tile_auto_says_what_it_did(association, tmp_path):
    run = _cli(association, "-o", tmp_path / "a_i2d.fits", "--tile", "auto", "-v")
    assert run.returncode == 0, run.stderr
    assert "--tile auto: the run fits the memory limits untiled; not tiling" in run.stderr
    assert "2 inputs)" in run.stdout
    # an allowed fraction of ~60% of this run's own estimate: tile="auto" must tile
    from gpuresample.memory import available_memory

    mib = float(run.stderr.split("memory estimate: ", 1)[1].split(" MiB", 1)[0])
    frac = 0.6 * mib * 2**20 / available_memory()
    tiled = _cli(association, "-o", tmp_path / "b_i2d.fits", "--tile", "auto", "--allowed_memory", f"{frac:.3g}", "-v")
    assert tiled.returncode == 0, tiled.stderr
    assert "--tile auto: " in tiled.stderr and " tiles of (ny, nx) = " in tiled.stderr


def test_output_dir_is_made_like_strun(association, tmp_path):
    run = _cli(association, "--single", "--output_dir", tmp_path / "singles" / "deep")
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "singles" / "deep").glob("*_i2d.fits"))) == 2
    (tmp_path / "file").write_text("")
    blocked = _cli(association, "--output_dir", tmp_path / "file")
    assert blocked.returncode == 1 and "exists and is not a folder (--output_dir)" in blocked.stderr


def test_a_failed_run_makes_no_output_dir(association, tmp_path):
    run = _cli(association, "--output_dir", tmp_path / "never", "--crpix", "1,2,3")
    assert run.returncode == 2 and not (tmp_path / "never").exists()


def test_the_demo_hint_reproduces_the_demo(tmp_path):
    run = _cli("demo", "--size", "64", "--exposures", "2", "--no-preview", "--save-inputs", "--output_dir",
               tmp_path / "d", "--kernel", "turbo")
    assert run.returncode == 0, run.stderr
    hint = run.stdout.split("try: ", 1)[1].strip()
    assert "--rotation 0" in hint and "--kernel turbo" in hint
