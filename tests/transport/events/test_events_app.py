"""The publish routes, errors and capabilities of the Bus Events API app (BUS.md §2.1).

Over real hypercorn and the memory log; streams have test_events_stream.py, the scope
matrix test_events_scopes.py, the tokens test_events_auth.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.fake_gateway import call_asgi
from tests.transport.events.events_bus import (
    EVENTS,
    SECRET,
    STATUS,
    STREAM,
    BrokenLog,
    Bus,
    auth,
    error_of,
    open_bus,
)
from transport.event_log import StoreError, open_memory_log
from transport.events import TokenVerifier, create_events_app


@pytest.fixture
async def bus(nursery: trio.Nursery) -> AsyncIterator[Bus]:
    async with open_bus(nursery) as bus:
        yield bus


# ------------------------------------------------------------------ publish


async def test_publish_answers_a_receipt_and_stamps_the_token_subject(bus: Bus) -> None:
    body = {"name": "jobs.created", "payload": {"n": 1}, "correlationId": "c-1"}
    response = await bus.publish({**body, "identity_id": "mallory", "delivery": "unicast"})
    assert response.status_code == 202
    receipt = response.json()
    assert set(receipt) == {"accepted", "id", "name", "correlation_id", "created_at"}
    assert receipt["accepted"] is True
    assert (receipt["name"], receipt["correlation_id"]) == ("jobs.created", "c-1")
    [event] = await bus.backlog(name="jobs.created")
    assert event["id"] == receipt["id"] and event["created_at"] == receipt["created_at"]
    assert event["identity_id"] == "alice"
    assert event["correlation_id"] == event["correlationId"] == "c-1"
    assert event["payload"] == {"n": 1}


async def test_receipt_ids_increase_in_publish_order(bus: Bus) -> None:
    ids = [(await bus.publish({"name": f"jobs.n{i}"})).json()["id"] for i in range(3)]
    assert [event["id"] for event in await bus.backlog(name="jobs.*")] == ids
    assert len(set(ids)) == 3


async def test_batch_answers_one_receipt_per_envelope(bus: Bus) -> None:
    batch = [{"name": "jobs.a", "correlation_id": "x"}, {"name": "jobs.b"}]
    response = await bus.http.post(f"{EVENTS}:batch", json=batch, headers=auth())
    assert response.status_code == 202
    assert [(r["name"], r["correlation_id"]) for r in response.json()] == [
        ("jobs.a", "x"),
        ("jobs.b", None),
    ]


@pytest.mark.parametrize(
    ("bad", "status"),
    [({"name": "Jobs.Bad"}, 400), ({"name": "bus.inference.status.request"}, 400)],
)
async def test_batch_with_one_bad_envelope_stores_nothing(
    bus: Bus, bad: dict[str, str], status: int
) -> None:
    batch = [{"name": "jobs.good"}, bad, {"name": "jobs.also-good"}]
    response = await bus.http.post(f"{EVENTS}:batch", json=batch, headers=auth())
    assert error_of(response, status)["message"].startswith("batch[1]")
    assert await bus.backlog(name="jobs.*") == []


async def test_batch_with_one_forbidden_envelope_stores_nothing(bus: Bus) -> None:
    batch = [{"name": "jobs.good"}, {"name": "bus.inference.install.request", "payload": STATUS}]
    response = await bus.http.post(f"{EVENTS}:batch", json=batch, headers=auth("events:send"))
    assert "inference:admin" in error_of(response, 403)["message"]
    assert await bus.backlog(name="jobs.*") == []


async def test_invalid_inference_request_payload_is_still_stored(bus: Bus) -> None:
    body = {"name": "bus.inference.status.request", "payload": {"provider": "nope"}}
    assert (await bus.publish(body)).status_code == 202
    [event] = await bus.backlog(name="bus.inference.status.request")
    assert event["payload"] == {"provider": "nope"}


async def test_bodies_over_the_limits_are_413_and_the_server_keeps_serving(bus: Bus) -> None:
    big = {"name": "jobs.big", "payload": "x" * (1 << 20)}
    error = error_of(await bus.publish(big), 413)
    assert error["type"] == "too_large"
    half = {"name": "jobs.half", "payload": "x" * 600_000}
    batch = f"{EVENTS}:batch"
    assert error_of(await bus.http.post(batch, json=[half, big], headers=auth()), 413)[
        "message"
    ].startswith("batch[1]")
    many = [{"name": "jobs.n"}] * 1001
    assert error_of(await bus.http.post(batch, json=many, headers=auth()), 413)
    # A batch may exceed 1 MiB as a whole; each envelope may not.
    assert (await bus.http.post(batch, json=[half, half], headers=auth())).status_code == 202
    assert (await bus.publish({"name": "jobs.after"})).status_code == 202


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'{"payload": 1}', b'{"name": "a", "payload": nope}', b"\xff{"],
)
async def test_malformed_bodies_are_400_and_the_server_keeps_serving(bus: Bus, body: bytes) -> None:
    response = await bus.http.post(EVENTS, content=body, headers=auth())
    assert error_of(response, 400)["type"] == "bad_request"
    assert (await bus.publish({"name": "jobs.after"})).status_code == 202


@pytest.mark.parametrize("name", ["Jobs", "jobs..x", "jobs.", ".jobs", "jobs x", "jobs.*", ""])
async def test_names_outside_the_grammar_are_400(bus: Bus, name: str) -> None:
    assert "name" in error_of(await bus.publish({"name": name}), 400)["message"]


async def test_content_type_must_be_json_when_given(bus: Bus) -> None:
    body = b'{"name": "jobs.x"}'
    form = {**auth(), "content-type": "application/x-www-form-urlencoded"}
    assert error_of(await bus.http.post(EVENTS, content=body, headers=form), 415)
    typed = {**auth(), "content-type": "application/json; charset=utf-8"}
    assert (await bus.http.post(EVENTS, content=body, headers=typed)).status_code == 202
    assert (await bus.http.post(EVENTS, content=body, headers=auth())).status_code == 202


async def test_unknown_route_and_wrong_method_answer_in_the_error_body(bus: Bus) -> None:
    assert error_of(await bus.http.get("/api/v1/nothing"), 404)["type"] == "not_found"
    response = await bus.http.get(EVENTS, headers=auth())
    assert error_of(response, 405)["type"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
    assert (await bus.publish({"name": "jobs.after"})).status_code == 202


async def test_capabilities_and_health_need_no_token(bus: Bus) -> None:
    capabilities = (await bus.http.get(f"{EVENTS}/capabilities")).json()
    assert capabilities["backends"] == ["memory"]
    assert capabilities["delivery_modes"] == ["broadcast", "unicast"]
    assert capabilities["ack_modes"] == ["auto", "explicit"]
    assert capabilities["protected_namespaces"]["bus.inference.install."] == "inference:admin"
    assert capabilities["providers"] == ["ollama"]
    assert len(capabilities["events"]) == 8
    assert capabilities["max_envelope_bytes"] == 1_048_576
    assert capabilities["audience"] == "ai.hg.fi/api"
    assert (await bus.http.get("/healthz")).json() == {"status": "ok"}


# ------------------------------------------------------------------ faults


async def test_store_failure_is_503_on_publish_and_before_a_stream(nursery: trio.Nursery) -> None:
    async with (
        open_memory_log() as memory,
        open_bus(nursery, BrokenLog(memory, StoreError("disk"))) as bus,
    ):
        for response in [
            await bus.publish({"name": "jobs.x"}),
            await bus.http.get(STREAM, params={"name": "jobs.x"}, headers=auth()),
        ]:
            error = error_of(response, 503)
            assert error == {"type": "unavailable", "message": "the event store is unavailable"}


async def test_unexpected_fault_is_a_500_naming_nothing_internal(nursery: trio.Nursery) -> None:
    async with (
        open_memory_log() as memory,
        open_bus(nursery, BrokenLog(memory, RuntimeError("secret-internal-detail"))) as bus,
    ):
        response = await bus.publish({"name": "jobs.x"})
        assert error_of(response, 500)["type"] == "internal_error"
        assert "secret-internal-detail" not in response.text
        assert (await bus.http.get("/healthz")).status_code == 200


# ------------------------------------------------------------------ without a server


async def test_remote_peers_are_served_the_token_guards_instead() -> None:
    async with open_memory_log() as log:
        app = create_events_app(log, TokenVerifier(SECRET))
        answer = await call_asgi(
            app,
            "POST",
            EVENTS,
            headers={**auth(), "content-type": "application/json"},
            body=b'{"name": "jobs.remote"}',
            client=("10.0.0.7", 40000),
        )
    assert answer.status == 202, answer.body


async def test_capabilities_overrides_are_merged_and_checked() -> None:
    async with open_memory_log() as log:
        app = create_events_app(
            log, TokenVerifier(SECRET), capabilities={"backends": ["memory", "sqlite", "redis"]}
        )
        answer = await call_asgi(app, "GET", f"{EVENTS}/capabilities")
        with pytest.raises(ValueError, match="backends"):
            create_events_app(log, TokenVerifier(SECRET), capabilities={"backends": "redis"})
    capabilities = msgspec.json.decode(answer.body)
    assert capabilities["backends"] == ["memory", "sqlite", "redis"]
    assert capabilities["delivery_modes"] == ["broadcast", "unicast"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["jobs.x", "bus.inference.status.request", "Bad", ""]) | _json,
        "payload": _json,
        "correlation_id": _json,
        "correlationId": _json,
        "metadata": _json,
        "delivery": _json,
    },
)


@given(
    body=st.binary(max_size=64) | _envelope_like.map(msgspec.json.encode),
    batch=st.booleans(),
)
async def test_publish_never_answers_500_to_any_body(body: bytes, batch: bool) -> None:
    """BUS.md §2.1: a bad envelope is a 400 in the error body, never a 500."""
    async with open_memory_log() as log:
        app = create_events_app(log, TokenVerifier(SECRET))
        path = f"{EVENTS}:batch" if batch else EVENTS
        wrapped = b"[" + body + b"]" if batch else body
        answer = await call_asgi(app, "POST", path, headers=auth(), body=wrapped)
    assert answer.status in (202, 400), answer.body
    if answer.status == 400:
        assert answer.body.startswith(b'{"error":{"type":"bad_request","message":')
