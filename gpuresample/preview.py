"""A PNG picture of a resampled product: the mosaic (astronomy stretch, sky axes) beside its weight map.

:func:`save_preview` uses matplotlib when it is installed (``pip install
gpuresample[preview]``): a zscale-limited asinh stretch of SCI drawn on
astropy's WCSAxes (RA/Dec ticks, labels and a coordinate grid from the
product's celestial FITS WCS) with the weight map beside it.  Without
matplotlib it writes the same two panels as a plain grey-scale PNG (no axes)
with the standard library's zlib, so ``gpuresample demo`` always leaves a
picture behind; it logs how to get the labelled version.
"""

from __future__ import annotations

import logging
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_output

__all__ = ["preview_size", "preview_wcs", "save_preview", "stretch"]

log = logging.getLogger("gpuresample")

#: Figure size (inches) and resolution of the matplotlib preview: 1400 x 600 px.
FIGSIZE = (14.0, 6.0)
DPI = 100
#: Longest side (pixels) of the image drawn; larger mosaics are block-averaged.
MAX_DISPLAY = 1600


def preview_size(shape, have_matplotlib=None):
    """(width, height) in pixels of the PNG that :func:`save_preview` writes for a ``(ny, nx)`` mosaic."""
    if have_matplotlib is None:
        have_matplotlib = _have_matplotlib()
    if have_matplotlib:
        return int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)
    f = _block_factor(shape)
    ny, nx = -(-shape[0] // f), -(-shape[1] // f)
    return 2 * nx + _GAP, ny


def _have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _block_factor(shape):
    return max(1, -(-max(shape) // MAX_DISPLAY))


def _block_mean(arr, f):
    """Mean over f x f blocks, ignoring NaN (edges padded with NaN)."""
    if f == 1:
        return np.asarray(arr, dtype=np.float64)
    ny, nx = arr.shape
    py, px = -ny % f, -nx % f
    a = np.pad(np.asarray(arr, dtype=np.float64), ((0, py), (0, px)), constant_values=np.nan)
    a = a.reshape(a.shape[0] // f, f, a.shape[1] // f, f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.nanmean(a, axis=(1, 3))


def stretch(image, a=0.05):
    """Map an image to [0, 1]: asinh stretch between zscale's lower limit and the 99.8th percentile.

    zscale (astropy) puts the lower limit just under the sky, which shows the
    noise; its upper limit saturates every source, so the top is the 99.8th
    percentile (or zscale's, if higher) and the asinh compresses the bright end.
    NaN stays NaN.
    """
    from astropy.visualization import AsinhStretch, ZScaleInterval

    finite = np.isfinite(image)
    if not finite.any():
        return np.full(image.shape, np.nan)
    values = image[finite]
    lo, hi = ZScaleInterval().get_limits(values)
    hi = max(hi, float(np.percentile(values, 99.8)))
    if not hi > lo:
        lo, hi = float(np.min(image[finite])), float(np.max(image[finite]))
    # a flat image (hi == lo, where adding a tiny span would round away) is drawn black
    scaled = np.clip((image - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    return np.where(finite, AsinhStretch(a)(scaled, clip=True), np.nan)


def save_preview(path, result, overwrite=False, title=None):
    """Render ``result`` (a ResampleResult) to the PNG ``path``.

    The file comes first, as in :func:`gpuresample.i2d.write_product`
    (``result.save_preview(path)`` is the same).  Returns the path.  The
    image is written atomically; an existing file is only replaced with
    ``overwrite=True``.
    """
    if hasattr(path, "wcs") and hasattr(path, "data"):
        raise TypeError("save_preview(path, result): the file comes first, as in write_product(path, result)")
    path = Path(path)
    f = _block_factor(result.shape)
    sci = _block_mean(result.data, f)
    wht = _block_mean(result.wht, f)
    with atomic_output(path, overwrite) as tmp:
        if _have_matplotlib():
            _render_matplotlib(tmp, result, sci, wht, f, title)
        else:
            log.info("matplotlib is not installed: writing a plain preview without axes "
                     "(pip install 'gpuresample[preview]' for sky axes and colour bars)")
            _render_plain(tmp, sci, wht)
    return path


def preview_wcs(result, f):
    """astropy WCS of the mosaic block-averaged by ``f`` (pixel k of it covers pixels f*k .. f*k+f-1)."""
    from astropy.wcs import WCS

    from .i2d import fits_wcs_header

    header = fits_wcs_header(result.wcs, result.shape)
    # WCS slicing with a step scales CDELT, which CDi_j would override: use PCi_j + CDELT
    for i in (1, 2):
        for j in (1, 2):
            if f"CD{i}_{j}" in header:
                header.rename_keyword(f"CD{i}_{j}", f"PC{i}_{j}")
    if "PC1_1" in header and "CDELT1" not in header:
        header["CDELT1"], header["CDELT2"] = 1.0, 1.0
    celestial = WCS(header)
    if f > 1:
        celestial = celestial[::f, ::f]  # pixel (i, j) of the block-averaged image
    return celestial


def _render_matplotlib(tmp, result, sci, wht, f, title):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    celestial = preview_wcs(result, f)
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax = fig.add_axes([0.06, 0.1, 0.42, 0.8], projection=celestial)
    shown = np.ma.masked_invalid(stretch(sci))
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="#30304a")
    ax.imshow(shown, origin="lower", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.coords[0].set_axislabel("Right Ascension (ICRS)")
    ax.coords[1].set_axislabel("Declination (ICRS)")
    ax.coords[0].set_major_formatter("hh:mm:ss.s")
    ax.coords[1].set_major_formatter("dd:mm:ss")
    ax.coords.grid(color="#ffcc44", alpha=0.5, linestyle="dotted")
    meta = result.meta or {}
    ax.set_title(title or "SCI  (zscale, asinh stretch)")
    ax2 = fig.add_axes([0.56, 0.1, 0.36, 0.8])
    im = ax2.imshow(np.ma.masked_invalid(wht), origin="lower", cmap="viridis", interpolation="nearest")
    ax2.set_title("WHT (weight)")
    ax2.set_xlabel(f"x (output pixel{'' if f == 1 else f' / {f}'})")
    ax2.set_ylabel(f"y (output pixel{'' if f == 1 else f' / {f}'})")
    fig.colorbar(im, ax=ax2, fraction=0.046, pad=0.04)
    ny, nx = result.shape
    fig.text(0.5, 0.02, f"{nx} x {ny} px, kernel {meta.get('kernel', '?')}, pixfrac {meta.get('pixfrac', '?')}, "
             f"{meta.get('ndrizzled', '?')} inputs", ha="center", fontsize=9)
    fig.savefig(tmp, format="png", dpi=DPI)


_GAP = 8


def _render_plain(tmp, sci, wht):
    """Two grey-scale panels (SCI stretched, WHT linear) in a PNG written with zlib."""
    left = stretch(sci)
    w = np.where(np.isfinite(wht), wht, 0.0)
    top = np.nanmax(w) if np.any(w > 0) else 1.0
    right = np.clip(w / top, 0, 1)
    ny = left.shape[0]
    canvas = np.ones((ny, left.shape[1] * 2 + _GAP))
    canvas[:, : left.shape[1]] = np.where(np.isfinite(left), left, 0.15)
    canvas[:, left.shape[1] + _GAP:] = right
    pixels = (canvas[::-1] * 255 + 0.5).astype(np.uint8)  # FITS row 0 at the bottom
    _write_png_gray(tmp, pixels)


def _write_png_gray(path, pixels):
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        fh.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        fh.write(chunk(b"IEND", b""))
