"""Input files: JWST ``_cal.fits``, FITS images with a FITS WCS, ASDF exposures, associations.

Every reader returns a *lazy* exposure: an object with ``filename``,
``shape`` ``(ny, nx)``, :meth:`stub` (an :class:`~gpuresample.Image` with the
WCS and metadata and a zero-byte stand-in for the data) and :meth:`load` (the
arrays read from disk).  Everything that can make a file unusable — missing,
unreadable, truncated, no WCS, not an imaging exposure, mismatched array
shapes — is found when the lazy exposure is *created*, i.e. before
:func:`gpuresample.resample` allocates any output.

* JWST level-2 imaging products (``_cal.fits`` and friends: a FITS file with
  an ``ASDF`` extension holding the GWCS and the metadata tree) are read
  through ``stdatamodels`` when it is installed (``pip install
  gpuresample[jwst]``), and otherwise by parsing the ASDF extension with
  ``asdf`` and the image extensions with astropy.  Both paths give the same
  :class:`~gpuresample.Image`.  Only imaging modes are accepted (jwst's
  ``IMAGING_TYPES``); spectroscopic files are rejected naming the file and
  its ``EXP_TYPE``.
* Other FITS files: the ``SCI`` extension (else the first 2-D image HDU) and
  its celestial FITS WCS (SIP and lookup-table distortions included, via
  ``astropy.wcs.WCS``); optional ``ERR``, ``DQ``, ``VAR_RNOISE``,
  ``VAR_POISSON``, ``VAR_FLAT`` extensions; exposure time from
  ``EFFEXPTM``/``XPOSURE``/``EXPTIME``.
* ASDF exposure files (Roman-style keys ``data``, ``wcs``, ``dq``, ``var_*``):
  :mod:`gpuresample.asdf_io`.
* Association JSON files (jwst's ``products[].members[]`` with ``expname``;
  paths relative to the association file): :func:`read_association`.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .asdf_extension import plain_tree
from .errors import InputFileError
from .exposure import Image, LazyImage
from .file_meta import IMAGING_EXP_TYPES, fits_scalars, header_meta, jwst_scalars

__all__ = [
    "IMAGING_EXP_TYPES",
    "Association",
    "FitsExposure",
    "check_input_file",
    "expand_inputs",
    "file_kind",
    "have_datamodels",
    "open_input",
    "read_association",
]

log = logging.getLogger("gpuresample")

# Image extensions read besides SCI, and the Image field each one fills.
_EXTRA_HDUS = {"ERR": "err", "DQ": "dq", "VAR_RNOISE": "var_rnoise", "VAR_POISSON": "var_poisson",
               "VAR_FLAT": "var_flat"}


def check_input_file(path):
    """``path`` as a Path, or :class:`~gpuresample.InputFileError` if missing, not a file, unreadable or empty."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{path}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: file is empty")
    return path


def file_kind(path):
    """'fits', 'asdf' or 'json' from the first bytes (the suffix can lie)."""
    with open(path, "rb") as f:
        head = f.read(80)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"#ASDF"):
        return "asdf"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    raise InputFileError(f"{path}: not a FITS, ASDF or association (JSON) file")


# ---------------------------------------------------------------- FITS


def _open_fits(path):
    """Open a FITS file, reading every header, and refuse truncated files.

    astropy only *warns* about a truncated file (and then fails, or returns
    garbage, when the data are read); we compare every HDU's data span with
    the file size up front instead.
    """
    from astropy.io import fits

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
    except Exception as exc:  # astropy raises OSError, ValueError, VerifyError... for bad files
        message = f"{path}: could not be read as FITS: {exc}"
    else:
        message = None
    if message is not None:
        # astropy leaves the file of a failed open to the garbage collector
        # (its frames hold it): close it now, without the ResourceWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        raise InputFileError(message)
    size = path.stat().st_size
    try:
        with _reading(path, "headers"):
            for k in range(len(hdul)):
                info = hdul.fileinfo(k)
                if info is not None and info["datLoc"] + info["datSpan"] > size:
                    raise InputFileError(
                        f"{path}: file is truncated (HDU {k} '{hdul[k].name}' needs "
                        f"{info['datLoc'] + info['datSpan']} bytes, the file has {size})")
            for w in caught:
                if "truncated" in str(w.message):
                    raise InputFileError(f"{path}: file is truncated ({w.message})")
    except BaseException:
        hdul.close()
        raise
    return hdul


