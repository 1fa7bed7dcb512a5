"""The host emulator: the same ``kernels/*.cu`` compiled with g++ and run on the host.

The generated C++ file is the translation unit of
:mod:`gpuresample.gpu.sources` for the host (the CUDA host shim, then the
text a GPU build compiles) followed by one launcher per entry point,
``emu_<name>(grid, block, nthreads, seed, params...)``, that runs every
(block, thread) of the launch with the built-in index variables set.

Two modes (:func:`emulator_threads`, environment variable
``GPURESAMPLE_EMULATOR_THREADS``):

* sequential (``1``, the default): blocks in order on the calling thread --
  bitwise reproducible, for debugging and for the tests that compare runs
  bit for bit;
* concurrent (``N > 1``): blocks in a shuffled order (seed
  ``GPURESAMPLE_EMULATOR_SEED``, default 1) on ``N`` host threads with real
  atomics, so that a missing atomic or a read-after-write race between
  blocks changes the result as it would on a GPU.  CI runs the kernel tests
  in this mode.  The shared library
is cached under ``~/.cache/gpuresample/emulator`` by a hash of everything
that goes into it (:func:`library_key`: that whole text -- preamble, shim and
sources -- the flags :data:`~gpuresample.gpu.sources.HOST_CXXFLAGS`, the
compiler and its version) and written atomically (temporary file + rename),
so concurrent processes never load half a file.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError
from . import sources
from .signatures import check_args, kernel_signatures

__all__ = ["EmulatorModule", "emulator_seed", "emulator_threads", "host_source", "library_key", "load_emulator"]

_THREADS_ENV = "GPURESAMPLE_EMULATOR_THREADS"
_SEED_ENV = "GPURESAMPLE_EMULATOR_SEED"


def _env_int(name, default, minimum):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer; got {text!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return value


def emulator_threads():
    """Host threads a launch runs its blocks on (``$GPURESAMPLE_EMULATOR_THREADS``, default 1: sequential)."""
    return _env_int(_THREADS_ENV, 1, 1)


def emulator_seed():
    """Seed of the block order in the concurrent mode (``$GPURESAMPLE_EMULATOR_SEED``, default 1)."""
    return _env_int(_SEED_ENV, 1, 0)

_CTYPE_SCALAR = {
    np.dtype(np.float64): ctypes.c_double,
    np.dtype(np.float32): ctypes.c_float,
    np.dtype(np.int32): ctypes.c_int32,
    np.dtype(np.uint32): ctypes.c_uint32,
    np.dtype(np.int64): ctypes.c_int64,
    np.dtype(np.uint64): ctypes.c_uint64,
}

_loaded = {}


def _cache_dir():
    root = os.environ.get("GPURESAMPLE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gpuresample"
    )
    path = Path(root) / "emulator"
    path.mkdir(parents=True, exist_ok=True)
    return path


def host_source(sigs=None):
    """The emulator's C++ source: the host translation unit and a launcher per entry point."""
    sigs = kernel_signatures() if sigs is None else sigs
    lines = [sources.translation_unit(host=True), "// ---- launchers (gpuresample.gpu.emulator)"]
    for sig in sigs.values():
        args = ", ".join(p.name for p in sig.params)
        lines.append(
            f'extern "C" void emu_{sig.name}(unsigned int gx, unsigned int bx, int nthreads, '
            f"unsigned long long seed, {sig.c_params()}) {{\n"
            f"    gpuresample_run_grid(gx, nthreads, seed, [&](unsigned int b) {{\n"
            f"        gridDim = {{gx, 1, 1}}; blockDim = {{bx, 1, 1}}; blockIdx = {{b, 0, 0}};\n"
            f"        for (unsigned int t = 0; t < bx; ++t) {{ threadIdx = {{t, 0, 0}}; {sig.name}({args}); }}\n"
            f"    }});\n}}"
        )
    return "\n".join(lines) + "\n"


def _compiler():
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise BackendUnavailableError("the emulator backend needs a C++ compiler (g++); none was found")
    return cxx


def library_key(source, cxx):
    """Cache key of the library built from ``source`` by ``cxx`` with the current host flags."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    h = hashlib.sha256()
    for part in (source, " ".join(sources.HOST_CXXFLAGS), cxx, *version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def load_emulator(transform=None):
    """Build (or reuse) the host library of every kernel; return an :class:`EmulatorModule`.

    ``transform(source) -> source``, when given, edits the generated C++
    first (tests build a copy of a kernel with a planted bug this way).
    """
    sigs = kernel_signatures()
    source = host_source(sigs)
    if transform is not None:
        source = transform(source)
    cxx = _compiler()
    key = library_key(source, cxx)
    if key in _loaded:
        return _loaded[key]
    lib_path = _cache_dir() / f"gpuresample_kernels_{key}.so"
    if not lib_path.exists():
        with tempfile.TemporaryDirectory(dir=lib_path.parent) as tmp:
            src = Path(tmp) / "emulator.cpp"
            src.write_text(source)
            out = Path(tmp) / "lib.so"
            proc = subprocess.run([cxx, *sources.HOST_CXXFLAGS, str(src), "-o", str(out)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise BackendUnavailableError(f"building the emulator failed:\n{proc.stderr[-4000:]}")
            os.replace(out, lib_path)  # atomic: another process sees all of it or nothing
    module = EmulatorModule(ctypes.CDLL(str(lib_path)), sigs)
    _loaded[key] = module
    return module


class EmulatorModule:
    """Launch kernels on the host with the same argument rules as on the GPU."""

    def __init__(self, lib, sigs):
        self.lib = lib
        self.sigs = sigs
        for sig in sigs.values():
            fn = getattr(lib, f"emu_{sig.name}")
            fn.restype = None
            fn.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_ulonglong] + [
                ctypes.c_void_p if p.pointer else _CTYPE_SCALAR[p.dtype] for p in sig.params
            ]

    def launch(self, name, grid, block, args, *, threads=None, seed=None):
        """Run kernel ``name`` on ``grid`` blocks of ``block`` threads (1-D).

        ``threads``/``seed`` default to :func:`emulator_threads` /
        :func:`emulator_seed` (read at every launch).
        """
        threads = emulator_threads() if threads is None else int(threads)
        seed = emulator_seed() if seed is None else int(seed)
        sig = self.sigs[name]
        check_args(sig, args)
        cargs = []
        for p, a in zip(sig.params, args, strict=True):
            if p.pointer:
                cargs.append(None if a is None else a.ctypes.data)
            else:
                cargs.append(a.item())
        getattr(self.lib, f"emu_{name}")(int(grid), int(block), threads, seed, *cargs)
