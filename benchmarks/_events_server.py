"""One server of ``benchmarks/events.py``, in a process of its own so that its CPU is not
the client's: the real Events API over a store, or a bare hello-world, under hypercorn.

    python -m benchmarks._events_server memory          # or sqlite:PATH, redis://…, hello

Once bound it prints one JSON line, ``{"url": …, "token": …}``: the base URL on
127.0.0.1 (port 0 picks a free one) and a token with ``events:send events:listen``,
signed with a secret made here for this run (stdout is a pipe to the benchmark only).
SIGTERM (or SIGINT) stops it: hypercorn closes, then the store, and it exits 0.

``hello`` is the baseline: a bare ASGI app that drains the request body and answers
``202 {"accepted":true}``, served by hypercorn with the same settings as the Events API.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio
from hypercorn.typing import Framework

from contracts.events import SCOPE_LISTEN, SCOPE_SEND
from transport.event_log import open_event_log
from transport.events import TokenVerifier, create_events_app, issue_token

HELLO = "hello"
_HELLO_BODY = b'{"accepted":true}'
_HELLO_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"17")]


async def hello_app(scope: Any, receive: Any, send: Any) -> None:
    """The bare ASGI baseline: 202 with a small JSON body for any request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # the request body is read, as the Events API reads it
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": _HELLO_HEADERS})
    await send({"type": "http.response.body", "body": _HELLO_BODY})


def _config() -> hypercorn.config.Config:
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 75.0  # as asm serve's
    return config


@asynccontextmanager
async def _app(store: str, secret: bytes) -> AsyncIterator[Framework]:
    if store == HELLO:
        yield hello_app
        return
    async with open_event_log(store, namespace="asm-bench") as log:
        # A stream is never silent long here; keep-alive lines would only add noise.
        yield create_events_app(log, TokenVerifier(secret), keepalive_seconds=60.0)


async def _serve(store: str) -> None:
    secret = secrets.token_bytes(32)
    scopes = [SCOPE_SEND, SCOPE_LISTEN]
    token = issue_token(secret, subject="bench", scopes=scopes, ttl_seconds=3600)
    async with _app(store, secret) as app:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:

                async def serve(*, task_status: trio.TaskStatus[list[str]]) -> None:
                    await hypercorn.trio.serve(app, _config(), task_status=task_status)

                binds: list[str] = await nursery.start(serve)
                print(json.dumps({"url": binds[0], "token": token}), flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break


def main() -> None:
    [store] = sys.argv[1:]
    trio.run(_serve, store)


if __name__ == "__main__":
    main()
