"""The two commands: ``asm`` (:mod:`actors.cli.main`) and ``bus-integration-inference``.

One module per command group (``serve``, ``query``, ``endpoint``, ``providers``,
``tokens``, ``events``, ``inference``, ``conformance``, ``doctor``); exit codes and the option
parsers they share are defined once, in :mod:`actors.cli.common`::

    >>> from actors.cli import main
    >>> main(["--version"])  # doctest: +SKIP

``main`` is imported on first use: ``bus-integration-inference``
(:mod:`actors.cli.bus_integration`) loads this package too, and must start without
loading the HTTP stack that ``asm``'s commands need. It is also the ``asm`` script's entry
point, so that a Ctrl-C while the commands are still importing (a second or so on a cold
start) ends ``asm`` with exit 130 and no traceback, as a Ctrl-C during a command does.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["INTERRUPTED", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``asm``; returns the exit code (130 when interrupted before a command handles it)."""
    try:
        from actors.cli.main import main as asm_main  # noqa: PLC0415 - deferred on purpose

        return asm_main(argv)
    except KeyboardInterrupt:
        return INTERRUPTED


INTERRUPTED: typing.Final = 130
"""The exit code of an ``asm`` stopped by SIGINT before its command took charge (128 + 2)."""
