"""Import without optional dependencies; kernel sources shipped in the wheel."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLOCK_OPTIONAL = """
import sys
class _Block:
    # make every optional dependency unimportable, as on a bare install
    names = ("cupy", "cupyx", "dask", "distributed", "stdatamodels", "matplotlib", "pynvml",
             "cuda", "tqdm")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"blocked optional dependency {name}")
sys.meta_path.insert(0, _Block())
before = set(sys.modules)  # a .pth file may pre-import a namespace package (cuda-bindings does)
import gpuresample
new = {m.split(".")[0] for m in set(sys.modules) - before}
for name in _Block.names:
    assert name not in new, name
print(gpuresample.__version__, len(gpuresample.KERNELS))
"""


def test_import_without_optional_dependencies():
    out = subprocess.run([sys.executable, "-c", BLOCK_OPTIONAL], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "7"


def test_installed_wheel_contains_and_finds_kernels(tmp_path):
    pytest.importorskip("setuptools")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = dist.glob("gpuresample-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("gpuresample/kernels/")}
    in_repo = {p.name for p in (ROOT / "kernels").iterdir() if p.suffix in (".cu", ".cuh", ".h", ".md")}
    assert in_repo and in_repo <= shipped
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )
    code = "import gpuresample; print(gpuresample.kernel_dir())"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True)
    found = Path(out.stdout.strip())
    assert found.is_relative_to(target) and (found / "README.md").is_file()
