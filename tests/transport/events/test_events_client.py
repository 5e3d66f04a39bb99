"""The Bus Events client against the real app over hypercorn (BUS.md §2, §3)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import msgspec
import pytest
import trio

from contracts.events import Event, ListenQuery, PublishEnvelope
from tests.transport.events.served_events import (
    ScriptedStreamApp,
    ServedEvents,
    serve_asgi,
    serve_events,
    token,
)
from transport.event_log import MemoryEventLog, open_memory_log
from transport.events import (
    EventsAuthError,
    EventsClient,
    EventsProtocolError,
    EventsRequestError,
    EventsTimeoutError,
    EventsUnavailableError,
    RemoteEventLog,
)
from transport.http import Backoff

TINY = Backoff(initial=0.01, maximum=0.05)
TOKEN = token()


@pytest.fixture
async def log() -> AsyncIterator[MemoryEventLog]:
    async with open_memory_log() as log:
        yield log


@pytest.fixture
async def served(nursery: trio.Nursery, log: MemoryEventLog) -> ServedEvents:
    return await serve_events(nursery, log)


@pytest.fixture
async def client(served: ServedEvents) -> AsyncIterator[EventsClient]:
    async with EventsClient(served.base_url, TOKEN, backoff=TINY) as client:
        yield client


def envelope(name: str, payload: object, correlation_id: str | None = None) -> PublishEnvelope:
    return PublishEnvelope(
        name=name, payload=msgspec.Raw(msgspec.json.encode(payload)), correlation_id=correlation_id
    )


def payload_of(event: Event) -> object:
    return msgspec.json.decode(event.payload)


async def take(events: AsyncIterator[Event], count: int) -> list[Event]:
    return [await anext(events) for _ in range(count)]


async def test_publish_answers_the_receipt_of_the_stored_event(
    client: EventsClient, log: MemoryEventLog
) -> None:
    receipt = await client.publish(
        "jobs.created", {"id": 7}, correlation_id="c-1", metadata={"source": "test"}
    )
    assert (receipt.accepted, receipt.name, receipt.correlation_id) == (True, "jobs.created", "c-1")
    async with log.listen(ListenQuery(pattern="jobs.*", replay=True, follow=False)) as stream:
        stored = await stream.receive()
    assert (stored.id, stored.created_at) == (receipt.id, receipt.created_at)
    assert payload_of(stored) == {"id": 7}
    assert (stored.metadata, stored.identity_id) == ({"source": "test"}, "alice")


async def test_a_batch_is_stored_whole_with_one_receipt_per_envelope(client: EventsClient) -> None:
    receipts = await client.publish_batch(
        [envelope("jobs.a", 1), envelope("jobs.b", 2, correlation_id="c-2")]
    )
    assert [(r.name, r.correlation_id) for r in receipts] == [("jobs.a", None), ("jobs.b", "c-2")]
    query = ListenQuery(pattern="jobs.*", replay=True, follow=False)
    async with client.stream(query) as events:
        stored = [(e.id, payload_of(e)) async for e in events]
    assert stored == [(receipts[0].id, 1), (receipts[1].id, 2)]


async def test_a_stream_delivers_what_is_published_in_order(client: EventsClient) -> None:
    async with client.stream(ListenQuery(pattern="jobs.*", since=0)) as events:
        for n in range(3):
            await client.publish(f"jobs.n{n}", n)
        received = await take(events, 3)
    assert [payload_of(e) for e in received] == [0, 1, 2]
    assert [e.name for e in received] == ["jobs.n0", "jobs.n1", "jobs.n2"]


async def test_a_stream_without_follow_ends_after_its_backlog(client: EventsClient) -> None:
    await client.publish("jobs.one", 1)
    await client.publish("other.two", 2)
    async with client.stream(ListenQuery(pattern="jobs.*", replay=True, follow=False)) as events:
        assert [payload_of(e) async for e in events] == [1]


async def test_request_returns_the_response_that_carries_its_correlation_id(
    client: EventsClient, nursery: trio.Nursery
) -> None:
    async def answer() -> None:
        async with client.stream(ListenQuery(pattern="svc.ask", since=0)) as asks:
            ask = await anext(asks)
            await client.publish("svc.answer", {"for": "someone else"}, correlation_id="other")
            answer = {"echo": payload_of(ask)}
            await client.publish("svc.answer", answer, correlation_id=ask.correlation_id)

    ready = trio.Event()

    async def answer_when_listening() -> None:
        ready.set()
        await answer()

    nursery.start_soon(answer_when_listening)
    await ready.wait()
    response = await client.request("svc.ask", {"q": 1}, response_name="svc.answer", timeout=10)
    assert payload_of(response) == {"echo": {"q": 1}}
    assert response.correlation_id and response.correlation_id != "other"


async def test_request_finds_a_response_published_before_it_was_listening(
    client: EventsClient,
) -> None:
    await client.publish("svc.answer", "early", correlation_id="known-id")
    response = await client.request(
        "svc.ask", {}, response_name="svc.answer", correlation_id="known-id", timeout=10
    )
    assert (payload_of(response), response.correlation_id) == ("early", "known-id")


async def test_request_without_a_response_times_out_naming_the_correlation_id(
    client: EventsClient,
) -> None:
    with pytest.raises(EventsTimeoutError) as raised:
        await client.request(
            "svc.ask", {}, response_name="svc.answer", correlation_id="lonely", timeout=0.2
        )
    assert "svc.answer" in str(raised.value) and "lonely" in str(raised.value)


async def test_a_cut_stream_resumes_after_its_last_event_with_no_gap_and_no_duplicate(
    client: EventsClient,
    served: ServedEvents,
    log: MemoryEventLog,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for n in range(3):
        await client.publish("jobs.n", n)
    send, receive = trio.open_memory_channel[Event](100)

    async def collect() -> None:
        async with client.stream(ListenQuery(pattern="jobs.*", replay=True)) as events:
            async for event in events:
                await send.send(event)

    nursery.start_soon(collect)
    before = [await receive.receive() for _ in range(3)]
    served.stop()  # the listener is cut off and keeps trying to reconnect
    await log.append([envelope("jobs.n", n) for n in (3, 4)], identity_id="bob")
    with trio.fail_after(10):
        while "cannot reach" not in caplog.text:  # noqa: ASYNC110 - a log line is no event
            await trio.sleep(0.01)
    await served.start_again()
    after = [await receive.receive() for _ in range(2)]
    await client.publish("jobs.n", 5)
    after.append(await receive.receive())
    assert [payload_of(e) for e in before + after] == [0, 1, 2, 3, 4, 5]
    assert len({e.id for e in before + after}) == 6


async def test_keep_alive_lines_are_skipped_and_a_5xx_is_retried_after_the_last_id(
    nursery: trio.Nursery,
) -> None:
    def line(event_id: str) -> bytes:
        event = Event(id=event_id, name="jobs.n", payload=msgspec.Raw(b"1"), created_at="now")
        return msgspec.json.encode(event) + b"\n"

    app = ScriptedStreamApp(
        [
            (200, [b"\n", line("1"), b"\n", b"\n", line("2")]),  # then ends: follow reconnects
            (503, [b'{"error":{"type":"unavailable","message":"store down"}}']),
            (200, [b"\n", line("3"), b"\n"]),
        ]
    )
    origin, _ = await serve_asgi(nursery, app)
    async with (
        EventsClient(origin, TOKEN, backoff=TINY) as client,
        client.stream(ListenQuery(pattern="jobs.*", since=0)) as events,
    ):
        assert [e.id for e in await take(events, 3)] == ["1", "2", "3"]
    assert app.queries[0] == "name=jobs.%2A&since=0"
    assert app.queries[1:] == ["name=jobs.%2A&after=2"] * 2


async def test_a_stream_cut_before_its_first_event_widens_its_window_instead(
    nursery: trio.Nursery,
) -> None:
    app = ScriptedStreamApp([(200, [b"\n"]), (502, [])])
    origin, _ = await serve_asgi(nursery, app)
    async with (
        EventsClient(origin, TOKEN, backoff=TINY) as client,
        client.stream(ListenQuery(pattern="jobs.*")) as events,
        trio.open_nursery() as reading,
    ):
        reading.start_soon(events.receive)  # ends, fails, then waits on the third answer
        while len(app.queries) < 3:  # noqa: ASYNC110 - the server's count is no event
            await trio.sleep(0.01)
        reading.cancel_scope.cancel()
    assert app.queries[0] == "name=jobs.%2A"
    for query in app.queries[1:]:
        name, since = query.split("&")
        assert name == "name=jobs.%2A" and float(since.removeprefix("since=")) > 60


def test_backoff_doubles_up_to_its_bound() -> None:
    delays = Backoff(jitter=0).delays()
    assert [next(delays) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


async def test_a_line_that_is_no_event_is_a_protocol_error(nursery: trio.Nursery) -> None:
    origin, _ = await serve_asgi(nursery, ScriptedStreamApp([(200, [b"<html>\n"])]))
    async with (
        EventsClient(origin, TOKEN, backoff=TINY) as client,
        client.stream(ListenQuery(pattern="jobs.*")) as events,
    ):
        with pytest.raises(EventsProtocolError):
            await anext(events)


async def test_a_refused_token_fails_fast_and_is_never_shown(
    served: ServedEvents, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = token(secret=b"another-secret-that-the-server-does-not-know")
    async with EventsClient(served.base_url, wrong, backoff=TINY) as client:
        with pytest.raises(EventsAuthError) as streamed:
            async with client.stream(ListenQuery(pattern="jobs.*")):
                pass  # pragma: no cover - entering fails
        with pytest.raises(EventsAuthError) as published:
            await client.publish("jobs.x", 1)
        shown = [str(streamed.value), repr(streamed.value), repr(client), str(published.value)]
    assert (streamed.value.status, streamed.value.kind) == (401, "invalid_auth")
    assert "signature" in streamed.value.message
    for text in [*shown, caplog.text]:
        assert wrong not in text and wrong.split(".")[2] not in text


async def test_a_missing_scope_is_a_403_naming_the_scope(served: ServedEvents) -> None:
    async with EventsClient(served.base_url, token("events:listen")) as client:
        with pytest.raises(EventsAuthError) as raised:
            await client.publish("jobs.x", 1)
    assert (raised.value.status, raised.value.kind) == (403, "forbidden")
    assert "events:send" in raised.value.message


async def test_a_bad_envelope_is_a_request_error_with_the_servers_words(
    client: EventsClient,
) -> None:
    with pytest.raises(EventsRequestError) as raised:
        await client.publish("Not A Name", 1)
    assert (raised.value.status, raised.value.kind) == (400, "bad_request")
    assert str(raised.value).startswith("bad_request: name must be")


async def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with EventsClient(f"http://127.0.0.1:{port}", TOKEN) as client:
        with pytest.raises(EventsUnavailableError, match=f"cannot reach http://127.0.0.1:{port}"):
            await client.publish("jobs.x", 1)
        with pytest.raises(EventsUnavailableError):
            async with client.stream(ListenQuery(pattern="jobs.*"), wait_for_server=False):
                pass  # pragma: no cover - entering fails


@pytest.mark.parametrize("base_url", ["ftp://host", "http://", "not a url", "http://u:pw@host"])
def test_a_base_url_that_is_no_plain_http_url_is_refused_without_echoing_it(
    base_url: str,
) -> None:
    with pytest.raises(ValueError, match="base URL") as raised:
        EventsClient(base_url, TOKEN)
    assert base_url not in str(raised.value)


def test_a_token_that_is_no_bearer_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as raised:
        EventsClient("http://127.0.0.1:1", "secret value\n")
    assert "secret" not in str(raised.value)


# --- RemoteEventLog -------------------------------------------------------------------


async def test_remote_log_appends_listens_and_acks_like_the_embedded_one(
    client: EventsClient,
) -> None:
    remote = RemoteEventLog(client)
    assert remote.backend == "remote"
    stored = await remote.append(
        [envelope("jobs.a", {"n": 1}, "c-a"), envelope("jobs.b", {"n": 2})], identity_id="bridge"
    )
    assert [(e.name, e.correlation_id, payload_of(e)) for e in stored] == [
        ("jobs.a", "c-a", {"n": 1}),
        ("jobs.b", None, {"n": 2}),
    ]
    assert {e.identity_id for e in stored} == {"alice"}  # the server stamps the token's sub
    query = ListenQuery(
        pattern="jobs.*", delivery="unicast", group="g", replay=True, ack="explicit"
    )
    async with remote.listen(query) as stream:
        first = await stream.receive()
        assert (first.id, first.correlation_id_camel) == (stored[0].id, "c-a")
        assert await remote.ack("g", "default", first.id) is True
        assert await remote.ack("g", "default", first.id) is False
        second = await stream.receive()
        assert second.id == stored[1].id
        with trio.move_on_after(0.1):
            await stream.receive()  # nothing more: cancelled while waiting
        [third] = await remote.append([envelope("jobs.c", 3)], identity_id="bridge")
        assert (await stream.receive()).id == third.id  # nothing lost to the cancel


async def test_remote_log_refused_token_raises_when_listening(served: ServedEvents) -> None:
    async with EventsClient(served.base_url, token("inference:read")) as client:
        with pytest.raises(EventsAuthError):
            async with RemoteEventLog(client).listen(ListenQuery(pattern="jobs.*")):
                pass  # pragma: no cover - entering fails


async def test_remote_log_follow_false_stream_ends_with_end_of_channel(
    client: EventsClient,
) -> None:
    remote = RemoteEventLog(client)
    await remote.append([envelope("jobs.a", 1)], identity_id="x")
    async with remote.listen(ListenQuery(pattern="jobs.*", replay=True, follow=False)) as stream:
        assert payload_of(await stream.receive()) == 1
        with pytest.raises(trio.EndOfChannel):
            await stream.receive()


async def test_remote_log_hands_back_what_the_listen_block_raises_unwrapped(
    client: EventsClient,
) -> None:
    with pytest.raises(KeyError):
        async with RemoteEventLog(client).listen(ListenQuery(pattern="jobs.*")):
            raise KeyError("from the body")
