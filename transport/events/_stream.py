"""The NDJSON body of ``GET /api/v1/events/stream`` (BUS.md §2.2).

One event per line, each line its own body chunk (hypercorn writes it out at once); a
blank line after ``keepalive_seconds`` of silence, so proxies and clients see the
connection alive; a ``follow=false`` stream ends once its backlog is delivered::

    response = await ndjson_response(events, query, keepalive_seconds=15.0)

The listen is opened before the response is made, so an ``after`` cursor the log
refuses (:class:`~transport.event_log.CursorError`) or a store that is down
(:class:`~transport.event_log.StoreError`) is an HTTP error rather than a 200 that ends
at once. The generator keeps the listen's ``async with`` open while Quart sends the
body, and Quart closes the body however sending ends (done, client gone, cancelled), so
the listen is always left (a response dropped before Quart sends it, the client gone
just then, is closed by Trio's async-generator finalizer instead). No ``yield``
happens inside a cancel scope of the generator: the keep-alive timeout is opened and
closed around each ``receive``, which is cancel-safe, so a timeout loses no event.

A store that fails after the 200 does not end the stream: it waits, sending keep-alives,
and opens the listen again (jittered backoff, :data:`STORE_WAIT`) with the query resumed
where it stopped (:meth:`ListenQuery.resumed`: after the last event sent, or the group's
cursor), so a curl listener rides out a Redis restart like the client library does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Final

import trio
from quart import Response

from contracts.events import Event, ListenQuery, event_line
from transport.event_log import EventLog, EventStream, StoreError
from transport.http import Backoff, Metrics

__all__ = ["KEEPALIVE_LINE", "NDJSON", "encode_line", "ndjson_response"]

log = logging.getLogger("asm.events")

NDJSON: Final = "application/x-ndjson"
KEEPALIVE_LINE: Final = b"\n"
_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}
STORE_WAIT: Final = Backoff(initial=0.5, maximum=10.0)
"""How a stream whose 200 is sent waits for a store that failed under it."""


async def ndjson_response(
    events: EventLog,
    query: ListenQuery,
    *,
    keepalive_seconds: float,
    metrics: Metrics | None = None,
    backoff: Backoff = STORE_WAIT,
) -> Response:
    """A 200 ``application/x-ndjson`` streaming the events ``query`` selects (each event
    sent counted on ``metrics`` when given).

    Raises what opening the listen raises (CursorError, StoreError), before any byte. A
    store that fails once the 200 is sent is waited for (``backoff``), keep-alives going
    on meanwhile, and the stream resumes where it stopped.
    """
    lines = _lines(events, query, keepalive_seconds, metrics, backoff)
    await anext(lines)  # enters the listen
    # Quart wraps the generator in a body that closes it however sending ends.
    response = Response(lines, 200, _HEADERS, mimetype=NDJSON)
    response.timeout = None  # a stream lasts as long as its listener wants
    return response


def encode_line(event: Event) -> bytes:
    """One NDJSON line: the event, its correlation id under both keys, never a line
    break inside it (:func:`contracts.events.event_line`)."""
    return event_line(event)


async def _lines(
    events: EventLog,
    query: ListenQuery,
    keepalive_seconds: float,
    metrics: Metrics | None,
    backoff: Backoff,
) -> AsyncGenerator[bytes, None]:
    opened_at = trio.current_time()
    last_id: str | None = None
    sent_headers = False
    delays = backoff.delays()
    while True:
        resumed = query.resumed(last_id, trio.current_time() - opened_at)
        try:
            async with events.listen(resumed) as stream:
                if not sent_headers:
                    yield b""  # the listen is open: the route may commit the 200
                    yield b""  # the body's first chunk: hypercorn sends the headers with it
                    sent_headers = True
                else:
                    log.info("event stream %s resumed after %s", query.pattern, last_id)
                delays = backoff.delays()
                while True:
                    try:
                        event = await _next_event(stream, keepalive_seconds)
                    except trio.EndOfChannel:
                        return  # follow=false: the backlog is delivered
                    if event is None:
                        yield KEEPALIVE_LINE
                        continue
                    if metrics is not None:
                        metrics.delivered()
                    last_id = event.id
                    yield encode_line(event)
        except StoreError as error:
            if not sent_headers:
                raise  # before the 200: the route answers 503
            delay = next(delays)
            log.warning(
                "event stream %s waits for the event store (%s); retrying in %.1f s",
                query.pattern,
                error,
                delay,
            )
        # The 200 is sent: wait for the store, keeping the connection alive.
        async for line in _keepalives(delay, keepalive_seconds):
            yield line


async def _keepalives(seconds: float, every: float) -> AsyncGenerator[bytes, None]:
    """Blank lines, one each ``every`` seconds, for ``seconds`` (the last one at the end)."""
    end = trio.current_time() + seconds
    while (left := end - trio.current_time()) > 0:
        await trio.sleep(min(left, every))
        yield KEEPALIVE_LINE


async def _next_event(stream: EventStream, seconds: float) -> Event | None:
    """The next event, or None after ``seconds`` of silence (nothing is lost then)."""
    with trio.move_on_after(seconds):
        return await stream.receive()
    return None
