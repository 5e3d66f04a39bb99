"""An :class:`~transport.event_log.EventLog` that stamps its own identity on every append.

A remote Bus Events API does this: the server stamps the token's subject as the
``identity_id`` of what a client publishes, whatever name the client asked for::

    log = StampingEventLog(memory_log, "svc-bridge")
    [event] = await log.append([envelope], identity_id="asm-inference-bridge")
    assert event.identity_id == "svc-bridge"
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from contracts.events import Event, ListenQuery, PublishEnvelope
from transport.event_log import EventLog, EventStream


class StampingEventLog:
    """Passes everything through to ``inner``; appends as ``stamp``."""

    def __init__(self, inner: EventLog, stamp: str) -> None:
        self.inner = inner
        self.stamp = stamp

    @property
    def backend(self) -> str:
        return self.inner.backend

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        return await self.inner.append(envelopes, identity_id=self.stamp)

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        return self.inner.listen(query)

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        return await self.inner.ack(group, consumer, event_id)
