"""The output grid: a TAN gwcs built from the inputs' footprints, or a user WCS.

Conventions are jwst's resample step (``stcal.alignment.util.wcs_from_sregions``
and ``jwst.resample.resample_utils.resampled_wcs_from_models``):

* ``crpix`` is 0-based ``(x, y)``; ``output_shape`` and ASDF ``pixel_shape``
  are ``(nx, ny)``; ``array_shape`` is ``(ny, nx)``.
* The fiducial (``crval`` unless given) is the midpoint of the bounding box of
  all footprint vertices as unit vectors in 3-D.
* Orientation: ``rotation=None`` keeps the first input's ``roll_ref``
  (detector orientation); a number is the position angle of the output +y
  axis (0 = north up).  ``v3yangle`` and ``vparity`` come from the first
  input's ``wcsinfo``.
* Scale: ``pixel_scale`` (arcsec) wins; otherwise the first input's local
  pixel scale at ``(ra_ref, dec_ref)`` times ``pixel_scale_ratio``.
* Offsets: without ``crpix`` the minimum of the footprints lands on pixel 0;
  the shape is what the footprints span, unless ``output_shape`` is given.

When an input has no ``wcsinfo``, we derive one from its WCS: the reference
point is the WCS value at the centre of the detector, ``vparity`` is the sign
of the pixel->sky Jacobian's determinant (+1 for a mirrored-sky, i.e. normal,
detector), ``v3yangle = 0`` and ``roll_ref`` is the position angle of the
detector +y axis at that point.  This gives a grid aligned with the detector.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["OutputGrid", "footprint_of", "grid_from_inputs", "load_output_wcs", "mean_pixel_area", "sregion_vertices"]

log = logging.getLogger("gpuresample")

_ARCSEC_PER_RAD = math.degrees(1.0) * 3600.0


@dataclass
class OutputGrid:
    """An output WCS with its shape and pixel scale.

    Attributes
    ----------
    wcs : gwcs.WCS
        Output WCS (``array_shape`` set).
    shape : tuple
        ``(ny, nx)``.
    pixel_scale : float
        Output pixel scale in arcsec.
    pixel_scale_ratio : float or None
        Output / input pixel scale (None: derive from the first input).
    """

    wcs: object
    shape: tuple
    pixel_scale: float
    pixel_scale_ratio: float | None

    @property
    def pixel_area_sr(self):
        return (self.pixel_scale / _ARCSEC_PER_RAD) ** 2

    @property
    def pixel_area_arcsec2(self):
        return self.pixel_scale**2


def footprint_of(wcs, shape):
    """(ra, dec) of the four outer corners of an image, as a (4, 2) array (deg)."""
    ny, nx = shape
    bbox = getattr(wcs, "bounding_box", None)
    if bbox is not None and hasattr(wcs, "footprint"):
        return np.asarray(wcs.footprint(), dtype=np.float64)[:, :2]
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = wcs.pixel_to_world_values(x, y)
    return np.column_stack([ra, dec])


def sregion_vertices(s_region):
    """Vertices (N, 2) of every polygon in an S_REGION string."""
    polys = []
    for part in s_region.split("POLYGON")[1:]:
        vals = [float(v) for v in part.replace("ICRS", " ").split()]
        if len(vals) < 6 or len(vals) % 2:
            raise ValueError(f"malformed S_REGION {s_region!r}")
        polys.append(np.array(vals).reshape(-1, 2))
    if not polys:
        raise ValueError(f"malformed S_REGION {s_region!r}")
    return polys


def _unit_vectors(radec):
    lon, lat = np.radians(radec[:, 0]), np.radians(radec[:, 1])
    return np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)


def _fiducial(radec):
    x, y, z = _unit_vectors(radec)
    xm = (x.max() + x.min()) / 2.0
    ym = (y.max() + y.min()) / 2.0
    zm = (z.max() + z.min()) / 2.0
    lon = np.rad2deg(np.arctan2(ym, xm)) % 360.0
    lat = np.rad2deg(np.arctan2(zm, np.sqrt(xm**2 + ym**2)))
    return float(lon), float(lat)


def _eval_world(wcs, x, y):
    if type(wcs).__module__.startswith("gwcs"):
        r = wcs(x, y, with_bounding_box=False)
    else:
        r = wcs.pixel_to_world_values(x, y)
    return tuple(np.asarray(getattr(v, "value", v), dtype=np.float64) for v in r[:2])


def _eval_pixel(wcs, ra, dec):
    if type(wcs).__module__.startswith("gwcs"):
        r = wcs.invert(ra, dec, with_bounding_box=False)
    else:
        r = wcs.world_to_pixel_values(ra, dec)
    return tuple(np.asarray(getattr(v, "value", v), dtype=np.float64) for v in r[:2])


def local_pixel_scale(wcs, ra, dec):
    """Pixel scale (deg) of ``wcs`` at a sky point: sqrt of the x and y step lengths."""
    x0, y0 = _eval_pixel(wcs, np.array([ra]), np.array([dec]))
    xs = np.array([x0[0], x0[0] + 1.0, x0[0]])
    ys = np.array([y0[0], y0[0], y0[0] + 1.0])
    r, d = _eval_world(wcs, xs, ys)
    # astropy's separation (Vincenty), so the scale is the one jwst computes
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra=r, dec=d, unit="deg")
    sx = abs(c[0].separation(c[1]).value)
    sy = abs(c[0].separation(c[2]).value)
    return float(np.sqrt(sx * sy))


def mean_pixel_area(wcs, shape):
    """Mean pixel solid angle (sr) over an image, from its outline.

    The outline (points every <= 15 pixels along the pixel-centre boundary) is
    projected with a Lambert azimuthal equal-area projection about the image
    centre, where the polygon area equals the spherical area to ~1e-9.
    """
    ny, nx = shape
    step = max(1, min((nx - 1) // 4, (ny - 1) // 4, 15))
    xb = np.arange(0, nx - 1, step, dtype=float)
    yb = np.arange(0, ny - 1, step, dtype=float)
    x = np.concatenate([xb, np.full(yb.size, nx - 1.0), (nx - 1.0) - xb, np.zeros(yb.size)])
    y = np.concatenate([np.zeros(xb.size), yb, np.full(xb.size, ny - 1.0), (ny - 1.0) - yb])
    ra, dec = _eval_world(wcs, x, y)
    rc, dc = _eval_world(wcs, np.array([(nx - 1) / 2]), np.array([(ny - 1) / 2]))
    lam, phi = np.radians(ra - rc[0]), np.radians(dec)
    phi0 = np.radians(dc[0])
    k = np.sqrt(2.0 / (1 + np.sin(phi0) * np.sin(phi) + np.cos(phi0) * np.cos(phi) * np.cos(lam)))
    px = k * np.cos(phi) * np.sin(lam)
    py = k * (np.cos(phi0) * np.sin(phi) - np.sin(phi0) * np.cos(phi) * np.cos(lam))
    area = 0.5 * abs(np.dot(px, np.roll(py, -1)) - np.dot(py, np.roll(px, -1)))
    return float(area / ((nx - 1) * (ny - 1)))


def derive_wcsinfo(wcs, shape):
    """A jwst-style ``wcsinfo`` for an input that has none (see module docstring)."""
    ny, nx = shape
    xc, yc = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra, dec = _eval_world(wcs, np.array([xc, xc + 1, xc]), np.array([yc, yc, yc + 1]))
    cosd = math.cos(math.radians(dec[0]))
    # local tangent-plane offsets (east, north) in deg of unit x and y steps
    ex, nxo = (ra[1] - ra[0]) * cosd, dec[1] - dec[0]
    ey, nyo = (ra[2] - ra[0]) * cosd, dec[2] - dec[0]
    det = ex * nyo - ey * nxo
    vparity = -1 if det > 0 else 1  # east-left sky (det < 0 in (east, north)) is the usual parity
    pa_y = math.degrees(math.atan2(ey, nyo))  # position angle of +y, east of north
    return {"ra_ref": float(ra[0]), "dec_ref": float(dec[0]), "v3yangle": 0.0, "vparity": vparity,
            "roll_ref": pa_y}


def _fits_transform(crpix, crval, pscale, pc):
    from astropy.modeling import models as m

    try:
        from gwcs.fitswcs import FITSImagingWCSTransform
    except ImportError:  # older gwcs: the same chain as a compound model
        return (
            (m.Shift(-crpix[0]) & m.Shift(-crpix[1]))
            | m.AffineTransformation2D(matrix=pc)
            | (m.Scale(pscale) & m.Scale(pscale))
            | m.Pix2Sky_TAN()
            | m.RotateNative2Celestial(crval[0], crval[1], 180.0)
        )
    return FITSImagingWCSTransform(m.Pix2Sky_TAN(), crpix=list(crpix), crval=list(crval),
                                   cdelt=[pscale, pscale], pc=pc)


def _frames(ref_wcs):
    from astropy import coordinates as coord
    from astropy import units as u
    from gwcs import coordinate_frames as cf

    if type(ref_wcs).__module__.startswith("gwcs"):
        return ref_wcs.input_frame, ref_wcs.output_frame
    det = cf.Frame2D(name="detector", axes_names=("x", "y"), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world", unit=(u.deg, u.deg))
    return det, world


def grid_from_inputs(
    footprints, ref_wcs, ref_shape, ref_wcsinfo=None, pixel_scale_ratio=1.0, pixel_scale=None,
    rotation=None, crpix=None, crval=None, output_shape=None,
):
    """Build the output TAN grid from input footprints (jwst's default grid).

    Parameters
    ----------
    footprints : list of (N, 2) arrays
        (ra, dec) vertices in deg of every input's footprint.
    ref_wcs, ref_shape, ref_wcsinfo
        The first input's WCS, ``(ny, nx)`` and ``wcsinfo`` dict (``ra_ref``,
        ``dec_ref``, ``v3yangle``, ``vparity``, ``roll_ref``); None derives it.
    pixel_scale_ratio, pixel_scale, rotation, crpix, crval, output_shape
        As the jwst step: ``pixel_scale`` in arcsec, ``rotation`` in deg,
        ``crpix`` 0-based ``(x, y)``, ``crval`` ``(ra, dec)`` deg,
        ``output_shape`` ``(nx, ny)``.
    """
    from astropy.modeling import models as m
    from gwcs import WCS, Step

    if ref_wcsinfo is None:
        ref_wcsinfo = derive_wcsinfo(ref_wcs, ref_shape)
        log.info("first input has no wcsinfo: orientation and scale derived from its WCS (%s)",
                 ", ".join(f"{k}={v:.6g}" for k, v in ref_wcsinfo.items()))
    if pixel_scale is None:
        pscale_in = local_pixel_scale(ref_wcs, ref_wcsinfo["ra_ref"], ref_wcsinfo["dec_ref"])
        pscale = pscale_in * pixel_scale_ratio
    else:
        pscale = pixel_scale / 3600.0
        pscale_in = math.degrees(math.sqrt(mean_pixel_area(ref_wcs, ref_shape)))
        pixel_scale_ratio = pscale / pscale_in
    log.info("output pixel scale %.6g arcsec (ratio to input %.6g)", 3600 * pscale, pixel_scale_ratio)

    allpts = np.vstack(footprints)
    fid = tuple(float(c) for c in crval) if crval is not None else _fiducial(allpts)
    v3y = math.radians(ref_wcsinfo["v3yangle"])
    vp = ref_wcsinfo["vparity"]
    roll = math.radians(ref_wcsinfo["roll_ref"]) if rotation is None else math.radians(rotation) + vp * v3y
    ang = roll - vp * v3y
    pc = np.array([[vp * math.cos(ang), math.sin(ang)], [-vp * math.sin(ang), math.cos(ang)]])

    native = (
        m.AffineTransformation2D(matrix=pc)
        | (m.Scale(pscale) & m.Scale(pscale))
        | m.Pix2Sky_TAN()
        | m.RotateNative2Celestial(fid[0], fid[1], 180.0)
    )
    inv = native.inverse
    px = np.hstack([np.atleast_1d(inv(*f.T)[0]) for f in footprints])
    py = np.hstack([np.atleast_1d(inv(*f.T)[1]) for f in footprints])
    lo = np.array([px.min(), py.min()])
    hi = np.array([px.max(), py.max()])
    ncrpix = np.array(inv(*fid), dtype=float)
    offsets = ncrpix - lo if crpix is None else np.asarray(crpix, float) - ncrpix
    lo = lo + offsets
    hi = hi + offsets
    if output_shape is None:
        shape = tuple(int(v + 0.5) for v in hi[::-1])  # (ny, nx)
        bbox = tuple((-0.5, s - 0.5) for s in shape[::-1])
    else:
        shape = (int(output_shape[1]), int(output_shape[0]))
        bbox = tuple(
            (max(0, int(a + 0.5)) - 0.5, min(int(b + 0.5), s) - 0.5)
            for a, b, s in zip(lo, hi, shape[::-1], strict=True)
        )
    if min(shape) < 2:
        raise ValueError(f"the output grid computed from the inputs is too small: shape (ny, nx) = {shape}")

    transform = _fits_transform(tuple(offsets), fid, pscale, pc)
    in_frame, out_frame = _frames(ref_wcs)
    wcs = WCS([Step(in_frame, transform), Step(out_frame, None)])
    wcs.bounding_box = bbox
    wcs.array_shape = shape
    return OutputGrid(wcs=wcs, shape=shape, pixel_scale=3600.0 * pscale, pixel_scale_ratio=pixel_scale_ratio)


def load_output_wcs(output_wcs, output_shape=None):
    """A user output WCS: an ASDF file (gwcs under "wcs") or a gwcs object.

    ``output_shape`` ``(nx, ny)`` overrides the file's ``pixel_shape``
    ``(nx, ny)``, which overrides ``array_shape`` ``(ny, nx)``, which overrides
    the WCS's own ``array_shape``; the bounding box is the last resort.
    ``pixel_area`` (sr) sets the output pixel scale; otherwise it is measured
    from the WCS.  The object passed in (or read) is never modified: a copy is
    returned inside the :class:`OutputGrid`.
    """
    import copy
    from pathlib import Path

    pixel_area = pixel_shape = array_shape = None
    if isinstance(output_wcs, (str, Path)):
        import asdf

        path = Path(output_wcs)
        if not path.is_file():
            raise FileNotFoundError(f"output_wcs file not found: {path}")
        try:
            af = asdf.open(path, memmap=False)
        except Exception as exc:  # asdf raises many types for unreadable files
            raise ValueError(f"output_wcs file {path} could not be read as ASDF: {exc}") from None
        with af:
            if "wcs" not in af.tree:
                raise ValueError(f"output_wcs file {path} has no 'wcs' entry (expected a gwcs under 'wcs')")
            wcs = copy.deepcopy(af.tree["wcs"])
            pixel_area = af.tree.get("pixel_area")
            pixel_shape = af.tree.get("pixel_shape")
            array_shape = af.tree.get("array_shape")
        source = str(path)
    else:
        if not hasattr(output_wcs, "pixel_to_world_values"):
            raise TypeError(f"output_wcs must be an ASDF file path or a gwcs.WCS; got {type(output_wcs).__name__}")
        wcs = copy.deepcopy(output_wcs)
        source = "the output_wcs object"

    if output_shape is not None:
        shape = (int(output_shape[1]), int(output_shape[0]))
    elif pixel_shape is not None:
        shape = (int(pixel_shape[1]), int(pixel_shape[0]))
    elif array_shape is not None:
        shape = tuple(int(n) for n in array_shape)
    elif getattr(wcs, "array_shape", None) is not None:
        shape = tuple(int(n) for n in wcs.array_shape)
    elif getattr(wcs, "bounding_box", None) is not None:
        bb = wcs.bounding_box.bounding_box(order="F")
        shape = (int(bb[1][1] + 0.5), int(bb[0][1] + 0.5))
    else:
        raise ValueError(
            f"{source} has neither a bounding box nor pixel_shape/array_shape: pass output_shape=(nx, ny)"
        )
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"{source}: invalid output shape (ny, nx) = {shape}")
    wcs.array_shape = shape
    if pixel_area is not None:
        if not (isinstance(pixel_area, (int, float)) and pixel_area > 0):
            raise ValueError(f"{source}: pixel_area must be a positive number (sr); got {pixel_area!r}")
        pscale = math.sqrt(pixel_area) * _ARCSEC_PER_RAD
    else:
        pscale = math.degrees(math.sqrt(mean_pixel_area(wcs, shape))) * 3600.0
    return OutputGrid(wcs=wcs, shape=shape, pixel_scale=pscale, pixel_scale_ratio=None)
