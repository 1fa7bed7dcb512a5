"""Where the CUDA kernel sources (``kernels/*.cu``) are at run time.

In the repository they live in the top-level ``kernels/`` folder; the wheel
ships them as the data package ``gpuresample.kernels`` (see pyproject.toml),
so an installed package finds them with :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["kernel_dir", "kernel_files"]

_SUFFIXES = (".cu", ".cuh", ".h")


def kernel_dir():
    """Return the folder holding the kernel sources as a :class:`~pathlib.Path`.

    Raises
    ------
    FileNotFoundError
        When the package was installed without its kernel files.
    """
    # installed wheel: <site-packages>/gpuresample/kernels.  Located relative to
    # the package rather than imported as "gpuresample.kernels", which an
    # editable install maps elsewhere.
    path = Path(str(resources.files("gpuresample"))) / "kernels"
    if (path / "README.md").is_file():
        return path
    # source checkout or editable install: <repo>/kernels
    path = Path(__file__).resolve().parent.parent / "kernels"
    if (path / "README.md").is_file():
        return path
    raise FileNotFoundError(
        "gpuresample's kernel sources are missing: expected the data package "
        "'gpuresample.kernels' (reinstall gpuresample)"
    )


def kernel_files():
    """Sorted list of the kernel source files (``.cu``, ``.cuh``, ``.h``)."""
    return sorted(p for p in kernel_dir().iterdir() if p.suffix in _SUFFIXES)
