"""The Redis event log where Redis itself matters: several processes, restarts, outages.

Each test opens two :class:`RedisEventLog` s (two clients, as two ``asm serve`` processes
would) on one real redis-server; the behaviour every backend shares is tested in
``tests/transport/event_log/``. Without ``redis-server`` on PATH these tests skip.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import coredis
import msgspec
import pytest
import trio
from coredis.response.types import StreamPending

from contracts.events import Event, ListenQuery, PublishEnvelope
from tests.redis_server import RedisServer
from transport.event_log import CursorError, StoreError
from transport.event_log._redis_entries import parse_stream_id
from transport.event_log.redis import RedisEventLog, open_redis_log

pytestmark = pytest.mark.redis

TIMEOUT = 10.0


def envelope(name: str, payload: bytes = b"{}") -> PublishEnvelope:
    return PublishEnvelope(name=name, payload=msgspec.Raw(payload))


def unicast(consumer: str, **options: object) -> ListenQuery:
    fields: dict[str, object] = {"replay": True, **options}
    return ListenQuery(
        pattern="jobs.*",
        delivery="unicast",
        group="workers",
        consumer=consumer,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex}"


@asynccontextmanager
async def two_logs(url: str, namespace: str) -> AsyncIterator[tuple[RedisEventLog, RedisEventLog]]:
    """Two logs on the same bus, each with its own Redis client."""
    async with (
        open_redis_log(url, namespace=namespace) as first,
        open_redis_log(url, namespace=namespace) as second,
    ):
        yield first, second


async def drain(log: RedisEventLog, pattern: str) -> list[Event]:
    """Every retained event of ``pattern``, oldest first."""
    query = ListenQuery(pattern=pattern, replay=True, follow=False)
    events = []
    with trio.fail_after(TIMEOUT):
        async with log.listen(query) as stream:
            while True:
                try:
                    events.append(await stream.receive())
                except trio.EndOfChannel:
                    return events


async def test_event_appended_through_one_process_reaches_a_listener_of_another(
    redis_url: str, namespace: str
) -> None:
    async with two_logs(redis_url, namespace) as (publisher, listener):  # noqa: SIM117
        async with listener.listen(ListenQuery(pattern="news.*", since=0)) as stream:
            [stored] = await publisher.append([envelope("news.a", b'{"n":1}')], identity_id="x")
            with trio.fail_after(TIMEOUT):
                received = await stream.receive()
    assert received.id == stored.id
    assert received.name == "news.a"
    assert bytes(received.payload) == b'{"n":1}'
    assert received.identity_id == "x"


async def test_concurrent_appends_from_two_processes_are_all_stored_once_in_order(
    redis_url: str, namespace: str
) -> None:
    """Appends racing for the stream's top never fail, even from a writer whose clock is
    behind: the id is chosen inside Redis, atomically, with no retry to run out of."""
    count = 300
    stored: list[Event] = []

    async def publish(log: RedisEventLog, number: int) -> None:
        stored.extend(await log.append([envelope("race.x", b"%d" % number)], identity_id="x"))

    async with (
        open_redis_log(redis_url, namespace=namespace) as ahead,
        open_redis_log(redis_url, namespace=namespace, clock=lambda: time.time() - 5) as behind,
    ):
        async with trio.open_nursery() as nursery:
            for number in range(count):
                nursery.start_soon(publish, (ahead, behind)[number % 2], number)
        kept = await drain(ahead, "race.x")
    assert len(stored) == count
    assert sorted(bytes(e.payload) for e in kept) == sorted(b"%d" % n for n in range(count))
    ids = [parse_stream_id(event.id) for event in kept]
    assert ids == sorted(ids) and len(set(ids)) == count


async def test_consumers_in_two_processes_never_both_receive_an_event(
    redis_url: str, namespace: str
) -> None:
    async with two_logs(redis_url, namespace) as (first, second):
        stored = await first.append([envelope(f"jobs.n{i}") for i in range(20)], identity_id="x")
        send, taken = trio.open_memory_channel[tuple[str, str]](len(stored))

        async def consume(log: RedisEventLog, consumer: str) -> None:
            async with log.listen(unicast(consumer)) as stream:
                while True:
                    await send.send((consumer, (await stream.receive()).id))

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume, first, "a")
                nursery.start_soon(consume, second, "b")
                got = [await taken.receive() for _ in stored]
                nursery.cancel_scope.cancel()
    by_a = {event_id for consumer, event_id in got if consumer == "a"}
    by_b = {event_id for consumer, event_id in got if consumer == "b"}
    assert not by_a & by_b
    assert by_a | by_b == {event.id for event in stored}
    assert len(got) == len(stored)


async def test_unacknowledged_event_is_claimed_by_a_consumer_of_another_process(
    redis_url: str, namespace: str
) -> None:
    explicit = {"ack": "explicit", "ack_wait": 0.2}
    async with two_logs(redis_url, namespace) as (first, second):
        [stored] = await first.append([envelope("jobs.a")], identity_id="x")
        async with first.listen(unicast("a", **explicit)) as worker_a:
            with trio.fail_after(TIMEOUT):
                assert (await worker_a.receive()).id == stored.id
        async with second.listen(unicast("b", **explicit)) as worker_b:
            with trio.fail_after(TIMEOUT):
                redelivered = await worker_b.receive()  # XAUTOCLAIM after a's ack_wait
        assert redelivered.id == stored.id
        assert not await first.ack("workers", "a", stored.id)  # no longer a's
        assert await first.ack("workers", "b", stored.id)  # acked from either process
        assert not await second.ack("workers", "b", stored.id)


async def test_impatient_keep_alive_around_unicast_receive_loses_no_event(
    redis_url: str, namespace: str
) -> None:
    count = 30
    received: list[bytes] = []
    async with open_redis_log(redis_url, namespace=namespace) as log:

        async def publish() -> None:
            for index in range(count):
                await log.append([envelope("jobs.n", str(index).encode())], identity_id="x")
                await trio.sleep(0.002)

        async with log.listen(unicast("a", replay=False, since=0)) as stream:
            with trio.fail_after(TIMEOUT):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(publish)
                    while len(received) < count:
                        with trio.move_on_after(0.003):  # cancels reads of the group
                            received.append(bytes((await stream.receive()).payload))
    assert received == [str(index).encode() for index in range(count)]


async def test_acked_event_leaves_the_pending_list_of_its_group(
    redis_url: str, namespace: str
) -> None:
    async with open_redis_log(redis_url, namespace=namespace) as log:
        [stored] = await log.append([envelope("jobs.a")], identity_id="x")
        async with log.listen(unicast("a", ack="explicit")) as stream:
            with trio.fail_after(TIMEOUT):
                await stream.receive()
        async with coredis.Redis.from_url(redis_url) as client:
            before = await client.xpending(log.key, "workers|jobs.*")
            assert await log.ack("workers", "a", stored.id)
            after = await client.xpending(log.key, "workers|jobs.*")
    assert isinstance(before, StreamPending)
    assert isinstance(after, StreamPending)
    assert (before.pending, before.minimum_identifier) == (1, stored.id.encode())
    assert after.pending == 0


async def test_ids_keep_increasing_when_a_writer_clock_is_behind(
    redis_url: str, namespace: str
) -> None:
    async with (
        open_redis_log(redis_url, namespace=namespace) as ahead,
        open_redis_log(redis_url, namespace=namespace, clock=lambda: 1_000_000.0) as behind,
    ):
        [first] = await ahead.append([envelope("c.e")], identity_id="x")
        second, third = await behind.append([envelope("c.e"), envelope("c.e")], identity_id="x")
        assert [event.id for event in await drain(ahead, "c.e")] == [
            first.id,
            second.id,
            third.id,
        ]
    ms = [int(event.id.split("-")[0]) for event in (first, second, third)]
    assert ms[0] == ms[1] == ms[2]  # the late writer took the stream's millisecond


async def test_out_of_range_cursor_is_a_cursor_error(redis_url: str, namespace: str) -> None:
    async with open_redis_log(redis_url, namespace=namespace) as log:
        for cursor in ("18446744073709551616-0", "1-18446744073709551616", "1-2-3", "-1"):
            with pytest.raises(CursorError):
                async with log.listen(ListenQuery(pattern="a.b", after=cursor)):
                    pass


async def test_events_and_group_cursors_survive_a_restart(
    redis_server_factory: Callable[[], RedisServer], namespace: str
) -> None:
    server = redis_server_factory()
    async with open_redis_log(server.url, namespace=namespace) as log:
        stored = await log.append([envelope(f"jobs.n{i}") for i in range(3)], identity_id="x")
        async with log.listen(unicast("a")) as stream:
            with trio.fail_after(TIMEOUT):
                assert (await stream.receive()).id == stored[0].id
    server.stop()
    server.start()
    async with open_redis_log(server.url, namespace=namespace) as log:
        assert [event.id for event in await drain(log, "jobs.*")] == [e.id for e in stored]
        async with log.listen(unicast("b", follow=False)) as stream:
            with trio.fail_after(TIMEOUT):
                assert (await stream.receive()).id == stored[1].id


async def test_store_error_once_the_server_is_gone(
    redis_server_factory: Callable[[], RedisServer], namespace: str
) -> None:
    server = redis_server_factory()
    async with open_redis_log(server.url, namespace=namespace) as log:
        await log.append([envelope("a.b")], identity_id="x")
        async with log.listen(ListenQuery(pattern="a.b", since=0)) as stream:
            server.stop()
            with pytest.raises(StoreError):
                await log.append([envelope("a.b")], identity_id="x")
            with trio.fail_after(TIMEOUT), pytest.raises(StoreError):
                await stream.receive()
        with pytest.raises(StoreError):
            await log.ack("workers", "a", "1-0")
    with pytest.raises(StoreError):
        async with open_redis_log(server.url, namespace=namespace):
            pass
