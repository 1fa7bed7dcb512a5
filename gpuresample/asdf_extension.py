"""The ``ASDF`` extension of JWST FITS products: the metadata tree (and GWCS) stored inside a FITS file.

jwst (stdatamodels) writes the whole ASDF tree of a data model as the bytes
of a one-row binary table HDU named ``ASDF`` (column ``ASDF_METADATA``); its
arrays point back at the image HDUs.  We write and read that layout directly
so that files work without stdatamodels.
"""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np

__all__ = ["asdf_bytes_hdu", "asdf_extension_hdu", "plain_tree", "read_asdf_extension"]


def asdf_extension_hdu(tree):
    """An ``ASDF`` BinTableHDU holding ``tree`` (e.g. ``{"meta": {"wcs": gwcs, ...}}``)."""
    import asdf

    buf = io.BytesIO()
    asdf.AsdfFile(tree).write_to(buf)
    return asdf_bytes_hdu(buf.getvalue())


def asdf_bytes_hdu(raw):
    """The ``ASDF`` BinTableHDU holding the serialised ASDF file ``raw`` (bytes): one row, one column."""
    from astropy.io import fits

    raw = np.frombuffer(raw, np.uint8)
    col = fits.Column(name="ASDF_METADATA", format=f"{raw.size}B", array=raw[None, :])
    return fits.BinTableHDU.from_columns([col], name="ASDF")


def plain_tree(node):
    """stdatamodels / asdf nodes as plain dicts (leaves unchanged)."""
    node = getattr(node, "instance", node)
    if isinstance(node, dict):
        return {k: plain_tree(v) for k, v in node.items()}
    return node


def read_asdf_extension(hdul):
    """``(meta, wcs)`` from an open HDUList's ``ASDF`` extension.

    ``meta`` is the tree's ``meta`` as plain dicts without ``wcs``; ``wcs``
    is a copy of ``meta.wcs`` (None when absent).  Arrays referenced by the
    tree are not read.  Exceptions from asdf propagate (the caller names the
    file).
    """
    import asdf

    raw = hdul["ASDF"].data.tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown-tag warnings for extensions we do not need
        with asdf.open(io.BytesIO(raw), lazy_load=True, memmap=False) as af:
            meta = af.tree.get("meta") or {}
            wcs = copy.deepcopy(meta.get("wcs"))
            meta = {k: plain_tree(v) for k, v in meta.items() if k != "wcs"}
    return meta, wcs
