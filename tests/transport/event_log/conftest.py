"""The event-log fixtures: every test of this package runs against each backend.

``open_log(clock=...)`` opens a fresh log of the parametrized backend (the same file or
Redis namespace each time within one test, so a test can reopen it); ``event_log`` is
one opened with the real clock. Redis needs ``redis_url`` (``tests/redis_server.py``),
which skips when no redis-server is installed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
from msgspec import UNSET

from contracts.events import Event, ListenQuery, PublishEnvelope
from transport.event_log import EventLog, EventStream

Clock = Callable[[], float]
OpenLog = Callable[..., AbstractAsyncContextManager[EventLog]]

BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


class ManualClock:
    """Wall seconds that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _redis_opener(request: pytest.FixtureRequest) -> OpenLog:
    url = request.getfixturevalue("redis_url")  # skips, saying why, without redis-server
    from transport.event_log.redis import open_redis_log  # the optional extra

    namespace = f"test-{uuid.uuid4().hex}"

    def open_log(*, clock: Clock = time.time) -> AbstractAsyncContextManager[EventLog]:
        return open_redis_log(url, clock=clock, namespace=namespace)

    return open_log


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_log(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> OpenLog:
    """Opens the backend under test; each call within one test reopens the same store."""
    if backend == "memory":
        from transport.event_log import open_memory_log

        return open_memory_log
    if backend == "sqlite":
        from transport.event_log import open_sqlite_log

        path = tmp_path / "events.db"

        def open_sqlite(*, clock: Clock = time.time) -> AbstractAsyncContextManager[EventLog]:
            return open_sqlite_log(path, clock=clock)

        return open_sqlite
    return _redis_opener(request)


@pytest.fixture
async def event_log(open_log: OpenLog) -> AsyncIterator[EventLog]:
    async with open_log() as log:
        yield log


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# --- helpers the tests import ----------------------------------------------------------

TIMEOUT = 5.0
"""Every wait of these tests is bounded: a broken backend fails instead of hanging."""


def envelope(
    name: str,
    payload: bytes | None = b"{}",
    *,
    correlation_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> PublishEnvelope:
    return PublishEnvelope(
        name=name,
        payload=UNSET if payload is None else msgspec.Raw(payload),
        correlation_id=UNSET if correlation_id is None else correlation_id,
        metadata=UNSET if metadata is None else metadata,
    )


def order_key(event_id: str) -> tuple[int, ...]:
    """Cursor strings in log order: ``"12"`` (memory, sqlite) or ``"1700000000000-3"``."""
    return tuple(int(part) for part in event_id.split("-"))


async def receive(stream: EventStream) -> Event:
    with trio.fail_after(TIMEOUT):
        return await stream.receive()


async def drain(stream: EventStream) -> list[Event]:
    """Everything a ``follow=False`` stream delivers before it ends."""
    events = []
    with trio.fail_after(TIMEOUT):
        while True:
            try:
                events.append(await stream.receive())
            except trio.EndOfChannel:
                return events


async def backlog(log: EventLog, pattern: str, **options: Any) -> list[Event]:
    """The events a ``follow=False`` listen of ``pattern`` gives (from the oldest by default)."""
    if not {"after", "since"} & options.keys():
        options.setdefault("replay", True)
    async with log.listen(ListenQuery(pattern=pattern, follow=False, **options)) as stream:
        return await drain(stream)
