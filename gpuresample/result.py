"""The outputs of :func:`gpuresample.resample`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ResampleResult"]


@dataclass
class ResampleResult:
    """One resampled product (a mosaic, or one exposure group with ``single=True``).

    Arrays are ``(ny, nx)`` numpy arrays on the output grid (``con`` is
    ``(nplanes, ny, nx)`` int32: bit k of plane p = input 32p+k of this
    product).  Arrays that were not requested are None.  ``meta`` holds the
    resample keywords (exposure times, PIXAR_SR/PIXAR_A2, S_REGION, pixfrac,
    kernel, ...), ``blended`` the blended input metadata and ``inputs`` one
    row (dict) per input.
    """

    data: np.ndarray
    wht: np.ndarray
    wcs: object
    con: np.ndarray | None = None
    err: np.ndarray | None = None
    var_rnoise: np.ndarray | None = None
    var_poisson: np.ndarray | None = None
    var_flat: np.ndarray | None = None
    dq: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    blended: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)

    @property
    def shape(self):
        """``(ny, nx)``."""
        return self.data.shape

    def save(self, path, overwrite=False, blendheaders=True):
        """Write the product: ``_i2d.fits`` (``.asdf`` by suffix); see :func:`gpuresample.i2d.write_product`."""
        from .i2d import write_product

        return write_product(path, self, overwrite=overwrite, blendheaders=blendheaders)

    def save_preview(self, path, overwrite=False, title=None):
        """Write a PNG preview of the mosaic; see :func:`gpuresample.preview.save_preview`."""
        from .preview import save_preview

        return save_preview(path, self, overwrite=overwrite, title=title)

    def to_host(self):
        """This product with numpy arrays: device (CuPy) arrays of ``resample(output="device")`` copied
        to the host, numpy arrays as they are (a new result; metadata shared)."""
        from dataclasses import replace

        def host(a):
            return a.get() if hasattr(a, "get") else a

        return replace(self, **{n: host(a) for n, a in self.arrays().items()})

    def arrays(self):
        """{name: array} of the arrays that are present."""
        names = ("data", "wht", "con", "err", "var_rnoise", "var_poisson", "var_flat", "dq")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}
