"""``asm conformance``: check any implementation of our contracts and print the table.

    ASM_CONFORMANCE_TOKEN=… asm conformance endpoint --base-url http://127.0.0.1:8787/leases/L/v1
    asm conformance endpoint --base-url http://127.0.0.1:8787/leases/L/v1 --token-file lease.token
    asm conformance events --base-url http://127.0.0.1:8787 --token-file tokens.txt

Each rule of the contract (SPEC §3 for an endpoint, BUS.md §2 for the Bus Events API)
runs as a Hypothesis property against the live target; the table on stdout names each
rule, how many examples were tried, pass/FAIL/skip and the first (shrunk)
counterexample. Exit 0 when no rule fails, 1 when one does or the target cannot be
reached, 2 on a usage error. Bearer tokens never appear in the output, nor on the
command line: the endpoint's token comes from ``--token-file`` (``-``: stdin) or
``$ASM_CONFORMANCE_TOKEN``; ``--token T`` (visible to every user in ``ps``) is refused.

``--scale`` multiplies every rule's example count (0.2 for a quick look, 5 for a
thorough one); ``--seed`` draws another reproducible sample (the default draws the same
examples every run). The token file of ``events`` holds one token per line: give a
narrower token too (``events:send events:listen``) so that the 403 rules can run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Final

import httpx

from actors.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["TOKEN_ENV", "add_conformance_parser", "run_conformance"]

TOKEN_ENV: Final = "ASM_CONFORMANCE_TOKEN"
"""The endpoint's bearer, when no ``--token-file`` is given (the pytest plugin reads it too)."""


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError("the scale must be above 0 and at most 100")
    return value


def _base_url(text: str) -> str:
    url = httpx.URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text.rstrip("/")


def add_conformance_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm conformance endpoint|events`` on the ``asm`` subcommand parser."""
    conformance = commands.add_parser(
        "conformance", help="run the contracts' property tests against any implementation"
    )
    targets = conformance.add_subparsers(dest="conformance_target", required=True, metavar="API")
    endpoint = targets.add_parser(
        "endpoint",
        help="an OpenAI-compatible chat-completions endpoint (SPEC §3)",
        description="Check a lease endpoint: auth, models, request rules, errors, responses "
        "and the SSE stream.",
    )
    endpoint.add_argument(
        "--base-url", required=True, type=_base_url, help="the OpenAI base URL (…/v1)"
    )
    endpoint.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help=f"a file holding the endpoint's bearer token ('-': stdin; default: ${TOKEN_ENV})",
    )
    # Refused when given: a token in the arguments is visible to every user in `ps`.
    endpoint.add_argument("--token", default=None, help=argparse.SUPPRESS)
    events = targets.add_parser(
        "events",
        help="a Bus Events API (BUS.md §2)",
        description="Check a Bus Events API: publish, listen, tokens and scopes, errors.",
    )
    events.add_argument(
        "--base-url", required=True, type=_base_url, help="the API origin (BUS_EVENTS_API_BASE_URL)"
    )
    events.add_argument(
        "--token-file", required=True, type=Path, help="one bearer token (JWT) per line"
    )
    for parser in (endpoint, events):
        parser.add_argument(
            "--scale", type=_scale, default=1.0, help="multiply each rule's examples (default 1)"
        )
        parser.add_argument("--seed", type=int, default=None, help="draw another sample")
        parser.add_argument(
            "--timeout", type=float, default=120.0, help="seconds per HTTP request (default 120)"
        )


def _reachable(url: str, timeout: float) -> str | None:
    from transport.conformance import open_client  # noqa: PLC0415 - needs Hypothesis

    try:
        with open_client(timeout) as http:
            http.get(url)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    return None


def run_conformance(args: argparse.Namespace) -> int:
    """Run the chosen harness; the table on stdout, the exit code returned."""
    try:
        from transport.conformance import (  # noqa: PLC0415 - needs the optional Hypothesis
            Budget,
            all_passed,
            check_endpoint,
            check_events,
            read_token_file,
            render_table,
        )
    except ImportError as error:
        if error.name != "hypothesis":
            raise
        print(
            "asm conformance: needs Hypothesis: pip install 'asm-trio[conformance]'",
            file=sys.stderr,
        )
        return EXIT_FAILED
    tokens: list[str] = []
    token = ""
    if args.conformance_target == "endpoint":
        try:
            token = _endpoint_token(args)
        except _TokenProblem as refused:
            print(f"asm conformance endpoint: {refused}", file=sys.stderr)
            return EXIT_USAGE
    else:
        try:
            tokens = read_token_file(args.token_file)
        except (OSError, ValueError) as error:
            print(f"asm conformance: {args.token_file}: {error}", file=sys.stderr)
            return EXIT_USAGE
    problem = _reachable(args.base_url, min(args.timeout, 10.0))
    if problem is not None:
        print(f"asm conformance: cannot reach {args.base_url}: {problem}", file=sys.stderr)
        return EXIT_FAILED
    budget = Budget(scale=args.scale, seed=args.seed)
    if args.conformance_target == "endpoint":
        outcomes = check_endpoint(args.base_url, token, budget, timeout=args.timeout)
    else:
        try:
            outcomes = check_events(args.base_url, tokens, budget, timeout=args.timeout)
        except ValueError as error:  # a line of the file is not a usable JWT
            print(f"asm conformance: {args.token_file}: {error}", file=sys.stderr)
            return EXIT_USAGE
    print(render_table(outcomes))
    return EXIT_OK if all_passed(outcomes) else EXIT_FAILED


class _TokenProblem(Exception):
    """Why the endpoint's token cannot be had (never the token itself)."""


def _endpoint_token(args: argparse.Namespace) -> str:
    """The endpoint's bearer from ``--token-file`` or ``$ASM_CONFORMANCE_TOKEN``."""
    if args.token is not None:
        raise _TokenProblem(
            "--token puts the token on the command line, where `ps` shows it to every user;"
            f" give it in a file (--token-file FILE, or - for stdin) or in ${TOKEN_ENV}"
        )
    path: Path | None = args.token_file
    if path is None:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise _TokenProblem(f"needs the endpoint's token: --token-file FILE or ${TOKEN_ENV}")
        return token
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise _TokenProblem(f"cannot read the token file {path}: {reason}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1 or any(character.isspace() for character in lines[0]):
        raise _TokenProblem(f"the token file {path} must hold one token on one line")
    return lines[0]
