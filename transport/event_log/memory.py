"""The in-memory event log: tests and throwaway runs, not durable (BUS.md §2.4).

Ids are the decimal integers ``"1"``, ``"2"``, … in append order::

    async with open_memory_log() as log:
        [event] = await log.append([PublishEnvelope(name="jobs.new")], identity_id="alice")
        query = ListenQuery(pattern="jobs.*", replay=True, follow=False)
        async with log.listen(query) as stream:
            assert (await stream.receive()).id == event.id

Listeners wait on a :class:`trio.Event` that every append sets and replaces, so taking
an event never awaits: ``receive`` is cancel-safe because nothing is taken until it is
returned. Events older than :data:`RETENTION_SECONDS` are dropped from the front now and
then; the per-name count limit is not applied here (a throwaway log stays far below it).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

import trio

from contracts.events import Event, ListenQuery, PublishEnvelope, format_timestamp, stored_event
from transport.event_log._delivery import GroupTable, UnicastGroup, parse_cursor, selects
from transport.event_log.base import RETENTION_SECONDS, StoreError

__all__ = ["MemoryEventLog", "open_memory_log"]

Clock = Callable[[], float]

_TRIM_EVERY: Final = 1024


@asynccontextmanager
async def open_memory_log(*, clock: Clock = time.time) -> AsyncIterator[MemoryEventLog]:
    """A fresh, empty in-memory log; ``clock`` gives wall seconds (``created_at``)."""
    log = MemoryEventLog(clock)
    try:
        yield log
    finally:
        log.close()


class MemoryEventLog:
    """The :class:`~transport.event_log.EventLog` kept in a Python list."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._events: list[Event] = []
        # ``created`` never decreases, so "where does the last minute start" is a bisect.
        self._created: list[float] = []
        self._first_id = 1  # the id of self._events[0]
        self._groups = GroupTable()
        self._appended = trio.Event()
        self._closed = False
        self._since_trim = 0

    @property
    def backend(self) -> str:
        return "memory"

    def close(self) -> None:
        self._closed = True
        self._wake()

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise StoreError("the event log is closed")
        now = self._clock()
        created = max(now, self._created[-1]) if self._created else now
        created_at = format_timestamp(now)
        next_id = self.last_id + 1
        stored = [
            stored_event(
                envelope,
                event_id=str(next_id + offset),
                identity_id=identity_id,
                created_at=created_at,
            )
            for offset, envelope in enumerate(envelopes)
        ]
        self._events.extend(stored)
        self._created.extend([created] * len(stored))
        self._since_trim += len(stored)
        if self._since_trim >= _TRIM_EVERY:
            self._trim(now)
        self._wake()
        return stored

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[MemoryEventStream]:
        return self._listen(query)

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        await trio.lowlevel.checkpoint()
        if not (event_id.isascii() and event_id.isdigit()):
            return False
        return bool(self._groups.ack(group, consumer, int(event_id)))

    # --- what the streams use ----------------------------------------------------------

    @property
    def last_id(self) -> int:
        return self._first_id + len(self._events) - 1

    @property
    def now(self) -> float:
        return self._clock()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def appended(self) -> trio.Event:
        """Set by the next append (or close); replaced then."""
        return self._appended

    def get(self, event_id: int) -> Event | None:
        index = event_id - self._first_id
        return self._events[index] if 0 <= index < len(self._events) else None

    def after(self, position: int, limit: int | None) -> Sequence[Event]:
        """The events with ids above ``position`` (and at most ``limit``), in order."""
        start = max(position + 1 - self._first_id, 0)
        stop = len(self._events) if limit is None else max(limit + 1 - self._first_id, 0)
        return self._events[start:stop]

    @asynccontextmanager
    async def _listen(self, query: ListenQuery) -> AsyncIterator[MemoryEventStream]:
        start = self._start(query)  # CursorError before anything else
        end = None if query.follow else self.last_id
        group = None
        if query.delivery == "unicast":
            group = self._groups.get(query.pattern, query.group)
            if group is None:
                group = self._groups.create(query.pattern, query.group, cursor=start)
        await trio.lowlevel.checkpoint()
        yield MemoryEventStream(self, query, start=start, end=end, group=group)

    def _start(self, query: ListenQuery) -> int:
        """The id a new stream (or a new group) starts after."""
        if query.after is not None:
            return min(parse_cursor(query.after), self.last_id)
        seconds_back = query.start_seconds_back()
        if seconds_back is None:  # replay
            return self._first_id - 1
        if seconds_back == 0:
            return self.last_id
        first_recent = bisect.bisect_left(self._created, self._clock() - seconds_back)
        return self._first_id + first_recent - 1

    def _wake(self) -> None:
        self._appended.set()
        self._appended = trio.Event()

    def _trim(self, now: float) -> None:
        self._since_trim = 0
        drop = bisect.bisect_left(self._created, now - RETENTION_SECONDS)
        if drop:
            del self._events[:drop]
            del self._created[:drop]
            self._first_id += drop


class MemoryEventStream:
    """One listener's view of a :class:`MemoryEventLog`."""

    def __init__(
        self,
        log: MemoryEventLog,
        query: ListenQuery,
        *,
        start: int,
        end: int | None,
        group: UnicastGroup | None,
    ) -> None:
        self._log = log
        self._query = query
        self._position = start  # broadcast: the last id this stream looked at
        self._end = end  # follow=False: the last id of the backlog
        self._group = group

    async def receive(self) -> Event:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            woken = self._log.appended
            now = self._log.now
            event = self._take(now) if self._group is None else self._take_unicast(now)
            if event is not None:
                return event
            if self._end is not None or self._log.closed:
                raise trio.EndOfChannel
            with trio.move_on_after(self._wait_seconds(now)):
                await woken.wait()

    def _take(self, now: float) -> Event | None:
        for event in self._log.after(self._position, self._end):
            self._position = int(event.id)
            if selects(self._query, event):
                return event
        return None

    def _take_unicast(self, now: float) -> Event | None:
        group, query = self._group, self._query
        assert group is not None
        for event_id in group.expired(now):
            if self._end is not None and event_id > self._end:
                break
            event = self._log.get(event_id)
            if event is None:  # trimmed by retention meanwhile
                del group.pending[event_id]
            elif selects(query, event):
                group.hand_out(event_id, query.consumer, now=now, query=query)
                return event
        for event in self._log.after(group.cursor, self._end):
            event_id = int(event.id)
            group.cursor = event_id
            if selects(query, event):
                group.hand_out(event_id, query.consumer, now=now, query=query)
                return event
        return None

    def _wait_seconds(self, now: float) -> float:
        """How long to wait for an append: until a pending delivery returns, at most."""
        deadline = self._group.next_deadline() if self._group is not None else None
        return math.inf if deadline is None else max(deadline - now, 0.001)
