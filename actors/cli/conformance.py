"""``asm conformance``: check any implementation of our contracts and print the table.

    asm conformance endpoint --base-url http://127.0.0.1:8787/leases/L/v1 --token T
    asm conformance events --base-url http://127.0.0.1:8787 --token-file tokens.txt

Each rule of the contract (SPEC §3 for an endpoint, BUS.md §2 for the Bus Events API)
runs as a Hypothesis property against the live target; the table on stdout names each
rule, how many examples were tried, pass/FAIL/skip and the first (shrunk)
counterexample. Exit 0 when no rule fails, 1 when one does or the target cannot be
reached, 2 on a usage error. Bearer tokens never appear in the output.

``--scale`` multiplies every rule's example count (0.2 for a quick look, 5 for a
thorough one); ``--seed`` draws another reproducible sample (the default draws the same
examples every run). The token file of ``events`` holds one token per line: give a
narrower token too (``events:send events:listen``) so that the 403 rules can run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from actors.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["add_conformance_parser", "run_conformance"]


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
    endpoint.add_argument("--token", required=True, help="the endpoint's bearer token")
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
    if args.conformance_target == "events":
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
        outcomes = check_endpoint(args.base_url, args.token, budget, timeout=args.timeout)
    else:
        try:
            outcomes = check_events(args.base_url, tokens, budget, timeout=args.timeout)
        except ValueError as error:  # a line of the file is not a usable JWT
            print(f"asm conformance: {args.token_file}: {error}", file=sys.stderr)
            return EXIT_USAGE
    print(render_table(outcomes))
    return EXIT_OK if all_passed(outcomes) else EXIT_FAILED
