"""``asm endpoint ensure|release|list``: the admin routes from a shell (SPEC §3.4, §7).

    asm endpoint ensure --provider claude --model claude-sonnet-4-5 --stream
    asm endpoint list
    asm endpoint release lease_4f1c…

Each action is one request to a running ``asm serve``. The server is ``--server``, else
the ``base_url`` that ``asm serve`` wrote to ``<state-dir>/server.json``. The admin token
is ``--admin-token-file``, else ``$ASM_ADMIN_TOKEN``, else ``<state-dir>/admin.token``.

``ensure`` prints the server's ``{"endpoint":…,"compatibility":…}`` as one line of JSON
and exits 0; an incompatible request prints the compatibility result and exits 1. Every
other failure is one line on stderr, ``asm endpoint <action>: <what to do>``, exit 1.
The admin token is sent and never shown: a diagnostic names where it came from.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from actors.cli.common import EXIT_FAILED, EXIT_OK, add_state_dir_option, seconds_parser

__all__ = ["add_endpoint_parser", "run_endpoint"]

TOKEN_ENV = "ASM_ADMIN_TOKEN"
DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
ENDPOINTS_PATH = "/api/v1/endpoints"
_seconds = seconds_parser(float("inf"), "must be a positive number of seconds: {text!r}")


class CommandFailed(Exception):
    """One line for stderr saying what went wrong and what to do; never holds a secret."""


class AdminToken(msgspec.Struct, frozen=True):
    """The admin token and where it came from (``source`` is what a diagnostic shows)."""

    value: str
    source: str


def add_endpoint_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm endpoint ensure|release|list`` on the ``asm`` subcommand parser."""
    # The options that find the server and the token, shared by every action.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", default=None, help="base URL (default: <state-dir>/server.json)"
    )
    add_state_dir_option(common)
    common.add_argument(
        "--admin-token-file",
        default=None,
        help=f"file holding the admin token (default ${TOKEN_ENV}, else <state-dir>/admin.token)",
    )
    common.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, help="seconds (default 30)"
    )
    endpoint = commands.add_parser("endpoint", help="ensure, release and list leased endpoints")
    actions = endpoint.add_subparsers(dest="endpoint_action", required=True, metavar="ACTION")
    ensure = actions.add_parser("ensure", parents=[common], help="lease an endpoint")
    ensure.add_argument("--provider", required=True, help="claude, codex, gemini or amp")
    ensure.add_argument("--model", required=True, help="the model the endpoint pins")
    ensure.add_argument("--stream", action="store_true", help="the consumer will stream")
    ensure.add_argument(
        "--context", type=_json_object, default=None, help="a JSON object (authority refs)"
    )
    release = actions.add_parser("release", parents=[common], help="release a lease")
    release.add_argument("lease_ref", metavar="LEASE_REF")
    actions.add_parser("list", parents=[common], help="list the live leases (tokens redacted)")


