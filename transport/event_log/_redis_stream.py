"""The streams of the Redis event log: broadcast (XREAD) and unicast (consumer groups).

Why they are shaped as they are is told in :mod:`transport.event_log.redis`; in short,
a broadcast stream only moves a cursor it keeps itself, so any read may be cancelled,
while a unicast read changes its group on the server, so it runs shielded and keeps
what it took until a ``receive`` returns it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from contracts.events import Event, ListenQuery
from transport.event_log._delivery import selects
from transport.event_log._redis_client import store_errors
from transport.event_log._redis_entries import (
    StreamId,
    decode_entry,
    format_stream_id,
    parse_stream_id,
)

if TYPE_CHECKING:
    from transport.event_log._redis_client import Client

__all__ = ["RedisBroadcastStream", "RedisUnicastStream"]

_BATCH: Final = 100
_BROADCAST_BLOCK_MS: Final = 2000
_UNICAST_BLOCK_SECONDS: Final = 0.5
_CLAIM_EVERY_SECONDS: Final = 1.0
_IO_SECONDS: Final = 30.0  # a shielded read that takes this much longer than its BLOCK


class RedisBroadcastStream:
    """Every matching entry after ``start``; up to ``end`` when not following."""

    def __init__(
        self,
        reader: Client,
        key: str,
        query: ListenQuery,
        *,
        start: StreamId,
        end: StreamId | None,
    ) -> None:
        self._reader = reader
        self._key = key
        self._query = query
        self._cursor = start  # the last entry read from Redis
        self._end = end
        self._buffer: deque[Event] = deque()

    async def receive(self) -> Event:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            while self._buffer:
                event = self._buffer.popleft()
                if selects(self._query, event):
                    return event
            async with store_errors("redis stream read failed"):
                entries = await self._read()
            # No checkpoint from here to the buffer: a cancelled read took nothing.
            for entry in entries:
                self._cursor = parse_stream_id(_text(entry.identifier))
                decoded = decode_entry(entry.identifier, entry.field_values)
                if decoded is not None:
                    self._buffer.append(decoded)

    async def _read(self) -> tuple[Any, ...]:
        cursor = format_stream_id(self._cursor)
        if self._end is None:
            reply = await self._reader.xread(
                {self._key: cursor}, count=_BATCH, block=_BROADCAST_BLOCK_MS
            )
            return next(iter(reply.values())) if reply else ()
        if self._cursor >= self._end:
            raise trio.EndOfChannel
        return await self._reader.xrange(
            self._key, f"({cursor}", format_stream_id(self._end), count=_BATCH
        )


class RedisUnicastStream:
    """One consumer of the Redis group ``<group>|<pattern>``."""

    def __init__(
        self,
        client: Client,
        reader: Client,
        key: str,
        group: str,
        query: ListenQuery,
        *,
        end: StreamId | None,
    ) -> None:
        self._client = client
        self._reader = reader
        self._key = key
        self._group = group
        self._query = query
        self._end = end
        self._held: Event | None = None  # taken from the group, not yet returned
        self._done = False
        self._claim_every = min(query.ack_wait / 2, _CLAIM_EVERY_SECONDS)
        self._block_ms = max(10, math.floor(min(_UNICAST_BLOCK_SECONDS, self._claim_every) * 1000))
        self._claim_from: StreamId = (0, 0)
        self._next_claim = -math.inf

    async def receive(self) -> Event:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._held is not None:
                event = self._held
                if self._query.ack == "auto":
                    await self._shielded(self._acknowledge, event.id)
                self._held = None
                return event
            if self._done:
                raise trio.EndOfChannel
            await self._shielded(self._fill)
            # Cancelled meanwhile: raise here, keeping what the fill took for next time.
            await trio.lowlevel.checkpoint_if_cancelled()

    async def _shielded(self, step: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``step`` to its end even if ``receive`` is cancelled meanwhile."""
        async with store_errors("redis group read failed"):
            with (
                trio.CancelScope(shield=True),
                trio.fail_after(self._block_ms / 1000 + _IO_SECONDS),
            ):
                await step(*args)

    async def _fill(self) -> None:
        """Take the next entry for this consumer into ``_held`` (or learn there is none)."""
        now = trio.current_time()
        if now >= self._next_claim:
            self._next_claim = now + self._claim_every
            if await self._claim():
                return
        block = None if self._end is not None else self._block_ms
        reply = await self._reader.xreadgroup(
            self._group, self._query.consumer, {self._key: ">"}, count=1, block=block
        )
        entries = next(iter(reply.values())) if reply else ()
        if not entries and self._end is not None:
            self._done = True
        for entry in entries:
            await self._take(entry)

    async def _claim(self) -> bool:
        """Take over one delivery whose ack wait is over; True when one was taken."""
        reply = await self._client.xautoclaim(
            self._key,
            self._group,
            self._query.consumer,
            math.ceil(self._query.ack_wait * 1000),
            format_stream_id(self._claim_from),
            count=1,
        )
        self._claim_from = parse_stream_id(_text(reply[0]))
        if self._claim_from != (0, 0):
            self._next_claim = -math.inf  # the scan of the pending list goes on
        taken = False
        for entry in reply[1]:
            taken = await self._take(entry) or taken
        return taken

    async def _take(self, entry: Any) -> bool:
        """Hold ``entry`` for the next ``receive``, or pass over one the query rejects."""
        event = decode_entry(entry.identifier, entry.field_values)
        if event is None or not selects(self._query, event):
            await self._acknowledge(_text(entry.identifier))
            return False
        self._held = event
        if self._end is not None and parse_stream_id(event.id) > self._end:
            self._done = True  # the backlog is over: this one is the last
        return True

    async def _acknowledge(self, event_id: str) -> None:
        await self._client.xack(self._key, self._group, [event_id])


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()
