"""The Bus Events API as ``asm events`` and ``asm inference`` reach it from a shell.

Both commands take the server from ``$BUS_EVENTS_API_BASE_URL`` and the token from
``$BUS_API_TOKEN``, else ``$BUS_EVENTS_TOKEN`` (never from an argument, where other
users could read it), show the client's reconnection notes on stderr, and end with
128 + the signal's number on SIGINT or SIGTERM::

    client = client_from_environ(os.environ)
    with notes_on_stderr("asm events listen"):
        code = trio.run(until_signalled, lambda: listen(client, query))

A missing or unusable variable is a :class:`UsageError` (exit 2). The reconnection
notes are the warnings of the ``asm.events`` logger, the one the events client logs to.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import trio

from actors.cli.common import EXIT_FAILED
from transport.events import EventsAuthError, EventsClient, EventsError

__all__ = [
    "BASE_URL_ENV",
    "TOKEN_ENVS",
    "UsageError",
    "auth_hint",
    "client_from_environ",
    "notes_on_stderr",
    "until_signalled",
]

log = logging.getLogger("asm.events")

BASE_URL_ENV: Final = "BUS_EVENTS_API_BASE_URL"
TOKEN_ENVS: Final = ("BUS_API_TOKEN", "BUS_EVENTS_TOKEN")


class UsageError(Exception):
    """A command that cannot run as given (exit 2); the message says what to set."""


def client_from_environ(environ: Mapping[str, str]) -> EventsClient:
    """The client for ``$BUS_EVENTS_API_BASE_URL`` with the token of ``TOKEN_ENVS``."""
    base_url = environ.get(BASE_URL_ENV, "").strip()
    if not base_url:
        raise UsageError(
            f"{BASE_URL_ENV} is not set; set it to the server's base URL (without /api/v1/events)"
        )
    token = next((environ[name].strip() for name in TOKEN_ENVS if environ.get(name)), "")
    if not token:
        raise UsageError(
            f"neither {TOKEN_ENVS[0]} nor {TOKEN_ENVS[1]} is set; "
            "set one to a token (`asm token issue` makes one)"
        )
    try:
        return EventsClient(base_url, token)
    except ValueError as error:  # names the variable's role, never its value
        raise UsageError(str(error)) from None


def auth_hint(error: EventsError) -> str:
    """What to add to a refusal's line on stderr: where to check the token, if it was that."""
    if isinstance(error, EventsAuthError):
        return f"; check the token in ${TOKEN_ENVS[0]} or ${TOKEN_ENVS[1]}"
    return ""


async def until_signalled(run: Callable[[], Awaitable[int]]) -> int:
    """``run()``'s exit code, or 128 + the number of a SIGINT or SIGTERM that stops it."""
    received: list[int] = []
    failure: EventsError | None = None
    code = EXIT_FAILED
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for signum in signals:
                    received.append(signum)
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(watch)
            try:
                code = await run()
            except EventsError as error:  # raised after the nursery, not in its group
                failure = error
            nursery.cancel_scope.cancel()
    if received:
        return 128 + received[0]
    if failure is not None:
        raise failure
    return code


@contextmanager
def notes_on_stderr(prefix: str) -> Iterator[None]:
    """Show the client's reconnection notes on stderr while the command runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
    handler.setLevel(logging.WARNING)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
