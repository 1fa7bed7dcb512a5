"""The command line's flag types: text -> the Python value ``resample()`` takes, then its validator.

A flag's text is parsed here (numbers, comma-separated pairs, ``auto``,
``true``/``false``) and then checked by that argument's validator in
:mod:`gpuresample.options` (one rule for the API and the command line); a
refusal is an argparse error (exit status 2).  Every flag has both spellings,
``--pixel_scale_ratio`` (jwst's) and ``--pixel-scale-ratio``.
"""

from __future__ import annotations

import argparse
import contextlib

from . import options

__all__ = ["Parser", "add_bool_flag", "add_flag", "checked", "parse_auto_or_number", "parse_boolean",
           "parse_number", "parse_numbers", "parse_text", "parse_tile"]

def parse_text(text, _name):
    return text


def parse_number(text, name):
    """An int when the text is one (exact), else a float."""
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return convert(text)
    raise ValueError(f"{name} must be a number; got {text!r}")


def parse_numbers(text, name):
    """Comma- (or space-) separated numbers as a tuple; the validator checks how many."""
    parts = [p for p in str(text).replace(" ", ",").split(",") if p]
    try:
        return tuple(parse_number(p, name) for p in parts)
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers; got {text!r}") from None


def parse_auto_or_number(text, name):
    return "auto" if text == "auto" else parse_number(text, name)


def parse_tile(text, name):
    """``auto``, ``N`` (N x N) or ``NX,NY`` (x first, like --output_shape) -> resample's tile (ny, nx)."""
    if text.strip().lower() == "auto":
        return text
    with contextlib.suppress(ValueError):
        vals = parse_numbers(text, name)
        if len(vals) == 1 and "," not in text:
            return vals[0]  # N: N x N
        if len(vals) == 2 and "," in text:
            return vals[::-1]  # NX,NY -> (ny, nx)
    raise ValueError(f"tile must be 'auto', N or NX,NY; got {text!r}")


def parse_boolean(text, name):
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} expects true or false; got {text!r}")


def checked(name, parse=parse_text):
    """argparse ``type=`` for resample argument ``name``: ``parse(text)``, then ``options.VALIDATORS[name]``."""
    check = options.VALIDATORS[name]

    def convert(text):
        try:
            return check(parse(text, name))
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_flag(parser, name, parse=None, **kw):
    """``--pixel_scale_ratio`` and ``--pixel-scale-ratio``; with ``parse``, ``type=checked(name, parse)``."""
    spellings = [f"--{name}"]
    if "_" in name:
        spellings.append(f"--{name.replace('_', '-')}")
    if parse is not None:
        kw["type"] = checked(name, parse)
    parser.add_argument(*spellings, dest=name, **kw)


def add_bool_flag(parser, name, default, help_text):
    """``--name`` / ``--name=BOOL`` / ``--no-name`` (jwst's strun takes ``--name=True``)."""
    add_flag(parser, name, parse_boolean, nargs="?", const=True, default=default, metavar="BOOL",
          help=f"{help_text} (default {default})")
    negs = [f"--no-{name}"] + ([f"--no-{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*negs, dest=name, action="store_false", help=argparse.SUPPRESS)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (argparse prints the whole multi-line usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
