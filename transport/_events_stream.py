"""The NDJSON body of ``GET /api/v1/events/stream`` (BUS.md §2.2).

One event per line, each line its own body chunk (hypercorn writes it out at once); a
blank line after ``keepalive_seconds`` of silence, so proxies and clients see the
connection alive; a ``follow=false`` stream ends once its backlog is delivered::

    response = await ndjson_response(log, query, keepalive_seconds=15.0)

The listen is opened before the response is made, so an ``after`` cursor the log
refuses (:class:`~transport.event_log.CursorError`) or a store that is down
(:class:`~transport.event_log.StoreError`) is an HTTP error rather than a 200 that ends
at once. The generator keeps the listen's ``async with`` open while Quart sends the
body, and Quart closes the body however sending ends (done, client gone, cancelled), so
the listen is always left (a response dropped before Quart sends it, the client gone
just then, is closed by Trio's async-generator finalizer instead). No ``yield``
happens inside a cancel scope of the generator: the keep-alive timeout is opened and
closed around each ``receive``, which is cancel-safe, so a timeout loses no event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Final

import msgspec
import trio
from quart import Response

from contracts.events import Event
from contracts.events_listen import ListenQuery
from transport.event_log import EventLog, EventStream, StoreError
from transport.metrics import Metrics

__all__ = ["KEEPALIVE_LINE", "NDJSON", "encode_line", "ndjson_response"]

_log = logging.getLogger(__name__)

NDJSON: Final = "application/x-ndjson"
KEEPALIVE_LINE: Final = b"\n"
_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_ENCODER: Final = msgspec.json.Encoder()


async def ndjson_response(
    log: EventLog, query: ListenQuery, *, keepalive_seconds: float, metrics: Metrics | None = None
) -> Response:
    """A 200 ``application/x-ndjson`` streaming the events ``query`` selects (each event
    sent counted on ``metrics`` when given).

    Raises what opening the listen raises (CursorError, StoreError), before any byte.
    """
    lines = _lines(log.listen(query), keepalive_seconds, metrics)
    await anext(lines)  # enters the listen
    # Quart wraps the generator in a body that closes it however sending ends.
    response = Response(lines, 200, _HEADERS, mimetype=NDJSON)
    response.timeout = None  # a stream lasts as long as its listener wants
    return response


def encode_line(event: Event) -> bytes:
    """One NDJSON line: the event, its correlation id under both keys."""
    return _ENCODER.encode(event) + b"\n"


async def _lines(
    listening: AbstractAsyncContextManager[EventStream],
    keepalive_seconds: float,
    metrics: Metrics | None,
) -> AsyncGenerator[bytes, None]:
    async with listening as stream:
        yield b""  # the listen is open: the route may commit the 200
        yield b""  # the body's first chunk: hypercorn sends the headers with it
        while True:
            try:
                event = await _next_event(stream, keepalive_seconds)
            except trio.EndOfChannel:
                return  # follow=false: the backlog is delivered
            except StoreError:
                # The 200 is sent: end the stream; the listener reconnects with
                # Last-Event-ID and resumes where it stopped.
                _log.warning("event stream ended: the event store failed", exc_info=True)
                return
            if event is None:
                yield KEEPALIVE_LINE
                continue
            if metrics is not None:
                metrics.delivered()
            yield encode_line(event)


async def _next_event(stream: EventStream, seconds: float) -> Event | None:
    """The next event, or None after ``seconds`` of silence (nothing is lost then)."""
    with trio.move_on_after(seconds):
        return await stream.receive()
    return None
