"""Delivery bookkeeping shared by the logs whose cursors are integers (memory, sqlite).

Each unicast group, keyed by ``(pattern, group)``, has a ``cursor`` (the highest event id
the group has taken from the log: every matching event at or below it was handed out,
or passed over) and the explicit-ack deliveries still ``pending``, each owned by one
consumer until its deadline. A pending delivery whose deadline has passed returns to
the group: the next consumer that asks takes it over::

    table = GroupTable()
    group = table.create("jobs.*", "workers", cursor=0)
    group.hand_out(1, "worker-a", now=10.0, query=query)  # pending until 10 + ack_wait
    table.ack("workers", "worker-a", 1)                    # → [group]

Deadlines are in the log's clock (wall seconds), so the sqlite log can persist them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from contracts.events import Event, ListenQuery, matches
from transport.event_log.base import CursorError

__all__ = ["GroupTable", "Pending", "UnicastGroup", "parse_cursor", "selects"]

_MAX_CURSOR_DIGITS = 19  # an SQLite INTEGER is 64 bits


def parse_cursor(text: str) -> int:
    """The integer of a cursor string such as ``"42"``; :class:`CursorError` otherwise.

    ``"0"`` is accepted and means "before the first event".
    """
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_CURSOR_DIGITS:
        raise CursorError(f"after: {text[:40]!r} is not an event id of this log")
    return int(text)


def selects(query: ListenQuery, event: Event) -> bool:
    """Whether ``event`` matches the query's pattern and correlation filter."""
    if not matches(query.pattern, event.name):
        return False
    return query.correlation_id is None or event.correlation_id == query.correlation_id


@dataclass(slots=True)
class Pending:
    """An explicit-ack delivery awaiting its ack: whose it is, and until when."""

    consumer: str
    deadline: float


@dataclass(slots=True)
class UnicastGroup:
    """The competing consumers of one ``(pattern, group)``."""

    pattern: str
    name: str
    cursor: int
    pending: dict[int, Pending] = field(default_factory=dict)

    def expired(self, now: float) -> list[int]:
        """Ids of pending deliveries whose ack wait is over, oldest first."""
        return sorted(eid for eid, entry in self.pending.items() if entry.deadline <= now)

    def next_deadline(self) -> float | None:
        """When the earliest pending delivery returns to the group, if any is pending."""
        return min((entry.deadline for entry in self.pending.values()), default=None)

    def hand_out(self, event_id: int, consumer: str, *, now: float, query: ListenQuery) -> None:
        """Record that ``consumer`` took ``event_id`` (fresh, or an expired redelivery)."""
        self.cursor = max(self.cursor, event_id)
        if query.ack == "explicit":
            self.pending[event_id] = Pending(consumer, now + query.ack_wait)
        else:
            self.pending.pop(event_id, None)


class GroupTable:
    """Every unicast group of a log."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], UnicastGroup] = {}

    def __iter__(self) -> Iterator[UnicastGroup]:
        return iter(list(self._groups.values()))

    def get(self, pattern: str, name: str) -> UnicastGroup | None:
        return self._groups.get((pattern, name))

    def create(self, pattern: str, name: str, *, cursor: int) -> UnicastGroup:
        group = UnicastGroup(pattern, name, cursor)
        self._groups[(pattern, name)] = group
        return group

    def ack(self, name: str, consumer: str, event_id: int) -> list[UnicastGroup]:
        """Drop ``event_id`` pending for ``consumer`` in every group called ``name``
        (whatever its pattern); the groups where something was dropped."""
        dropped = []
        for group in self._groups.values():
            entry = group.pending.get(event_id)
            if group.name == name and entry is not None and entry.consumer == consumer:
                del group.pending[event_id]
                dropped.append(group)
        return dropped
