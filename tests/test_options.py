"""gpuresample.options: one validator per resample() argument, shared by the step and the command line."""

import dataclasses
import inspect
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from gpuresample import options, resample
from gpuresample.cli import _NOT_FLAGS, _step_kwargs, build_parser
from gpuresample.options import VALIDATORS, ResampleOptions, partial_folder

# ---------------------------------------------------------------- accepted values, normalised

ACCEPTED = [
    ("pixfrac", 1, 1.0), ("pixfrac", 0.5, 0.5), ("pixfrac", np.float32(0.25), 0.25),
    ("kernel", " Square ", "square"), ("kernel", "TOPHAT", "tophat"),
    ("pixel_scale_ratio", 2, 2.0),
    ("pixel_scale", 0.031, 0.031), ("pixel_scale", None, None),
    ("rotation", -30, -30.0), ("rotation", 0, 0.0), ("rotation", None, None),
    ("crpix", (1, 2), (1.0, 2.0)), ("crpix", np.array([0.5, -3.0]), (0.5, -3.0)), ("crpix", None, None),
    ("crval", [150.1, 2.2], (150.1, 2.2)),
    ("output_shape", (100, 50), (100, 50)), ("output_shape", (100.0, np.int64(7)), (100, 7)),
    ("output_shape", None, None),
    ("output_wcs", "grid.asdf", "grid.asdf"), ("output_wcs", None, None),
    ("fillval", "INDEF", "NaN"), ("fillval", None, "NaN"), ("fillval", " indef ", "NaN"), ("fillval", 0, "0"),
    ("fillval", -1.5, "-1.5"), ("fillval", "nan", "nan"),
    ("weight_type", "ivm", "ivm"), ("weight_type", "ivm-sky", "ivm-sky"), ("weight_type", "exptime", "exptime"),
    # flags: bools, 0/1 and the spellings of a jwst parameter file -- not truthiness (issue 13, item 7)
    ("single", 1, True), ("single", 0, False), ("single", "False", False), ("blendheaders", " yes ", True),
    ("in_memory", np.bool_(True), True), ("in_memory", "no", False), ("enable_ctx", "OFF", False),
    ("enable_err", "true", True), ("report_var", True, True), ("propagate_dq", False, False),
    ("allowed_memory", 0.5, 0.5), ("allowed_memory", 2, 2.0), ("allowed_memory", np.float32(0.25), 0.25),
    ("pixmap_stepsize", "auto", "auto"), ("pixmap_stepsize", 1, 1), ("pixmap_stepsize", 2.6, 3),
    ("pixmap_stepsize", np.float64(1.2), 1), ("pixmap_stepsize", 10, 10),
    ("pixmap_order", 1, 1), ("pixmap_order", 3.0, 3), ("pixmap_order", np.int64(3), 3),
    ("good_bits", "~DO_NOT_USE+NON_SCIENCE", "~DO_NOT_USE+NON_SCIENCE"), ("good_bits", 0, 0),
    ("good_bits", None, None), ("good_bits", "4,8", "4,8"),
    ("backend", "auto", "auto"), ("backend", " CPU ", "cpu"), ("backend", "emulator", "emulator"),
    ("workdir", None, None), ("workdir", "/tmp", "/tmp"),
    ("workers", 1, 1), ("workers", 3, 3),
    ("progress", None, None), ("progress", print, print),
    ("tile", None, None), ("tile", "auto", "auto"), ("tile", " AUTO ", "auto"), ("tile", 7, (7, 7)),
    ("tile", (3, np.int64(5)), (3, 5)), ("tile", [1, 1], (1, 1)),
    ("tile_workers", 1, 1), ("tile_workers", np.int64(4), 4),
    ("scheduler", None, None),
    ("tile_output", None, None),
]


@pytest.mark.parametrize(("name", "value", "expected"), ACCEPTED)
def test_accepted_values_are_normalised(name, value, expected):
    got = VALIDATORS[name](value)
    assert got == expected and type(got) is type(expected), (got, expected)
    assert VALIDATORS[name](got) == got  # normalising twice changes nothing


