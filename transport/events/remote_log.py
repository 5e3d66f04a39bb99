"""The :class:`~transport.event_log.EventLog` of a remote Bus Events API (BUS.md §3).

The bridge actor runs the same code against the embedded log and against another
server's API::

    async with EventsClient(url, token) as client:
        log = RemoteEventLog(client)
        async with log.listen(ListenQuery(pattern="bus.inference.status.request",
                                          delivery="unicast", group="asm-inference",
                                          ack="explicit")) as stream:
            request = await stream.receive()
            await log.append([response], identity_id="bridge")
            await log.ack("asm-inference", "default", request.id)

``append`` is one batch publish (all or none, as the Protocol asks); ``listen`` is a
reconnecting stream read by a task of the ``listen`` block, which hands events over a
memory channel without a buffer, so ``receive`` is cancel-safe: cancelled, it has taken
nothing, and the reader keeps the event for the next call. ``ack`` is the ack route.

A refused token (:class:`~transport.events.EventsAuthError`) is raised as is,
from ``append`` or out of the ``listen`` block: retrying cannot help, so it must not be
mistaken for a store that is briefly away (:class:`~transport.event_log.StoreError`,
raised when the server cannot be reached or answers 5xx). The ``identity_id`` of what
is appended is the token's subject: the server stamps it, whatever the caller says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

import msgspec
import trio

from contracts.events import Event, ListenQuery, PublishEnvelope
from transport.event_log import StoreError
from transport.events.client import EventsClient
from transport.events.errors import EventsError, EventsUnavailableError
from transport.events.subscription import EventSubscription
from transport.http import sole_exception

__all__ = ["RemoteEventLog"]

_NULL: Final = msgspec.Raw(b"null")


class RemoteEventStream:
    """The receiving end of a remote listen: events in log order, cancel-safe."""

    def __init__(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        self._events = events
        self.failure: EventsError | None = None

    async def receive(self) -> Event:
        """The next event; :class:`trio.EndOfChannel` after a ``follow=False`` backlog, or
        the :class:`~transport.events.EventsError` that ended the stream."""
        try:
            return await self._events.receive()
        except trio.EndOfChannel:
            if self.failure is not None:
                raise self.failure from None
            raise


class RemoteEventLog:
    """An :class:`~transport.event_log.EventLog` over :class:`EventsClient`."""

    def __init__(self, client: EventsClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"RemoteEventLog({self._client.origin!r})"

    @property
    def backend(self) -> str:
        return "remote"

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        """Publish the envelopes as one batch; the events as the server stored them."""
        try:
            receipts = await self._client.publish_batch(envelopes)
        except EventsUnavailableError as error:
            raise StoreError(f"the Bus Events API cannot take events: {error}") from None
        identity = self._client.subject or identity_id
        return [
            Event(
                id=receipt.id,
                name=receipt.name,
                payload=envelope.payload if isinstance(envelope.payload, msgspec.Raw) else _NULL,
                correlation_id=receipt.correlation_id,
                correlation_id_camel=receipt.correlation_id,
                metadata=envelope.metadata if isinstance(envelope.metadata, dict) else {},
                identity_id=identity,
                created_at=receipt.created_at,
            )
            for envelope, receipt in zip(envelopes, receipts, strict=True)
        ]

    @asynccontextmanager
    async def listen(self, query: ListenQuery) -> AsyncIterator[RemoteEventStream]:
        """The events ``query`` selects; entering connects (a refused token raises here)."""
        send, receive = trio.open_memory_channel[Event](0)
        stream = RemoteEventStream(receive)
        try:
            async with self._client.stream(query) as subscription, trio.open_nursery() as nursery:
                nursery.start_soon(_read, subscription, send, stream)
                try:
                    yield stream
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The nursery wraps what the body raises; hand it back as it was raised, as
            # the embedded logs do.
            sole = sole_exception(group)
            if sole is None:
                raise
            raise sole from sole.__cause__

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        """Acknowledge an explicit-ack delivery; False when nothing of that is pending."""
        try:
            return await self._client.ack(group, consumer, event_id)
        except EventsUnavailableError as error:
            raise StoreError(f"the Bus Events API cannot take the ack: {error}") from None


async def _read(
    subscription: EventSubscription,
    send: trio.MemorySendChannel[Event],
    stream: RemoteEventStream,
) -> None:
    """Move events from the HTTP stream to the channel until the stream ends; a failure
    is handed to the receiver (as the end of its stream) rather than raised here, where
    it would reach the caller wrapped in the nursery's exception group."""
    async with send:
        try:
            async for event in subscription:
                await send.send(event)
        except EventsError as error:
            stream.failure = error
