"""The event log behind the Bus Events API: one Protocol, three backends (BUS.md §2.4).

:class:`EventLog` is the seam; ``memory`` is for tests, ``sqlite:PATH`` is durable on
one machine, ``redis://…`` (the ``redis`` extra, :mod:`transport.event_log.redis`) is
one bus for several machines. :func:`open_event_log` opens one by its store name::

    async with open_event_log("sqlite:.asm/events.db") as log:
        [event] = await log.append([envelope], identity_id="svc-1")

A backend that cannot answer raises :class:`StoreError`; the API answers 503.
"""

from __future__ import annotations

from transport.event_log.base import CursorError, EventLog, EventStream, StoreError
from transport.event_log.memory import MemoryEventLog, MemoryEventStream, open_memory_log
from transport.event_log.sqlite import TRIM_EVERY, open_sqlite_log
from transport.event_log.stores import StoreSpecError, check_store, open_event_log, store_label

__all__ = [
    "TRIM_EVERY",
    "CursorError",
    "EventLog",
    "EventStream",
    "MemoryEventLog",
    "MemoryEventStream",
    "StoreError",
    "StoreSpecError",
    "check_store",
    "open_event_log",
    "open_memory_log",
    "open_sqlite_log",
    "store_label",
]
