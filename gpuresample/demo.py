"""``python -m gpuresample.demo``: the same as ``gpuresample demo`` (see :mod:`gpuresample.cli`)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv=None):
    from .cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
