"""A minimal HTTP/1.1 SSE reader for ``benchmarks/endpoint.py``: it stamps bytes on arrival.

A client library stamps a chunk only after its own buffering and line splitting; this
reader takes the clock as soon as ``receive_some`` returns, so the relay it measures is
the server's (CLI line written → bytes at the client's socket). It speaks just enough
HTTP/1.1 for one streamed POST: a ``Content-Length`` request, and a chunked (or
until-close) response whose SSE ``data:`` lines are handed back with their arrival time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import msgspec
import trio

__all__ = ["sse_data_lines"]


class _Chunked:
    """Incremental decoder of a chunked body: fed raw bytes, gives the payload bytes."""

    def __init__(self) -> None:
        self._buffer = b""
        self._payload = 0  # payload bytes still due in the current chunk
        self._crlf = 0  # bytes of the CRLF after it still due
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while self._buffer and not self.done:
            if self._payload:
                out += self._buffer[: self._payload]
                taken = min(self._payload, len(self._buffer))
                self._buffer, self._payload = self._buffer[taken:], self._payload - taken
            elif self._crlf:
                taken = min(self._crlf, len(self._buffer))
                self._buffer, self._crlf = self._buffer[taken:], self._crlf - taken
            else:
                line, found, rest = self._buffer.partition(b"\r\n")
                if not found:
                    break
                size = int(line.split(b";", 1)[0], 16)
                self._buffer, self._payload, self._crlf = rest, size, 2
                self.done = size == 0
        return bytes(out)


async def sse_data_lines(
    url: str, headers: Mapping[str, str], body: object
) -> AsyncIterator[tuple[int, str]]:
    """POST ``body`` as JSON to ``url``; yield (arrival ``monotonic_ns``, data) per SSE line."""
    parts = urlsplit(url)
    payload = msgspec.json.encode(body)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    async with await trio.open_tcp_stream(parts.hostname or "", parts.port or 80) as stream:
        await stream.send_all(request)
        received = b""
        while b"\r\n\r\n" not in received:
            data = await stream.receive_some()
            if not data:
                raise ConnectionError("the server closed before its response head")
            received += data
        arrived = time.monotonic_ns()
        response_head, _, rest = received.partition(b"\r\n\r\n")
        status = response_head.split(b" ", 2)[1]
        if status != b"200":
            raise ConnectionError(f"status {status.decode()}: {rest[:500]!r}")
        chunked = _Chunked() if b"transfer-encoding: chunked" in response_head.lower() else None
        text = b""
        while True:
            text += chunked.feed(rest) if chunked else rest
            *lines, text = text.split(b"\n")
            for line in lines:
                if line.startswith(b"data: "):
                    yield arrived, line[len(b"data: ") :].decode()
            if chunked is not None and chunked.done:
                return
            rest = await stream.receive_some()
            arrived = time.monotonic_ns()
            if not rest:
                return
