"""The event log behind the Bus Events API: one Protocol, three backends (BUS.md §2.4).

- ``memory`` (:mod:`transport.event_log.memory`): tests and throwaway runs;
- ``sqlite:PATH`` (:mod:`transport.event_log.sqlite`): durable, single node, the default
  of ``asm serve``;
- ``redis://HOST:PORT/DB`` (:mod:`transport.event_log.redis`): Redis Streams, shared by
  several processes on several machines.

Each backend is opened as an async context manager and used from Trio::

    async with open_event_log("sqlite:/var/lib/asm/events.db") as log:
        [event] = await log.append([envelope], identity_id="alice")
        async with log.listen(ListenQuery(pattern="bus.inference.*")) as stream:
            event = await stream.receive()

The rules every backend keeps (and the shared behavioural suite in
``tests/transport/event_log/`` checks):

- ``append`` stores all envelopes or none, and returns only once they are durable
  (sqlite: committed with ``synchronous=FULL``; redis: XADD answered). The ids it gives
  are cursor strings, increasing in the log's order.
- ``broadcast``: every stream gets every matching event from its start position on.
- ``unicast``: streams with the same (pattern, group) compete; each event goes to one of
  them; distinct groups each get every event. With ``ack="auto"`` the group's cursor
  moves when the event is handed out; with ``ack="explicit"`` the event stays pending
  for that consumer until :meth:`EventLog.ack`, and returns to the group after
  ``ack_wait`` seconds.
- ``EventStream.receive`` is cancel-safe: cancelled while it waits, it has taken
  nothing, so a keep-alive timeout around it loses no event.
- A malformed ``after`` cursor raises :class:`CursorError` (a 400).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

from contracts.events import Event, ListenQuery, PublishEnvelope

__all__ = [
    "RETENTION_COUNT",
    "RETENTION_SECONDS",
    "CursorError",
    "EventLog",
    "EventStream",
    "StoreError",
]

RETENTION_SECONDS: Final = 7 * 24 * 3600
"""Events older than this are dropped (BUS.md §2.4)."""
RETENTION_COUNT: Final = 1_000_000
"""At most this many events are kept per name (BUS.md §2.4)."""


class CursorError(ValueError):
    """An ``after`` cursor that this log could never have issued."""


class StoreError(Exception):
    """The backing store failed (disk, connection): nothing was stored; a 503."""


class EventStream(Protocol):
    """The events one listener receives, in log order."""

    async def receive(self) -> Event:
        """The next event; waits for one when following.

        Raises :class:`trio.EndOfChannel` once a ``follow=False`` stream has delivered
        its backlog. Cancel-safe: a cancelled ``receive`` has taken no event.
        """
        ...


class EventLog(Protocol):
    """A durable, ordered log of Bus events with broadcast and unicast delivery."""

    @property
    def backend(self) -> str:
        """``memory``, ``sqlite`` or ``redis`` (for capabilities and ``server.json``)."""
        ...

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        """Store every envelope or none; the stored events, in order, once durable.

        Raises :class:`StoreError` when the store cannot take them.
        """
        ...

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        """A stream of the events ``query`` selects (BUS.md §2.2)."""
        ...

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        """Acknowledge an explicit-ack delivery; False when nothing of that is pending."""
        ...
