"""Who may publish and listen to what: the scope matrix of BUS.md §2.3, over HTTP.

The expectations come from the rule table written out below, not from
``contracts.events.envelope.authorize``, so a mistake there shows up here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import DEFAULT_AUDIENCE
from transport.event_log import open_memory_log
from transport.events import TokenVerifier, create_events_app, issue_token

SECRET = b"events-scopes-test-secret-0123456789abcdef"
WRONG_SECRET = b"not-the-events-secret-at-all-0123456789"
ADMIN, READ, SEND, LISTEN = "inference:admin", "inference:read", "events:send", "events:listen"

# --- BUS.md §2.3, written out -------------------------------------------------------
# install and model.ensure need inference:admin; status and verify need inference:read,
# which inference:admin implies; any other name needs events:send to publish and
# events:listen to listen; a prefix needs every scope some name under it needs.
IMPLIED = {ADMIN: {READ}}
PUBLISH_NEEDS = {
    "bus.inference.install.request": {ADMIN},
    "bus.inference.model.ensure.request": {ADMIN},
    "bus.inference.status.request": {READ},
    "bus.inference.verify.response": {READ},
    "bus.inference.other.request": {SEND},  # not a protected namespace
    "jobs.created": {SEND},
}
LISTEN_NEEDS = {
    "bus.inference.install.response": {ADMIN},
    "bus.inference.model.ensure.response": {ADMIN},
    "bus.inference.status.response": {READ},
    "bus.inference.verify.request": {READ},
    "bus.inference.other.response": {LISTEN},
    "jobs.created": {LISTEN},
    "bus.inference.install.*": {ADMIN},
    "bus.inference.status.*": {READ},
    # bus.inference.model.x is unprotected, bus.inference.model.ensure.x is admin's.
    "bus.inference.model.*": {ADMIN, LISTEN},
    "bus.inference.*": {ADMIN, READ, LISTEN},
    "bus.*": {ADMIN, READ, LISTEN},
    "jobs.*": {LISTEN},
}
SCOPE_SETS = [
    "",
    SEND,
    LISTEN,
    READ,
    ADMIN,
    f"{SEND} {LISTEN}",
    f"{LISTEN} {READ}",
    f"{LISTEN} {ADMIN}",
    f"{SEND} {ADMIN}",
    f"{READ} {ADMIN}",
    f"{SEND} {LISTEN} {READ} {ADMIN}",
]
PAYLOAD = {"provider": "ollama", "node_id": "gpu-1"}


def missing(needs: set[str], scopes: str) -> set[str]:
    granted = set(scopes.split())
    for scope in list(granted):
        granted |= IMPLIED.get(scope, set())
    return needs - granted


@asynccontextmanager
async def open_client() -> AsyncIterator[httpx.AsyncClient]:
    async with open_memory_log() as log:
        app = create_events_app(log, TokenVerifier(SECRET))
        transport = httpx.ASGITransport(cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bus.test") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def token(
    scopes: str,
    *,
    secret: bytes = SECRET,
    ttl: float = 600,
    audience: str = DEFAULT_AUDIENCE,
    now: float | None = None,
) -> str:
    return issue_token(
        secret, subject="alice", scopes=scopes, ttl_seconds=ttl, audience=audience, now=now
    )


async def publish(client: httpx.AsyncClient, name: str, headers: dict[str, str]) -> httpx.Response:
    body = {"name": name, "payload": PAYLOAD}
    return await client.post("/api/v1/events", json=body, headers=headers)


async def listen(client: httpx.AsyncClient, name: str, headers: dict[str, str]) -> httpx.Response:
    params = {"name": name, "follow": "false", "since": "0"}
    return await client.get("/api/v1/events/stream", params=params, headers=headers)


def assert_outcome(response: httpx.Response, ok: int, lacking: set[str]) -> None:
    if not lacking:
        assert response.status_code == ok, response.text
        return
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["type"] == "forbidden"
    assert all(scope in error["message"] for scope in lacking), (error, lacking)


@pytest.mark.parametrize("scopes", SCOPE_SETS)
@pytest.mark.parametrize("name", sorted(PUBLISH_NEEDS))
async def test_publish_needs_the_scope_of_the_name(name: str, scopes: str) -> None:
    async with open_client() as client:
        response = await publish(client, name, bearer(token(scopes)))
    assert_outcome(response, 202, missing(PUBLISH_NEEDS[name], scopes))


@pytest.mark.parametrize("scopes", SCOPE_SETS)
@pytest.mark.parametrize("name", sorted(LISTEN_NEEDS))
async def test_listen_needs_every_scope_of_the_names_it_selects(name: str, scopes: str) -> None:
    async with open_client() as client:
        response = await listen(client, name, bearer(token(scopes)))
    assert_outcome(response, 200, missing(LISTEN_NEEDS[name], scopes))


def _unsigned() -> str:
    claims = {"sub": "alice", "aud": "ai.hg.fi/api", "scope": ADMIN, "iat": 1, "exp": 2**40}
    return jwt.encode(claims, None, algorithm="none")


def _without_exp() -> str:
    claims = {"sub": "alice", "aud": "ai.hg.fi/api", "scope": ADMIN, "iat": 1}
    return jwt.encode(claims, SECRET, algorithm="HS256")


ALL = f"{SEND} {LISTEN} {ADMIN}"
BAD_AUTHORIZATION = {
    "missing": None,
    "not bearer": f"Basic {token(ALL)}",
    "empty bearer": "Bearer ",
    "expired": f"Bearer {token(ALL, ttl=1, now=1_000_000)}",
    "wrong audience": f"Bearer {token(ALL, audience='someone.else/api')}",
    "wrong signature": f"Bearer {token(ALL, secret=WRONG_SECRET)}",
    "unsigned": f"Bearer {_unsigned()}",
    "no exp": f"Bearer {_without_exp()}",
}
Route = Literal["publish", "batch", "listen", "ack"]


async def call(client: httpx.AsyncClient, route: Route, headers: dict[str, str]) -> httpx.Response:
    match route:
        case "publish":
            return await publish(client, "jobs.created", headers)
        case "batch":
            batch = [{"name": "jobs.created"}]
            return await client.post("/api/v1/events:batch", json=batch, headers=headers)
        case "listen":
            return await listen(client, "jobs.created", headers)
        case "ack":
            body = {"group": "g", "consumer": "c", "id": "1"}
            return await client.post("/api/v1/events/ack", json=body, headers=headers)


@pytest.mark.parametrize("route", ["publish", "batch", "listen", "ack"])
@pytest.mark.parametrize("kind", sorted(BAD_AUTHORIZATION))
async def test_bad_or_missing_token_answers_401_with_a_challenge(kind: str, route: Route) -> None:
    authorization = BAD_AUTHORIZATION[kind]
    headers = {} if authorization is None else {"authorization": authorization}
    async with open_client() as client:
        response = await call(client, route, headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["type"] == "invalid_auth"
    credential = (authorization or "").partition(" ")[2]
    if credential:
        assert credential not in response.text


async def test_every_envelope_of_a_batch_is_checked() -> None:
    batch = [
        {"name": "jobs.created"},
        {"name": "bus.inference.status.request", "payload": PAYLOAD},
        {"name": "bus.inference.install.request", "payload": PAYLOAD},
    ]
    async with open_client() as client:
        headers = bearer(token(f"{SEND} {READ}"))
        refused = await client.post("/api/v1/events:batch", json=batch, headers=headers)
        admitted = await client.post("/api/v1/events:batch", json=batch[:2], headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].startswith("batch[2]")
    assert admitted.status_code == 202


_scope_words = st.sampled_from([SEND, LISTEN, READ, ADMIN, "events:*", "admin", "inference"])
_damage = st.sampled_from(["none", "expired", "audience", "secret", "truncated", "flipped"])


def _damaged(scopes: list[str], damage: str) -> str:
    good = " ".join(scopes)
    match damage:
        case "expired":
            return token(good, ttl=1, now=1_000_000)
        case "audience":
            return token(good, audience="elsewhere")
        case "secret":
            return token(good, secret=WRONG_SECRET)
        case "truncated":
            return token(good)[:-5]
        case "flipped":
            raw = token(good)
            return raw[:-3] + ("A" if raw[-3] != "A" else "B") + raw[-2:]
        case _:
            return token(good)


@given(
    scopes=st.lists(_scope_words, max_size=4),
    damage=_damage,
    name=st.sampled_from(sorted(PUBLISH_NEEDS)),
    route=st.sampled_from(["publish", "listen"]),
)
async def test_a_refusal_never_contains_the_token(
    scopes: list[str], damage: str, name: str, route: str
) -> None:
    """BUS.md §1 and §2.3: a 401 or 403 body never holds the bearer token."""
    raw = _damaged(scopes, damage)
    async with open_client() as client:
        send = publish if route == "publish" else listen
        response = await send(client, name, bearer(raw))
    assert response.status_code in (200, 202, 401, 403)
    assert (response.status_code == 401) == (damage != "none")
    if response.status_code in (401, 403):
        assert raw not in response.text
        assert raw.split(".")[2] not in response.text  # not even the signature