def test_bool_flags_return_bool():
    for name in ("single", "blendheaders", "in_memory", "enable_ctx", "enable_err", "report_var", "propagate_dq"):
        assert VALIDATORS[name]("yes") is True and VALIDATORS[name](0) is False
        with pytest.raises(ValueError, match=f"{name} must be True or False"):
            VALIDATORS[name]("x")  # a truthy string is not a flag
    with pytest.raises(ValueError, match="single must be True or False"):
        options.check_single(np.array([1, 2]))


def test_auto_counts_follow_the_cpu_count(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert options.check_workers("auto") == 2 and options.check_workers(None) == 2
    assert options.check_tile_workers("auto") == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert options.check_workers("auto") == 1 and options.check_tile_workers("auto") == 1


def test_allowed_memory_from_the_environment(monkeypatch):
    monkeypatch.delenv("DMODEL_ALLOWED_MEMORY", raising=False)
    assert options.check_allowed_memory(None) is None
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", " ")
    assert options.check_allowed_memory(None) is None
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", "0.3")
    assert options.check_allowed_memory(None) == 0.3
    assert options.check_allowed_memory(0.7) == 0.7  # the argument wins
    assert ResampleOptions().allowed_memory == 0.3
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", "lots")
    with pytest.raises(ValueError, match="environment variable DMODEL_ALLOWED_MEMORY='lots' is not a number"):
        options.check_allowed_memory(None)
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", "0")
    with pytest.raises(ValueError, match=r"\$DMODEL_ALLOWED_MEMORY must be > 0"):
        options.check_allowed_memory(None)


def test_tile_output_is_a_path(tmp_path):
    assert options.check_tile_output(str(tmp_path / "out")) == tmp_path / "out"
    assert partial_folder(tmp_path / "out") == tmp_path / "out.partial"
    assert partial_folder("a/b") == Path("a/b.partial")


def test_scheduler_needs_submit():
    class Client:
        def submit(self, *a):
            pass

    client = Client()
    assert options.check_scheduler(client) is client


# ---------------------------------------------------------------- rejected values name the parameter

REJECTED = [
    ("pixfrac", 0.0, ValueError, r"pixfrac' must be finite and in \(0, 1\]"),
    ("pixfrac", 1.5, ValueError, r"pixfrac' must be finite and in \(0, 1\]"),
    ("pixfrac", None, ValueError, r"pixfrac must be a number; got None"),
    ("pixfrac", "0.5", ValueError, "pixfrac must be a number"),
    ("pixfrac", True, ValueError, "pixfrac must be a number"),
    ("pixfrac", math.nan, ValueError, "pixfrac' must be finite"),
    ("kernel", "sinc", ValueError, "Unknown kernel 'sinc'"),
    ("kernel", 3, ValueError, "kernel must be a string"),
    ("pixel_scale_ratio", 0, ValueError, "pixel_scale_ratio must be finite and > 0"),
    ("pixel_scale_ratio", math.inf, ValueError, "pixel_scale_ratio must be finite and > 0"),
    ("pixel_scale", -0.03, ValueError, "pixel_scale must be finite and > 0"),
    ("pixel_scale", "0.03", ValueError, "pixel_scale must be a number"),
    ("rotation", np.inf, ValueError, "rotation must be finite"),
    ("rotation", False, ValueError, "rotation must be a number"),
    ("crpix", (1.0,), ValueError, "crpix must have exactly 2 values"),
    ("crpix", (1.0, np.nan), ValueError, "crpix values must be finite"),
    ("crpix", 5, ValueError, "crpix must be two numbers"),
    ("crval", (1.0, 2.0, 3.0), ValueError, "crval must have exactly 2 values"),
    ("crval", ("a", 2.0), ValueError, "crval must be two numbers"),
    ("output_shape", (10,), ValueError, "output_shape must have exactly 2"),
    # item 7: a string is not a pair, bools are not numbers, sizes fit drizzle's 32-bit indices
    ("output_shape", "55", ValueError, "output_shape must be two numbers"),
    ("output_shape", ("a", 2), ValueError, "output_shape must be two numbers"),
    ("output_shape", (2**31, 2), ValueError, "output_shape values must be <= 2147483647"),
    ("output_shape", (True, 2), ValueError, "output_shape must be two numbers"),
    ("crpix", "12", ValueError, "crpix must be two numbers"),
    ("crval", "12", ValueError, "crval must be two numbers"),
    ("crval", (53.16, 95), ValueError, r"crval dec must be within \[-90, 90\]"),
    ("crval", (53.16, -91), ValueError, r"crval dec must be within \[-90, 90\]"),
    ("pixel_scale_ratio", None, ValueError, "pixel_scale_ratio must be a number > 0"),
    ("pixfrac", None, ValueError, "pixfrac must be a number"),
    ("allowed_memory", math.inf, ValueError, "allowed_memory must be > 0"),
    ("allowed_memory", True, ValueError, "allowed_memory must be a number"),
    ("allowed_memory", "0.25", ValueError, "allowed_memory must be a number"),
    ("good_bits", [1, 2], ValueError, "good_bits must be an int, a flag string or None"),
    ("single", "maybe", ValueError, "single must be True or False"),
    ("in_memory", 2, ValueError, "in_memory must be True or False"),
    ("blendheaders", [], ValueError, "blendheaders must be True or False"),
    ("enable_ctx", None, ValueError, "enable_ctx must be True or False"),
    ("propagate_dq", 1.0, ValueError, "propagate_dq must be True or False"),
    ("output_shape", (10.5, 3), ValueError, "output_shape must be integers"),
    ("output_shape", (0, 3), ValueError, "output_shape values must be >= 1"),
    ("output_shape", (math.inf, 3), ValueError, "output_shape values must be finite"),
    ("fillval", "lots", ValueError, "fillval must be 'INDEF', 'NaN' or a number"),
    ("fillval", [1], ValueError, "fillval must be"),
    ("fillval", math.inf, ValueError, "fillval must be finite"),
    ("fillval", True, ValueError, "fillval must be"),
    ("weight_type", "ivm-smooth", ValueError, "weight_type must be one of"),
    ("weight_type", "IVM", ValueError, "weight_type must be one of"),
    ("allowed_memory", "half", ValueError, "allowed_memory must be a number"),
    ("allowed_memory", 0, ValueError, "allowed_memory must be > 0"),
    ("allowed_memory", -0.5, ValueError, "allowed_memory must be > 0"),
    ("allowed_memory", math.nan, ValueError, "allowed_memory must be > 0"),
    ("pixmap_stepsize", 0, ValueError, "pixmap_stepsize must be 'auto' or a number >= 1"),
    ("pixmap_stepsize", 0.9, ValueError, "pixmap_stepsize must be"),
    ("pixmap_stepsize", math.inf, ValueError, "pixmap_stepsize must be"),
    ("pixmap_stepsize", math.nan, ValueError, "pixmap_stepsize must be"),
    ("pixmap_stepsize", True, ValueError, "pixmap_stepsize must be"),
    ("pixmap_stepsize", "2", ValueError, "pixmap_stepsize must be"),
    ("pixmap_order", 2, ValueError, "pixmap_order must be 1 or 3"),
    ("pixmap_order", "3", ValueError, "pixmap_order must be 1 or 3"),
    ("good_bits", "NOT_A_FLAG", ValueError, "good_bits='NOT_A_FLAG'"),
    ("good_bits", True, ValueError, "good_bits must be"),
    ("backend", "fpga", ValueError, "Unknown backend 'fpga'"),
    ("backend", 1, ValueError, "Unknown backend 1"),
    ("workers", 0, ValueError, "workers must be 'auto' or a positive integer"),
    ("workers", 1.5, ValueError, "workers must be"),
    ("workers", True, ValueError, "workers must be"),
    ("workers", "2", ValueError, "workers must be"),
    ("progress", "bar", TypeError, "progress must be a callable"),
    ("tile", 0, ValueError, "tile sides must be >= 1 pixel"),
    ("tile", (5, -1), ValueError, "tile sides must be >= 1 pixel"),
    ("tile", "big", ValueError, "tile must be None, 'auto'"),
    ("tile", 2.5, ValueError, "tile must be"),
    ("tile", True, ValueError, "tile must be"),
    ("tile", (1, 2, 3), ValueError, "tile must be"),
    ("tile", ("a", 2), ValueError, "tile must be"),
    ("tile_workers", 0, ValueError, "tile_workers must be 'auto' or a positive integer"),
    ("tile_workers", 1.5, ValueError, "tile_workers must be"),
    ("tile_workers", "x", ValueError, "tile_workers must be"),
    ("tile_workers", True, ValueError, "tile_workers must be"),
    ("scheduler", object(), TypeError, "scheduler must be a distributed.Client"),
    ("tile_output", 5, TypeError, "tile_output must be a folder path"),
]


@pytest.mark.parametrize(("name", "value", "exc", "match"), REJECTED)
def test_rejected_values_name_the_parameter(name, value, exc, match):
    with pytest.raises(exc, match=match):
        VALIDATORS[name](value)
    with pytest.raises(exc, match=match):
        ResampleOptions.from_kwargs(**{name: value})


# ---------------------------------------------------------------- ResampleOptions


def test_fields_are_resample_keyword_arguments():
    params = inspect.signature(resample).parameters
    expected = {n: p.default for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    got = {f.name: f.default for f in dataclasses.fields(ResampleOptions)}
    assert list(got) == list(expected) and got == expected
    assert list(VALIDATORS) == list(got)
    assert all(check.__name__ == f"check_{name}" for name, check in VALIDATORS.items())
    assert all(getattr(options, f"check_{name}") is check for name, check in VALIDATORS.items())


def test_defaults_are_normalised(monkeypatch):
    monkeypatch.delenv("DMODEL_ALLOWED_MEMORY", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    opts = ResampleOptions.from_kwargs()
    assert opts == ResampleOptions()
    assert (opts.fillval, opts.workers, opts.tile_workers, opts.allowed_memory) == ("NaN", 2, 1, None)
    assert (opts.kernel, opts.backend, opts.pixmap_stepsize, opts.pixmap_order) == ("square", "auto", "auto", 3)
    assert dataclasses.replace(opts) == opts  # replace() validates again: idempotent
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.pixfrac = 0.5


def test_from_kwargs_validates_and_normalises():
    opts = ResampleOptions.from_kwargs(pixfrac=1, kernel="POINT", crpix=[10, 20], output_shape=(300.0, 200),
                                       tile=64, single=1, pixmap_stepsize=4.4, backend="CPU")
    assert opts.pixfrac == 1.0 and opts.kernel == "point" and opts.crpix == (10.0, 20.0)
    assert opts.output_shape == (300, 200) and opts.tile == (64, 64) and opts.single is True
    assert opts.pixmap_stepsize == 4 and opts.backend == "cpu"
    with pytest.raises(ValueError, match="pixfrac"):
        dataclasses.replace(opts, pixfrac=2)


def test_from_kwargs_unknown_keyword():
    with pytest.raises(TypeError, match="unexpected keyword argument 'pixel_frac'"):
        ResampleOptions.from_kwargs(pixel_frac=0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'inputs'"):
        ResampleOptions.from_kwargs(inputs=[])


def test_derived_properties():
    mosaic = ResampleOptions()
    assert mosaic.enable_var and mosaic.report_var_effective and mosaic.err_from == "var"
    single = ResampleOptions(single=True)
    assert not single.enable_var and not single.report_var_effective and single.err_from == "driz"
    no_err = ResampleOptions(enable_err=False)
    assert not no_err.enable_var and not no_err.report_var_effective and no_err.err_from == "var"
    no_var = ResampleOptions(report_var=False)
    assert no_var.enable_var and not no_var.report_var_effective


def test_ignored_grid_args():
    assert ResampleOptions(rotation=10, crpix=(1, 2)).ignored_grid_args == ()  # no output_wcs: all used
    opts = ResampleOptions(output_wcs="grid.asdf", rotation=10, crval=(1, 2), pixel_scale_ratio=1.0)
    assert opts.ignored_grid_args == ("rotation", "crval")  # given with output_wcs: logged, not an error
    assert ResampleOptions(output_wcs="g.asdf", pixel_scale_ratio=2).ignored_grid_args == ("pixel_scale_ratio",)


def test_tile_output_combinations(tmp_path):
    out = tmp_path / "mosaic"
    with pytest.raises(ValueError, match="tile_output holds one product; single=True"):
        ResampleOptions(tile_output=out, tile=64, single=True)
    with pytest.raises(ValueError, match="tile_output needs tile"):
        ResampleOptions(tile_output=out)
    assert ResampleOptions(tile_output=str(out), tile="auto").tile_output == out

    class Client:
        def submit(self, *a):
            pass

    assert ResampleOptions(tile_output=out, scheduler=Client()).tile_output == out
    partial_folder(out).mkdir()
    with pytest.raises(FileExistsError, match=r"tile_output: .*mosaic\.partial exists"):
        ResampleOptions(tile_output=out, tile=64)
    partial_folder(out).rmdir()
    out.mkdir()
    with pytest.raises(FileExistsError, match=r"tile_output: .*mosaic exists"):
        ResampleOptions(tile_output=out, tile=64)


# ---------------------------------------------------------------- the command line agrees


def _cli_options(*flags):
    args = build_parser().parse_args(["in_cal.fits", *flags])
    return ResampleOptions.from_kwargs(**_step_kwargs(args))


def test_cli_flags_cover_every_option():
    """Every resample() argument is a flag (under its own name) except those the CLI supplies itself."""
    args = build_parser().parse_args(["in_cal.fits"])
    assert set(_step_kwargs(args)) == set(VALIDATORS) - set(_NOT_FLAGS)
    assert _cli_options() == ResampleOptions(progress=None)


@pytest.mark.parametrize(
    ("flags", "kwargs"),
    [
        (["--pixfrac", "0.5"], {"pixfrac": 0.5}),
        (["--kernel", "POINT"], {"kernel": "point"}),
        (["--crpix", "10.5,20"], {"crpix": (10.5, 20)}),
        (["--crval", "150.1 2.2"], {"crval": (150.1, 2.2)}),
        (["--output_shape", "300,200"], {"output_shape": (300, 200)}),
        (["--tile", "100,70"], {"tile": (70, 100)}),  # NX,NY on the command line, (ny, nx) in Python
        (["--tile", "64"], {"tile": 64}),
        (["--tile", "auto", "--tile_workers", "auto"], {"tile": "auto", "tile_workers": "auto"}),
        (["--fillval", "0"], {"fillval": 0}),
        (["--pixmap_stepsize", "2.6", "--pixmap_order", "1"], {"pixmap_stepsize": 2.6, "pixmap_order": 1}),
        (["--single", "--no-blendheaders", "--propagate_dq=yes", "--enable_ctx=false"],
         {"single": True, "blendheaders": False, "propagate_dq": True, "enable_ctx": False}),
        (["--allowed_memory", "0.5", "--backend", "cpu", "--good_bits", "0"],
         {"allowed_memory": 0.5, "backend": "cpu", "good_bits": "0"}),
    ],
)
def test_cli_and_python_give_the_same_options(flags, kwargs):
    assert _cli_options(*flags) == ResampleOptions.from_kwargs(**kwargs)


@pytest.mark.parametrize(
    ("flags", "kwargs", "match"),
    [
        (["--pixfrac", "1.5"], {"pixfrac": 1.5}, r"pixfrac' must be finite and in \(0, 1\]"),
        (["--pixfrac", "0"], {"pixfrac": 0}, r"pixfrac' must be finite and in \(0, 1\]"),
        (["--pixel_scale", "-1"], {"pixel_scale": -1}, "pixel_scale must be finite and > 0"),
        (["--rotation", "inf"], {"rotation": math.inf}, "rotation must be finite"),
        (["--output_shape", "10.5,3"], {"output_shape": (10.5, 3)}, "output_shape must be integers"),
        (["--crpix", "1"], {"crpix": (1,)}, "crpix must have exactly 2 values"),
        (["--pixmap_stepsize", "0.5"], {"pixmap_stepsize": 0.5}, "pixmap_stepsize must be"),
        (["--tile", "10,0"], {"tile": (0, 10)}, "tile sides must be >= 1 pixel"),
        (["--tile_workers", "0"], {"tile_workers": 0}, "tile_workers must be"),
        (["--fillval", "lots"], {"fillval": "lots"}, "fillval must be"),
        (["--good_bits", "NOT_A_FLAG"], {"good_bits": "NOT_A_FLAG"}, "good_bits='NOT_A_FLAG'"),
    ],
)
def test_cli_and_python_refuse_with_the_same_rule(flags, kwargs, match, capsys):
    with pytest.raises(ValueError, match=match):
        ResampleOptions.from_kwargs(**kwargs)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["in_cal.fits", *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert re.match(f"gpuresample: error: argument {flags[0]}[:/]", err) and len(err.splitlines()) == 1, err
    assert re.search(match, err), err