@contextlib.contextmanager
def _reading(path, what):
    """Turn any failure while reading ``path`` into one :class:`InputFileError` naming the file.

    astropy, asdf and gwcs report corrupted files with their own messages and
    types (a flipped byte in a header card, a damaged ASDF block); ours
    already name the file and pass through unchanged.
    """
    try:
        yield
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"{path}: could not read its {what} ({type(exc).__name__}: {exc})") from None


class FitsExposure(LazyImage):
    """A FITS exposure on disk (JWST ``_cal.fits`` or a FITS-WCS image).

    Parameters
    ----------
    path : str or path
    use_datamodels : bool, optional
        For JWST files: read through ``stdatamodels`` (True), by parsing the
        ASDF extension ourselves (False), or stdatamodels when importable
        (None, the default).

    Raises
    ------
    InputFileError
        Naming the file: missing, unreadable, truncated, not imaging, no
        celestial WCS, no 2-D image, mismatched extension shapes.
    """

    def __init__(self, path, use_datamodels=None):
        self.path = check_input_file(path)
        hdul = _open_fits(self.path)
        try:
            with _reading(self.path, "headers"):
                self._init(hdul, use_datamodels)
        finally:
            hdul.close()

    def _init(self, hdul, use_datamodels):
        """Read what the headers hold (called with the file open)."""
        names = [h.name.upper() for h in hdul]
        self.is_jwst = "ASDF" in names
        self.meta = header_meta(hdul[0].header)
        if self.is_jwst:
            self._init_jwst(hdul, use_datamodels)
        else:
            self._init_plain(hdul)
        self._hdu_names = {}
        for ext, key in _EXTRA_HDUS.items():
            if ext in names:
                shape = hdul[ext].shape
                if shape != self.shape:
                    raise InputFileError(f"{self.path}: extension {ext} has shape {shape}, "
                                         f"SCI has {self.shape}")
                self._hdu_names[key] = ext

    # -- JWST datamodel files
    def _init_jwst(self, hdul, use_datamodels):
        exp_type = str(hdul[0].header.get("EXP_TYPE", "")).upper()
        if exp_type and exp_type not in IMAGING_EXP_TYPES:
            raise InputFileError(
                f"{self.path}: EXP_TYPE {exp_type} is not an imaging mode; gpuresample resamples "
                "imaging exposures only (spectroscopic data need jwst's resample_spec)")
        if "SCI" not in [h.name for h in hdul] or hdul["SCI"].header.get("NAXIS") != 2:
            raise InputFileError(f"{self.path}: no 2-D SCI image (a JWST imaging product has one)")
        if use_datamodels is None:
            use_datamodels = have_datamodels()
        self.used_datamodels = bool(use_datamodels)
        if use_datamodels:
            meta, wcs = self._jwst_meta_datamodels()
        else:
            meta, wcs = self._jwst_meta_asdf(hdul)
        if wcs is None:
            raise InputFileError(f"{self.path}: no WCS in meta.wcs (run jwst's assign_wcs first)")
        if getattr(wcs, "output_frame", None) is not None and wcs.output_frame.naxes != 2:
            raise InputFileError(f"{self.path}: the WCS has {wcs.output_frame.naxes} world axes; "
                                 "an imaging exposure maps to (ra, dec)")
        self.wcs = wcs
        self.shape = tuple(hdul["SCI"].shape)
        self.scalars = jwst_scalars(meta, self.path)
        self.scalars["meta"] = self.meta

    def _jwst_meta_datamodels(self):
        from stdatamodels.jwst import datamodels

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # stdatamodels warns about schema details of old files
                model = datamodels.open(self.path)
        except Exception as exc:
            raise InputFileError(f"{self.path}: stdatamodels could not open it: {exc}") from None
        with model:
            if not isinstance(model, datamodels.ImageModel):
                raise InputFileError(f"{self.path}: a {type(model).__name__}, not an ImageModel; "
                                     "gpuresample resamples imaging exposures only")
            meta = plain_tree(model.meta.instance)
            wcs = copy.deepcopy(model.meta.wcs)
        meta.pop("wcs", None)
        return meta, wcs

    def _jwst_meta_asdf(self, hdul):
        from .asdf_extension import read_asdf_extension

        try:
            meta, wcs = read_asdf_extension(hdul)
        except Exception as exc:
            raise InputFileError(f"{self.path}: its ASDF extension could not be read: {exc}") from None
        if wcs is not None and not hasattr(wcs, "pixel_to_world_values"):
            raise InputFileError(f"{self.path}: meta.wcs is a {type(wcs).__name__}, not a gwcs.WCS "
                                 "(are gwcs and its ASDF extensions installed?)")
        return meta, wcs

    # -- FITS images with a FITS WCS
    def _init_plain(self, hdul):
        from astropy.wcs import WCS, FITSFixedWarning

        self.used_datamodels = False
        sci = hdul["SCI"] if "SCI" in [h.name for h in hdul] else None
        if sci is None:
            sci = next((h for h in hdul if h.is_image and h.header.get("NAXIS") == 2), None)
        if sci is None or sci.header.get("NAXIS") != 2:
            raise InputFileError(f"{self.path}: no 2-D image HDU (SCI or primary)")
        self._sci = sci.name if sci.name else 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                wcs = WCS(sci.header, fobj=hdul)
        except Exception as exc:
            raise InputFileError(f"{self.path}: its FITS WCS could not be parsed: {exc}") from None
        if not wcs.has_celestial or wcs.naxis != 2:
            raise InputFileError(f"{self.path}: no celestial 2-D FITS WCS in HDU '{sci.name}' "
                                 "(CTYPE1/2 = RA---TAN / DEC--TAN etc. expected)")
        self.wcs = wcs
        self.shape = tuple(sci.shape)
        self.scalars = fits_scalars(hdul[0].header, sci.header, self.path)
        self.scalars["meta"] = self.meta

    def load(self):
        """Read the arrays: a fully in-memory :class:`Image` (the file is not modified)."""
        from astropy.io import fits

        sci = "SCI" if self.is_jwst else self._sci
        with _reading(self.path, "data"), fits.open(self.path, memmap=False) as hdul:
            arrays = {"data": np.array(hdul[sci].data)}
            for key, ext in self._hdu_names.items():
                arrays[key] = np.array(hdul[ext].data)
        if "dq" in arrays and arrays["dq"].dtype.kind in "iu" and arrays["dq"].dtype.itemsize <= 4:
            arrays["dq"] = arrays["dq"].astype(np.uint32, copy=False)
        return Image(wcs=self.wcs, **arrays, **self.scalars)


