"""An :class:`~transport.event_log.EventLog` wrapper that records publishes and acks.

It passes everything through to the log it wraps, notes each step in order, and can make
the next ack raise (a bridge that crashes between publishing a response and acking)::

    log = RecordingEventLog(inner)
    log.crash_next_ack()
    await log.acked(request.id)                 # waits for the ack of that request
    assert log.steps == [("publish", request.id), ("ack", request.id)]
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

import trio

from contracts.events import Event, ListenQuery, PublishEnvelope
from transport.event_log import EventLog, EventStream


class SimulatedCrash(Exception):
    """Raised by an ack told to crash."""


class RecordingEventLog:
    """Records ``("publish", request_id)`` and ``("ack", event_id)`` steps in order."""

    def __init__(self, inner: EventLog) -> None:
        self.inner = inner
        self.steps: list[tuple[str, str]] = []
        self.ack_results: dict[str, bool] = {}
        self._crash = False
        self._changed = trio.Event()

    @property
    def backend(self) -> str:
        return self.inner.backend

    def crash_next_ack(self) -> None:
        self._crash = True

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        events = await self.inner.append(envelopes, identity_id=identity_id)
        for event in events:
            self.steps.append(("publish", str(event.metadata.get("request_id"))))
        self._note()
        return events

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        return self.inner.listen(query)

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        if self._crash:
            self._crash = False
            self.steps.append(("crash", event_id))
            self._note()
            raise SimulatedCrash(f"ack of {event_id}")
        result = await self.inner.ack(group, consumer, event_id)
        self.steps.append(("ack", event_id))
        self.ack_results[event_id] = result
        self._note()
        return result

    async def acked(self, event_id: str) -> bool:
        """Wait for the ack of ``event_id``; whether it was pending then."""
        while event_id not in self.ack_results:
            await self._changed.wait()
        return self.ack_results[event_id]

    async def crashed(self) -> None:
        """Wait until an ack has crashed."""
        while not any(kind == "crash" for kind, _ in self.steps):
            await self._changed.wait()

    def _note(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
