"""One listener of the sqlite event log (see :mod:`transport.event_log.sqlite`).

Cancel safety: a broadcast stream reads ahead into its own buffer, and a read that was
cancelled still lands there (worker threads are not abandoned), so the next ``receive``
returns it. A unicast delivery is decided synchronously and then persisted under a
shield, so a delivery that was decided is also returned.
"""

from __future__ import annotations

import math
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Final

import trio

from contracts.events import Event, ListenQuery
from transport.event_log import _sqlite_store as store
from transport.event_log._delivery import UnicastGroup, selects

if TYPE_CHECKING:
    from transport.event_log.sqlite import SqliteEventLog

__all__ = ["SqliteEventStream"]

_FETCH: Final = 64


class SqliteEventStream:
    """The events one listener of a :class:`SqliteEventLog` receives."""

    def __init__(
        self,
        log: SqliteEventLog,
        query: ListenQuery,
        *,
        start: int,
        end: int | None,
        group: UnicastGroup | None,
    ) -> None:
        self._log = log
        self._query = query
        self._position = start  # broadcast: every match up to here is in the buffer or gone
        self._end = end  # follow=False: the last id of the backlog
        self._group = group
        self._buffer: deque[Event] = deque()

    async def receive(self) -> Event:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            woken = self._log.appended
            if self._group is None:
                event = await self._next_broadcast()
            else:
                event = await self._next_unicast(self._group)
            if event is not None:
                return event
            if self._end is not None or self._log.closed:
                raise trio.EndOfChannel
            with trio.move_on_after(self._wait_seconds()):
                await woken.wait()

    def _limit(self) -> int:
        return self._log.last_id if self._end is None else min(self._end, self._log.last_id)

    def _fetch(self, after: int, until: int) -> partial[list[Event]]:
        return partial(
            store.fetch_after,
            after=after,
            until=until,
            pattern=self._query.pattern,
            correlation_id=self._query.correlation_id,
            count=_FETCH,
        )

    async def _next_broadcast(self) -> Event | None:
        if not self._buffer:
            limit = self._limit()
            if self._position >= limit:
                return None
            events = await self._log.read(self._fetch(self._position, limit))
            self._buffer.extend(events)
            # Fewer than asked: nothing else up to ``limit`` matches.
            self._position = int(events[-1].id) if len(events) == _FETCH else limit
        return self._buffer.popleft() if self._buffer else None

    async def _next_unicast(self, group: UnicastGroup) -> Event | None:
        redelivered = await self._redeliver(group)
        if redelivered is not None:
            return redelivered
        while True:
            limit, cursor = self._limit(), group.cursor
            if cursor >= limit:
                return None
            events = await self._log.read(self._fetch(cursor, limit))
            for event in events:
                if int(event.id) > group.cursor:  # not taken by another consumer meanwhile
                    return await self._claim(group, event)
            if len(events) < _FETCH:
                group.cursor = max(group.cursor, limit)  # nothing else matches up to there
                return None

    async def _redeliver(self, group: UnicastGroup) -> Event | None:
        """An expired explicit-ack delivery of the group, taken over by this consumer."""
        expired = [
            event_id
            for event_id in group.expired(self._log.now)
            if self._end is None or event_id <= self._end
        ]
        if not expired:
            return None
        found = await self._log.read(partial(store.fetch_ids, ids=expired))
        now = self._log.now
        for event_id in expired:
            entry = group.pending.get(event_id)
            if entry is None or entry.deadline > now:
                continue  # acknowledged or taken over meanwhile
            event = found.get(event_id)
            if event is None:  # dropped by retention
                del group.pending[event_id]
            elif selects(self._query, event):
                return await self._claim(group, event)
        return None

    async def _claim(self, group: UnicastGroup, event: Event) -> Event:
        """Hand ``event`` to this consumer, and persist that before returning it."""
        event_id = int(event.id)
        group.hand_out(event_id, self._query.consumer, now=self._log.now, query=self._query)
        entry = group.pending.get(event_id)
        save = partial(
            store.save_claim,
            pattern=group.pattern,
            name=group.name,
            cursor=group.cursor,
            event_id=event_id,
            pending=None if entry is None else (entry.consumer, entry.deadline),
        )
        with trio.CancelScope(shield=True):
            await self._log.write(save)
        return event

    def _wait_seconds(self) -> float:
        """How long to wait for an append: until a pending delivery returns, at most."""
        deadline = self._group.next_deadline() if self._group is not None else None
        return math.inf if deadline is None else max(deadline - self._log.now, 0.001)