def have_datamodels():
    """True when ``stdatamodels`` (the jwst datamodels) can be imported."""
    try:
        import stdatamodels.jwst.datamodels  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- associations


@dataclass
class Association:
    """A jwst association: its product name and member files (in order)."""

    path: Path
    name: str | None
    members: list = field(default_factory=list)
    group_ids: list = field(default_factory=list)


def read_association(path, exptypes=("science",)):
    """Read a jwst association JSON file.

    Members are ``products[*].members[*]`` with ``exptype`` in ``exptypes``
    (members without an ``exptype`` are kept); ``expname`` paths are relative
    to the association file's folder.  A member's ``group_id`` (when present)
    ties detectors of one exposure together, as in jwst's ModelLibrary.

    Raises
    ------
    InputFileError
        Unreadable JSON, no products/members, or members that do not exist
        (all missing members are listed).
    """
    path = check_input_file(path)
    try:
        asn = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: not a valid association (JSON) file: {exc}") from None
    products = asn.get("products") if isinstance(asn, dict) else None
    if not products or not isinstance(products, list):
        raise InputFileError(f"{path}: association has no 'products' list")
    members, groups, missing = [], [], []
    for product in products:
        if not isinstance(product, dict):
            raise InputFileError(f"{path}: association product {product!r} is not an object with 'name' and "
                                 "'members'")
        product_members = product.get("members") or []
        if not isinstance(product_members, list):
            raise InputFileError(f"{path}: association product 'members' must be a list; got "
                                 f"{type(product_members).__name__}")
        for m in product_members:
            _check_member(path, m)
            if m.get("exptype", "science").lower() not in exptypes:
                continue
            member = (path.parent / m["expname"]).resolve()
            if not member.is_file():
                missing.append(m["expname"])
            members.append(member)
            groups.append(m.get("group_id"))
    if missing:
        raise InputFileError(f"{path}: {len(missing)} association member(s) not found beside it: "
                             + ", ".join(missing))
    if not members:
        raise InputFileError(f"{path}: association lists no {'/'.join(exptypes)} members")
    twice = sorted({str(m) for m in members if members.count(m) > 1})
    if twice:
        # one exposure drizzled twice would count twice in the mosaic and its exposure time
        raise InputFileError(f"{path}: association lists the same member more than once: " + ", ".join(twice))
    name = products[0].get("name") or asn.get("asn_id")
    return Association(path=path, name=_product_name(path, name), members=members, group_ids=groups)


