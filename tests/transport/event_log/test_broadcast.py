"""Broadcast listening: patterns, start positions, filters and cancellation (every backend)."""

from __future__ import annotations

import pytest
import trio

from contracts.events import Event, ListenQuery
from tests.transport.event_log.conftest import (
    TIMEOUT,
    ManualClock,
    OpenLog,
    backlog,
    drain,
    envelope,
    receive,
)
from transport.event_log import CursorError, EventLog


async def test_two_listeners_each_receive_every_event(event_log: EventLog) -> None:
    query = ListenQuery(pattern="news.*", since=0)
    async with event_log.listen(query) as first, event_log.listen(query) as second:
        stored = await event_log.append(
            [envelope("news.a"), envelope("news.b"), envelope("news.c")], identity_id="x"
        )
        for stream in (first, second):
            got = [await receive(stream) for _ in stored]
            assert [event.id for event in got] == [event.id for event in stored]


async def test_exact_name_and_prefix_select_different_events(event_log: EventLog) -> None:
    for name in ("a.b", "a.b.c", "a.bc", "x.a.b"):
        await event_log.append([envelope(name)], identity_id="x")
    assert [event.name for event in await backlog(event_log, "a.b")] == ["a.b"]
    assert [event.name for event in await backlog(event_log, "a.b.*")] == ["a.b.c"]
    assert [event.name for event in await backlog(event_log, "a.*")] == ["a.b", "a.b.c", "a.bc"]


async def test_replay_starts_at_the_oldest_event(open_log: OpenLog, clock: ManualClock) -> None:
    async with open_log(clock=clock) as log:
        old = await log.append([envelope("r.e")], identity_id="x")
        clock.advance(3600)
        new = await log.append([envelope("r.e")], identity_id="x")
        assert [event.id for event in await backlog(log, "r.e")] == [old[0].id, new[0].id]


async def test_after_starts_behind_the_cursor(event_log: EventLog) -> None:
    stored = await event_log.append(
        [envelope(f"c.e{index}") for index in range(4)], identity_id="x"
    )
    got = await backlog(event_log, "c.*", after=stored[1].id)
    assert [event.id for event in got] == [event.id for event in stored[2:]]


async def test_since_zero_gives_the_live_tail_only(event_log: EventLog) -> None:
    await event_log.append([envelope("tail.e", b'"before"')], identity_id="x")
    async with event_log.listen(ListenQuery(pattern="tail.e", since=0)) as stream:
        await event_log.append([envelope("tail.e", b'"after"')], identity_id="x")
        assert bytes((await receive(stream)).payload) == b'"after"'
    assert await backlog(event_log, "tail.e", since=0) == []


async def test_default_start_is_the_last_minute(open_log: OpenLog, clock: ManualClock) -> None:
    async with open_log(clock=clock) as log:
        await log.append([envelope("w.e", b'"old"')], identity_id="x")
        clock.advance(61)
        await log.append([envelope("w.e", b'"recent"')], identity_id="x")
        clock.advance(30)
        async with log.listen(ListenQuery(pattern="w.e", follow=False)) as stream:
            got = await drain(stream)
        assert [bytes(event.payload) for event in got] == [b'"recent"']


async def test_since_limits_how_far_back_a_stream_starts(
    open_log: OpenLog, clock: ManualClock
) -> None:
    async with open_log(clock=clock) as log:
        for age in (300, 100, 10):
            clock.advance(-age)
            await log.append([envelope("s.e", str(age).encode())], identity_id="x")
            clock.advance(age)
        got = await backlog(log, "s.e", since=150)
        assert [bytes(event.payload) for event in got] == [b"100", b"10"]


async def test_not_following_ends_after_the_backlog(event_log: EventLog) -> None:
    before = await event_log.append([envelope("f.e"), envelope("f.e")], identity_id="x")
    query = ListenQuery(pattern="f.e", replay=True, follow=False)
    async with event_log.listen(query) as stream:
        await event_log.append([envelope("f.e")], identity_id="x")
        got = await drain(stream)
        with pytest.raises(trio.EndOfChannel):
            await stream.receive()
    assert [event.id for event in got] == [event.id for event in before]


async def test_correlation_id_filters_the_stream(event_log: EventLog) -> None:
    for correlation in ("c-1", "c-2", "c-1", None):
        await event_log.append([envelope("k.e", correlation_id=correlation)], identity_id="x")
    got = await backlog(event_log, "k.*", correlation_id="c-1")
    assert [event.correlation_id for event in got] == ["c-1", "c-1"]


async def test_cancelled_idle_receive_takes_nothing(event_log: EventLog) -> None:
    async with event_log.listen(ListenQuery(pattern="idle.e", since=0)) as stream:
        with trio.move_on_after(0.05) as scope:
            await stream.receive()
        assert scope.cancelled_caught
        [stored] = await event_log.append([envelope("idle.e")], identity_id="x")
        assert (await receive(stream)).id == stored.id


async def test_keep_alive_timeouts_around_receive_lose_no_event(event_log: EventLog) -> None:
    count = 30
    received: list[Event] = []

    async def publish() -> None:
        for index in range(count):
            await event_log.append([envelope("ka.e", str(index).encode())], identity_id="x")
            await trio.sleep(0.002)

    async with event_log.listen(ListenQuery(pattern="ka.e", since=0)) as stream:
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish)
                while len(received) < count:
                    with trio.move_on_after(0.003):  # a very impatient keep-alive
                        received.append(await stream.receive())
    assert [bytes(event.payload) for event in received] == [
        str(index).encode() for index in range(count)
    ]


async def test_garbage_cursor_raises_cursor_error(event_log: EventLog) -> None:
    with pytest.raises(CursorError):
        async with event_log.listen(ListenQuery(pattern="g.e", after="not a cursor!")):
            pass
