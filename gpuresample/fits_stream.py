"""Write a FITS file whose image arrays are streamed section by section, never held whole in memory.

Why: a 20000 x 20000 mosaic has ~1.6 GB per float32 array; astropy (and
stdatamodels through it) writes an array in one piece, byte-swapping a copy of
it and touching every page of a memory-mapped source, so writing a product
made within ``allowed_memory`` would need several times that memory.  Here
each array is converted to big-endian (FITS) a block of rows at a time, and
the pages of a memory-mapped source are handed back to the kernel after each
block, so the writer's footprint is one block (``block_bytes``) whatever the
size of the product.

The headers come from a *shell*: the same product written by the ordinary
writer with 1-pixel arrays, so every keyword (stdatamodels' schema keywords
included) is exactly what the ordinary writer produces; only the axis
lengths, and the array shapes recorded in the ASDF extension, are set to the
real ones.
"""

from __future__ import annotations

import io
import mmap
import re

import numpy as np

__all__ = ["BLOCK_BYTES", "grow_asdf_tree", "release_pages", "write_streamed"]

#: bytes of one converted block of rows (the writer's working memory)
BLOCK_BYTES = 8 * 2**20
_FITS_BLOCK = 2880


def release_pages(arr, part=None):
    """Hand the resident pages of a memory-mapped array back to the kernel (no-op for RAM arrays).

    ``part``: a C-contiguous view of ``arr`` (a block just written out);
    only the pages under it are released -- releasing the whole mapping
    after every block would walk all of its page tables each time.

    Only shared mappings (``np.memmap`` modes ``"r"`` and ``"r+"``) are
    released: their data lives in the file, so nothing is lost; a private
    copy-on-write map (``"c"``) would lose its changes and is left alone.
    """
    base = arr
    while base is not None:
        mm = getattr(base, "_mmap", None)
        if isinstance(mm, mmap.mmap):
            if getattr(base, "mode", None) in ("r", "r+") and hasattr(mmap, "MADV_DONTNEED"):
                span = None if part is None else _span(mm, part)
                if span is None:
                    mm.madvise(mmap.MADV_DONTNEED)
                elif span[1] > 0:
                    mm.madvise(mmap.MADV_DONTNEED, *span)
            return
        base = getattr(base, "base", None)


def _span(mm, part):
    """``(start, length)`` of the pages of mapping ``mm`` under view ``part`` (start page-aligned), or
    None when ``part`` is not inside it."""
    origin = np.frombuffer(mm, np.uint8).__array_interface__["data"][0]
    start = part.__array_interface__["data"][0] - origin
    if start < 0 or start + part.nbytes > len(mm):
        return None
    lo = start - start % mmap.PAGESIZE
    return lo, start + part.nbytes - lo


_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _fits_dtype(header):
    """On-disk (big-endian) dtype of an image HDU, and the BZERO of astropy's unsigned-integer convention."""
    disk = np.dtype(_BITPIX[int(header["BITPIX"])])
    bzero = int(header.get("BZERO", 0)) if disk.kind == "i" else 0
    if bzero not in (0, 1 << (8 * disk.itemsize - 1)) or header.get("BSCALE", 1) != 1:
        raise ValueError("only unscaled data (or unsigned integers as BZERO = 2**(bits-1)) can be streamed")
    return disk, bzero


def _write_array(f, header, arr, block_bytes):
    """Write ``arr`` (any leading axes) as the FITS data the header describes, a block of rows at a time."""
    disk, bzero = _fits_dtype(header)
    # memory maps are C-ordered; a strided view (RAM only) is gathered once
    rows = np.ascontiguousarray(arr).reshape(-1, arr.shape[-1])
    step = max(1, block_bytes // max(1, rows.shape[1] * disk.itemsize))
    written = 0
    for r0 in range(0, rows.shape[0], step):
        if bzero:  # unsigned values stored as signed: x - 2**(bits-1) is x with the top bit flipped
            unsigned = np.dtype(f"u{disk.itemsize}")
            block = (np.asarray(rows[r0:r0 + step], unsigned) ^ unsigned.type(bzero)).view(disk.newbyteorder("="))
        else:
            block = rows[r0:r0 + step]
        data = np.ascontiguousarray(block, dtype=disk)
        f.write(memoryview(data).cast("B"))
        written += data.nbytes
        del block, data
        release_pages(arr, rows[r0:r0 + step])
    f.write(b"\0" * (-written % _FITS_BLOCK))


def _hdu_bytes(hdu):
    """The bytes of one small HDU (header + data) as an extension."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    buf = io.BytesIO()
    fits.HDUList([primary, hdu]).writeto(buf)
    return buf.getvalue()[len(primary.header.tostring()):]


def write_streamed(path, parts, block_bytes=BLOCK_BYTES):
    """Write a FITS file from ``parts``, in order.

    Parameters
    ----------
    path : path
        File to create (the caller makes it atomic).
    parts : list
        ``(header, array)`` for an image HDU whose data is streamed (the
        header already has the real ``NAXISn``; ``array`` in C order,
        ``(ny, nx)`` or ``(nplanes, ny, nx)``), ``(header, None)`` for an HDU
        without data, or ``(None, hdu)`` for a small HDU written as astropy
        writes it (the ASDF table).
    """
    with open(path, "wb") as f:
        for header, data in parts:
            if header is None:
                f.write(_hdu_bytes(data))
                continue
            f.write(header.tostring().encode("ascii"))
            if data is not None:
                _write_array(f, header, data, block_bytes)


_ASDF_BLOCK_INDEX = b"#ASDF BLOCK INDEX"


def grow_asdf_tree(raw, shapes):
    """ASDF bytes of a shell with the array shapes of ``shapes`` (``{"SCI": (ny, nx), ...}``).

    stdatamodels records each array of a FITS product in the ASDF tree as an
    ndarray with ``source: fits:<EXTNAME>,1`` and its shape; the shell's
    shapes are replaced by the real ones.  The tree's ``_fits_hash`` (a hash
    of the shell's HDUs) no longer describes the file and is removed, and so is
    the optional block index, whose offsets the longer text would shift (asdf
    then reads the blocks in sequence, as the standard allows).
    """
    text, sep, rest = raw.partition(b"\n...\n")
    text = text.decode("utf-8")
    grown = False
    for ext, shape in shapes.items():
        source = re.search(rf"source: fits:{re.escape(ext)},1\b", text)
        if source is None:
            continue
        found = re.compile(r"shape: \[[^\]]*\]").search(text, source.end())
        nxt = text.find("source:", source.end())
        if found is None or (nxt != -1 and nxt < found.start()):
            raise ValueError(f"the ASDF tree records no shape for the {ext} array")
        text = text[:found.start()] + "shape: [" + ", ".join(str(int(n)) for n in shape) + "]" + text[found.end():]
        grown = True
    if not grown:
        return raw
    text = re.sub(r"^_fits_hash: .*\n", "", text, flags=re.MULTILINE)
    index = rest.find(_ASDF_BLOCK_INDEX)
    if index != -1:
        rest = rest[:index]
    return text.encode("utf-8") + sep + rest
