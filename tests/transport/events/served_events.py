"""The real Bus Events API app over a memory log, served by real hypercorn on loopback.

    async with open_memory_log() as log:
        served = await serve_events(nursery, log)
        ...
        await served.restart()  # same port, same log: connections are cut

Used by the client tests and the ``asm events`` command tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import hypercorn
import hypercorn.trio
import trio
from hypercorn.typing import ASGIFramework

from transport.event_log import EventLog
from transport.events import TokenVerifier, create_events_app, issue_token

SECRET = b"test-secret-for-the-events-api-0123456789"
ALL_SCOPES = "events:send events:listen inference:admin"


def token(scopes: str = ALL_SCOPES, *, subject: str = "alice", secret: bytes = SECRET) -> str:
    return issue_token(secret, subject=subject, scopes=scopes, ttl_seconds=3600)


async def serve_asgi(
    nursery: trio.Nursery, app: Any, bind: str = "127.0.0.1:0"
) -> tuple[str, trio.CancelScope]:
    """Serve ``app`` on ``bind``; its origin, and the scope that stops it abruptly."""
    config = hypercorn.Config()
    config.bind = [bind]
    config.accesslog = None
    config.graceful_timeout = 0.1
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await hypercorn.trio.serve(cast(ASGIFramework, app), config, task_status=task_status)

    urls: list[str] = await nursery.start(run)
    return urls[0], scope


@dataclass
class ServedEvents:
    """The Events API over ``log`` at ``base_url``."""

    nursery: trio.Nursery
    log: EventLog
    base_url: str
    keepalive_seconds: float
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def stop(self) -> None:
        """Cut the server off: every open connection is dropped mid-stream."""
        self.scope.cancel()

    async def start_again(self) -> None:
        """Serve the same log on the same port again."""
        port = self.base_url.rsplit(":", 1)[1]
        app = create_events_app(
            self.log, TokenVerifier(SECRET), keepalive_seconds=self.keepalive_seconds
        )
        _, self.scope = await serve_asgi(self.nursery, app, f"127.0.0.1:{port}")


async def serve_events(
    nursery: trio.Nursery, log: EventLog, *, keepalive_seconds: float = 0.05
) -> ServedEvents:
    app = create_events_app(log, TokenVerifier(SECRET), keepalive_seconds=keepalive_seconds)
    base_url, scope = await serve_asgi(nursery, app)
    return ServedEvents(nursery, log, base_url, keepalive_seconds, scope)


class ScriptedStreamApp:
    """An ASGI app that answers each request with the next scripted (status, chunks),
    and, once the script is done, a 200 stream that stays silent. It records each
    request's query string."""

    def __init__(self, answers: list[tuple[int, list[bytes]]]) -> None:
        self.answers = list(answers)
        self.queries: list[str] = []

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        self.queries.append(scope["query_string"].decode())
        scripted = bool(self.answers)
        status, chunks = self.answers.pop(0) if scripted else (200, [])
        content_type = b"application/x-ndjson" if status == 200 else b"application/json"
        start = {"type": "http.response.start", "status": status}
        await send({**start, "headers": [(b"content-type", content_type)]})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if not scripted:
            await trio.sleep_forever()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
