"""``asm``: one entry point with a subcommand per job (SPEC §7).

Results go to stdout, diagnostics to stderr; exit 0 on success, 1 on failure, 2 on a
usage error. Subcommands arrive with the capabilities behind them; until then a
subcommand says plainly what is not built yet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from actors.query_command import add_query_parser, run_query
from contracts import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: What ``asm serve`` will run, and whether it is built yet.
SERVE_PARTS: tuple[tuple[str, bool], ...] = (
    ("contracts: endpoint, OpenAI, session, bus.inference and Bus Events types and rules", True),
    ("bus-integration-inference command", True),
    ("supervised CLI sessions (claude, codex, gemini, amp), warm pool, asm query", True),
    ("lease-backed OpenAI-compatible endpoints and admin routes", False),
    ("Bus Events API on the embedded sqlite log", False),
    ("inference bridge and the Ollama provider", False),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog="asm", description="asm-trio: supervised agent CLIs and inference events")
    parser.add_argument("--version", action="version", version=f"asm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser("serve", help="serve endpoints, the Bus Events API and the bridge")
    serve.add_argument("--bind", default="127.0.0.1:8787", help="loopback host:port")
    serve.add_argument("--store", default=None, help="memory | sqlite:PATH | redis://HOST:PORT/DB")
    serve.add_argument("--state-dir", default=".asm", help="state directory")
    add_query_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``asm``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve_not_built()
    if args.command == "query":
        return run_query(args)
    return EXIT_USAGE  # pragma: no cover - argparse requires a known subcommand


def _serve_not_built() -> int:
    print("asm serve: not serving yet; what it will run:", file=sys.stderr)
    for part, built in SERVE_PARTS:
        print(f"  [{'built' if built else 'not built yet'}] {part}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
