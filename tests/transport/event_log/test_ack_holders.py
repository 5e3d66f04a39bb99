"""Who may ack through the Events API: only the subject a delivery was handed to
(issue 15 §5; contracts.events.listen.held_by), on every backend.

The bridge listens on the local log with its plain consumer name; a token that guesses
the group, the consumer and the id still acks nothing of it.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import trio

from contracts.events import DEFAULT_AUDIENCE, ListenQuery
from contracts.inference import BRIDGE_IDENTITY, STATUS_REQUEST
from tests.transport.event_log.conftest import envelope, receive
from tests.transport.events.events_bus import EVENTS, SECRET, STREAM, auth, error_of, open_bus
from transport.event_log import EventLog

BRIDGE = ListenQuery(
    pattern=STATUS_REQUEST,
    delivery="unicast",
    group="asm-inference",
    consumer="host-a:4242",
    ack="explicit",
    ack_wait=60,
)
GUESSED = {"group": "asm-inference", "consumer": "host-a:4242"}


@pytest.mark.parametrize(
    "scopes", ["events:listen", "inference:read", "events:listen inference:admin"]
)
async def test_no_token_acks_a_request_pending_for_the_embedded_bridge(
    event_log: EventLog, nursery: trio.Nursery, scopes: str
) -> None:
    [request] = await event_log.append(
        [envelope(STATUS_REQUEST, b'{"provider":"ollama","node_id":"n1"}')], identity_id="ops"
    )
    async with open_bus(nursery, event_log) as bus, event_log.listen(BRIDGE) as bridge:
        assert (await receive(bridge)).id == request.id  # pending for the bridge
        answer = await bus.http.post(
            f"{EVENTS}/ack", json={**GUESSED, "id": request.id}, headers=auth(scopes, "mallory")
        )
        assert error_of(answer, 404)["type"] == "not_found"
        # No token is issued for the bridge's subject, and one signed for it is refused.
        now = int(time.time())
        claims = {"sub": BRIDGE_IDENTITY, "aud": DEFAULT_AUDIENCE, "scope": scopes}
        forged = jwt.encode({**claims, "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
        answer = await bus.http.post(
            f"{EVENTS}/ack",
            json={**GUESSED, "id": request.id},
            headers={"authorization": f"Bearer {forged}"},
        )
        assert error_of(answer, 401)["type"] == "invalid_auth"
        assert await event_log.ack("asm-inference", "host-a:4242", request.id)  # still pending


async def test_an_api_listener_acks_its_own_delivery_and_no_other_subject_can(
    event_log: EventLog, nursery: trio.Nursery
) -> None:
    [event] = await event_log.append([envelope("jobs.one")], identity_id="ops")
    params: dict[str, Any] = {
        "name": "jobs.*",
        "delivery": "unicast",
        "group": "workers",
        "consumer": "w1",
        "ack": "explicit",
        "ack_wait": "60",
        "replay": "true",
        "follow": "false",
    }
    ack = {"group": "workers", "consumer": "w1", "id": event.id}
    async with open_bus(nursery, event_log) as bus:
        taken = await bus.http.get(STREAM, params=params, headers=auth(subject="alice"))
        assert taken.json()["id"] == event.id
        for other in ("bob", "alice ", "w1 alice"):
            answer = await bus.http.post(f"{EVENTS}/ack", json=ack, headers=auth(subject=other))
            assert error_of(answer, 404)["type"] == "not_found"
        assert not await event_log.ack("workers", "w1", event.id)  # the plain name: no one
        mine = await bus.http.post(
            f"{EVENTS}/ack", json=ack, headers=auth("events:listen", subject="alice")
        )
        assert (mine.status_code, mine.json()) == (200, {"acked": True})
        again = await bus.http.post(f"{EVENTS}/ack", json=ack, headers=auth(subject="alice"))
        assert error_of(again, 404)["type"] == "not_found"
