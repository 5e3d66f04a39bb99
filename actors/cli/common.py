"""What every command shares: the exit codes, the parser class and the common options.

Each command module imports these rather than defining its own, so ``asm`` and
``bus-integration-inference`` agree on what 0, 1 and 2 mean and on how an option is
spelled and refused::

    parser = CommandParser(prog="asm")
    add_state_dir_option(parser)
    parser.add_argument("--timeout", type=seconds_parser(10**7, "must be above 0"))

Only the standard library is imported here: ``bus-integration-inference`` loads this
module too, and must start without the HTTP stack that ``asm``'s commands need.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Final, NoReturn

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandParser",
    "add_config_option",
    "add_state_dir_option",
    "add_verbosity_options",
    "log_level",
    "seconds_parser",
]

EXIT_OK: Final = 0
"""Success."""
EXIT_FAILED: Final = 1
"""A failure: the command ran and did not get what it was asked for."""
EXIT_USAGE: Final = 2
"""A usage error: the command cannot run as given."""


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors print the usage and exit ``EXIT_USAGE``."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_state_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--state-dir`` (default ``./.asm``): where ``asm serve`` keeps its files."""
    parser.add_argument("--state-dir", default=".asm", help="state directory (default ./.asm)")


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config``: the ``asm.toml`` to read (default ``./asm.toml`` when present)."""
    parser.add_argument("--config", default=None, help="asm.toml (default ./asm.toml if present)")


def add_verbosity_options(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` (DEBUG) and ``-q/--quiet`` (WARNING), one or the other; read
    them back with :func:`log_level` (INFO when neither is given)."""
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="log DEBUG and above (default INFO)"
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="log WARNING and above (default INFO)"
    )


def log_level(args: argparse.Namespace) -> int:
    """The logging level ``-v``/``-q`` ask for (see :func:`add_verbosity_options`)."""
    if getattr(args, "verbose", False):
        return logging.DEBUG
    if getattr(args, "quiet", False):
        return logging.WARNING
    return logging.INFO


def seconds_parser(below: float, out_of_range: str) -> Callable[[str], float]:
    """An argparse ``type`` for a number of seconds above 0 and below ``below``.

    ``out_of_range`` is the refusal of a number outside that range (nan and inf
    included); ``{text}`` in it stands for the argument as given::

        seconds_parser(float("inf"), "must be a positive number of seconds: {text!r}")
    """

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not 0 < value < below:  # also refuses nan
            raise argparse.ArgumentTypeError(out_of_range.format(text=text))
        return value

    return seconds
