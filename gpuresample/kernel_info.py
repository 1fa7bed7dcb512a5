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
