"""Running an inference bridge on a log, publishing requests and reading their responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from actors.bus import InferenceBridge, InferenceProvider, ProviderRegistry
from contracts.events import Event, ListenQuery, PublishEnvelope
from contracts.inference import RESPONSE_FOR
from transport.event_log import EventLog

#: How long a test waits for an answer before it fails (never an assertion on time).
PATIENCE = 10.0


@asynccontextmanager
async def running_bridge(
    log: EventLog, *providers: InferenceProvider, **options: Any
) -> AsyncIterator[InferenceBridge]:
    """A bridge answering from ``log`` with ``providers``; stopped on exit."""
    bridge = InferenceBridge(log, ProviderRegistry(providers), **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(bridge.run)
        yield bridge
        nursery.cancel_scope.cancel()


async def publish(
    log: EventLog, name: str, payload: object, correlation_id: str | None = None
) -> Event:
    """Publish one request as a client would; the stored request event."""
    envelope = PublishEnvelope(
        name=name, payload=msgspec.Raw(msgspec.json.encode(payload)), correlation_id=correlation_id
    )
    [event] = await log.append([envelope], identity_id="tester")
    return event


async def response_to(log: EventLog, request: Event) -> Event:
    """Wait for the first response with the request's correlation id."""
    query = ListenQuery(
        pattern=RESPONSE_FOR[request.name], replay=True, correlation_id=request.correlation_id
    )
    with trio.fail_after(PATIENCE):
        async with log.listen(query) as stream:
            while True:
                event = await stream.receive()
                if event.metadata.get("request_id") == request.id:
                    return event


async def responses(log: EventLog, request_name: str, correlation_id: str) -> list[Event]:
    """Every response stored so far with ``correlation_id``."""
    query = ListenQuery(
        pattern=RESPONSE_FOR[request_name],
        replay=True,
        follow=False,
        correlation_id=correlation_id,
    )
    found = []
    async with log.listen(query) as stream:
        while True:
            try:
                found.append(await stream.receive())
            except trio.EndOfChannel:
                return found


def body(event: Event) -> dict[str, Any]:
    """An event's payload as a dict."""
    value = msgspec.json.decode(event.payload)
    assert isinstance(value, dict)
    return value
