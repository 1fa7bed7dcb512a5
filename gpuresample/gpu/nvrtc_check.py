"""Compile every ``kernels/*.cu`` with NVRTC, as the CUDA backend would, without a GPU.

Uses ``cuda.bindings.nvrtc`` (wheels ``cuda-bindings`` and
``nvidia-cuda-nvrtc-*``; no driver needed) with the options the CUDA backend
gives CuPy (CuPy adds ``-ftz=true``) and ``-Xptxas=-v`` to read registers and
spills from the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..kernel_sources import kernel_dir

__all__ = ["BACKEND_OPTIONS", "NvrtcResult", "compile_source"]

#: Options the CUDA backend passes to CuPy's RawModule (plus CuPy's own -ftz=true).  No fused
#: multiply-add: the geometry must round as drizzle's C code does (the host build uses -ffp-contract=off).
BACKEND_OPTIONS = ("--std=c++17", "-ftz=true", "--fmad=false")


@dataclass
class NvrtcResult:
    file: str
    arch: str
    ok: bool
    log: str
    registers: dict  # kernel -> registers
    spills: dict  # kernel -> spill stores + loads (bytes)


def compile_source(path, arch):
    """Compile one .cu file for ``arch`` (e.g. "sm_80"); return an :class:`NvrtcResult`."""
    from cuda.bindings import nvrtc

    src = path.read_bytes()
    headers = sorted(p for p in kernel_dir().iterdir() if p.suffix in (".cuh", ".h") and p.name != "cuda_host_shim.h")
    err, prog = nvrtc.nvrtcCreateProgram(src, path.name.encode(), len(headers),
                                         [h.read_bytes() for h in headers], [h.name.encode() for h in headers])
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"nvrtcCreateProgram failed for {path.name}: {err}")
    opts = [f"--gpu-architecture={arch}".encode(), b"-Xptxas=-v", *(o.encode() for o in BACKEND_OPTIONS)]
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
    return NvrtcResult(path.name, arch, err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log, registers, spills)
