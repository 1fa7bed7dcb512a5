"""``gpuresample.resample``: the jwst ``resample`` step as a function.

This is the high-level layer: it parses and validates every argument up
front, builds the output grid, checks memory, and hands the exposures to the
dispatcher (:mod:`gpuresample.dispatch`).
"""

from __future__ import annotations

import logging
import math
import numbers
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .allocation import ScratchAllocator
from .dispatch import DrizzleParams, drizzle_group, input_limits
from .dqflags import DEFAULT_GOOD_BITS, parse_good_bits
from .errors import OutputTooLargeError
from .exposure import VARIANCE_NAMES, as_exposure
from .kernel_info import normalize_kernel
from .memory import check_device_memory, check_memory, device_estimate, estimate_memory, resolve_allowed_memory
from .output_grid import footprint_of, grid_from_inputs, load_output_wcs
from .parallel import resolve_workers
from .readers import expand_inputs
from .tiling import parse_tile, resolve_tile_workers
from .weights import WEIGHT_TYPES

__all__ = ["resample"]

log = logging.getLogger("gpuresample")

_WCS_ARGS = ("pixel_scale_ratio", "pixel_scale", "rotation", "crpix", "crval")


def _pair(value, name, kind=float, minimum=None):
    if value is None:
        return None
    try:
        vals = [kind(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers; got {value!r}") from None
    if len(vals) != 2:
        raise ValueError(f"{name} must have exactly 2 values; got {len(vals)}")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} values must be finite; got {value!r}")
    if kind is int and any(float(v) != float(o) for v, o in zip(vals, value, strict=True)):
        raise ValueError(f"{name} must be integers; got {value!r}")
    if minimum is not None and any(v < minimum for v in vals):
        raise ValueError(f"{name} values must be >= {minimum}; got {value!r}")
    return tuple(vals)


def _finite(value, name, positive=False):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''}; got {value!r}")
    return v


def _bunit_check(images):
    units = {i.bunit_data for i in images if i.bunit_data}
    if len(units) > 1:
        per = ", ".join(f"{i.filename}: {i.bunit_data}" for i in images if i.bunit_data)
        raise ValueError(f"inputs have mixed units (bunit_data): {per}")


