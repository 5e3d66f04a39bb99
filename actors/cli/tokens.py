"""``asm token issue``: a Bus API token signed with the server's events secret (SPEC §7).

    asm token issue --subject deploy-bot --scope "events:send events:listen" --ttl 1h

Prints the token (an HS256 JWT, BUS.md §2.3) on stdout and nothing else, so it can be
captured: ``export BUS_EVENTS_TOKEN=$(asm token issue …)``. The secret is the one
``asm serve`` verifies with: ``$BUS_API_JWT_SECRET``, else the ``events.secret`` of the
server's state directory, which is ``--state-dir`` when given, else ``./.asm`` when it
holds a secret, else the state directory of the one running asm server (found by the
``serve.lock`` it holds open; named on stderr). It never makes a secret: one made here
would sign tokens that every server refuses (401), so with no secret to be found the
command fails saying where it looked. ``--ttl`` takes ``30s``, ``15m``, ``1h``, ``7d``
or plain seconds. A scope this server does not know is issued anyway (another Bus API
may know it), with a warning on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from actors.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_state_dir_option
from actors.serving import SECRET_ENV, EventsSecretError, events_secret
from contracts.events import (
    DEFAULT_AUDIENCE,
    SCOPE_INFERENCE_ADMIN,
    SCOPE_INFERENCE_READ,
    SCOPE_LISTEN,
    SCOPE_SEND,
)
from contracts.inference import BRIDGE_IDENTITY
from transport.events import issue_token

__all__ = ["add_token_parser", "parse_ttl", "run_token", "running_state_dirs"]

DEFAULT_TTL_SECONDS: Final = 3600
MAX_TTL_SECONDS: Final = 3650 * 86400
KNOWN_SCOPES: Final = (SCOPE_SEND, SCOPE_LISTEN, SCOPE_INFERENCE_READ, SCOPE_INFERENCE_ADMIN)
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TTL: Final = re.compile(r"\A(\d+(?:\.\d+)?)([smhd]?)\Z")
_DEFAULT_STATE_DIR: Final = Path(".asm")
_SECRET_FILE: Final = "events.secret"  # actors.serving's SECRET_FILE
_LOCK_FILE: Final = "serve.lock"  # actors.processes' LOCK_FILE, held open by a server


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
    # None: not given, so look for the server's (see the module docstring).
    issue.set_defaults(state_dir=None)
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
        secret = _server_secret(args.state_dir, os.environ)
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


def _server_secret(state_dir: str | None, environ: Mapping[str, str]) -> bytes:
    """The secret the server verifies with (see the module docstring); never made here."""
    if environ.get(SECRET_ENV, "").strip():
        return events_secret(_DEFAULT_STATE_DIR, environ, create=False)
    if state_dir is not None:
        return _existing(Path(state_dir), environ)
    if (_DEFAULT_STATE_DIR / _SECRET_FILE).exists():
        return _existing(_DEFAULT_STATE_DIR, environ)
    servers = running_state_dirs()
    if len(servers) > 1:
        listed = ", ".join(str(server) for server in servers)
        raise EventsSecretError(
            f"several asm servers are running (state dirs {listed}); "
            "pass the --state-dir of the one the token is for"
        )
    if not servers:
        raise EventsSecretError(
            f"no events secret: {_DEFAULT_STATE_DIR}/{_SECRET_FILE} does not exist and no "
            "asm server is running; pass the --state-dir of the server the token is for "
            f"(or set ${SECRET_ENV} to its secret). A secret made here would sign tokens "
            "no server accepts"
        )
    [server] = servers
    print(f"asm token issue: signed for the running asm server of {server}", file=sys.stderr)
    return _existing(server, environ)


def _existing(state_dir: Path, environ: Mapping[str, str]) -> bytes:
    try:
        return events_secret(state_dir, environ, create=False)
    except EventsSecretError as error:
        if (state_dir / _SECRET_FILE).exists():
            raise
        raise EventsSecretError(
            f"{error}; start `asm serve --state-dir {state_dir}` first, or pass the "
            f"--state-dir of the server the token is for (or set ${SECRET_ENV} to its "
            "secret)"
        ) from None


def running_state_dirs(proc: Path = Path("/proc")) -> list[Path]:
    """The state directories whose ``serve.lock`` a running process holds open (its
    server), sorted; processes this user may not inspect are skipped."""
    found: set[Path] = set()
    own = str(os.getpid())
    try:
        pids = [entry for entry in proc.iterdir() if entry.name.isdigit() and entry.name != own]
    except OSError:
        return []
    for pid in pids:
        try:
            descriptors = list((pid / "fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("/") and target.endswith(f"/{_LOCK_FILE}"):
                found.add(Path(target).parent)
    return sorted(found)
