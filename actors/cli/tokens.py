"""``asm token issue``: a Bus API token signed with the server's events secret (SPEC §7).

    asm token issue --subject deploy-bot --scope "events:send events:listen" --ttl 1h

Prints the token (an HS256 JWT, BUS.md §2.3) on stdout and nothing else, so it can be
captured: ``export BUS_EVENTS_TOKEN=$(asm token issue …)``. The secret is the one
``asm serve`` verifies with: ``$BUS_API_JWT_SECRET``, else ``<state-dir>/events.secret``
(made on first use). ``--ttl`` takes ``30s``, ``15m``, ``1h``, ``7d`` or plain seconds.
A scope this server does not know is issued anyway (another Bus API may know it), with
a warning on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Final

from actors.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_state_dir_option
from actors.serving import EventsSecretError, events_secret
from contracts.events import (
    DEFAULT_AUDIENCE,
    SCOPE_INFERENCE_ADMIN,
    SCOPE_INFERENCE_READ,
    SCOPE_LISTEN,
    SCOPE_SEND,
)
from contracts.inference import BRIDGE_IDENTITY
from transport.events import issue_token

__all__ = ["add_token_parser", "parse_ttl", "run_token"]

DEFAULT_TTL_SECONDS: Final = 3600
MAX_TTL_SECONDS: Final = 3650 * 86400
KNOWN_SCOPES: Final = (SCOPE_SEND, SCOPE_LISTEN, SCOPE_INFERENCE_READ, SCOPE_INFERENCE_ADMIN)
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TTL: Final = re.compile(r"\A(\d+(?:\.\d+)?)([smhd]?)\Z")


def parse_ttl(text: str) -> float:
    """Seconds from ``30s``, ``15m``, ``1h``, ``7d`` or plain seconds (``90``)."""
    match = _TTL.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use e.g. 30s, 15m, 1h, 7d or plain seconds)"
        )
    seconds = float(match[1]) * _UNITS[match[2]]
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise argparse.ArgumentTypeError(f"the ttl must be between 1 s and 3650d: {text!r}")
    return seconds


def _subject(text: str) -> str:
    if not text.strip() or not text.isprintable():
        raise argparse.ArgumentTypeError("the subject must be printable and not blank")
    if text == BRIDGE_IDENTITY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is the inference bridge's identity: no token speaks for it"
        )
    return text


def add_token_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm token issue`` on the ``asm`` subcommand parser."""
    token = commands.add_parser("token", help="issue Bus API tokens")
    actions = token.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    issue = actions.add_parser(
        "issue",
        help="print an HS256 token signed with the events secret",
        description="Print a Bus API token (HS256 JWT) signed with $BUS_API_JWT_SECRET, "
        "else <state-dir>/events.secret.",
    )
    issue.add_argument("--subject", required=True, type=_subject, help="the token's sub")
    issue.add_argument(
        "--scope",
        required=True,
        action="append",
        help='space-separated scopes, e.g. "events:send events:listen" (may be repeated)',
    )
    issue.add_argument(
        "--ttl",
        type=parse_ttl,
        default=float(DEFAULT_TTL_SECONDS),
        help="lifetime: 30s, 15m, 1h, 7d or seconds (default 1h)",
    )
    add_state_dir_option(issue)
    issue.add_argument(
        "--audience", default=DEFAULT_AUDIENCE, help=f"aud claim (default {DEFAULT_AUDIENCE})"
    )


def run_token(args: argparse.Namespace) -> int:
    """Run ``asm token issue`` with parsed ``args``; returns the exit code."""
    scopes = [name for text in args.scope for name in text.split()]
    if not scopes:
        print("asm token issue: --scope names no scope", file=sys.stderr)
        return EXIT_USAGE
    if not args.audience.strip():
        print("asm token issue: --audience must not be blank", file=sys.stderr)
        return EXIT_USAGE
    for unknown in dict.fromkeys(s for s in scopes if s not in KNOWN_SCOPES):
        print(
            f"asm token issue: warning: {unknown!r} is not a scope this server checks "
            f"(it knows {', '.join(KNOWN_SCOPES)})",
            file=sys.stderr,
        )
    try:
        secret = events_secret(Path(args.state_dir), os.environ)
    except EventsSecretError as error:
        print(f"asm token issue: {error}", file=sys.stderr)
        return EXIT_FAILED
    token = issue_token(
        secret,
        subject=args.subject,
        scopes=list(dict.fromkeys(scopes)),
        ttl_seconds=args.ttl,
        audience=args.audience,
    )
    print(token)
    return EXIT_OK
