"""Input exposures: the public :class:`Image` and the normalised internal record.

Inputs to :func:`gpuresample.resample` are stcal-style model dicts (the keys
``stcal.resample.Resample`` reads) or :class:`Image` objects carrying the same
things.  :func:`as_exposure` validates one and returns an :class:`Image`
(never modifying the caller's object or arrays).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["VARIANCE_NAMES", "Image", "LazyImage", "as_exposure"]

log = logging.getLogger("gpuresample")

#: Variance arrays resampled with jwst semantics, in jwst's order.
VARIANCE_NAMES = ("var_rnoise", "var_flat", "var_poisson")


@dataclass
class Image:
    """One calibrated exposure (detector image) and its metadata.

    Arrays are numpy ``(ny, nx)``.  ``wcs`` is a ``gwcs.WCS`` or
    ``astropy.wcs.WCS`` mapping 0-based pixel ``(x, y)`` to ``(ra, dec)`` deg.
    ``wcsinfo`` holds jwst's ``ra_ref, dec_ref, v3yangle, vparity, roll_ref``
    (and optionally ``s_region``); it is only needed for the first input and
    is derived from the WCS when missing.  Times are MJD (start/end) and
    seconds (exposure/measurement time, duration); ``exposure_time`` is
    required with ``weight_type="exptime"`` (unless ``measurement_time`` is
    set), and otherwise 1 s with a logged warning when None (it then only
    enters the product's exposure-time keywords).  ``group_id`` ties the
    detectors of one exposure together (default: each input is its own
    exposure).  ``level``/``subtracted``: a sky level subtracted before
    resampling unless already subtracted.  ``meta`` holds any other metadata
    (blended into the output when ``blendheaders=True``).
    """

    data: np.ndarray
    wcs: object
    dq: np.ndarray | None = None
    var_rnoise: np.ndarray | None = None
    var_poisson: np.ndarray | None = None
    var_flat: np.ndarray | None = None
    var_sky: np.ndarray | None = None
    err: np.ndarray | None = None
    wcsinfo: dict | None = None
    exposure_time: float | None = None
    measurement_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    duration: float | None = None
    pixelarea_steradians: float | None = None
    pixelarea_arcsecsq: float | None = None
    group_id: str | None = None
    filename: str | None = None
    level: float | None = None
    subtracted: bool = False
    bunit_data: str | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d):
        """Build from a stcal-style model dict; unknown keys go to ``meta``."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names and k != "meta"}
        meta = dict(d.get("meta") or {})
        meta.update({k: v for k, v in d.items() if k not in names})
        return cls(**known, meta=meta)

    def to_dict(self):
        """The stcal-style model dict (``meta`` entries merged at the top level)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "meta"}
        d.update(self.meta)
        return d

    @property
    def shape(self):
        return self.data.shape


class LazyImage:
    """An exposure on disk: ``path``, ``wcs``, ``shape`` (ny, nx) and scalar metadata now, arrays on :meth:`load`.

    Subclasses (one per file format, see :mod:`gpuresample.readers`) check
    the file when constructed and implement :meth:`load`.
    """

    path = None
    wcs = None
    shape = None
    scalars: dict

    @property
    def filename(self):
        return self.scalars["filename"]

    def stub(self):
        """An :class:`Image` with the WCS and metadata and a zero-byte stand-in for ``data``."""
        return Image(wcs=self.wcs, data=np.broadcast_to(np.float32(0), self.shape), **self.scalars)

    def load(self):
        """Read the arrays: a fully in-memory :class:`Image`."""
        raise NotImplementedError


def _name(index, item):
    fname = item.get("filename") if isinstance(item, dict) else getattr(item, "filename", None)
    return f"input {index} ({fname})" if fname else f"input {index}"


def as_exposure(item, index, weight_type=None):
    """Validate one input and return it as an :class:`Image`.

    Raises ``ValueError``/``TypeError`` naming the input (index and filename)
    and the offending key; with ``weight_type="exptime"`` an input with
    neither an exposure nor a measurement time is refused (its weight would
    be an invented 1 s).
    """
    name = _name(index, item)
    img = _new_image(item, name)
    img.data = _checked_data(img, name)
    if img.wcs is None or not hasattr(img.wcs, "pixel_to_world_values"):
        raise ValueError(f"{name}: has no usable WCS ('wcs' must be a gwcs.WCS or astropy.wcs.WCS)")
    img.dq = _checked_dq(img, name)
    for key in (*VARIANCE_NAMES, "var_sky", "err"):
        setattr(img, key, _optional_array(img, key, name))
    _check_exposure_time(img, name, weight_type)
    if img.wcsinfo is not None and not isinstance(img.wcsinfo, dict):
        # stdatamodels nodes behave like mappings
        img.wcsinfo = dict(getattr(img.wcsinfo, "instance", img.wcsinfo))
    if img.group_id is None:
        img.group_id = f"input-{index}"
    if img.filename is None:
        img.filename = f"input-{index}"
    return img


def _new_image(item, name):
    """A new :class:`Image` from a model dict or an Image (the caller's object is not modified)."""
    if isinstance(item, Image):
        return Image(**{f.name: getattr(item, f.name) for f in fields(Image)})
    if isinstance(item, dict):
        for key in ("data", "wcs"):
            if item.get(key) is None:
                raise ValueError(f"{name}: missing '{key}'")
        return Image.from_dict(item)
    raise TypeError(f"{name}: expected a model dict or gpuresample.Image, got {type(item).__name__}")


def _checked_data(img, name):
    data = np.asarray(img.data)
    if data.ndim != 2:
        raise ValueError(f"{name}: 'data' must be a 2-D image (ny, nx); got shape {data.shape}")
    if data.dtype.kind not in "fiu":
        raise TypeError(f"{name}: 'data' must be numeric; got dtype {data.dtype}")
    return data


def _checked_dq(img, name):
    """The DQ array (zeros when missing): the data's shape, an integer type of at most 32 bits."""
    if img.dq is None:
        return np.zeros(img.data.shape, np.uint32)
    dq = np.asarray(img.dq)
    if dq.shape != img.data.shape:
        raise ValueError(f"{name}: 'dq' shape {dq.shape} differs from 'data' shape {img.data.shape}")
    if dq.dtype.kind not in "iu" or dq.dtype.itemsize > 4:
        raise TypeError(f"{name}: 'dq' must be an integer array of <= 32 bits; got {dq.dtype}")
    return dq


def _optional_array(img, key, name):
    """A variance or err array as an ndarray, or None when missing, empty or of another shape."""
    arr = getattr(img, key)
    if arr is None:
        return None
    arr = np.asarray(arr)
    if arr.size == 0:
        return None
    if arr.shape != img.data.shape:
        # stcal skips such arrays with a warning; so do we
        log.warning("%s: '%s' shape %s differs from 'data' %s: not used", name, key, arr.shape, img.data.shape)
        return None
    return arr


def _check_exposure_time(img, name, weight_type):
    if img.exposure_time is None:
        if weight_type == "exptime" and img.measurement_time is None:
            raise ValueError(f"{name}: has no exposure time, which weight_type='exptime' weights it by: set "
                             "'exposure_time' (seconds; EFFEXPTM/XPOSURE/EXPTIME or meta.exposure in files)")
        log.warning("%s: no exposure time; using 1 s for the product's exposure-time keywords", name)
        img.exposure_time = 1.0
        return
    try:
        t = float(img.exposure_time)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: 'exposure_time' must be a number; got {img.exposure_time!r}") from None
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"{name}: 'exposure_time' must be finite and > 0; got {img.exposure_time!r}")


def measurement_time(img):
    """(time, known): measurement_time when set, else exposure_time (stcal rule)."""
    if img.measurement_time is None:
        return img.exposure_time, False
    return img.measurement_time, True
