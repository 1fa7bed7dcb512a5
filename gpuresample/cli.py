"""The ``gpuresample`` command line.

``gpuresample INPUT... [-o OUTPUT] [step flags]`` resamples JWST ``_cal.fits``
files, FITS images with a FITS WCS, ASDF exposures or jwst association JSON
files into an ``_i2d.fits`` (or ``.asdf``) product; the step's arguments are
flags with jwst's names (``--pixfrac``, ``--kernel``, ``--pixel_scale_ratio``,
...; a dashed spelling such as ``--pixel-scale-ratio`` works too, and boolean
flags accept jwst's ``--single=True`` form).  ``gpuresample demo`` runs the
embedded synthetic scene.

Exit status: 0 on success; 2 for a malformed command line; 1 for anything
else (bad input file, output exists, out of memory...), with a one-line
message and no traceback unless ``--verbose``.
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from . import __version__, options
from .backends import AVAILABLE_BACKENDS
from .cli_flags import (
    Parser,
    add_bool_flag,
    add_flag,
    parse_auto_or_number,
    parse_number,
    parse_numbers,
    parse_text,
    parse_tile,
)
from .cli_text import cli_words, count_words, in_cli_words, warnings_as_log_lines
from .dqflags import DEFAULT_GOOD_BITS
from .kernel_info import KERNELS
from .signals import Terminated, sigterm_unwinds
from .weights import WEIGHT_TYPES

__all__ = ["main"]

log = logging.getLogger("gpuresample")

# resample() arguments without a flag (--progress is the display mode; the CLI passes its own callable).
_NOT_FLAGS = ("progress", "workers", "scheduler", "tile_output", "output")  # output: the CLI writes files
_JWST_SUFFIXES = ("_cal", "_crf", "_calints", "_rate", "_flt", "_flc", "_i2d", "_drz", "_exposure")


def _check_creatable(folder):
    """``--output_dir``: an existing folder, or one that can be made (no file in the way, writable parent)."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder (--output_dir)", str(folder))
    parent = next((a for a in [folder, *folder.parents] if a.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "folder is not writable (--output_dir)", str(parent))


def build_parser():
    p = Parser(
        prog="gpuresample",
        description="Drizzle calibrated exposures onto one output grid (the jwst resample step). "
                    "Run 'gpuresample demo' for the embedded synthetic example.",
        epilog="Boolean flags: --name, --name=true|false (jwst's strun form) or --no-name. "
               "Inputs are never modified; an existing output is only replaced with --overwrite.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="_cal.fits / FITS-WCS / ASDF exposure files, or jwst association JSON files")
    p.add_argument("-o", "--output", help="output file (.fits or .asdf); default: <product or first input>_i2d.fits")
    add_flag(p, "output_dir", help="folder for the output(s) (default: the current folder)")
    g = p.add_argument_group("resample step arguments (jwst names)")
    add_flag(g, "pixfrac", parse_number, default=1.0, help="drizzle pixel fraction, (0, 1] (default 1)")
    add_flag(g, "kernel", parse_text, choices=KERNELS, default="square", help="drizzle kernel (default square)")
    add_flag(g, "pixel_scale_ratio", parse_number, default=1.0, help="output / input pixel scale (default 1)")
    add_flag(g, "pixel_scale", parse_number, help="output pixel scale, arcsec (overrides the ratio)")
    add_flag(g, "rotation", parse_number,
             help="position angle of output +y, deg (0 = north up; default: detector orientation)")
    add_flag(g, "crpix", parse_numbers, metavar="X,Y", help="reference pixel, 0-based")
    add_flag(g, "crval", parse_numbers, metavar="RA,DEC", help="reference sky position, deg")
    add_flag(g, "output_shape", parse_numbers, metavar="NX,NY", help="output size in pixels")
    add_flag(g, "output_wcs", metavar="FILE", help="ASDF file with the output gwcs under 'wcs'")
    add_flag(g, "fillval", parse_text, default="INDEF", help="value where no input lands (default INDEF = NaN)")
    add_flag(g, "weight_type", parse_text, choices=WEIGHT_TYPES, default="ivm", help="drizzle weighting (default ivm)")
    add_bool_flag(g, "single", False, "one output per exposure group")
    add_bool_flag(g, "blendheaders", True, "blend the inputs' primary headers into the output")
    add_flag(g, "allowed_memory", parse_number, help="fraction of available memory the run may use")
    add_bool_flag(g, "in_memory", True, "hold all inputs in memory (false: read one at a time)")
    add_bool_flag(g, "enable_ctx", True, "write the context (CON) array")
    add_bool_flag(g, "enable_err", True, "write ERR (and the variance arrays)")
    add_bool_flag(g, "report_var", True, "write VAR_RNOISE, VAR_POISSON, VAR_FLAT")
    add_flag(g, "compute_err", parse_text, choices=options.COMPUTE_ERR,
          help="ERR from the resampled variances (from_var) or the drizzled err arrays (driz_err); default: "
               "from_var, driz_err with --single (jwst)")
    add_bool_flag(g, "propagate_dq", False, "write the OR-combined DQ array")
    add_flag(g, "pixmap_stepsize", parse_auto_or_number, default="auto", help="pixel-map grid step ('auto' or pixels)")
    add_flag(g, "pixmap_order", parse_number, choices=options.PIXMAP_ORDERS, default=3,
             help="pixel-map interpolation order")
    add_flag(g, "good_bits", parse_text, default=DEFAULT_GOOD_BITS, help="DQ bits that do not disqualify a pixel")
    r = p.add_argument_group("run")
    add_flag(r, "backend", parse_text, choices=AVAILABLE_BACKENDS, default="auto")
    add_flag(r, "tile", parse_tile, metavar="auto|N|NX,NY",
          help="drizzle the output in tiles (bitwise the untiled result); auto: only when the mosaic "
               "exceeds --allowed_memory")
    add_flag(r, "tile_workers", parse_auto_or_number, default=1, metavar="auto|N",
          help="processes drizzling tiles at once (default 1; auto: one per core)")
    add_flag(r, "workdir", metavar="DIR", help="folder for scratch files (default: the system temp folder)")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    r.add_argument("--preview", metavar="PNG", help="also write a PNG picture of the mosaic and weights")
    r.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto",
                   help="progress display: bar on a terminal, plain log lines otherwise (auto)")
    r.add_argument("-q", "--quiet", action="store_true", help="errors only")
    r.add_argument("-v", "--verbose", action="store_true", help="log details; show tracebacks")
    return p


# ---------------------------------------------------------------- progress


class _Progress:
    """Progress over exposures: a tqdm bar on a terminal, one log line each otherwise."""

    def __init__(self, mode, stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        if mode == "bar":
            try:
                import tqdm  # noqa: F401
            except ImportError:
                mode = "plain"
        self.mode = mode
        self.bar = None

    def __call__(self, done, total, filename):
        if self.mode == "bar":
            if self.bar is None:
                from tqdm import tqdm

                # a terminal that reports no size (a fresh pty, some CI runners) would
                # make tqdm draw a zero-width bar, or hide it below row 0
                size = shutil.get_terminal_size(fallback=(100, 24))
                self.bar = tqdm(total=total, desc="drizzling",
                                unit="tile" if str(filename).startswith("tile ") else "exposure", file=self.stream,
                                ncols=max(40, size.columns), nrows=max(2, size.lines))
            self.bar.set_postfix_str(str(filename), refresh=False)
            self.bar.update(1)
        elif self.mode == "plain":
            print(f"gpuresample: drizzled {done}/{total}: {filename}", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ---------------------------------------------------------------- main job


def _default_name(first_input, product):
    if product:
        return f"{product}_i2d.fits"
    stem = Path(first_input).name
    for suffix in (".fits.gz", ".fits", ".fit", ".asdf", ".json"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for s in _JWST_SUFFIXES:
        if stem.endswith(s):
            stem = stem[: -len(s)]
            break
    return f"{stem}_i2d.fits"


def _single_name(result, out_dir):
    first = result.inputs[0]["filename"] if result.inputs else "group"
    return out_dir / _default_name(first, None).replace("_i2d.fits", "_outlier_i2d.fits")


def _step_kwargs(args):
    """resample()'s keyword arguments from the parsed flags (each option that is a flag; not ``progress``)."""
    return {name: getattr(args, name) for name in options.VALIDATORS if name not in _NOT_FLAGS}


def _run(args):
    from . import resample
    from .atomic import check_output_path
    from .i2d import write_product
    from .preview import save_preview
    from .readers import expand_inputs

    t0 = time.perf_counter()
    out_dir = Path(args.output_dir) if args.output_dir else Path(".")
    make_dir = bool(args.output_dir) and not out_dir.exists()  # made like strun does, once the run worked
    if args.output_dir:
        _check_creatable(out_dir)
    # Open (and so check) every input and the output paths before any work.
    exposures, product = expand_inputs(args.inputs)
    input_paths = [e.path for e in exposures] + [Path(p) for p in args.inputs]
    output = None
    if not args.single:
        output = Path(args.output) if args.output else out_dir / _default_name(args.inputs[0], product)
        if args.output and args.output_dir and not Path(args.output).is_absolute():
            output = out_dir / args.output
        if not (make_dir and output.parent == out_dir):
            check_output_path(output, args.overwrite, input_paths)
    if args.preview:
        check_output_path(args.preview, args.overwrite, input_paths)
    if args.single and not make_dir:
        check_output_path(out_dir / ".gpuresample-probe", True)  # the folder exists and is writable

    progress = _Progress("none" if args.quiet else args.progress)
    try:
        result = resample(exposures, **_step_kwargs(args), progress=progress)
    finally:
        progress.close()
    t_resample = time.perf_counter() - t0
    if make_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    if args.single:
        pairs = [(r, _single_name(r, out_dir)) for r in result]
        for _, path in pairs:  # all names checked before the first is written
            check_output_path(path, args.overwrite, input_paths)
    else:
        pairs = [(result, output)]
    for res, path in pairs:
        write_product(path, res, overwrite=args.overwrite, blendheaders=args.blendheaders)
        _say(args, f"gpuresample: wrote {path} ({res.shape[1]} x {res.shape[0]} px, "
                   f"{count_words(res.meta.get('ndrizzled'), 'input')})")
    if args.preview:
        save_preview(args.preview, pairs[0][0], overwrite=args.overwrite)
        _say(args, f"gpuresample: wrote preview {args.preview}")
    _say(args, f"gpuresample: done in {time.perf_counter() - t0:.1f} s (resample {t_resample:.1f} s)")
    return 0


def _say(args, text):
    if not args.quiet:
        print(text, flush=True)


# ---------------------------------------------------------------- demo


def build_demo_parser():
    p = Parser(
        prog="gpuresample demo",
        description="Resample the embedded synthetic scene (a dithered NIRCam-like field with a 5th-order "
                    "distortion, stars, galaxies, noise, variance arrays and flagged pixels) and write "
                    "an _i2d.fits product and a PNG preview.",
    )
    p.add_argument("--output_dir", "--output-dir", dest="output_dir", default="gpuresample_demo",
                   help="folder for the outputs (created; default ./gpuresample_demo)")
    p.add_argument("--exposures", type=int, default=4, help="number of dithered exposures (default 4)")
    p.add_argument("--size", type=int, default=1024, help="detector size in pixels (default 1024)")
    add_flag(p, "kernel", parse_text, choices=KERNELS, default="square", help="drizzle kernel (default square)")
    add_flag(p, "pixfrac", parse_number, default=1.0)
    add_flag(p, "backend", parse_text, choices=AVAILABLE_BACKENDS, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-preview", dest="preview", action="store_false", help="skip the PNG")
    p.add_argument("--save-inputs", "--save_inputs", dest="save_inputs", action="store_true",
                   help="also write the exposures as _cal.fits files and an association "
                        "(gpuresample_demo_asn.json) in the output folder, to try the command line on")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run")
    p.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _demo(args):
    from . import resample
    from .atomic import check_output_path
    from .i2d import write_product
    from .preview import save_preview
    from .synthetic import dithered_scene

    if args.exposures < 1 or args.size < 16:
        raise ValueError("--exposures must be >= 1 and --size >= 16")
    out_dir = Path(args.output_dir)
    product = out_dir / "gpuresample_demo_i2d.fits"
    png = out_dir / "gpuresample_demo_i2d.png"
    cal_names = [f"gpuresample_demo_{k + 1:02d}_cal.fits" for k in range(args.exposures)]
    asn = out_dir / "gpuresample_demo_asn.json"
    outputs = [product] + ([png] if args.preview else []) + (
        [out_dir / n for n in cal_names] + [asn] if args.save_inputs else [])
    # every output is checked before any work: the folder (made below) must
    # be creatable, and existing files are kept unless --overwrite
    _check_creatable(out_dir)
    if out_dir.is_dir():
        for path in outputs:
            check_output_path(path, args.overwrite)
    t0 = time.perf_counter()
    exposures = dithered_scene(n_exposures=args.exposures, shape=(args.size, args.size), seed=args.seed)
    t_scene = time.perf_counter() - t0
    progress = _Progress("none" if args.quiet else args.progress)
    try:
        t1 = time.perf_counter()
        result = resample(exposures, kernel=args.kernel, pixfrac=args.pixfrac, rotation=0.0,
                          backend=args.backend, progress=progress)
        t_resample = time.perf_counter() - t1
    finally:
        progress.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    t2 = time.perf_counter()
    write_product(product, result, overwrite=args.overwrite)
    if args.preview:
        save_preview(png, result, overwrite=args.overwrite,
                     title=f"gpuresample demo: {args.exposures} dithered exposures")
    if args.save_inputs:
        from .cal_writer import write_association, write_cal

        for name, img in zip(cal_names, exposures, strict=True):
            write_cal(out_dir / name, img, overwrite=args.overwrite)
        write_association(asn, [out_dir / n for n in cal_names], product="gpuresample_demo_cli",
                          overwrite=args.overwrite)
    t_write = time.perf_counter() - t2
    covered = result.wht > 0
    _say(args, f"gpuresample demo: {args.exposures} exposures of {args.size}x{args.size} px -> "
               f"{result.shape[1]}x{result.shape[0]} px mosaic (kernel {result.meta['kernel']}, "
               f"{covered.mean():.0%} of pixels covered)")
    _say(args, f"  time: scene {t_scene:.2f} s, resample {t_resample:.2f} s, write {t_write:.2f} s; "
               f"total {time.perf_counter() - t0:.2f} s")
    _say(args, f"  product: {product.resolve()}")
    if args.preview:
        plain = "" if importlib.util.find_spec("matplotlib") else (
            " (plain grey-scale: pip install 'gpuresample[preview]' for sky axes)")
        _say(args, f"  preview: {png.resolve()}{plain}")
    if args.save_inputs:
        # the demo's own grid arguments, so that the hint reproduces the demo's product
        hint = f"gpuresample {asn} --rotation 0 --kernel {args.kernel} --pixfrac {args.pixfrac:g}"
        _say(args, f"  inputs:  {len(cal_names)} _cal.fits files and {asn.resolve()}; try: {hint}")
    return 0


# ---------------------------------------------------------------- entry point


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    demo = bool(argv) and argv[0] == "demo"  # an input file named demo: pass ./demo
    parser = build_demo_parser() if demo else build_parser()
    args = parser.parse_args(argv[1:] if demo else argv)  # exits 2 with a usage line on bad flags
    level = logging.INFO if args.verbose else (logging.ERROR if args.quiet else logging.WARNING)
    fresh = not logging.getLogger().handlers
    logging.basicConfig(level=level, format="%(name)s: %(levelname)s: %(message)s")
    if fresh:  # our own handler only (not a host program's or pytest's)
        logging.getLogger().handlers[0].addFilter(in_cli_words)  # log lines name --flags, not keywords
    logging.getLogger("gpuresample").setLevel(level)
    try:
        with sigterm_unwinds(), warnings_as_log_lines(logging.getLogger("gpuresample")):
            return _demo(args) if demo else _run(args)
    except KeyboardInterrupt:
        print("gpuresample: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("gpuresample: terminated", file=sys.stderr)
        return 143
    except Exception as exc:
        if args.verbose:
            raise
        if isinstance(exc, OSError) and exc.filename and exc.strerror:
            msg = f"{exc.filename}: {exc.strerror}"
        else:
            msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"gpuresample: error: {cli_words(msg)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
