"""Kernel entry points and their C parameter types, read from the .cu sources.

Every entry point is ``extern "C" __global__ void name(params)``.  The parsed
types drive both launchers (CuPy and the host emulator) and the argument
check: a Python int reaches CuPy as int64 and a float as double, so every
argument must already have exactly the C type of its parameter.

Each ``.cu`` file is read as the compiler sees it, its headers inlined
(:func:`gpuresample.gpu.sources.translation_unit`), and object-like macros
(``#define NAME text``, ``\\`` continuations included) are expanded in the
parameter lists: the drizzle kernels share theirs through
``DRIZZLE_INPUT_PARAMS`` ... in ``drizzle_common.cuh``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .sources import entry_sources, translation_unit

__all__ = ["KernelSignature", "Param", "check_args", "kernel_signatures", "parse_macros", "parse_signatures"]

_ENTRY = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\((.*?)\)\s*\{', re.S)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(\(?)(.*)$", re.M)
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_MAX_EXPANSION_DEPTH = 16

# C base type -> numpy dtype (pointers: element type; scalars: the value's type)
_CTYPES = {
    "double": np.float64,
    "float": np.float32,
    "int": np.int32,
    "unsigned int": np.uint32,
    "unsigned": np.uint32,
    "i64": np.int64,
    "long long": np.int64,
    "unsigned long long": np.uint64,
    "unsigned char": np.uint8,
}


@dataclass(frozen=True)
class Param:
    name: str
    ctype: str  # base type, e.g. "double"
    pointer: bool
    const: bool

    @property
    def dtype(self):
        return np.dtype(_CTYPES[self.ctype])


@dataclass(frozen=True)
class KernelSignature:
    name: str
    file: str
    params: tuple

    def c_params(self):
        """The parameter list as C source (for generated launchers)."""
        out = []
        for p in self.params:
            t = ("const " if p.const else "") + p.ctype + ("*" if p.pointer else "")
            out.append(f"{t} {p.name}")
        return ", ".join(out)


def _parse_param(text, where):
    t = re.sub(r"//.*", "", text)
    t = t.replace("__restrict__", " ").replace("\n", " ").strip()
    m = re.match(r"^(const\s+)?([A-Za-z_][\w ]*?)\s*(\*?)\s*(?:const\s+)?(\w+)$", t)
    if not m:
        raise ValueError(f"{where}: cannot parse kernel parameter {text.strip()!r}")
    const, base, star, name = m.groups()
    base = " ".join(base.split())
    if base not in _CTYPES:
        raise ValueError(f"{where}: unsupported parameter type {base!r} in {text.strip()!r}")
    return Param(name=name, ctype=base, pointer=bool(star), const=bool(const))


def _strip_comments(source):
    """Join ``\\``-continued lines, then drop comments (the C preprocessor's order)."""
    source = re.sub(r"\\\n", " ", source)
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    return re.sub(r"//[^\n]*", "", source)


def parse_macros(source):
    """{name: text} of the object-like macros (``#define NAME text``) in ``source``; function-like ones are skipped."""
    macros = {}
    for m in _DEFINE.finditer(_strip_comments(source)):
        name, paren, text = m.groups()
        if paren:
            continue  # NAME(args): not used in parameter lists
        text = " ".join(text.split())
        if name in macros and macros[name] != text:
            raise ValueError(f"macro {name} is defined twice with different text")
        macros[name] = text
    return macros


def _expand(text, macros, where):
    """``text`` with ``macros`` expanded until none is left."""
    for _ in range(_MAX_EXPANSION_DEPTH):
        expanded = _IDENT.sub(lambda m: macros.get(m.group(0), m.group(0)), text)
        if expanded == text:
            return text
        text = expanded
    raise ValueError(f"{where}: macros nest deeper than {_MAX_EXPANSION_DEPTH} levels (recursive?)")


def parse_signatures(source, filename):
    """Entry points of one source text (macros defined in it expanded in the parameter lists)."""
    macros = parse_macros(source)
    source = _strip_comments(source)
    sigs = []
    for m in _ENTRY.finditer(source):
        where = f"{filename}:{m.group(1)}"
        text = _expand(m.group(2), macros, where)
        params = tuple(_parse_param(p, where) for p in text.split(",") if p.strip())
        sigs.append(KernelSignature(name=m.group(1), file=filename, params=params))
    return sigs


def kernel_signatures():
    """{name: KernelSignature} for every entry point in ``kernels/*.cu``."""
    out = {}
    for path in entry_sources():
        for sig in parse_signatures(translation_unit([path]), path.name):
            if sig.name in out:
                raise ValueError(f"kernel {sig.name} defined twice ({out[sig.name].file}, {path.name})")
            out[sig.name] = sig
    return out


def check_args(sig, args):
    """Raise TypeError unless ``args`` match ``sig`` exactly (arrays: dtype; scalars: numpy type).

    Arrays may be numpy or CuPy arrays (anything with ``dtype`` and
    ``ndim``), or None for a null pointer.  Scalars must be numpy scalars of
    the parameter's type (``np.int64(3)``, not ``3``).
    """
    if len(args) != len(sig.params):
        raise TypeError(f"{sig.name}: expected {len(sig.params)} arguments, got {len(args)}")
    for p, a in zip(sig.params, args, strict=True):
        if p.pointer:
            if a is None:
                continue
            if not hasattr(a, "dtype") or getattr(a, "ndim", 0) == 0:
                raise TypeError(
                    f"{sig.name}: argument {p.name!r} must be an array of {p.dtype}, got {type(a).__name__}"
                )
            if a.dtype != p.dtype:
                raise TypeError(f"{sig.name}: argument {p.name!r} must have dtype {p.dtype}, got {a.dtype}")
            if not a.flags.c_contiguous:
                raise TypeError(f"{sig.name}: argument {p.name!r} must be C-contiguous")
            if not p.const and not getattr(a.flags, "writeable", True):  # CuPy arrays have no such flag
                raise TypeError(f"{sig.name}: argument {p.name!r} is written to but not writeable")
        else:
            if not isinstance(a, np.generic) or a.dtype != p.dtype:
                raise TypeError(
                    f"{sig.name}: argument {p.name!r} must be a numpy {p.dtype} scalar "
                    f"(a Python number would reach the GPU with the wrong width), got {a!r} ({type(a).__name__})"
                )
