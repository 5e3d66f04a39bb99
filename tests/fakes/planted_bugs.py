"""Test doubles with one planted contract bug each: our real apps behind a rewriting layer.

A :class:`PlantedBug` wraps an ASGI app; it may rewrite the request (path, query,
headers, body) before the app sees it and the whole response after. Everything else is
the real implementation, so when the conformance harness is run against the double the
only thing wrong is the planted bug, and the harness must name the rule it breaks::

    double = PlantedBug(app, "no_role_chunk", response=drop_first_sse_event)
    origin = await serve_on_loopback(nursery, double)

Responses are buffered whole when a response rewrite is set, so only rewrite answers
that end (the harness reads streams with ``follow=false`` or to ``[DONE]``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Headers = list[tuple[bytes, bytes]]


@dataclass
class Request:
    """What the client sent; a request rewrite may change any of it."""

    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)


@dataclass
class Response:
    """What the app answered, whole; a response rewrite may change any of it."""

    status: int
    headers: Headers
    body: bytes
    request: Request

    def set_header(self, name: bytes, value: bytes | None) -> None:
        self.headers = [(key, old) for key, old in self.headers if key.lower() != name]
        if value is not None:
            self.headers.append((name, value))


def decoded(data: bytes) -> Any:
    """``data`` as JSON, or None when it is not JSON (a rewrite leaves such bodies be)."""
    try:
        return json.loads(data)
    except ValueError:
        return None


RequestRewrite = Callable[[Request], None]
ResponseRewrite = Callable[[Response], None]


@dataclass
class PlantedBug:
    """``app`` with one contract bug named ``name``, planted by the rewrites."""

    app: Any
    name: str
    request: RequestRewrite | None = None
    response: ResponseRewrite | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Request(
            scope["method"], scope["path"], scope["query_string"], list(scope["headers"]), body
        )
        if self.request is not None:
            self.request(request)
        inner = dict(scope)
        inner.update(
            path=request.path,
            raw_path=request.path.encode(),
            query_string=request.query,
            headers=[
                (k, str(len(request.body)).encode()) if k == b"content-length" else (k, v)
                for k, v in request.headers
            ],
        )
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                message: dict[str, Any] = await receive()
                return message
            sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        if self.response is None:
            await self.app(inner, replay, send)
            return
        answer = Response(0, [], b"", request)

        async def collect(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer.body += message.get("body", b"")

        await self.app(inner, replay, collect)
        self.response(answer)
        answer.set_header(b"content-length", str(len(answer.body)).encode())
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})