#: What jwst's association members hold that we read: field -> (accepted types, what it must be)
_MEMBER_FIELDS = {
    "expname": ((str,), "a non-empty file name (string)"),
    "exptype": ((str,), "a string such as 'science'"),
    "group_id": ((str, int), "a string or an integer"),
}


def _check_member(path, m):
    """Refuse a member that is not an object with a string ``expname`` (and well-typed optional fields)."""
    if not isinstance(m, dict) or "expname" not in m:
        raise InputFileError(f"{path}: association member without 'expname': {m!r}")
    for key, (types, what) in _MEMBER_FIELDS.items():
        if key not in m or (key == "group_id" and m[key] is None):
            continue
        value = m[key]
        if isinstance(value, bool) or not isinstance(value, types) or (key == "expname" and not value.strip()):
            raise InputFileError(f"{path}: association member {m.get('expname')!r}: '{key}' must be {what}; "
                                 f"got {value!r}")


def _product_name(path, name):
    """The association's product name, checked to be a file name (the default output is ``<name>_i2d.fits``)."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise InputFileError(f"{path}: association product name must be a non-empty string; got {name!r}")
    if "/" in name or "\\" in name or name in (".", ".."):
        # a name, not a path: "../evil" would write the product outside the output folder
        raise InputFileError(f"{path}: association product name {name!r} is not a plain file name "
                             "(no folder separators or '..')")
    return name


# ---------------------------------------------------------------- dispatch


def open_input(path, use_datamodels=None):
    """Open one exposure file (FITS or ASDF) as a lazy exposure (see the module docstring)."""
    from .asdf_io import LazyExposure

    path = check_input_file(path)
    kind = file_kind(path)
    if kind == "fits":
        return FitsExposure(path, use_datamodels=use_datamodels)
    if kind == "asdf":
        return LazyExposure(path)
    raise InputFileError(f"{path}: an association cannot be nested in a list of exposures")


def expand_inputs(paths, use_datamodels=None):
    """Files and associations -> (lazy exposures, product name or None).

    Every file is opened (and so checked) here; nothing is read beyond the
    headers and the metadata.  The product name is the first association's.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    exposures, product = [], None
    for p in paths:
        p = check_input_file(p)
        if file_kind(p) == "json":
            asn = read_association(p)
            product = product or asn.name
            for member, gid in zip(asn.members, asn.group_ids, strict=True):
                exp = open_input(member, use_datamodels)
                if gid:
                    exp.scalars["group_id"] = gid
                exposures.append(exp)
        else:
            exposures.append(open_input(p, use_datamodels))
    return exposures, product