def run_endpoint(args: argparse.Namespace) -> int:
    """Run ``asm endpoint <action>`` with parsed ``args``; returns the exit code."""
    action: str = args.endpoint_action
    try:
        state_dir = Path(args.state_dir)
        server = args.server or server_url(state_dir)
        token = admin_token(state_dir, args.admin_token_file, os.environ)
        with _admin_client(server, token, args.timeout) as client:
            if action == "ensure":
                return _ensure(client, token, args)
            if action == "release":
                return _release(client, token, args.lease_ref)
            return _list(client, token)
    except CommandFailed as exc:
        print(f"asm endpoint {action}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def server_url(state_dir: Path) -> str:
    """The ``base_url`` that ``asm serve`` wrote to ``state_dir/server.json``."""
    path = state_dir / "server.json"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandFailed(
            f"no server found ({path} does not exist); start `asm serve` or pass --server"
        ) from None
    except OSError as exc:
        raise CommandFailed(f"cannot read {path}: {exc.strerror}; pass --server") from None
    try:
        found = msgspec.json.decode(data)
    except msgspec.DecodeError:
        found = None
    base_url = found.get("base_url") if isinstance(found, dict) else None
    if not isinstance(base_url, str) or not base_url:
        raise CommandFailed(f"{path} names no base_url; restart `asm serve` or pass --server")
    return base_url


def admin_token(state_dir: Path, token_file: str | None, environ: Mapping[str, str]) -> AdminToken:
    """The admin token from ``token_file``, else ``$ASM_ADMIN_TOKEN``, else ``admin.token``.

    ``admin_token(Path(".asm"), None, os.environ).source`` says where it came from.
    """
    if token_file is not None:
        return _token_from_file(Path(token_file), "check --admin-token-file")
    if environ.get(TOKEN_ENV):
        return _checked(AdminToken(environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"))
    path = state_dir / "admin.token"
    if not path.exists():
        raise CommandFailed(
            f"no admin token ({path} does not exist); start `asm serve` (it writes one), "
            f"pass --admin-token-file or set {TOKEN_ENV}"
        )
    return _token_from_file(path, "restart `asm serve` or pass --admin-token-file")


def _token_from_file(path: Path, remedy: str) -> AdminToken:
    try:
        value = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError as exc:
        raise CommandFailed(f"cannot read the admin token file {path}: {exc.strerror}") from None
    if not value:
        raise CommandFailed(f"the admin token file {path} is empty; {remedy}")
    return _checked(AdminToken(value, str(path)))


def _checked(token: AdminToken) -> AdminToken:
    # A bearer token is visible ASCII. Anything else would make the HTTP layer raise, and
    # its message quotes the header value: refuse it here, naming only the source.
    if not token.value or not all("!" <= char <= "~" for char in token.value):
        raise CommandFailed(f"the admin token from {token.source} is not a valid bearer token")
    return token


def _admin_client(server: str, token: AdminToken, timeout: float) -> httpx.Client:
    try:
        url = httpx.URL(server.rstrip("/"))
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        # Not echoed: a malformed URL may hold a password where the host should be.
        raise CommandFailed("the server URL is not an http:// URL with a host; check --server")
    return httpx.Client(
        base_url=url,
        headers={"authorization": f"Bearer {token.value}"},
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)),
        # The admin API is on loopback: no proxy, no .netrc from the environment.
        trust_env=False,
    )


def _shown(url: httpx.URL) -> str:
    """``url`` for a diagnostic: scheme, host and port only (no user info, no path)."""
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def _request(
    client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    content = None if body is None else msgspec.json.encode(body)
    headers = {} if content is None else {"content-type": "application/json"}
    try:
        return client.request(method, path, content=content, headers=headers)
    except httpx.TimeoutException:
        raise CommandFailed(
            f"{_shown(client.base_url)} did not answer in time; is `asm serve` busy?"
        ) from None
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        # Transport errors describe the connection (e.g. "[Errno 111] Connection
        # refused"), never the request headers.
        raise CommandFailed(
            f"cannot reach {_shown(client.base_url)} ({exc or type(exc).__name__}); "
            "start `asm serve` or pass --server"
        ) from None


def _ensure(client: httpx.Client, token: AdminToken, args: argparse.Namespace) -> int:
    request: dict[str, Any] = {
        "model_preference": {"provider": args.provider, "id": args.model},
        "stream": args.stream,
    }
    body: dict[str, Any] = {"request": request}
    if args.context is not None:
        body["context"] = args.context
    response = _request(client, "POST", ENDPOINTS_PATH, body)
    if response.status_code in (200, 201):
        print(_compact(response))
        return EXIT_OK
    if response.status_code == 409:
        # The compatibility result is the answer the caller asked for, so it goes to stdout.
        print(_compact(response))
        print("asm endpoint ensure: incompatible (the result is on stdout)", file=sys.stderr)
        return EXIT_FAILED
    raise _refused(response, token)


def _release(client: httpx.Client, token: AdminToken, lease_ref: str) -> int:
    response = _request(client, "DELETE", f"{ENDPOINTS_PATH}/{quote(lease_ref, safe='')}")
    if response.status_code in (200, 204):
        print(f"asm endpoint release: released {lease_ref}", file=sys.stderr)
        return EXIT_OK
    raise _refused(response, token)


def _list(client: httpx.Client, token: AdminToken) -> int:
    response = _request(client, "GET", ENDPOINTS_PATH)
    if response.status_code == 200:
        print(_compact(response))
        return EXIT_OK
    raise _refused(response, token)


def _compact(response: httpx.Response) -> str:
    """The response body as one line of JSON (the server's key order kept)."""
    try:
        return msgspec.json.encode(msgspec.json.decode(response.content)).decode()
    except msgspec.DecodeError:
        raise CommandFailed(
            f"the server answered {response.status_code} with a body that is not JSON"
        ) from None


def _refused(response: httpx.Response, token: AdminToken) -> CommandFailed:
    status = response.status_code
    if status == 401:
        return CommandFailed(
            f"the server refused the admin token from {token.source} (401); "
            "use the admin.token of the running `asm serve`"
        )
    return CommandFailed(f"{_reason(response)} ({status})")


def _reason(response: httpx.Response) -> str:
    """The words of an error body: the OpenAI envelope, a refusal, or a bare message."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        fields = error if isinstance(error, dict) else body
        message = fields.get("message") or (error if isinstance(error, str) else None)
        code = fields.get("code") or fields.get("type")
        if isinstance(message, str) and message:
            return f"{code}: {message}" if isinstance(code, str) and code else message
    return f"the server answered {response.reason_phrase or 'an error'}"


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value
