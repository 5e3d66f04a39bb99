"""What a publisher cannot do to other listeners through the Events API (issue 15):
forge events with line breaks in a payload, relay bytes that are not UTF-8, or break
decoders with JSON nested a thousand deep. Over real hypercorn and the memory log; the
ack-holder rule across the three stores is in event_logs/test_ack_holders.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jwt
import msgspec
import pytest
import trio

from contracts.events import DEFAULT_AUDIENCE, MAX_ENVELOPE_BYTES, MAX_JSON_DEPTH, ListenQuery
from tests.transport.events.events_bus import EVENTS, SECRET, STREAM, Bus, auth, error_of, open_bus
from tests.transport.events.served_events import serve_asgi
from transport.events import MAX_ACK_BYTES, EventsClient, EventsProtocolError, issue_token

FORGED = {
    "id": "999999",
    "name": "bus.inference.verify.response",
    "payload": {"ok": True},
    "correlation_id": "deploy-001",
    "correlationId": "deploy-001",
    "metadata": {},
    "identity_id": "asm-inference-bridge",
    "created_at": "2026-01-01T00:00:00.000Z",
}
# Valid JSON: a three-element array whose line breaks sit between its values.
HOSTILE = b"[1,\n" + json.dumps(FORGED).encode() + b"\n,2]"


@pytest.fixture
async def bus(nursery: trio.Nursery) -> AsyncIterator[Bus]:
    async with open_bus(nursery) as bus:
        yield bus


async def publish_raw(bus: Bus, body: bytes, *, batch: bool = False) -> int:
    route = f"{EVENTS}:batch" if batch else EVENTS
    headers = {**auth(), "content-type": "application/json"}
    return (await bus.http.post(route, content=body, headers=headers)).status_code


async def streamed_lines(bus: Bus, pattern: str) -> list[bytes]:
    params = {"name": pattern, "replay": "true", "follow": "false"}
    response = await bus.http.get(STREAM, params=params, headers=auth())
    assert response.status_code == 200, response.text
    return response.content.split(b"\n")[:-1]


@pytest.mark.parametrize("batch", [False, True])
async def test_a_payload_with_line_breaks_cannot_forge_an_event_in_the_stream(
    bus: Bus, batch: bool
) -> None:
    body = b'{"name":"jobs.hostile","payload":' + HOSTILE + b"}"
    assert await publish_raw(bus, b"[" + body + b"]" if batch else body, batch=batch) == 202
    lines = await streamed_lines(bus, "jobs.*")
    assert len(lines) == 1, lines
    [event] = [json.loads(line) for line in lines]
    assert event["name"] == "jobs.hostile" and event["identity_id"] == "alice"
    assert event["payload"] == [1, FORGED, 2]


@pytest.mark.parametrize("batch", [False, True])
async def test_a_payload_that_is_not_utf8_is_a_400_and_is_not_stored(bus: Bus, batch: bool) -> None:
    body = b'{"name":"jobs.junk","payload":["\xff\xfe"]}'
    route = f"{EVENTS}:batch" if batch else EVENTS
    response = await bus.http.post(
        route,
        content=b"[" + body + b"]" if batch else body,
        headers={**auth(), "content-type": "application/json"},
    )
    assert "UTF-8" in error_of(response, 400)["message"]
    assert await streamed_lines(bus, "jobs.*") == []


async def test_line_separators_inside_strings_reach_a_client_listener_intact(bus: Bus) -> None:
    text = "a\u2028b\u2029c\u0085d"
    published = await bus.publish(
        {"name": "jobs.text", "payload": [text], "metadata": {"note": text}}
    )
    assert published.status_code == 202
    [line] = await streamed_lines(bus, "jobs.*")
    assert line.decode().splitlines() == [line.decode()]  # no line break of any kind
    origin = str(bus.http.base_url)
    token = auth()["authorization"].removeprefix("Bearer ")
    query = ListenQuery(pattern="jobs.*", replay=True, follow=False)
    async with EventsClient(origin, token) as client, client.stream(query) as events:
        with trio.fail_after(10):
            [event] = [event async for event in events]
    assert msgspec.json.decode(event.payload) == [text]
    assert event.metadata == {"note": text}


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 1_000, 50_000])
@pytest.mark.parametrize("where", ["payload", "metadata", "batch", "ack"])
async def test_json_nested_past_the_limit_is_a_400_on_every_route(
    bus: Bus, levels: int, where: str
) -> None:
    deep = nested(levels)
    route, body = {
        "payload": (EVENTS, b'{"name":"jobs.deep","payload":' + deep + b"}"),
        "metadata": (EVENTS, b'{"name":"jobs.deep","metadata":{"m":' + deep[1:-1] + b"}}"),
        "batch": (f"{EVENTS}:batch", b'[{"name":"jobs.deep","payload":' + deep + b"}]"),
        "ack": (f"{EVENTS}/ack", b'{"group":"g","consumer":"c","id":' + deep + b"}"),
    }[where]
    response = await bus.http.post(
        route, content=body, headers={**auth(), "content-type": "application/json"}
    )
    if len(body) > (MAX_ACK_BYTES if where == "ack" else MAX_ENVELOPE_BYTES):
        assert error_of(response, 413)["type"] == "too_large"
    else:
        assert error_of(response, 400)["type"] == "bad_request"
    assert (await bus.http.get("/healthz")).status_code == 200


async def test_a_batch_that_is_itself_nested_a_thousand_deep_is_a_400(bus: Bus) -> None:
    assert await publish_raw(bus, nested(1_000), batch=True) == 400


@pytest.mark.parametrize("batch", [False, True])
async def test_json_nested_exactly_to_the_limit_is_accepted_and_streamed(
    bus: Bus, batch: bool
) -> None:
    body = b'{"name":"jobs.deep","payload":' + nested(MAX_JSON_DEPTH) + b"}"
    assert await publish_raw(bus, b"[" + body + b"]" if batch else body, batch=batch) == 202
    [line] = await streamed_lines(bus, "jobs.*")
    assert json.loads(line)["payload"] == json.loads(nested(MAX_JSON_DEPTH))


async def test_capabilities_name_the_depth_limit(bus: Bus) -> None:
    capabilities = (await bus.http.get(f"{EVENTS}/capabilities")).json()
    assert capabilities["max_json_depth"] == MAX_JSON_DEPTH


@pytest.mark.parametrize("separator", ["\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c"])
async def test_a_scope_claim_splits_on_ascii_spaces_only(bus: Bus, separator: str) -> None:
    claim = separator.join(["events:listen", "inference:admin"])
    token = jwt.encode(
        {"sub": "eve", "aud": DEFAULT_AUDIENCE, "scope": claim, "iat": 0, "exp": 2**40},
        SECRET,
        algorithm="HS256",
    )
    params = {"name": "bus.inference.install.*", "follow": "false"}
    answer = await bus.http.get(STREAM, params=params, headers={"authorization": f"Bearer {token}"})
    assert error_of(answer, 403)["type"] == "forbidden"
    with pytest.raises(ValueError, match="whitespace"):
        issue_token(SECRET, subject="eve", scopes=claim, ttl_seconds=60)


async def test_a_client_splits_a_stream_at_line_feeds_only(nursery: trio.Nursery) -> None:
    """A server that sends U+2028 and U+0085 raw inside a string (valid JSON, as an older
    or foreign server may) still gives whole events; a line nested far past any limit
    is a protocol error, not a RecursionError escaping the client."""
    text = "a\u2028b\u0085c"
    first = {**FORGED, "id": "1", "name": "jobs.a", "payload": [text]}
    body = json.dumps(first, ensure_ascii=False).encode() + b"\n\n"
    body += b'{"id":"2","name":"jobs.b","created_at":"t","payload":' + nested(5_000) + b"}\n"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = [(b"content-type", b"application/x-ndjson")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index in range(0, len(body), 7):  # lines cut across chunks
            chunk = body[index : index + 7]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    origin, _ = await serve_asgi(nursery, app)
    query = ListenQuery(pattern="jobs.*", replay=True, follow=False)
    async with EventsClient(origin, "token") as client, client.stream(query) as events:
        with trio.fail_after(10):
            event = await events.receive()
            assert (event.id, msgspec.json.decode(event.payload)) == ("1", [text])
            with pytest.raises(EventsProtocolError, match="not an event"):
                await events.receive()
