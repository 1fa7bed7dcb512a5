"""Synthetic NIRCam-like exposures: the embedded demo scene and benchmark data.

Everything here is generated from a seed; nothing is downloaded.  The WCS is a
``gwcs.WCS`` with a 5th-order polynomial distortion (detector pixels -> ideal
tangent-plane arcsec), a roll, and a gnomonic projection to the sky, which is
the structure of a JWST imaging GWCS (without velocity aberration).  Sources
(stars and exponential-disk galaxies) live on the sky and are rendered into
each exposure at their distorted pixel positions, with Gaussian noise and the
matching variance arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SyntheticExposure", "dithered_scene", "nircam_like_wcs", "tan_output_wcs"]

#: NIRCam short-wave pixel scale, arcsec.
NIRCAM_SCALE = 0.031

# Relative amplitude (pixels at the detector corner of a 2048 frame) of each
# distortion term x^i y^j, for the x and y polynomials.  Magnitudes follow
# NIRCam's: a few pixels of 2nd/3rd order, sub-pixel 4th/5th order terms.
_DIST_X = {(2, 0): 3.1, (1, 1): -1.7, (0, 2): 0.9, (3, 0): 6.2, (1, 2): 5.8, (2, 1): 0.4,
           (4, 0): 0.35, (2, 2): -0.22, (5, 0): 0.21, (3, 2): 0.12, (1, 4): -0.08}
_DIST_Y = {(0, 2): 2.7, (1, 1): 1.4, (2, 0): -0.8, (0, 3): 5.9, (2, 1): 6.1, (1, 2): -0.3,
           (0, 4): 0.31, (2, 2): 0.18, (0, 5): 0.19, (2, 3): -0.11, (4, 1): 0.07}


def _nircam_models(ra, dec, roll, shape, scale, distortion):
    """(shift, poly, sky) models: pixel -> centred pixel -> ideal pixel -> sky (deg)."""
    from astropy.modeling import models as m

    ny, nx = shape
    half = 1024.0  # distortion amplitudes are defined at the corner of a 2048 frame
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    shift = m.Shift(-cx) & m.Shift(-cy)
    px = {"c1_0": 1.0}
    py = {"c0_1": 1.0}
    if distortion:
        for (i, j), amp in _DIST_X.items():
            px[f"c{i}_{j}"] = amp / half ** (i + j)
        for (i, j), amp in _DIST_Y.items():
            py[f"c{i}_{j}"] = amp / half ** (i + j)
    poly = m.Mapping((0, 1, 0, 1)) | (m.Polynomial2D(5, **px) & m.Polynomial2D(5, **py))
    to_deg = m.Scale(scale / 3600.0) & m.Scale(scale / 3600.0)
    # Rotation2D turns the detector frame so that +y points at position angle roll
    sky = m.Rotation2D(-roll) | to_deg | m.Pix2Sky_TAN() | m.RotateNative2Celestial(ra, dec, 180.0)
    return shift, poly, sky


def nircam_like_wcs(ra, dec, roll=0.0, shape=(2048, 2048), scale=NIRCAM_SCALE, distortion=True):
    """A gwcs imaging WCS with a NIRCam-like 5th-order polynomial distortion.

    Parameters
    ----------
    ra, dec : float
        Sky position (deg) of the detector centre.
    roll : float
        Rotation (deg) of the detector axes on the sky.
    shape : tuple
        ``(ny, nx)``; sets the bounding box ``[-0.5, n - 0.5]`` and
        ``array_shape``.
    scale : float
        Pixel scale at the centre, arcsec.
    distortion : bool
        False gives a pure TAN projection (useful for tests).
    """
    from astropy import coordinates as coord
    from astropy import units as u
    from gwcs import coordinate_frames as cf
    from gwcs import wcs as gwcs_wcs

    ny, nx = shape
    shift, poly, sky = _nircam_models(ra, dec, roll, shape, scale, distortion)
    forward = shift | poly | sky
    # JWST distortion references ship polynomial inverses; so do we (fitted),
    # which gives gwcs an analytic backward transform.
    forward.inverse = sky.inverse | _fit_inverse(poly, shape) | shift.inverse
    det = cf.Frame2D(name="detector", axes_names=("x", "y"), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world", unit=(u.deg, u.deg))
    w = gwcs_wcs.WCS(forward_transform=forward, input_frame=det, output_frame=world)
    w.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    w.array_shape = (ny, nx)
    return w


def _fit_inverse(poly, shape, degree=5):
    """Polynomial (ideal -> centred pixel) inverse of ``poly``, fitted on a grid."""
    from astropy.modeling import fitting
    from astropy.modeling import models as m

    ny, nx = shape
    y, x = np.mgrid[-ny / 2 - 8 : ny / 2 + 8 : 41j, -nx / 2 - 8 : nx / 2 + 8 : 41j]
    u, v = poly(x, y)
    s = max(nx, ny) / 2.0  # fit in normalised coordinates: well conditioned
    fit = fitting.LinearLSQFitter()
    px = fit(m.Polynomial2D(degree + 2), u / s, v / s, x / s)
    py = fit(m.Polynomial2D(degree + 2), u / s, v / s, y / s)
    return (m.Scale(1 / s) & m.Scale(1 / s)) | m.Mapping((0, 1, 0, 1)) | (px & py) | (m.Scale(s) & m.Scale(s))


def _sky_to_pixel(models, ra, dec, niter=8):
    """Invert (shift | poly | sky) for many points: analytic sky part, Newton on the polynomial."""
    shift, poly, sky = models
    u, v = sky.inverse(ra, dec)
    # the polynomial is identity + small terms: start from the undistorted position
    x, y = u.copy(), v.copy()
    h = 1e-3
    for _ in range(niter):
        fu, fv = poly(x, y)
        ru, rv = fu - u, fv - v
        a, c = (np.asarray(poly(x + h, y)) - np.asarray((fu, fv))) / h
        b, d = (np.asarray(poly(x, y + h)) - np.asarray((fu, fv))) / h
        det = a * d - b * c
        x = x - (d * ru - b * rv) / det
        y = y - (-c * ru + a * rv) / det
    return shift.inverse(x, y)


def tan_output_wcs(wcs_list, scale=NIRCAM_SCALE, rotation=0.0, pad=2):
    """A north-up (``rotation=0``) astropy TAN WCS covering all inputs' footprints.

    Returns ``(wcs, shape)`` with ``shape = (ny, nx)``.  A demo/benchmark helper;
    the step's output grid (issue 3) follows jwst's ``wcs_from_sregions``.
    """
    from astropy.wcs import WCS

    corners = []
    for w in wcs_list:
        ny, nx = w.array_shape
        xs = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
        ys = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
        ra, dec = w(xs, ys, with_bounding_box=False)
        corners.append(np.column_stack([ra, dec]))
    corners = np.vstack(corners)
    ra0 = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians(corners[:, 0]))))))
    dec0 = float(np.mean(corners[:, 1]))
    out = WCS(naxis=2)
    out.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    out.wcs.crval = [ra0, dec0]
    out.wcs.crpix = [1.0, 1.0]
    c, s = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
    out.wcs.cd = (scale / 3600.0) * np.array([[-c, s], [s, c]])
    x, y = out.world_to_pixel_values(corners[:, 0], corners[:, 1])
    x0, y0 = np.floor(x.min()) - pad, np.floor(y.min()) - pad
    out.wcs.crpix = [1.0 - x0, 1.0 - y0]
    nx = int(np.ceil(x.max() - x0)) + pad + 1
    ny = int(np.ceil(y.max() - y0)) + pad + 1
    out.pixel_shape = (nx, ny)
    return out, (ny, nx)


class SyntheticExposure(dict):
    """One exposure as a stcal-style model dict (``data``, ``dq``, ``var_*``, ``wcs``...)."""


def _sources(rng, ra0, dec0, radius_arcsec, nstars, ngal):
    def offsets(n):
        r = radius_arcsec * np.sqrt(rng.random(n))
        t = rng.uniform(0, 2 * np.pi, n)
        dra = r * np.cos(t) / 3600.0 / np.cos(np.radians(dec0))
        ddec = r * np.sin(t) / 3600.0
        return ra0 + dra, dec0 + ddec

    sra, sdec = offsets(nstars)
    sflux = 10 ** rng.uniform(1.5, 4.0, nstars)
    gra, gdec = offsets(ngal)
    gflux = 10 ** rng.uniform(2.0, 3.5, ngal)
    gsize = rng.uniform(0.08, 0.5, ngal)  # arcsec scale length
    gq = rng.uniform(0.3, 1.0, ngal)
    gpa = rng.uniform(0, np.pi, ngal)
    return (sra, sdec, sflux), (gra, gdec, gflux, gsize, gq, gpa)


def _render(models, shape, stars, gals, scale, psf_sigma_arcsec=0.03):
    ny, nx = shape
    img = np.zeros(shape, np.float32)
    sra, sdec, sflux = stars
    gra, gdec, gflux, gsize, gq, gpa = gals
    allra = np.concatenate([sra, gra])
    alldec = np.concatenate([sdec, gdec])
    px, py = _sky_to_pixel(models, allra, alldec)
    ns = sra.size
    sig = psf_sigma_arcsec / scale
    for k in range(allra.size):
        x, y = px[k], py[k]
        if not (np.isfinite(x) and np.isfinite(y)) or x < -20 or y < -20 or x > nx + 20 or y > ny + 20:
            continue
        if k < ns:
            flux, a, b, pa, rad = sflux[k], sig, sig, 0.0, 4 * sig
        else:
            g = k - ns
            a = max(gsize[g] / scale, sig)
            b = max(a * gq[g], sig)
            flux, pa, rad = gflux[g], gpa[g], 6 * a
        x0, x1 = int(max(x - rad, 0)), int(min(x + rad + 1, nx))
        y0, y1 = int(max(y - rad, 0)), int(min(y + rad + 1, ny))
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dx, dy = xx - x, yy - y
        c, s = np.cos(pa), np.sin(pa)
        u = (c * dx + s * dy) / a
        v = (-s * dx + c * dy) / b
        if k < ns:
            prof = np.exp(-0.5 * (u * u + v * v)) / (2 * np.pi * a * b)
        else:
            prof = np.exp(-np.sqrt(u * u + v * v)) / (2 * np.pi * a * b)
        img[y0:y1, x0:x1] += (flux * prof).astype(np.float32)
    return img


def dithered_scene(
    n_exposures=4, shape=(1024, 1024), seed=0, ra=53.16, dec=-27.78, roll=37.0,
    dither_arcsec=3.0, nstars=150, ngal=250, distortion=True, exptime=1000.0,
):
    """Build ``n_exposures`` dithered exposures of one synthetic field.

    Each is a :class:`SyntheticExposure` with float32 ``data`` (MJy/sr-like
    surface brightness), uint32 ``dq`` (a few DO_NOT_USE | SATURATED and hot
    pixels), float32 ``var_rnoise``/``var_poisson``/``var_flat``, ``err``, a
    gwcs ``wcs``, ``exposure_time``, ``measurement_time`` and ``group_id``.
    """
    rng = np.random.default_rng(seed)
    scale = NIRCAM_SCALE
    radius = 0.8 * max(shape) * scale
    stars, gals = _sources(rng, ra, dec, radius, nstars, ngal)
    cosd = np.cos(np.radians(dec))
    exposures = []
    for k in range(n_exposures):
        # small-grid dither pattern plus sub-pixel offsets
        ang = 2 * np.pi * k / max(n_exposures, 1)
        dra = dither_arcsec * np.cos(ang) / 3600.0 / cosd + rng.uniform(-0.5, 0.5) * scale / 3600.0
        ddec = dither_arcsec * np.sin(ang) / 3600.0 + rng.uniform(-0.5, 0.5) * scale / 3600.0
        w = nircam_like_wcs(ra + dra, dec + ddec, roll=roll, shape=shape, distortion=distortion)
        models = _nircam_models(ra + dra, dec + ddec, roll, shape, scale, distortion)
        signal = _render(models, shape, stars, gals, scale)
        sky = np.float32(0.2)
        rnoise = np.full(shape, 0.01, np.float32)
        poisson = np.maximum(signal + sky, 0).astype(np.float32) * np.float32(1.0 / exptime)
        flat = (0.001 * (signal + sky) ** 2).astype(np.float32) * np.float32(1e-3)
        var = rnoise + poisson + flat
        data = (signal + sky + rng.normal(size=shape).astype(np.float32) * np.sqrt(var)).astype(np.float32)
        dq = np.zeros(shape, np.uint32)
        bad = rng.random(shape) < 2e-4
        dq[bad] = 1 | 2  # DO_NOT_USE | SATURATED
        hot = rng.random(shape) < 1e-4
        dq[hot] |= 2048  # HOT
        data[hot] += np.float32(50.0)
        exposures.append(SyntheticExposure(
            data=data, dq=dq, var_rnoise=rnoise, var_poisson=poisson, var_flat=flat,
            err=np.sqrt(var).astype(np.float32), wcs=w, exposure_time=exptime,
            measurement_time=exptime * 0.95, group_id=f"exp{k + 1}", filename=f"synthetic_{k + 1:02d}",
            bunit_data="MJy/sr",
        ))
    return exposures
