"""The sqlite event log: durable, single node, the default of ``asm serve`` (BUS.md §2.4).

::

    async with open_sqlite_log("/var/lib/asm/events.db") as log:
        [event] = await log.append([envelope], identity_id="alice")  # committed, fsynced

The database runs in WAL mode with ``synchronous=FULL``; ``append`` returns once its
transaction is committed. Writes go through one connection, in worker threads, and
concurrent writers share a transaction (group commit): whoever gets the write lock
commits everything queued so far, so many publishers cost one fsync, not one each.
Reads use a small pool of their own connections, which WAL lets run beside the writer.

Unicast groups are kept in memory (as in the memory log) and every delivery is
persisted before it is handed out, so a restart keeps each group's cursor and pending
explicit-ack deliveries. Retention (age and count per name) is applied on open and
after every :data:`TRIM_EVERY` appended events.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Final, TypeVar, cast

import msgspec
import trio

from contracts.events import Event, ListenQuery, PublishEnvelope, format_timestamp, stored_event
from transport.event_log import _sqlite_store as store
from transport.event_log._delivery import GroupTable, Pending, parse_cursor
from transport.event_log._sqlite_stream import SqliteEventStream
from transport.event_log.base import RETENTION_COUNT, RETENTION_SECONDS, StoreError

__all__ = ["TRIM_EVERY", "SqliteEventLog", "open_sqlite_log"]

Clock = Callable[[], float]
T = TypeVar("T")

TRIM_EVERY: Final = 1000
"""Retention is applied after this many appended events."""


@asynccontextmanager
async def open_sqlite_log(
    path: str | Path,
    *,
    clock: Clock = time.time,
    retention_seconds: float = RETENTION_SECONDS,
    retention_count: int = RETENTION_COUNT,
) -> AsyncIterator[SqliteEventLog]:
    """The log stored in the sqlite file ``path`` (created if missing).

    Raises :class:`StoreError` when the file cannot be opened as a log.
    """
    log = SqliteEventLog(str(path), clock, retention_seconds, retention_count)
    try:
        await trio.to_thread.run_sync(log.open_blocking)
    except sqlite3.Error as error:
        await trio.to_thread.run_sync(log.close_blocking)
        raise StoreError(f"sqlite {path}: {error}") from error
    try:
        yield log
    finally:
        log.closed = True
        log.wake()
        with trio.CancelScope(shield=True):
            async with log.write_lock:  # let a commit in flight finish first
                await trio.to_thread.run_sync(log.close_blocking)


class SqliteEventLog:
    """The :class:`~transport.event_log.EventLog` in one sqlite file."""

    def __init__(
        self, path: str, clock: Clock, retention_seconds: float, retention_count: int
    ) -> None:
        self._path = path
        self._clock = clock
        self._retention_seconds = retention_seconds
        self._retention_count = retention_count
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._queue: list[store.WriteJob] = []
        self.write_lock = trio.Lock()
        self.groups = GroupTable()
        self.last_id = 0
        self.closed = False
        self._appended = trio.Event()
        self._names_since_trim: set[str] = set()
        self._since_trim = 0

    @property
    def backend(self) -> str:
        return "sqlite"

    @property
    def now(self) -> float:
        return self._clock()

    @property
    def appended(self) -> trio.Event:
        """Set by the next commit that adds events (or by close); replaced then."""
        return self._appended

    def wake(self) -> None:
        self._appended.set()
        self._appended = trio.Event()

    # --- the EventLog Protocol ---------------------------------------------------------

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        now = self._clock()
        created_at = format_timestamp(now)
        events = [
            stored_event(envelope, event_id="", identity_id=identity_id, created_at=created_at)
            for envelope in envelopes
        ]

        def insert(conn: sqlite3.Connection) -> list[Event]:
            return [
                msgspec.structs.replace(event, id=str(store.insert_event(conn, event, now)))
                for event in events
            ]

        stored = await self.write(insert)
        self._names_since_trim.update(event.name for event in stored)
        self._since_trim += len(stored)
        return stored

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[SqliteEventStream]:
        return self._listen(query)

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        if not (event_id.isascii() and event_id.isdigit()):
            await trio.lowlevel.checkpoint()
            return False
        number = int(event_id)
        dropped = self.groups.ack(group, consumer, number)
        if dropped:
            keys = [(each.pattern, each.name, number) for each in dropped]
            await self.write(partial(store.delete_pending, keys=keys))
        else:
            await trio.lowlevel.checkpoint()
        return bool(dropped)

    # --- reading and writing -----------------------------------------------------------

    async def read(self, fetch: Callable[[sqlite3.Connection], T]) -> T:
        """``fetch`` run in a worker thread on a pooled read connection."""
        if self.closed:
            raise StoreError("the event log is closed")
        conn = self._readers.pop() if self._readers else None

        def run() -> T:
            nonlocal conn
            if conn is None:
                conn = store.connect(self._path, writer=False)
            return fetch(conn)

        try:
            return await trio.to_thread.run_sync(run)
        except sqlite3.Error as error:
            raise StoreError(f"sqlite read: {error}") from error
        finally:
            if conn is not None:
                if self.closed:
                    conn.close()
                else:
                    self._readers.append(conn)

    async def write(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        """``apply`` committed (with whatever else is queued) before this returns.

        Cancelled while still queued, it is withdrawn and nothing of it is stored.
        """
        if self.closed:
            await trio.lowlevel.checkpoint()
            raise StoreError("the event log is closed")
        job = store.WriteJob(apply)
        self._queue.append(job)
        try:
            async with self.write_lock:
                if not job.done:
                    await self._commit_queued()
        except trio.Cancelled:
            if not job.taken:
                self._queue.remove(job)
            raise
        if isinstance(job.error, sqlite3.Error):
            raise StoreError(f"sqlite write: {job.error}") from job.error
        if job.error is not None:
            raise job.error
        return cast(T, job.result)

    async def _commit_queued(self) -> None:
        jobs, self._queue = self._queue, []
        for job in jobs:
            job.taken = True
        if self._since_trim >= TRIM_EVERY:
            jobs.append(store.WriteJob(self._trim_job(set(self._names_since_trim))))
            self._names_since_trim.clear()
            self._since_trim = 0
        writer = self._writer
        if writer is None or self.closed:
            for job in jobs:
                job.error, job.done = sqlite3.ProgrammingError("the log is closed"), True
            return
        newest = await trio.to_thread.run_sync(store.commit_jobs, writer, jobs)
        if newest > self.last_id:
            self.last_id = newest
            self.wake()

    def _trim_job(self, names: set[str] | None) -> Callable[[sqlite3.Connection], None]:
        return partial(
            store.trim,
            older_than=self._clock() - self._retention_seconds,
            keep=self._retention_count,
            names=names,
        )

    # --- opening, closing and listening ------------------------------------------------

    def open_blocking(self) -> None:
        self._writer = writer = store.connect(self._path, writer=True)
        store.commit_jobs(writer, [store.WriteJob(self._trim_job(None))])
        self.last_id = store.last_id(writer)
        group_rows, pending_rows = store.load_groups(writer)
        for pattern, name, cursor in group_rows:
            self.groups.create(pattern, name, cursor=cursor)
        for pattern, name, event_id, consumer, deadline in pending_rows:
            group = self.groups.get(pattern, name)
            if group is not None:
                group.pending[event_id] = Pending(consumer, deadline)

    def close_blocking(self) -> None:
        for conn in [*self._readers, *([self._writer] if self._writer else [])]:
            conn.close()
        self._readers.clear()
        self._writer = None

    @asynccontextmanager
    async def _listen(self, query: ListenQuery) -> AsyncIterator[SqliteEventStream]:
        start = await self._start(query)  # CursorError before anything else
        end = None if query.follow else self.last_id
        group = None
        if query.delivery == "unicast":
            group = self.groups.get(query.pattern, query.group)
            if group is None:
                group = self.groups.create(query.pattern, query.group, cursor=start)
                save = partial(store.save_group, pattern=query.pattern, name=query.group)
                await self.write(partial(save, cursor=start))
        yield SqliteEventStream(self, query, start=start, end=end, group=group)

    async def _start(self, query: ListenQuery) -> int:
        """The id a new stream (or a new group) starts after."""
        if query.after is not None:
            cursor = parse_cursor(query.after)
            await trio.lowlevel.checkpoint()
            return min(cursor, self.last_id)
        seconds_back = query.start_seconds_back()
        if seconds_back is None:  # replay
            await trio.lowlevel.checkpoint()
            return 0
        if seconds_back == 0:
            await trio.lowlevel.checkpoint()
            return self.last_id
        newest = self.last_id
        first = await self.read(partial(store.first_id_since, seconds=self._clock() - seconds_back))
        return newest if first is None else min(first - 1, newest)
