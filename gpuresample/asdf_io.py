"""ASDF exposures (Roman-style keys): read one eagerly or lazily, write one.

An exposure file holds at its top level ``data`` and ``wcs`` (a gwcs) and
optionally ``dq``, ``var_rnoise``, ``var_poisson``, ``var_flat``,
``var_sky``, ``err``, ``wcsinfo`` and the scalar metadata of
:class:`gpuresample.Image` (``exposure_time``, ``start_time``, ...); other
scalar entries under ``meta`` are kept.

:class:`LazyExposure` reads only the tree (WCS, shapes, metadata) and loads
the arrays when :meth:`LazyExposure.load` is called, so ``resample(...,
in_memory=False)`` holds one exposure's arrays at a time.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import numpy as np

from .errors import InputFileError
from .exposure import Image, LazyImage

__all__ = ["LazyExposure", "read_exposure", "write_exposure"]

_ARRAYS = ("data", "dq", "var_rnoise", "var_poisson", "var_flat", "var_sky", "err")


def _open(path, memmap=False):
    import asdf

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        return asdf.open(path, lazy_load=True, memmap=memmap)
    except Exception as exc:  # asdf raises many types for unreadable/truncated files
        raise InputFileError(f"{path}: could not be read as ASDF: {exc}") from None


def _check_blocks(path, tree):
    """Refuse a truncated file now: memory-map each array block and touch its last element.

    asdf opens a truncated file lazily without complaint and only fails when
    the arrays are read; with ``memmap=True`` mapping a block that runs past
    the end of the file fails at once, without reading the data.
    """
    for key in _ARRAYS:
        arr = tree.get(key)
        if arr is None:
            continue
        try:
            if arr.size:
                arr[(-1,) * arr.ndim]
        except Exception as exc:
            raise InputFileError(f"{path}: array '{key}' could not be read (truncated file?): {exc}") from None


def _scalars(tree):
    names = {f.name for f in fields(Image)} - set(_ARRAYS) - {"wcs", "meta", "wcsinfo"}
    out = {k: tree[k] for k in names if k in tree}
    meta = tree.get("meta") or {}
    out["meta"] = {k: v for k, v in dict(meta).items() if isinstance(v, (str, int, float, bool)) or v is None}
    wcsinfo = tree.get("wcsinfo")
    out["wcsinfo"] = dict(wcsinfo) if wcsinfo is not None else None
    return out


class LazyExposure(LazyImage):
    """An exposure on disk: WCS, shape and metadata now, arrays on :meth:`load`."""

    def __init__(self, path):
        self.path = Path(path)
        with _open(self.path, memmap=True) as af:
            tree = af.tree
            for key in ("data", "wcs"):
                if key not in tree:
                    raise InputFileError(f"{self.path}: missing '{key}' (expected an exposure file with "
                                         "'data' and a gwcs under 'wcs')")
            if not hasattr(tree["wcs"], "pixel_to_world_values"):
                raise InputFileError(f"{self.path}: 'wcs' is a {type(tree['wcs']).__name__}, not a gwcs.WCS")
            self.wcs = copy.deepcopy(tree["wcs"])
            self.shape = tuple(getattr(tree["data"], "shape", ()))
            if len(self.shape) != 2:
                raise InputFileError(f"{self.path}: 'data' must be a 2-D image; got shape {self.shape}")
            self.scalars = _scalars(tree)
            for key in _ARRAYS[1:]:  # check array shapes now, before anything is allocated
                arr = tree.get(key)
                if arr is not None and tuple(arr.shape) != self.shape:
                    raise InputFileError(f"{self.path}: '{key}' shape {tuple(arr.shape)} differs from "
                                         f"'data' {self.shape}")
            _check_blocks(self.path, tree)
        self.scalars.setdefault("filename", self.path.name)

    def load(self):
        """Read the arrays: a fully in-memory :class:`Image`."""
        with _open(self.path) as af:
            arrays = {k: np.array(af.tree[k]) for k in _ARRAYS if af.tree.get(k) is not None}
        return Image(wcs=self.wcs, **arrays, **self.scalars)


def read_exposure(path):
    """Read an exposure file into an :class:`Image` (arrays in memory)."""
    return LazyExposure(path).load()


def write_exposure(path, image, overwrite=False):
    """Write an :class:`Image` (or model dict) as an exposure ASDF file.

    Written to a temporary file beside ``path`` and renamed into place; an
    existing file is only replaced with ``overwrite=True``.
    """
    import asdf

    if isinstance(image, dict):
        image = Image.from_dict(image)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    tree = {}
    for f in fields(Image):
        v = getattr(image, f.name)
        if v is None:
            continue
        if f.name == "meta":
            v = {k: x for k, x in v.items() if isinstance(x, (str, int, float, bool))}
        tree[f.name] = v
    tmp = path.with_name(f".{path.name}.part")
    try:
        asdf.AsdfFile(tree).write_to(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
