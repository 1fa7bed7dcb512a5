"""Compile the kernels with NVRTC, as the CUDA backend does, without a GPU.

Uses ``cuda.bindings.nvrtc`` (wheels ``cuda-bindings`` and
``nvidia-cuda-nvrtc-*``; no driver needed) on the translation units of
:mod:`gpuresample.gpu.sources` -- the text CuPy gets -- with
:data:`~gpuresample.gpu.sources.NVRTC_OPTIONS` (CuPy's own ``-ftz=true``
included) and ``-Xptxas=-v`` to read registers and spills from the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .sources import NVRTC_OPTIONS, UNIT_NAME, translation_unit

__all__ = ["NvrtcResult", "compile_all", "compile_source", "compile_unit"]


@dataclass
class NvrtcResult:
    file: str
    arch: str
    ok: bool
    log: str
    registers: dict  # kernel -> registers
    spills: dict  # kernel -> spill stores + loads (bytes)


def compile_unit(source, name, arch):
    """Compile the source text ``source`` (program ``name``) for ``arch`` (e.g. "sm_80")."""
    from cuda.bindings import nvrtc

    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"nvrtcCreateProgram failed for {name}: {err}")
    opts = [f"--gpu-architecture={arch}".encode(), b"-Xptxas=-v", *(o.encode() for o in NVRTC_OPTIONS)]
    (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    buf = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, buf)
    log = buf.decode(errors="replace").rstrip("\x00 ")
    nvrtc.nvrtcDestroyProgram(prog)
    registers, spills = {}, {}
    current = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            current = m.group(1)
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and current:
            spills[current] = int(m.group(1)) + int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m and current:
            registers[current] = int(m.group(1))
    return NvrtcResult(name, arch, err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log, registers, spills)


def compile_source(path, arch):
    """Compile one ``.cu`` file (its own translation unit, headers inlined) for ``arch``."""
    return compile_unit(translation_unit([path]), path.name, arch)


def compile_all(arch):
    """Compile the unit the CUDA backend hands CuPy (every ``.cu``) for ``arch``."""
    return compile_unit(translation_unit(), UNIT_NAME, arch)
