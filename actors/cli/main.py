"""``asm``: one entry point with a subcommand per job (SPEC §7).

Results go to stdout, diagnostics to stderr; exit 0 on success, 1 on failure, 2 on a
usage error. Subcommands arrive with the capabilities behind them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from actors.cli.conformance import add_conformance_parser, run_conformance
from actors.cli.endpoint import add_endpoint_parser, run_endpoint
from actors.cli.events import add_events_parser, run_events
from actors.cli.inference import add_inference_parser, run_inference
from actors.cli.providers import add_providers_parser, run_providers
from actors.cli.query import add_query_parser, run_query
from actors.cli.serve import add_serve_parser, run_serve
from actors.cli.tokens import add_token_parser, run_token
from contracts import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog="asm", description="asm-trio: supervised agent CLIs and inference events")
    parser.add_argument("--version", action="version", version=f"asm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_serve_parser(commands)
    add_query_parser(commands)
    add_endpoint_parser(commands)
    add_providers_parser(commands)
    add_token_parser(commands)
    add_events_parser(commands)
    add_inference_parser(commands)
    add_conformance_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``asm``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return run_serve(args)
    if args.command == "query":
        return run_query(args)
    if args.command == "endpoint":
        return run_endpoint(args)
    if args.command == "providers":
        return run_providers(args)
    if args.command == "token":
        return run_token(args)
    if args.command == "events":
        return run_events(args)
    if args.command == "inference":
        return run_inference(args)
    if args.command == "conformance":
        return run_conformance(args)
    return EXIT_USAGE  # pragma: no cover - argparse requires a known subcommand


if __name__ == "__main__":
    sys.exit(main())
