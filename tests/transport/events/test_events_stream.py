"""The NDJSON stream and ack routes of the Bus Events API app (BUS.md §2.2).

Over real hypercorn and the memory log, read with httpx as the lines arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx
import msgspec
import pytest
import trio

from tests.transport.events.events_bus import EVENTS, STREAM, Bus, Lines, auth, error_of, open_bus


@pytest.fixture
async def bus(nursery: trio.Nursery) -> AsyncIterator[Bus]:
    async with open_bus(nursery) as bus:
        yield bus


# ------------------------------------------------------------------ listen


async def test_stream_sends_one_line_per_event_then_keepalive_blank_lines(bus: Bus) -> None:
    params = {"name": "jobs.*", "since": "0"}
    async with bus.http.stream("GET", STREAM, params=params, headers=auth()) as response:
        lines = Lines(response)
        assert await lines.line() == b""  # silence: a keep-alive line comes first
        await bus.publish({"name": "jobs.one", "correlation_id": "c-1"})
        await bus.publish({"name": "other.two"})
        await bus.publish({"name": "jobs.three"})
        first, second = await lines.event(), await lines.event()
    assert (first["name"], first["correlationId"]) == ("jobs.one", "c-1")
    assert second["name"] == "jobs.three"
    assert int(first["id"]) < int(second["id"])


async def test_follow_false_ends_after_the_backlog(bus: Bus) -> None:
    for name in ["jobs.a", "jobs.b"]:
        await bus.publish({"name": name})
    response = await bus.http.get(
        STREAM, params={"name": "jobs.*", "follow": "false"}, headers=auth()
    )
    assert response.status_code == 200
    assert response.content.endswith(b"\n")
    names = [msgspec.json.decode(line)["name"] for line in response.content.splitlines()]
    assert names == ["jobs.a", "jobs.b"]


async def test_last_event_id_resumes_after_that_event(bus: Bus) -> None:
    ids = [(await bus.publish({"name": f"jobs.n{i}"})).json()["id"] for i in range(3)]
    params = {"name": "jobs.*", "follow": "false"}
    headers = {**auth(), "last-event-id": ids[0]}
    response = await bus.http.get(STREAM, params=params, headers=headers)
    assert [msgspec.json.decode(line)["id"] for line in response.content.splitlines()] == ids[1:]
    assert [event["id"] for event in await bus.backlog(name="jobs.*", after=ids[1])] == ids[2:]


async def test_unicast_consumers_of_one_group_share_and_other_groups_get_copies(
    bus: Bus,
) -> None:
    def unicast(group: str, consumer: str) -> AbstractAsyncContextManager[httpx.Response]:
        params = {"name": "jobs.*", "delivery": "unicast", "group": group, "consumer": consumer}
        return bus.http.stream("GET", STREAM, params=params, headers=auth())

    taken: dict[str, list[str]] = {"a": [], "b": []}
    async with (
        unicast("workers", "a") as a,
        unicast("workers", "b") as b,
        unicast("audit", "x") as x,
    ):
        ids = [(await bus.publish({"name": f"jobs.n{i}"})).json()["id"] for i in range(6)]
        audit = Lines(x)
        assert [(await audit.event())["id"] for _ in ids] == ids

        async def consume(who: str, response: httpx.Response, done: trio.CancelScope) -> None:
            lines = Lines(response)
            while True:
                taken[who].append((await lines.event())["id"])
                if len(taken["a"]) + len(taken["b"]) == len(ids):
                    done.cancel()

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume, "a", a, nursery.cancel_scope)
                nursery.start_soon(consume, "b", b, nursery.cancel_scope)
    assert sorted(taken["a"] + taken["b"], key=int) == ids


async def test_explicit_ack_route_and_redelivery_after_ack_wait(bus: Bus) -> None:
    [event_id] = [(await bus.publish({"name": "jobs.one"})).json()["id"]]
    params = {"name": "jobs.*", "delivery": "unicast", "group": "g", "replay": "true"}
    explicit = {**params, "ack": "explicit", "ack_wait": "0.3"}
    response = await bus.http.get(STREAM, params={**explicit, "follow": "false"}, headers=auth())
    assert msgspec.json.decode(response.content)["id"] == event_id  # taken, never acked
    async with bus.http.stream("GET", STREAM, params=explicit, headers=auth()) as again:
        assert (await Lines(again).event())["id"] == event_id  # returned to the group
    ack = {"group": "g", "consumer": "default", "id": event_id}
    answer = await bus.http.post(f"{EVENTS}/ack", json=ack, headers=auth("events:listen"))
    assert (answer.status_code, answer.json()) == (200, {"acked": True})
    again_ack = await bus.http.post(f"{EVENTS}/ack", json=ack, headers=auth())
    assert error_of(again_ack, 404)["type"] == "not_found"
    assert error_of(await bus.http.post(f"{EVENTS}/ack", json={"group": "g"}, headers=auth()), 400)
    assert error_of(
        await bus.http.post(f"{EVENTS}/ack", json=ack, headers=auth("events:send")), 403
    )


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"name": "Jobs"},
        {"name": "jobs.*.x"},
        {"name": "jobs.x", "delivery": "multicast"},
        {"name": "jobs.x", "follow": "maybe"},
        {"name": "jobs.x", "since": "-1"},
        {"name": "jobs.x", "since": "nan"},
        {"name": "jobs.x", "after": "not-a-cursor"},
        {"name": "jobs.x", "group": "two words", "delivery": "unicast"},
        {"name": "jobs.x", "ack": "sometimes"},
    ],
)
async def test_bad_query_is_400_before_the_stream_opens(bus: Bus, query: dict[str, str]) -> None:
    assert error_of(await bus.http.get(STREAM, params=query, headers=auth()), 400)
    assert bus.log.open_listens == 0
    assert (
        await bus.http.get(STREAM, params={"name": "a", "follow": "false"}, headers=auth())
    ).status_code == 200


async def test_a_repeated_query_parameter_is_400(bus: Bus) -> None:
    response = await bus.http.get(f"{STREAM}?name=a&name=b", headers=auth())
    assert "name" in error_of(response, 400)["message"]


async def test_client_going_away_leaves_the_listen(bus: Bus) -> None:
    async with bus.http.stream(
        "GET", STREAM, params={"name": "jobs.*"}, headers=auth()
    ) as response:
        assert response.status_code == 200
        assert bus.log.open_listens == 1
    with trio.fail_after(5):
        await bus.log.none_open.wait()
    assert bus.log.open_listens == 0
