"""An :class:`~transport.event_log.EventLog` that can be taken down and brought back.

It passes everything through to the log it wraps while up; while down, every call
raises :class:`~transport.event_log.StoreError`, as a store does that is out of reach,
and streams blocked in ``receive`` fail at once (a Redis connection cut under them)::

    log = FlakyEventLog(inner)
    log.down()
    with pytest.raises(StoreError):
        await log.append([PublishEnvelope(name="a.b")], identity_id="alice")
    log.up()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio

from contracts.events import Event, ListenQuery, PublishEnvelope
from transport.event_log import EventLog, EventStream, StoreError


class FlakyEventLog:
    """``inner`` while up; :class:`StoreError` everywhere while down. ``opened`` counts
    the listens entered (a resumed stream opens one more)."""

    def __init__(self, inner: EventLog) -> None:
        self.inner = inner
        self.opened = 0
        self._down = False
        self._receiving: set[trio.CancelScope] = set()

    @property
    def backend(self) -> str:
        return self.inner.backend

    def down(self) -> None:
        self._down = True
        for scope in self._receiving:
            scope.cancel()

    def up(self) -> None:
        self._down = False

    def _check(self) -> None:
        if self._down:
            raise StoreError("the store is out of reach")

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        self._check()
        return await self.inner.append(envelopes, identity_id=identity_id)

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        return self._listen(query)

    @asynccontextmanager
    async def _listen(self, query: ListenQuery) -> AsyncIterator[EventStream]:
        self._check()
        async with self.inner.listen(query) as stream:
            self.opened += 1
            yield _FlakyStream(self, stream)

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        self._check()
        return await self.inner.ack(group, consumer, event_id)

    async def _receive(self, stream: EventStream) -> Event:
        self._check()
        with trio.CancelScope() as scope:
            self._receiving.add(scope)
            try:
                return await stream.receive()
            finally:
                self._receiving.discard(scope)
        raise StoreError("the connection to the store was lost")


class _FlakyStream:
    def __init__(self, log: FlakyEventLog, inner: EventStream) -> None:
        self._log = log
        self._inner = inner

    async def receive(self) -> Event:
        return await self._log._receive(self._inner)
