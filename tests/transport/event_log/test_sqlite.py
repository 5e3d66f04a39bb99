"""What only the sqlite log promises: durability, store errors, retention, group commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from contracts.events import ListenQuery
from tests.transport.event_log.conftest import ManualClock, backlog, drain, envelope, receive
from transport.event_log import TRIM_EVERY, StoreError, open_sqlite_log


def unicast(consumer: str, **options: object) -> ListenQuery:
    fields: dict[str, object] = {"replay": True, **options}
    return ListenQuery(
        pattern="jobs.*",
        delivery="unicast",
        group="workers",
        consumer=consumer,
        **fields,  # type: ignore[arg-type]
    )


async def test_events_and_group_cursors_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with open_sqlite_log(path) as log:
        stored = await log.append([envelope(f"jobs.n{i}") for i in range(3)], identity_id="x")
        async with log.listen(unicast("a")) as stream:
            assert (await receive(stream)).id == stored[0].id
    async with open_sqlite_log(path) as log:
        replayed = await backlog(log, "jobs.*")
        assert [(e.id, e.payload, e.identity_id) for e in replayed] == [
            (e.id, e.payload, e.identity_id) for e in stored
        ]
        async with log.listen(unicast("b", follow=False)) as stream:
            assert [event.id for event in await drain(stream)] == [e.id for e in stored[1:]]
        [later] = await log.append([envelope("jobs.later")], identity_id="x")
        assert int(later.id) > int(stored[-1].id)


async def test_pending_delivery_is_redelivered_after_a_restart(tmp_path: Path) -> None:
    path, clock = tmp_path / "events.db", ManualClock()
    async with open_sqlite_log(path, clock=clock) as log:
        [event] = await log.append([envelope("jobs.a")], identity_id="x")
        async with log.listen(unicast("a", ack="explicit", ack_wait=30)) as stream:
            assert (await receive(stream)).id == event.id
    clock.advance(31)
    async with open_sqlite_log(path, clock=clock) as log:
        async with log.listen(unicast("b", ack="explicit", follow=False)) as stream:
            assert [e.id for e in await drain(stream)] == [event.id]
        assert await log.ack("workers", "b", event.id)
    async with open_sqlite_log(path, clock=clock) as log:
        clock.advance(3600)
        async with log.listen(unicast("c", follow=False)) as stream:
            assert await drain(stream) == []


async def test_a_failing_batch_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with open_sqlite_log(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.name = 'poison'"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    async with open_sqlite_log(path) as log:
        with pytest.raises(StoreError):
            await log.append(
                [envelope("ok.a"), envelope("poison"), envelope("ok.b")], identity_id="x"
            )
        [fine] = await log.append([envelope("ok.c")], identity_id="x")
        assert [event.id for event in await backlog(log, "ok.*")] == [fine.id]


async def test_append_to_a_closed_log_raises_store_error(tmp_path: Path) -> None:
    async with open_sqlite_log(tmp_path / "events.db") as log:
        pass
    with pytest.raises(StoreError):
        await log.append([envelope("late.e")], identity_id="x")


async def test_a_path_that_is_no_database_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        async with open_sqlite_log(tmp_path):  # a directory
            pass


async def test_old_events_are_dropped_on_open(tmp_path: Path) -> None:
    path, clock = tmp_path / "events.db", ManualClock()
    async with open_sqlite_log(path, clock=clock, retention_seconds=3600) as log:
        await log.append([envelope("old.e")], identity_id="x")
        clock.advance(3000)
        [recent] = await log.append([envelope("old.e")], identity_id="x")
    clock.advance(1000)
    async with open_sqlite_log(path, clock=clock, retention_seconds=3600) as log:
        assert [event.id for event in await backlog(log, "old.e")] == [recent.id]


async def test_only_the_newest_events_of_a_name_are_kept(tmp_path: Path) -> None:
    async with open_sqlite_log(tmp_path / "events.db", retention_count=3) as log:
        stored = await log.append([envelope("many.e")] * TRIM_EVERY, identity_id="x")
        await log.append([envelope("many.f")], identity_id="x")  # commits the trim
        kept = await backlog(log, "many.e")
        assert [event.id for event in kept] == [event.id for event in stored[-3:]]


async def test_concurrent_publishers_are_all_stored(tmp_path: Path) -> None:
    ids: list[str] = []
    async with open_sqlite_log(tmp_path / "events.db") as log:

        async def publish(index: int) -> None:
            [event] = await log.append([envelope(f"p.n{index}")], identity_id="x")
            ids.append(event.id)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for index in range(200):
                    nursery.start_soon(publish, index)
        assert len(set(ids)) == 200
        assert [event.id for event in await backlog(log, "p.*")] == sorted(ids, key=int)
