"""One ASGI application for one port: the Bus Events API beside the endpoint app.

``asm serve`` answers the endpoint routes (SPEC §3) and the Bus Events API (BUS.md §2)
on one socket. Requests under ``/api/v1/events`` (``/api/v1/events``, ``…:batch``,
``…/stream``, ``…/ack``, ``…/capabilities``) go to the events app; everything else,
``/healthz`` included, to the endpoint app. ``GET /openapi.json`` (the document of
every route, :mod:`transport.openapi`) is answered here, for loopback peers::

    app = HttpSurface(endpoint_app, events_app)
    base_url = await nursery.start(serve_http, app, "127.0.0.1:0")

The lifespan is answered here: both apps start before the first request and stop
after the last. Each HTTP request gets a fresh request id (:mod:`transport.http.request_context`,
echoed as the ``x-request-id`` header) and one INFO access line on ``asm.http`` naming
its method, route group, status and duration (``POST leases 200 412ms``), never its path
or headers. With a :class:`Metrics`, requests
are counted and ``GET /metrics`` is answered here (loopback peers only).

HTTP/2 is not served (**decided**): hypercorn accepts an ``Upgrade: h2c`` and
prior-knowledge HTTP/2 on cleartext and cannot be told not to, so a request that arrives
as HTTP/2 is answered 505 before it reaches a route. No client of a loopback endpoint
needs it, and behind a proxy that forwards ``Upgrade`` an h2c connection would pass the
proxy's path rules by.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope
from quart_trio import QuartTrio

from transport.http import (
    METRICS_PATH,
    Metrics,
    begin_request,
    is_loopback_peer,
    route_group,
    send_metrics,
)
from transport.openapi import openapi_document

__all__ = ["EVENTS_PREFIX", "OPENAPI_PATH", "HttpSurface", "is_events_path"]

EVENTS_PREFIX = "/api/v1/events"
OPENAPI_PATH = "/openapi.json"

log = logging.getLogger("asm.http")


_HTTP2_REFUSAL = (
    b'{"error":{"type":"http_version_not_supported","code":"http_version_not_supported",'
    b'"message":"HTTP/2 is not served here: use HTTP/1.1"}}'
)


async def _send_json(send: ASGISendCallable, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    start: ASGISendEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": headers,
        "trailers": False,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def is_events_path(path: str) -> bool:
    """Whether ``path`` is one of the Bus Events API's."""
    if not path.startswith(EVENTS_PREFIX):
        return False
    rest = path[len(EVENTS_PREFIX) :]
    return rest == "" or rest[0] in "/:"


class HttpSurface:
    """Routes each request to the app that owns its path (see the module docstring)."""

    def __init__(
        self,
        endpoint_app: QuartTrio,
        events_app: QuartTrio | None,
        metrics: Metrics | None = None,
    ) -> None:
        self._endpoint_app = endpoint_app
        self._events_app = events_app
        self._metrics = metrics
        self._openapi = msgspec.json.encode(openapi_document())

    def _apps(self) -> list[QuartTrio]:
        return [app for app in (self._endpoint_app, self._events_app) if app is not None]

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope.get("http_version") == "2":
            await _send_json(send, 505, _HTTP2_REFUSAL)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self._route(scope, receive, send)

    async def _route(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if self._events_app is not None and is_events_path(str(scope.get("path", ""))):
            await self._events_app(scope, receive, send)
        else:
            await self._endpoint_app(scope, receive, send)

    async def _http(self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        path: str = scope.get("path", "")
        request_id = begin_request(path).encode()
        status, began = 0, trio.current_time()

        async def send_with_id(message: ASGISendEvent) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id)]
                message = {**message, "headers": headers}
            await send(message)

        try:
            loopback = is_loopback_peer(scope.get("client"))
            if self._metrics is not None and path == METRICS_PATH and scope["method"] == "GET":
                await send_metrics(self._metrics, loopback=loopback, send=send_with_id)
            elif path == OPENAPI_PATH and scope["method"] == "GET" and loopback:
                await _send_json(send_with_id, 200, self._openapi)
            else:  # a remote peer asking for the document is refused by the endpoint app
                await self._route(scope, receive, send_with_id)
        finally:
            took = (trio.current_time() - began) * 1000
            log.info("%s %s %d %.0fms", scope.get("method", "?"), route_group(path), status, took)
            if self._metrics is not None:
                self._metrics.http_request(path, status)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        # As quart-trio's own lifespan does: the apps' nursery lives as long as the
        # lifespan (nothing of ours runs in it; quart's shutdown cancels it).
        async with trio.open_nursery() as nursery:
            for app in self._apps():
                app.nursery = nursery
            await self._lifespan_messages(receive, send)

    async def _lifespan_messages(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for app in self._apps():
                        await app.startup()
                except Exception as exc:  # reported to the server, which then stops
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for app in reversed(self._apps()):
                    await app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
