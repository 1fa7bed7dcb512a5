"""Reading a product written by :func:`gpuresample.i2d.write_product` back into a ResampleResult.

(Its own module so that :mod:`gpuresample.i2d`, which
:class:`~gpuresample.ResampleResult` uses to save itself, does not import
the result class back.)
"""

from __future__ import annotations

import numpy as np

from .i2d import ARRAY_HDUS

__all__ = ["read_product"]


def read_product(path):
    """Read a product written by :func:`~gpuresample.i2d.write_product` into a ResampleResult.

    The WCS is the exact GWCS (ASDF extension / tree) when present, else the
    SCI header's FITS WCS.  ``meta`` holds the PRIMARY header cards.
    """
    from astropy.io import fits

    from .readers import check_input_file, file_kind
    from .result import ResampleResult  # the result saves itself through i2d: imported when reading

    path = check_input_file(path)
    if file_kind(path) == "asdf":
        import asdf

        with asdf.open(path, memmap=False) as af:
            arrays = {name: np.array(af.tree[name]) for name, _ in ARRAY_HDUS if name in af.tree}
            return ResampleResult(wcs=af.tree["wcs"], meta=dict(af.tree.get("meta") or {}), **arrays)
    with fits.open(path, memmap=False) as hdul:
        names = [h.name for h in hdul]
        arrays = {name: np.array(hdul[ext].data) for name, ext in ARRAY_HDUS if ext in names}
        meta = {k.lower(): v for k, v in hdul[0].header.items() if k not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND")}
        wcs = None
        if "ASDF" in names:
            from .asdf_extension import read_asdf_extension

            wcs = read_asdf_extension(hdul)[1]
        if wcs is None:
            from astropy.wcs import WCS

            wcs = WCS(hdul["SCI"].header)
    return ResampleResult(wcs=wcs, meta=meta, **arrays)
