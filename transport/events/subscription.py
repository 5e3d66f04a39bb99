"""One listen query's events across reconnections (BUS.md §2.2, §3).

:class:`EventSubscription` reads the NDJSON stream of ``GET /api/v1/events/stream``,
skips the blank keep-alive lines, and when the connection is lost, the server ends a
following stream, or the server answers 5xx, it connects again after a bounded
exponential backoff (:class:`Backoff`, 1 s … 30 s by default)::

    async with client.stream(ListenQuery(pattern="bus.inference.*")) as events:
        async for event in events:
            ...

A broadcast stream resumes with ``after=<the last id it delivered>``, so nothing is
missed and nothing is delivered twice; before its first event it widens ``since`` by
the time that passed, so the window it asked for still starts where it did. A unicast
stream reconnects with its query unchanged: the group's cursor on the server says where
it resumes. 401 and 403 are never retried.

``receive`` may be cancelled: the connection it was reading is dropped, and the next
call resumes after the last delivered event (for broadcast; an auto-ack unicast event
in flight is the server's to redeliver or not, which is why
:class:`transport.events.RemoteEventLog` reads in a task of its own).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Final

import httpx
import msgspec
import trio

from contracts.events import Event, ListenQuery
from transport.events.errors import EventsProtocolError, EventsUnavailableError
from transport.http import Backoff

__all__ = ["EventSubscription", "stream_params"]

log = logging.getLogger("asm.events")

CLOSE_TIMEOUT_SECONDS: Final = 2.0
_EVENT: Final = msgspec.json.Decoder(Event)


Connect = Callable[[ListenQuery], Awaitable[httpx.Response]]
"""Opens the stream of a query: an answered 200 response whose body is not yet read;
raises :class:`EventsUnavailableError` for what is worth retrying, any other
:class:`~transport.events.EventsError` for what is not."""


def stream_params(query: ListenQuery) -> dict[str, str]:
    """The query string of ``GET /api/v1/events/stream`` for ``query`` (defaults left out)."""
    params = {"name": query.pattern}
    if query.delivery != "broadcast":
        params["delivery"] = query.delivery
    if query.group != "default":
        params["group"] = query.group
    if query.consumer != "default":
        params["consumer"] = query.consumer
    if query.replay:
        params["replay"] = "true"
    if query.after is not None:
        params["after"] = query.after
    if query.since is not None:
        params["since"] = f"{query.since:.3f}".rstrip("0").rstrip(".")
    if not query.follow:
        params["follow"] = "false"
    if query.correlation_id is not None:
        params["correlation_id"] = query.correlation_id
    if query.ack != "auto":
        params["ack"] = query.ack
        params["ack_wait"] = f"{query.ack_wait:g}"
    return params


class EventSubscription:
    """The events of one :class:`ListenQuery`, in log order, across reconnections.

    Use it through :meth:`transport.events.EventsClient.stream`, which opens the
    first connection (so auth errors surface there) and closes the last one.
    """

    def __init__(self, connect: Connect, query: ListenQuery, backoff: Backoff) -> None:
        self._connect = connect
        self._query = query
        self._backoff = backoff
        self._delays: Iterator[float] = backoff.delays()
        self._retrying = False
        self._response: httpx.Response | None = None
        self._lines: AsyncGenerator[bytes, None] | None = None
        self._last_id: str | None = None
        self._opened_at: float | None = None
        self._ended = False

    @property
    def query(self) -> ListenQuery:
        return self._query

    @property
    def last_id(self) -> str | None:
        """The id of the last event delivered, None before the first."""
        return self._last_id

    async def open(self, *, wait_for_server: bool = True) -> None:
        """Make the first connection; with ``wait_for_server`` False an unreachable
        server raises :class:`EventsUnavailableError` instead of being waited for."""
        if wait_for_server:
            await self._reconnect()
            return
        self._attach(await self._connect(self._resume_query()))

    async def receive(self) -> Event:
        """The next event; raises :class:`trio.EndOfChannel` once a ``follow=False``
        stream has delivered its backlog."""
        while True:
            if self._lines is None:
                if self._ended:
                    raise trio.EndOfChannel
                await self._reconnect()
                assert self._lines is not None
            try:
                line = await self._lines.__anext__()
            except StopAsyncIteration:
                await self._drop()
                if not self._query.follow:
                    self._ended = True
                    raise trio.EndOfChannel from None
                self._interrupted("the server ended the stream")
                continue
            except httpx.HTTPError as error:
                await self._drop()
                self._interrupted(str(error) or type(error).__name__)
                continue
            except BaseException:
                await self._drop()  # cancelled mid-line: the next call resumes
                raise
            if not line.strip():
                continue  # keep-alive
            try:
                event = _EVENT.decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                await self._drop()
                self._ended = True
                raise EventsProtocolError("the stream sent a line that is not an event") from None
            self._last_id = event.id
            return event

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the connection; the subscription delivers nothing more."""
        self._ended = True
        await self._drop()

    # --- connections ----------------------------------------------------------------

    def _resume_query(self) -> ListenQuery:
        if self._opened_at is None:  # the first attempt: the query as asked
            self._opened_at = trio.current_time()
            return self._query
        return self._query.resumed(self._last_id, trio.current_time() - self._opened_at)

    async def _reconnect(self) -> None:
        while True:
            if self._retrying:
                await trio.sleep(next(self._delays))
            try:
                response = await self._connect(self._resume_query())
            except EventsUnavailableError as error:
                self._interrupted(str(error))
                continue
            self._attach(response)
            return

    def _attach(self, response: httpx.Response) -> None:
        self._response = response
        self._lines = _ndjson_lines(response)
        self._delays = self._backoff.delays()
        self._retrying = False

    def _interrupted(self, reason: str) -> None:
        if not self._retrying:
            self._delays = self._backoff.delays()
        self._retrying = True
        log.warning(
            "events stream %s: %s; reconnecting (after %s)",
            self._query.pattern,
            reason,
            self._last_id or "the start",
        )

    async def _drop(self) -> None:
        lines, response = self._lines, self._response
        self._lines = self._response = None
        with trio.move_on_after(CLOSE_TIMEOUT_SECONDS) as scope:
            scope.shield = True
            if lines is not None:
                await lines.aclose()
            if response is not None:
                await response.aclose()


async def _ndjson_lines(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The lines of an NDJSON body, split at LF only: httpx's ``aiter_lines`` also splits
    at U+2028, U+0085 and others, which a JSON string may hold raw. An async generator,
    so :meth:`EventSubscription._drop` closes it rather than leaving it to the GC."""
    parts: list[bytes] = []
    async for chunk in response.aiter_bytes():
        *ends, rest = chunk.split(b"\n")
        for end in ends:
            parts.append(end)
            line = b"".join(parts)
            parts.clear()
            yield line
        if rest:
            parts.append(rest)
    if parts:
        yield b"".join(parts)