def resample(
    inputs,
    *,
    pixfrac=1.0,
    kernel="square",
    pixel_scale_ratio=1.0,
    pixel_scale=None,
    rotation=None,
    crpix=None,
    crval=None,
    output_shape=None,
    output_wcs=None,
    fillval="INDEF",
    weight_type="ivm",
    single=False,
    blendheaders=True,
    allowed_memory=None,
    in_memory=True,
    enable_ctx=True,
    enable_err=True,
    report_var=True,
    propagate_dq=False,
    pixmap_stepsize="auto",
    pixmap_order=3,
    good_bits=DEFAULT_GOOD_BITS,
    backend="auto",
    workdir=None,
    workers="auto",
    progress=None,
    tile=None,
    tile_workers=1,
    scheduler=None,
    tile_output=None,
):
    """Drizzle many exposures onto one output grid, like jwst's ``resample`` step.

    Parameters
    ----------
    inputs : list of dict, Image or path; or one path
        stcal-style model dicts (``data``, ``dq``, ``var_rnoise``,
        ``var_poisson``, ``var_flat``, ``wcs``, ``wcsinfo``, ``exposure_time``,
        ``measurement_time``, ``start_time``, ``end_time``, ``duration``,
        ``group_id``, ``filename``, ``level``, ``subtracted``, ``bunit_data``...),
        :class:`gpuresample.Image`, or files: JWST ``_cal.fits``, FITS images
        with a FITS WCS, ASDF exposure files, jwst association JSON files
        (see :mod:`gpuresample.readers`).  Never modified.
    pixfrac, kernel, fillval
        drizzle parameters (``kernel`` also ``"tophat"``).  ``fillval``
        ``"INDEF"`` gives NaN where no input lands (jwst's ``"NAN"``).
    pixel_scale_ratio, pixel_scale, rotation, crpix, crval, output_shape
        Output grid (ignored, with a logged note, when ``output_wcs`` is
        given except ``output_shape``): ``pixel_scale`` arcsec (wins over the
        ratio), ``rotation`` deg (None = detector orientation, 0 = north up),
        ``crpix`` 0-based ``(x, y)``, ``crval`` ``(ra, dec)`` deg,
        ``output_shape`` ``(nx, ny)``.
    output_wcs : str, path or gwcs.WCS, optional
        ASDF file with a gwcs under ``"wcs"`` (optional ``pixel_area`` sr,
        ``pixel_shape`` (nx, ny), ``array_shape`` (ny, nx)) or a gwcs object.
    weight_type : {"ivm", "ivm-sky", "exptime"}
    single : bool
        One output per exposure group (``group_id``), all on the same grid;
        returns a list.  As jwst, the error is then drizzled from ``err``.
    blendheaders : bool
        Blend the inputs' metadata into ``result.blended`` (rules of jwst's
        model_blender) and keep one row per input in ``result.inputs``.
    allowed_memory : float, optional
        Fraction of the available memory the run may use (None:
        ``$DMODEL_ALLOWED_MEMORY``, unset: no check), checked before
        allocating against host RAM and, with the CUDA backend, against the
        device's free memory; raises :class:`gpuresample.OutputTooLargeError`.
    in_memory : bool
        False: inputs given as file paths (ASDF exposure files, see
        :mod:`gpuresample.asdf_io`) are read one at a time while drizzling,
        and the output and accumulator arrays are memory-mapped scratch files
        in ``workdir`` (unlinked at once: nothing is left behind).  Inputs
        given in memory are used in place either way.
    enable_ctx, enable_err, report_var, propagate_dq
        Context planes; error array (from the variances); variance arrays in
        the output; OR-combined DQ.
    pixmap_stepsize, pixmap_order
        Pixel-map evaluation (see :func:`gpuresample.calc_pixmap`); jwst's
        defaults are 1 and 1, ours ``"auto"`` and 3 (max error <= 1e-4 px).
    good_bits
        DQ bits that do not disqualify a pixel (jwst default
        ``"~DO_NOT_USE+NON_SCIENCE"``).
    backend : {"auto", "cpu", "cuda", "emulator"}
    workdir : str or path, optional
        Folder for the scratch files of ``in_memory=False`` (default: the
        system temporary folder).
    workers : "auto" or int
        Processes for the CPU backend: with 2 (``"auto"`` on a machine with
        2+ cores) a forked helper drizzles the variance arrays of the next
        exposure while the main process drizzles the science data.  Results
        are identical for any value.
    progress : callable, optional
        ``progress(done, total, filename)`` after each exposure is drizzled
        (``done`` counts from 1; with ``single=True`` it runs over all
        products); in tiled runs ``progress(done, total, label)`` after each
        tile instead.  Used by the command line for its progress bar.
    tile : None, "auto", int or (int, int)
        Drizzle the output grid in tiles of ``(ny, nx)`` pixels (an int: square
        tiles); the result is bitwise the untiled one on the CPU backend (see
        :mod:`gpuresample.tiling`).  ``"auto"``: run untiled when the memory
        estimate fits ``allowed_memory``, else pick the largest tile that fits
        and stream the outputs into scratch files in ``workdir``.  An explicit
        tile on a run too large for ``allowed_memory`` is checked per tile
        (``OutputTooLargeError`` if one tile does not fit) and streams its
        outputs likewise.  With the CUDA backend the device's free memory is a
        second limit: the kernels keep one tile on the device, so a grid that
        does not fit there is tiled the same way (outputs stay in RAM unless
        the host limit is exceeded too).  A side < 1 or a tile larger than the
        grid raises ``ValueError``.
    tile_workers : "auto" or int
        Processes drizzling tiles at once on this machine (``"auto"``: one per
        CPU core; with CUDA at most one per GPU, each pinned to its device);
        results are identical for any value.
    scheduler : distributed.Client, optional
        Run the tiles on a dask.distributed cluster (see
        :mod:`gpuresample.dask`); without ``tile`` the tiles are
        ``2048 x 2048`` (capped by the grid).
    tile_output : str or path, optional
        With tiles: write the outputs as ``.npy`` files into this new folder
        (``NAME.npy`` and the completion record ``tiles.json``); the folder is
        called ``<tile_output>.partial`` until every tile is written.  The
        result's arrays are then read-only memory maps of those files.  Not
        with ``single=True`` (several products).

    Returns
    -------
    ResampleResult or list of ResampleResult
    """
    # ---------------------------------------------------------- validation
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]  # one file or one association
    if inputs is None or isinstance(inputs, (bytes, dict)) or not hasattr(inputs, "__iter__"):
        raise TypeError("inputs must be a list of model dicts, gpuresample.Image objects or file paths")
    items = list(inputs)
    if not items:
        raise ValueError("inputs is empty: nothing to resample")
    kernel = normalize_kernel(kernel)
    pixfrac = _finite(pixfrac, "pixfrac")
    if not 0 < pixfrac <= 1:
        raise ValueError(f"pixfrac must be in (0, 1]; got {pixfrac!r}")
    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}; got {weight_type!r}")
    pixel_scale_ratio = _finite(pixel_scale_ratio, "pixel_scale_ratio", positive=True)
    pixel_scale = _finite(pixel_scale, "pixel_scale", positive=True)
    rotation = _finite(rotation, "rotation")
    crpix = _pair(crpix, "crpix")
    crval = _pair(crval, "crval")
    output_shape = _pair(output_shape, "output_shape", kind=int, minimum=1)
    if pixmap_order not in (1, 3):
        raise ValueError(f"pixmap_order must be 1 or 3; got {pixmap_order!r}")
    if not (pixmap_stepsize == "auto" or (isinstance(pixmap_stepsize, numbers.Real)
                                         and not isinstance(pixmap_stepsize, bool) and pixmap_stepsize >= 1)):
        raise ValueError(f"pixmap_stepsize must be 'auto' or a number >= 1; got {pixmap_stepsize!r}")
    if pixmap_stepsize != "auto":
        pixmap_stepsize = max(1, round(pixmap_stepsize))
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total, filename); got {progress!r}")
    parse_good_bits(good_bits)
    resolve_workers(workers)  # validate before any work
    tile = parse_tile(tile)
    tile_workers = resolve_tile_workers(tile_workers)
    if single and tile_output is not None:
        raise ValueError("tile_output holds one product; single=True makes one per exposure group")
    if scheduler is not None and not callable(getattr(scheduler, "submit", None)):
        raise TypeError(f"scheduler must be a distributed.Client; got {type(scheduler).__name__}")
    if tile_output is not None and tile is None and scheduler is None:
        raise ValueError("tile_output needs tile (or scheduler): it is where a tiled run writes its outputs")
    if tile_output is not None:
        from .tiling import partial_folder

        for folder in (Path(tile_output), partial_folder(tile_output)):
            if folder.exists():
                raise FileExistsError(f"tile_output: {folder} exists; remove it or choose a new folder")
    allowed = resolve_allowed_memory(allowed_memory)
    from .drizzle_args import process_fillval
    fill = process_fillval(fillval, False, "fillval")
    from .backends import get_backend
    be = get_backend(backend)
    backend_name = be.name

    # Files (and the members of associations) are opened — and so checked —
    # all before anything is read or allocated.
    expanded = []
    for item in items:
        if isinstance(item, (str, Path)):
            expanded.extend(expand_inputs([item])[0])
        else:
            expanded.append(item)
    lazy = {}
    images = []
    for k, item in enumerate(expanded):
        if hasattr(item, "load") and hasattr(item, "stub"):  # a lazy exposure from gpuresample.readers
            if in_memory:
                item = item.load()
            else:
                lazy[k] = item
                item = item.stub()
        images.append(as_exposure(item, k))
    _bunit_check(images)

    # ---------------------------------------------------------- output grid
    if output_wcs is not None:
        given = [n for n, v in zip(_WCS_ARGS, (pixel_scale_ratio if pixel_scale_ratio != 1.0 else None,
                                                pixel_scale, rotation, crpix, crval), strict=True)
                 if v is not None]
        if given:
            log.info("output_wcs given: ignoring %s", ", ".join(given))
        grid = load_output_wcs(output_wcs, output_shape)
    else:
        footprints = [_footprint(img) for img in images]
        ref = images[0]
        grid = grid_from_inputs(
            footprints, ref.wcs, ref.shape, ref.wcsinfo, pixel_scale_ratio=pixel_scale_ratio,
            pixel_scale=pixel_scale, rotation=rotation, crpix=crpix, crval=crval, output_shape=output_shape,
        )
    log.info("output grid (ny, nx) = %s, pixel scale %.6g arcsec", grid.shape, grid.pixel_scale)

    groups = {}
    for img in images:
        groups.setdefault(img.group_id, []).append(img)
    _warn_no_overlap(images, grid)

    # ---------------------------------------------------------- memory
    n_per_product = max(len(g) for g in groups.values()) if single else len(images)
    nworkers = resolve_workers(workers)
    est = estimate_memory(grid.shape, n_per_product, max(i.data.size for i in images),
                          enable_ctx=enable_ctx, enable_var=enable_err and not single,
                          propagate_dq=propagate_dq, workers=nworkers)
    if single and enable_err:
        est["total"] += 4 * grid.shape[0] * grid.shape[1]  # the drizzled err image
    log.info("memory estimate: %.1f MiB", est["total"] / 2**20)
    tile_shape = None if tile == "auto" else tile
    too_large = False
    try:
        check_memory(est, allowed)
    except OutputTooLargeError as exc:
        if tile is None and scheduler is None:  # a dask run is tiled anyway (default tiles, checked per tile)
            raise OutputTooLargeError(f'{exc}; pass tile="auto" (or a tile size) to resample the mosaic in tiles '
                                      "within this limit", exc.required, exc.allowed) from None
        # tiles: checked per tile, and the outputs go to files instead of RAM
        too_large = True
        tile_shape = tile
    device_bytes = None
    mem_info = getattr(be, "device_mem_info", None)  # the CUDA backend: its device has its own memory
    if mem_info is not None:
        dev = device_estimate(grid.shape, max(i.data.size for i in images), propagate_dq=propagate_dq,
                              enable_ctx=enable_ctx, n_linear=len(VARIANCE_NAMES) if enable_err and not single else 0)
        log.info("device memory estimate: %.1f MiB", dev["total"] / 2**20)
        try:
            check_device_memory(dev, allowed, mem_info=mem_info)
        except OutputTooLargeError as exc:
            if tile is None and scheduler is None:
                raise OutputTooLargeError(f'{exc}; pass tile="auto" (or a tile size): tiles keep only their own '
                                          "part of the grid on the device", exc.required, exc.allowed) from None
            # tiles: the kernels keep one tile on the device, checked per tile
            device_bytes = allowed * mem_info()[0]
            tile_shape = tile

    alloc = ScratchAllocator(on_disk=not in_memory, workdir=workdir)
    index_of = {id(img): k for k, img in enumerate(images)}

    def getter(members):
        """get(j): member j loaded (a file input is read only when its turn comes)."""

        def get(j):
            k = index_of[id(members[j])]
            return as_exposure(lazy[k].load(), k) if k in lazy else members[j]

        return get

    params = DrizzleParams(
        kernel=kernel, pixfrac=pixfrac, fillval=fill, weight_type=weight_type, good_bits=good_bits,
        enable_ctx=enable_ctx, enable_var=enable_err and not single, enable_err=enable_err,
        report_var=report_var and enable_err and not single, err_from="driz" if single else "var",
        propagate_dq=propagate_dq, pixmap_stepsize=pixmap_stepsize, pixmap_order=pixmap_order,
        backend=backend_name,
    )
    done = [0]

    def report(_k, img, _seconds):
        done[0] += 1
        if progress is not None:
            progress(done[0], len(images), img.filename)

    if tile_shape is not None or scheduler is not None:
        from .memory import available_memory
        from .tiling import DEFAULT_TILE, resample_tiled

        if tile_shape is None:
            tile_shape = tuple(min(DEFAULT_TILE, n) for n in grid.shape)
        stream = too_large or not in_memory
        results = []
        for members in groups.values() if single else [images]:
            res = resample_tiled(
                getter(members), [lazy.get(index_of[id(m)], m) for m in members], len(members), grid, params,
                tile_shape, workers=tile_workers, scheduler=scheduler, folder=tile_output,
                scratch_dir=(workdir or tempfile.gettempdir()) if stream else None,
                allowed_bytes=None if not too_large else allowed * (available_memory() or 0),
                device_bytes=device_bytes, max_input_pixels=max(i.data.size for i in images), progress=progress,
            )
            _finish(res, members, blendheaders)
            results.append(res)
        alloc.close()
        return results if single else results[0]
    if single:
        results = []
        for gid, members in groups.items():
            log.info("single: drizzling exposure group %s (%d inputs)", gid, len(members))
            res = drizzle_group(getter(members), len(members), grid, params, progress=report, alloc=alloc,
                                  workers=nworkers)
            _finish(res, members, blendheaders)
            results.append(res)
        alloc.close()
        return results
    res = drizzle_group(getter(images), len(images), grid, params, progress=report, alloc=alloc,
                        workers=nworkers)
    alloc.close()
    if not np.any(res.wht > 0):
        raise ValueError("no input pixel landed on the output grid with a positive weight")
    _finish(res, images, blendheaders)
    return res


def _footprint(img):
    wi = img.wcsinfo or {}
    if wi.get("s_region"):
        from .output_grid import _sregion_vertices

        return np.vstack(_sregion_vertices(wi["s_region"]))
    return footprint_of(img.wcs, img.shape)


def _warn_no_overlap(images, grid):
    """Warn for each input whose footprint misses the output grid entirely."""
    from .pixmap import _Transform

    ny, nx = grid.shape
    for k, img in enumerate(images):
        xmin, xmax, ymin, ymax = input_limits(img.shape, img.wcs)
        gx, gy = np.meshgrid(np.linspace(xmin, xmax, 9), np.linspace(ymin, ymax, 9))
        ox, oy = _Transform(img.wcs, grid.wcs).smooth(gx, gy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no overlap
            hit = (np.nanmax(ox) > -0.5 and np.nanmin(ox) < nx - 0.5
                   and np.nanmax(oy) > -0.5 and np.nanmin(oy) < ny - 0.5)
        if not hit:
            log.warning("input %d (%s) does not overlap the output grid", k, img.filename)


def _finish(res, images, blendheaders):
    if blendheaders:
        from .blend import blend_metadata

        res.blended = blend_metadata(images)
    else:
        res.inputs = []
