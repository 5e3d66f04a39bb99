"""A listener's stream rides out a store outage on its one connection (issue 15, item 3).

The Events API over a log that is taken down and brought back
(:class:`tests.fakes.flaky_event_log.FlakyEventLog`): while it is down publishes answer
503 with ``retry-after``; a stream whose 200 was sent keeps its connection, sends
keep-alives, and resumes where it stopped once the store answers — what curl sees.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from tests.fakes.flaky_event_log import FlakyEventLog
from tests.transport.events.served_events import ServedEvents, serve_events, token
from transport.event_log import open_memory_log

AUTH = {"Authorization": f"Bearer {token()}"}


@pytest.fixture
async def flaky(nursery: trio.Nursery) -> AsyncIterator[tuple[ServedEvents, FlakyEventLog]]:
    async with open_memory_log() as inner:
        log = FlakyEventLog(inner)
        yield await serve_events(nursery, log), log


async def publish(http: httpx.AsyncClient, base_url: str, number: int) -> httpx.Response:
    return await http.post(
        f"{base_url}/api/v1/events", json={"name": "jobs.new", "payload": {"n": number}}
    )


async def next_event(lines: AsyncIterator[str]) -> tuple[dict[str, object], int]:
    """The next event line, and how many keep-alives came before it."""
    blanks = 0
    with trio.fail_after(10):
        async for line in lines:
            if line.strip():
                return json.loads(line), blanks
            blanks += 1
    raise AssertionError("the stream ended")


@pytest.mark.parametrize(
    "params",
    [{"name": "jobs.*"}, {"name": "jobs.*", "delivery": "unicast", "group": "g"}],
    ids=["broadcast", "unicast"],
)
async def test_a_stream_waits_for_the_store_and_resumes_on_the_same_connection(
    flaky: tuple[ServedEvents, FlakyEventLog], params: dict[str, str]
) -> None:
    served, log = flaky
    async with (
        httpx.AsyncClient(headers=AUTH, timeout=10) as http,
        http.stream("GET", f"{served.base_url}/api/v1/events/stream", params=params) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert (await publish(http, served.base_url, 1)).status_code == 202
        first, _ = await next_event(lines)
        log.down()
        refused = await publish(http, served.base_url, 2)
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert refused.json()["error"]["type"] == "unavailable"
        await trio.sleep(0.3)  # the stream keeps its connection meanwhile
        log.up()
        assert (await publish(http, served.base_url, 3)).status_code == 202
        second, blanks = await next_event(lines)
    assert [first["payload"], second["payload"]] == [{"n": 1}, {"n": 3}]
    assert blanks >= 1, "no keep-alive while the store was away"
    assert log.opened >= 2, "the stream did not open its listen again"


async def test_a_store_down_before_the_200_is_a_503(
    flaky: tuple[ServedEvents, FlakyEventLog],
) -> None:
    served, log = flaky
    log.down()
    async with httpx.AsyncClient(headers=AUTH, timeout=10) as http:
        response = await http.get(
            f"{served.base_url}/api/v1/events/stream", params={"name": "jobs.*"}
        )
    assert response.status_code == 503 and response.headers["retry-after"]


async def test_an_outage_logs_one_line_not_one_per_refused_publish(
    flaky: tuple[ServedEvents, FlakyEventLog], caplog: pytest.LogCaptureFixture
) -> None:
    served, log = flaky
    log.down()
    async with httpx.AsyncClient(headers=AUTH, timeout=10) as http:
        for number in range(20):
            assert (await publish(http, served.base_url, number)).status_code == 503
    warnings = [r for r in caplog.records if "event store failed serving" in r.getMessage()]
    assert len(warnings) == 1
