"""Unicast listening: competing consumers, groups and explicit acks (every backend)."""

from __future__ import annotations

from typing import Any

import trio

from contracts.events import ListenQuery
from tests.transport.event_log.conftest import TIMEOUT, drain, envelope, receive
from transport.event_log import EventLog


def unicast(consumer: str, group: str = "workers", **options: object) -> ListenQuery:
    fields: dict[str, object] = {"replay": True, **options}
    return ListenQuery(
        pattern="jobs.*",
        delivery="unicast",
        group=group,
        consumer=consumer,
        **fields,  # type: ignore[arg-type]
    )


async def test_consumers_of_one_group_split_the_events(event_log: EventLog) -> None:
    stored = await event_log.append([envelope(f"jobs.n{i}") for i in range(10)], identity_id="x")
    taken: dict[str, list[str]] = {"a": [], "b": []}
    async with (
        event_log.listen(unicast("a", follow=False)) as first,
        event_log.listen(unicast("b", follow=False)) as second,
    ):
        for _ in range(5):
            taken["a"].append((await receive(first)).id)
            taken["b"].append((await receive(second)).id)
        assert await drain(first) == await drain(second) == []
    assert not set(taken["a"]) & set(taken["b"])
    assert set(taken["a"]) | set(taken["b"]) == {event.id for event in stored}


async def test_each_group_receives_every_event(event_log: EventLog) -> None:
    stored = await event_log.append([envelope(f"jobs.n{i}") for i in range(4)], identity_id="x")
    for group in ("billing", "audit"):
        async with event_log.listen(unicast("a", group, follow=False)) as stream:
            assert [event.id for event in await drain(stream)] == [e.id for e in stored]


async def test_a_group_resumes_where_its_consumers_left_off(event_log: EventLog) -> None:
    stored = await event_log.append([envelope(f"jobs.n{i}") for i in range(3)], identity_id="x")
    async with event_log.listen(unicast("a")) as stream:
        assert (await receive(stream)).id == stored[0].id
    async with event_log.listen(unicast("b", follow=False)) as stream:
        assert [event.id for event in await drain(stream)] == [e.id for e in stored[1:]]


async def test_live_events_go_to_one_waiting_consumer_each(event_log: EventLog) -> None:
    send, taken = trio.open_memory_channel[tuple[str, str]](100)

    async def consume(
        consumer: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with event_log.listen(unicast(consumer, since=0, replay=False)) as stream:
            task_status.started()
            while True:
                await send.send((consumer, (await stream.receive()).id))

    got: list[tuple[str, str]] = []
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            for consumer in ("a", "b"):
                await nursery.start(consume, consumer)
            stored = await event_log.append(
                [envelope(f"jobs.n{i}") for i in range(6)], identity_id="x"
            )
            got = [await taken.receive() for _ in stored]
            nursery.cancel_scope.cancel()
    assert sorted(event_id for _, event_id in got) == sorted(event.id for event in stored)


async def test_unacknowledged_event_returns_to_the_group(event_log: EventLog) -> None:
    first, second = await event_log.append(
        [envelope("jobs.a"), envelope("jobs.b")], identity_id="x"
    )
    explicit: dict[str, Any] = {"ack": "explicit", "ack_wait": 0.2}
    async with (
        event_log.listen(unicast("a", **explicit)) as worker_a,
        event_log.listen(unicast("b", **explicit)) as worker_b,
    ):
        assert (await receive(worker_a)).id == first.id
        assert (await receive(worker_a)).id == second.id
        assert await event_log.ack("workers", "a", first.id)
        redelivered = await receive(worker_b)  # once a's ack_wait for ``second`` is over
        assert redelivered.id == second.id
        assert await event_log.ack("workers", "b", second.id)
        await trio.sleep(0.3)  # both ack waits over: acked events must stay acked
        [third] = await event_log.append([envelope("jobs.c")], identity_id="x")
        assert (await receive(worker_b)).id == third.id


async def test_ack_of_an_event_never_delivered_is_false(event_log: EventLog) -> None:
    [event] = await event_log.append([envelope("jobs.a")], identity_id="x")
    assert not await event_log.ack("workers", "a", event.id)
    async with event_log.listen(unicast("a", ack="explicit")) as stream:
        assert (await receive(stream)).id == event.id
    assert not await event_log.ack("other-group", "a", event.id)
    assert await event_log.ack("workers", "a", event.id)
    assert not await event_log.ack("workers", "a", event.id)
