"""The least HTTP/1.1 client ``benchmarks/events.py`` can use: h11 over one Trio socket.

A client library's own work would be counted as the server's when the client is the
bottleneck, and would delay the arrival stamps of a stream; h11 (hypercorn's own HTTP/1.1
parser, no connection pool, no retries) keeps the client's share small::

    async with await open_connection("http://127.0.0.1:8788") as connection:
        status = await connection.post("/api/v1/events", body, headers)
        async with connection.lines("/api/v1/events/stream?name=a.b", headers) as lines:
            async for arrived_ns, line in lines:
                ...

One connection carries one request at a time, kept alive between them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from urllib.parse import urlsplit

import h11
import trio

__all__ = ["Connection", "open_connection"]

Headers = Sequence[tuple[str, str]]
_RECEIVE_BYTES = 65536


class Connection:
    """One kept-alive HTTP/1.1 connection to the server at ``host``."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self._stream = stream
        self._host = host
        self._h11 = h11.Connection(h11.CLIENT)
        self._received_ns = 0  # when the last bytes came off the socket

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stream.aclose()

    async def post(self, path: str, body: bytes, headers: Headers) -> int:
        """POST ``body`` and read the whole response; returns its status."""
        head = [("Host", self._host), ("Content-Length", str(len(body))), *headers]
        await self._send(h11.Request(method="POST", target=path, headers=head), h11.Data(data=body))
        await self._send(h11.EndOfMessage())
        status = (await self._response()).status_code
        while not isinstance(await self._next_event(), h11.EndOfMessage):
            pass
        self._h11.start_next_cycle()
        return status

    @asynccontextmanager
    async def lines(
        self, path: str, headers: Headers
    ) -> AsyncIterator[AsyncIterator[tuple[int, bytes]]]:
        """GET a streamed body; once its 200 head is in, yields an iterator of
        (``time.monotonic_ns()`` as its bytes came off the socket, non-blank line)."""
        head = [("Host", self._host), *headers]
        await self._send(h11.Request(method="GET", target=path, headers=head))
        await self._send(h11.EndOfMessage())
        response = await self._response()
        if response.status_code != 200:
            raise ConnectionError(f"{path}: status {response.status_code}")
        yield self._lines()

    async def _lines(self) -> AsyncIterator[tuple[int, bytes]]:
        buffer = b""
        while True:
            event = await self._next_event()
            if not isinstance(event, h11.Data):
                return
            *complete, buffer = (buffer + bytes(event.data)).split(b"\n")
            for line in complete:
                if line.strip():
                    yield self._received_ns, line

    async def _send(self, *events: h11.Event) -> None:
        data = b"".join(self._h11.send(event) or b"" for event in events)
        await self._stream.send_all(data)

    async def _response(self) -> h11.Response:
        event = await self._next_event()
        while isinstance(event, h11.InformationalResponse):
            event = await self._next_event()
        if not isinstance(event, h11.Response):
            raise ConnectionError(f"expected a response, got {event!r}")
        return event

    async def _next_event(self) -> h11.Event:
        while True:
            event = self._h11.next_event()
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection")
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:  # a request sent before the last response was read
                raise ConnectionError("the HTTP/1.1 connection is out of step")
            data = await self._stream.receive_some(_RECEIVE_BYTES)
            self._received_ns = time.monotonic_ns()
            self._h11.receive_data(data)


async def open_connection(base_url: str) -> Connection:
    """A connection to ``base_url`` (``http://127.0.0.1:PORT``)."""
    parts = urlsplit(base_url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"not an http://HOST:PORT URL: {base_url}")
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    return Connection(stream, parts.netloc)
