"""Names and properties of the drizzle kernels gpuresample implements."""

__all__ = ["DRIZZLE_KERNELS", "FLUX_CONSERVING_KERNELS", "KERNELS", "normalize_kernel"]

#: Kernels that the ``drizzle`` package (>= 2.0) implements in C.
DRIZZLE_KERNELS = ("square", "gaussian", "point", "turbo", "lanczos2", "lanczos3")

#: Every kernel gpuresample accepts: drizzle's plus ``tophat`` (drizzle 1.x
#: semantics, implemented by this project because drizzle 2.0 dropped it).
KERNELS = (*DRIZZLE_KERNELS, "tophat")

#: Kernels whose output conserves the total flux (sum of data * weight).
FLUX_CONSERVING_KERNELS = ("square", "point", "turbo")


def normalize_kernel(kernel):
    """Return the canonical (lower-case) kernel name or raise ``ValueError``."""
    if not isinstance(kernel, str):
        raise ValueError(f"kernel must be a string, one of {KERNELS}; got {kernel!r}")
    name = kernel.strip().lower()
    if name not in KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}: expected one of {', '.join(KERNELS)}")
    return name


#: Farthest an input centre can land from the nearest output pixel centre (a pixel corner): sqrt(2) / 2.
CORNER_DISTANCE = 0.5 * 2**0.5


def no_weight_message(kernel, pixfrac, pixel_scale_ratio):
    """The error text for a product in which no input pixel landed with a positive weight.

    For the tophat kernel (drizzle 1.15 semantics: output pixels whose centre is
    within ``pixfrac / (2 * pixel_scale_ratio)`` output pixels of an input
    centre) the cause is usually the radius: at jwst's defaults (pixfrac 1,
    ratio 1) it is 0.5 px, and on a grid aligned with the input, as jwst's
    default grid is, input centres land on output pixel corners, 0.71 px
    from every centre.  The text says which ratio always lands.
    """
    text = "no input pixel landed on the output grid with a positive weight"
    if kernel != "tophat" or pixel_scale_ratio is None:
        return text
    radius = pixfrac / (2.0 * pixel_scale_ratio)
    if radius >= CORNER_DISTANCE:
        return text
    # 0.999: stay strictly inside, so that a rounded ratio still lands
    ratio = 0.999 * pixfrac / (2.0 * CORNER_DISTANCE)
    return (
        f"{text}: kernel='tophat' reaches only output pixels whose centre is within pixfrac / "
        f"(2 * pixel_scale_ratio) = {radius:.3g} output pixels of an input pixel centre, and input centres "
        f"can land up to {CORNER_DISTANCE:.3f} px from every output centre (on pixel corners, as on a grid "
        f"aligned with the input). A radius of {CORNER_DISTANCE:.3f} px or more always lands: use "
        f"pixel_scale_ratio <= {ratio:.3f} with pixfrac={pixfrac:g} (pixfrac is at most 1), or another kernel"
    )

