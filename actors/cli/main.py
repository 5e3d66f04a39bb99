"""``asm``: one entry point with a subcommand per job (SPEC §7).

Results go to stdout, diagnostics to stderr; exit 0 on success, 1 on failure, 2 on a
usage error. Subcommands arrive with the capabilities behind them; one ``match`` on
the subcommand's name sends the parsed arguments to its module::

    $ asm --version
    asm 0.1.0
    $ asm serve --bind 127.0.0.1:8787
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from actors.cli.common import EXIT_USAGE, CommandParser
from actors.cli.conformance import add_conformance_parser, run_conformance
from actors.cli.doctor import add_doctor_parser, run_doctor
from actors.cli.endpoint import add_endpoint_parser, run_endpoint
from actors.cli.events import add_events_parser, run_events
from actors.cli.inference import add_inference_parser, run_inference
from actors.cli.providers import add_providers_parser, run_providers
from actors.cli.query import add_query_parser, run_query
from actors.cli.serve import add_serve_parser, run_serve
from actors.cli.tokens import add_token_parser, run_token
from contracts import __version__

__all__ = ["main"]


def _parser() -> CommandParser:
    parser = CommandParser(
        prog="asm", description="asm-trio: supervised agent CLIs and inference events"
    )
    parser.add_argument("--version", action="version", version=f"asm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    add_serve_parser(commands)
    add_query_parser(commands)
    add_endpoint_parser(commands)
    add_providers_parser(commands)
    add_doctor_parser(commands)
    add_token_parser(commands)
    add_events_parser(commands)
    add_inference_parser(commands)
    add_conformance_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``asm``; returns the exit code."""
    args = _parser().parse_args(argv)
    match args.command:
        case "serve":
            return run_serve(args)
        case "query":
            return run_query(args)
        case "endpoint":
            return run_endpoint(args)
        case "providers":
            return run_providers(args)
        case "doctor":
            return run_doctor(args)
        case "token":
            return run_token(args)
        case "events":
            return run_events(args)
        case "inference":
            return run_inference(args)
        case "conformance":
            return run_conformance(args)
        case _:  # pragma: no cover - argparse requires a known subcommand
            return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
