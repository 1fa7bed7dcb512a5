"""The CUDA kernel sources and the one translation unit every consumer compiles.

Three things compile ``kernels/*.cu``: CuPy's ``RawModule`` on a GPU
(:mod:`gpuresample.gpu.loader`), the NVRTC check that runs without a GPU
(:mod:`gpuresample.gpu.nvrtc_check`) and the host emulator
(:mod:`gpuresample.gpu.emulator`, g++).  All three take their source text and
their options from here, so that what CI compiles is what a GPU runs:

* :func:`translation_unit` -- the preamble (:func:`preamble`: a ``#define``
  block for configuration, :data:`DEFINES`) and then the sources, every
  ``#include "x.cuh"`` inlined where it first appears (later ones dropped, as
  ``#pragma once`` would) with ``#line`` markers so that diagnostics name the
  original files and lines.  Inlining is what makes CuPy's cache key (the
  code string and the options) cover the headers: it does not look into
  ``#include``\\ d files.  The emulator's unit is the host shim followed by
  the very same text.
* :data:`NVRTC_OPTIONS` (what a GPU build gets; :func:`cupy_options` leaves
  out what CuPy adds by itself) and :data:`HOST_CXXFLAGS` (the emulator's g++
  flags).

In the repository the sources live in the top-level ``kernels/`` folder; the
wheel ships them as the data package ``gpuresample.kernels`` (see
pyproject.toml), found at run time by :func:`kernel_dir`.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

__all__ = [
    "CUPY_IMPLICIT_OPTIONS",
    "DEFINES",
    "HOST_CXXFLAGS",
    "HOST_SHIM",
    "NVRTC_OPTIONS",
    "UNIT_NAME",
    "cupy_options",
    "entry_sources",
    "kernel_dir",
    "kernel_files",
    "preamble",
    "translation_unit",
]

#: NVRTC options of every GPU build.  No fused multiply-add: the geometry must
#: round as drizzle's C code does (the host build uses -ffp-contract=off);
#: -ftz=true is what CuPy compiles with, so the NVRTC check uses it too
#: (drizzle_common.cuh's contribute() is written for it).
NVRTC_OPTIONS = ("--std=c++17", "-ftz=true", "--fmad=false")

#: Options CuPy's RawModule adds to every compile by itself.
CUPY_IMPLICIT_OPTIONS = ("-ftz=true",)

#: g++ flags of the emulator's shared library.  -ffp-contract=off and
#: -fno-fast-math keep g++ from fusing or reordering what the GPU build does not;
#: -pthread for the concurrent mode (blocks on several host threads).
HOST_CXXFLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-pthread", "-ffp-contract=off", "-fno-fast-math")

#: The CUDA shim the host build puts before the sources.
HOST_SHIM = "cuda_host_shim.h"

#: Configuration macros of the translation unit (name -> value), written into
#: the preamble of every consumer's build; empty by default.
DEFINES: dict[str, str] = {}

#: The name the whole unit compiles under (NVRTC program name, diagnostics).
UNIT_NAME = "gpuresample_kernels.cu"

_SUFFIXES = (".cu", ".cuh", ".h")
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
_PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\b")


def kernel_dir():
    """Return the folder holding the kernel sources as a ``pathlib.Path``.

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
    path = Path(__file__).resolve().parents[2] / "kernels"
    if (path / "README.md").is_file():
        return path
    raise FileNotFoundError(
        "gpuresample's kernel sources are missing: expected the data package "
        "'gpuresample.kernels' (reinstall gpuresample)"
    )


def kernel_files():
    """Sorted list of the kernel source files (``.cu``, ``.cuh``, ``.h``)."""
    return sorted(p for p in kernel_dir().iterdir() if p.suffix in _SUFFIXES)


def entry_sources():
    """Sorted list of the ``.cu`` files: the sources that hold entry points."""
    return sorted(kernel_dir().glob("*.cu"))


def preamble():
    """The text every translation unit starts with: a banner and the :data:`DEFINES` block."""
    lines = ["// gpuresample kernels: one translation unit built by gpuresample.gpu.sources"]
    lines += [f"#define {name} {value}".rstrip() for name, value in sorted(DEFINES.items())]
    return "\n".join(lines) + "\n"


def _inline(path, seen, out):
    """Append ``path`` to ``out`` with its local includes inlined once (``seen``: files already in)."""
    seen.add(path.name)
    out.append(f'#line 1 "{path.name}"')
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        m = _INCLUDE.match(line)
        if m:
            header = path.parent / m.group(1)
            if not header.is_file():
                raise FileNotFoundError(f"{path.name}:{lineno}: included file {m.group(1)!r} is not in {path.parent}")
            if header.name not in seen:
                _inline(header, seen, out)
                out.append(f'#line {lineno + 1} "{path.name}"')
                continue
            line = ""  # already in the unit: keep the line numbering
        elif _PRAGMA_ONCE.match(line):
            line = ""
        out.append(line)


def translation_unit(files=None, *, host=False):
    """One self-contained source text: :func:`preamble` and ``files`` with their includes inlined.

    ``files`` defaults to every ``.cu`` file (:func:`entry_sources`), in name
    order; a header comes in where it is first included.  With ``host=True``
    the text is preceded by the CUDA host shim (the emulator's build); the
    rest is the same text a GPU build compiles.  No ``#include "..."`` is
    left (the host shim keeps its system includes).
    """
    files = entry_sources() if files is None else [Path(f) for f in files]
    seen, out = set(), []
    for path in files:
        _inline(path, seen, out)
    device = preamble() + "\n".join(out) + "\n"
    if not host:
        return device
    shim = []
    _inline(kernel_dir() / HOST_SHIM, set(), shim)
    return "\n".join(shim) + "\n" + device


def cupy_options():
    """:data:`NVRTC_OPTIONS` less what CuPy's RawModule adds by itself."""
    return tuple(o for o in NVRTC_OPTIONS if o not in CUPY_IMPLICIT_OPTIONS)
