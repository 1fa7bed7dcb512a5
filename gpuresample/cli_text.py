"""Words of the command line: library messages rephrased with its flags, and counted nouns.

The library's errors speak Python (``tile="auto"``, ``overwrite=True``) because
most callers are Python; the command line prints the same errors, so it
rewrites those phrases into its own flags (``--tile auto``, ``--overwrite``)
before printing them.
"""

from __future__ import annotations

import contextlib
import re
import warnings

__all__ = ["cli_words", "count_words", "in_cli_words", "warnings_as_log_lines"]

_REWRITES = (
    (re.compile(r"pass overwrite=True(?: / --overwrite)?"), "pass --overwrite"),
    (re.compile(r"overwrite=True"), "--overwrite"),
    (re.compile(r"""tile=["']auto["']"""), "--tile auto"),
    (re.compile(r"tile=None"), "no --tile"),
    (re.compile(r"tile=\((\d+), (\d+)\)"), r"--tile \1,\2"),
    (re.compile(r"\ballowed_memory=(?=[\d.]+)"), "--allowed_memory "),
    (re.compile(r"\bin_memory=False"), "--no-in_memory"),
    (re.compile(r"\b(pixel_scale_ratio|pixfrac|kernel|output_shape|crpix|crval|rotation|pixel_scale|"
                r"weight_type|fillval|good_bits|pixmap_stepsize|pixmap_order|tile_workers|workers)=(?!=)"), r"--\1="),
)


def cli_words(message):
    """``message`` with the library's keyword phrases replaced by the command line's flags."""
    for pattern, repl in _REWRITES:
        message = pattern.sub(repl, message)
    return message


def in_cli_words(record):
    """A logging filter: the record's message in command-line words (always keeps the record)."""
    record.msg, record.args = cli_words(record.getMessage()), ()
    return True


def count_words(n, noun):
    """``"1 input"``, ``"3 inputs"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@contextlib.contextmanager
def warnings_as_log_lines(logger):
    """While the run lasts, each distinct warning is one ``logger.warning`` line, once per run.

    Python prints every warning with its source line (a lanczos run printed
    the same NonConservingKernelWarning once per input); the command line
    prints each distinct message once, without source lines, and ``-q``
    (the logger at ERROR) silences them with the rest.
    """
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        key = " ".join(str(message).split())  # the text: drizzle and we warn alike
        if key not in seen:
            seen.add(key)
            logger.warning("%s", cli_words(" ".join(str(message).split())))

    with warnings.catch_warnings():
        warnings.simplefilter("default")  # once per location at most; dedup by text above
        warnings.showwarning = show
        yield
