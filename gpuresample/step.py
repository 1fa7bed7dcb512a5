"""``gpuresample.resample``: the jwst ``resample`` step as a function (the high-level layer).

It parses and validates every argument up front
(:class:`gpuresample.options.ResampleOptions`), opens the inputs, builds the
output grid, decides once how the run is organised
(:func:`gpuresample.memory.plan_run`: tiles, host and device memory) and
hands off to the dispatcher (:func:`gpuresample.dispatch.run_products`).
"""

from __future__ import annotations

from .backends import get_backend
from .dispatch import products, run_products
from .dqflags import DEFAULT_GOOD_BITS
from .inputs import input_items, load_inputs, output_grid, warn_no_overlap
from .memory import plan_run
from .options import ResampleOptions
from .params import DrizzleParams

__all__ = ["resample"]


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
    compute_err=None,
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
    output="host",
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
        (see ``gpuresample.readers``).  Never modified.
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
        False: inputs given as file paths (``_cal.fits``, FITS and ASDF
        exposure files, and association members) are opened and checked up
        front (headers, WCS, metadata and the extent of every array), and their
        arrays are read only when their exposure is drizzled, one exposure at a
        time; the output and accumulator arrays are memory-mapped scratch
        files in ``workdir`` (unlinked at once: nothing is left behind).
        Inputs given in memory (arrays, :class:`~gpuresample.Image`) are used
        in place either way.
    enable_ctx, enable_err, report_var, propagate_dq
        Context planes; error array (and the variances it comes from);
        variance arrays in the output; OR-combined DQ.
    compute_err : {None, "from_var", "driz_err"}
        How the error array is made (stcal's names): ``"from_var"``
        ``sqrt`` of the summed resampled variances, ``"driz_err"`` the
        inputs' ``err`` arrays drizzled like the data (divided by the pixel
        scale ratio); None is jwst's choice: ``"from_var"`` for a mosaic,
        ``"driz_err"`` with ``single=True``.  ``"driz_err"`` on a mosaic
        still propagates the variance arrays (``report_var``);
        ``"from_var"`` with ``single`` propagates them per product.
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
        Helper processes (``"auto"``: 2 on a machine with 2+ cores).  CPU
        backend: with 2 a forked helper drizzles the variance arrays of the
        next exposure while the main process drizzles the science data.
        Kernel backends (untiled, 4+ exposures, sparse pixel maps):
        ``workers`` forked helpers prepare the geometry of the coming
        exposures (the WCS on the sparse grid, drizzle's scan) while the
        device drizzles; they never touch the device.  Results are identical
        for any value.
    progress : callable, optional
        ``progress(done, total, filename)`` after each exposure is drizzled
        (``done`` counts from 1; with ``single=True`` it runs over all
        products); in tiled runs ``progress(done, total, label)`` after each
        tile instead.  Used by the command line for its progress bar.
    tile : None, "auto", int or (int, int)
        Drizzle the output grid in tiles of ``(ny, nx)`` pixels (an int: square
        tiles); the result is bitwise the untiled one on the CPU backend (see
        ``gpuresample.tiling``).  ``"auto"``: run untiled when the memory
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
        ``gpuresample.dask``); without ``tile`` the tiles are
        ``2048 x 2048`` (capped by the grid).
    tile_output : str or path, optional
        With tiles: write the outputs as ``.npy`` files into this new folder
        (``NAME.npy`` and the completion record ``tiles.json``); the folder is
        called ``<tile_output>.partial`` until every tile is written.  The
        result's arrays are then read-only memory maps of those files.  Not
        with ``single=True`` (several products).
    output : {"host", "device"}
        ``"device"`` (kernel backends): the result's arrays stay where the
        kernels made them — CuPy arrays with ``backend="cuda"`` — and nothing
        is copied back (:meth:`ResampleResult.to_host` copies them when
        needed, e.g. before ``save``).  Not with tiles; a backend that
        computes on the host (``"cpu"``, or ``"auto"`` without a GPU) raises
        ``ValueError``.

    Returns
    -------
    ResampleResult or list of ResampleResult
    """
    # every keyword argument as given: locals() holds nothing else yet
    kwargs = {name: value for name, value in locals().items() if name != "inputs"}
    items = input_items(inputs)
    opts = ResampleOptions.from_kwargs(**kwargs)
    backend = get_backend(opts.backend)
    if opts.output == "device" and backend.device_allocator() is None:
        raise ValueError(f"output='device' needs a kernel backend ('cuda' or 'emulator'); backend "
                         f"{opts.backend!r} computes on the host ({backend.name})")
    images, lazy = load_inputs(items, opts.in_memory, opts.weight_type)
    grid = output_grid(images, opts)
    warn_no_overlap(images, grid)
    params = DrizzleParams.from_options(opts)
    plan = plan_run(grid.shape, max(len(m) for m in products(images, opts.single)),
                    max(img.data.size for img in images), params, allowed=opts.allowed_memory, tile=opts.tile,
                    scheduler=opts.scheduler, in_memory=opts.in_memory, workers=opts.workers, backend=backend)
    if opts.output == "device" and plan.tiled:
        raise ValueError("output='device': this run does not fit the device untiled (allowed_memory); "
                         "use output='host' with tile='auto'")
    return run_products(images, lazy, grid, params, plan, opts)
