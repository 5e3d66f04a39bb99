"""The admin routes over real hypercorn: ensure, release, list (SPEC §3.4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from contracts.endpoint import REDACTED_AUTHORIZATION
from tests.fakes.fake_gateway import (
    ADMIN_TOKEN,
    FakeGateway,
    Served,
    call_asgi,
    open_served,
)
from transport.endpoint import create_endpoint_app

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
CLAUDE_REQUEST = {"model_preference": {"provider": "claude", "id": "claude-sonnet-4-5"}}


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    async with open_served(nursery) as served:
        yield served


async def ensure(served: Served, body: object, headers: dict[str, str] = ADMIN) -> httpx.Response:
    return await served.http.post("/api/v1/endpoints", json=body, headers=headers)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


async def test_healthz_answers_without_a_token(served: Served) -> None:
    response = await served.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "service": "asm"}


async def test_ensure_answers_201_with_a_working_descriptor(served: Served) -> None:
    response = await ensure(
        served,
        {
            "request": {**CLAUDE_REQUEST, "authority_refs": {"authority_ref": "auth-1"}},
            "context": {"caller_trace_ref": "trace-9", "token": "not-a-ref"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"endpoint", "compatibility"}
    assert body["compatibility"]["compatible"] is True
    assert body["compatibility"]["reason"] == "protocol_match"
    endpoint = body["endpoint"]
    lease = served.gateway.leases[endpoint["lease_ref"]]
    assert endpoint["headers"]["authorization"] == f"Bearer {lease.token}"
    assert endpoint["model_identity"] == "claude-sonnet-4-5"
    assert endpoint["metadata"]["authority_refs"] == {
        "authority_ref": "auth-1",
        "caller_trace_ref": "trace-9",
    }
    request, manifest, context = served.gateway.ensured[0]
    assert request.model_preference.provider == "claude"
    assert manifest is None
    assert context == {"caller_trace_ref": "trace-9", "token": "not-a-ref"}
    # The token it returns opens the lease's routes.
    health = await served.http.get(f"/leases/{lease.lease_ref}/health", headers=endpoint["headers"])
    assert health.status_code == 200


async def test_ensure_passes_the_consumer_manifest_on(served: Served) -> None:
    manifest = {"consumer": "someone", "required_capabilities": {"streaming": True}}
    response = await ensure(served, {"request": CLAUDE_REQUEST, "consumer_manifest": manifest})
    assert response.status_code == 201, response.text
    _, passed, _ = served.gateway.ensured[0]
    assert passed is not None and passed.consumer == "someone"


async def test_incompatible_request_answers_409_with_the_compatibility(served: Served) -> None:
    request = {**CLAUDE_REQUEST, "tools": [{"type": "function"}]}
    response = await ensure(served, {"request": request})
    error = error_of(response, 409)
    assert error["code"] == "incompatible"
    compatibility = response.json()["compatibility"]
    assert compatibility["compatible"] is False
    assert compatibility["reason"] == "missing_capability"
    assert compatibility["missing_requirements"] == ["tool_calling"]
    assert compatibility["metadata"]["provider"] == "claude"
    assert served.gateway.leases == {}


@pytest.mark.parametrize(
    ("request_body", "code"),
    [
        ({"model_preference": {"provider": "nobody", "id": "m"}}, "unsupported_provider"),
        ({"model_preference": {"provider": "claude"}}, "missing_model_identity"),
    ],
)
async def test_refused_request_answers_400_naming_why(
    served: Served, request_body: dict[str, Any], code: str
) -> None:
    response = await ensure(served, {"request": request_body})
    assert error_of(response, 400)["code"] == code
    assert "compatibility" not in response.json()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b"{}",
        b'{"request": "claude"}',
        b'{"request": {"stream": "yes"}}',
        b'{"request": {}, "context": []}',
        b'{"request": {}, "consumer_manifest": {}}',
        b"\xff",
    ],
)
async def test_malformed_ensure_body_answers_400(served: Served, body: bytes) -> None:
    response = await served.http.post("/api/v1/endpoints", content=body, headers=ADMIN)
    assert error_of(response, 400)["type"] == "invalid_request_error"
    assert served.gateway.ensured == []


async def test_oversized_ensure_body_answers_413(served: Served) -> None:
    body = msgspec.json.encode({"request": {"prompt": "x" * (1 << 20)}})
    response = await served.http.post("/api/v1/endpoints", content=body, headers=ADMIN)
    assert error_of(response, 413)["code"] == "request_too_large"


async def test_release_answers_204_and_again_204(served: Served) -> None:
    lease = (await ensure(served, {"request": CLAUDE_REQUEST})).json()["endpoint"]
    for _ in range(2):
        response = await served.http.delete(
            f"/api/v1/endpoints/{lease['lease_ref']}", headers=ADMIN
        )
        assert response.status_code == 204
        assert response.content == b""
    assert served.gateway.released == [lease["lease_ref"]] * 2
    health = await served.http.get(f"/leases/{lease['lease_ref']}/health", headers=lease["headers"])
    assert health.status_code == 404


async def test_list_shows_live_endpoints_with_tokens_redacted(served: Served) -> None:
    first = (await ensure(served, {"request": CLAUDE_REQUEST})).json()["endpoint"]
    second = (await ensure(served, {"request": CLAUDE_REQUEST})).json()["endpoint"]
    await served.http.delete(f"/api/v1/endpoints/{first['lease_ref']}", headers=ADMIN)
    response = await served.http.get("/api/v1/endpoints", headers=ADMIN)
    assert response.status_code == 200
    endpoints = response.json()["endpoints"]
    assert [e["lease_ref"] for e in endpoints] == [second["lease_ref"]]
    assert endpoints[0]["headers"]["authorization"] == REDACTED_AUTHORIZATION
    for lease in served.gateway.leases.values():
        assert lease.token not in response.text


async def test_consumer_manifest_is_the_default_one(served: Served) -> None:
    response = await served.http.get("/api/v1/consumer-manifest", headers=ADMIN)
    assert response.status_code == 200
    manifest = response.json()
    assert manifest["consumer"] == "asm_openai_endpoint"
    assert manifest["optional_capabilities"] == {"streaming": True}


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": ADMIN_TOKEN}],
)
async def test_admin_routes_answer_401_without_the_admin_token(
    served: Served, headers: dict[str, str]
) -> None:
    lease = served.lease()
    calls = [
        ("POST", "/api/v1/endpoints"),
        ("GET", "/api/v1/endpoints"),
        ("DELETE", f"/api/v1/endpoints/{lease.lease_ref}"),
        ("GET", "/api/v1/consumer-manifest"),
    ]
    for method, path in calls:
        body = msgspec.json.encode({"request": CLAUDE_REQUEST})
        response = await served.http.request(method, path, headers=headers, content=body)
        assert error_of(response, 401)["code"] == "invalid_api_key"
    assert served.gateway.ensured == [] and served.gateway.released == []


async def test_lease_token_does_not_open_the_admin_routes(served: Served) -> None:
    lease = served.lease()
    response = await served.http.get(
        "/api/v1/endpoints", headers={"authorization": f"Bearer {lease.token}"}
    )
    error_of(response, 401)


async def test_admin_routes_refuse_a_remote_peer(nursery: trio.Nursery) -> None:
    gateway = FakeGateway(nursery)
    app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN)
    body = msgspec.json.encode({"request": CLAUDE_REQUEST})
    for method, path in [("POST", "/api/v1/endpoints"), ("GET", "/api/v1/endpoints")]:
        answer = await call_asgi(
            app, method, path, headers=ADMIN, body=body, client=("192.168.1.20", 40000)
        )
        assert answer.status == 403
        assert b'"code":"loopback_only"' in answer.body
    assert gateway.ensured == []


async def test_app_refuses_an_empty_admin_token(nursery: trio.Nursery) -> None:
    with pytest.raises(ValueError, match="admin_token"):
        create_endpoint_app(FakeGateway(nursery), admin_token="")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_ensure_like = st.fixed_dictionaries(
    {},
    optional={
        "request": _json
        | st.fixed_dictionaries(
            {}, optional={"model_preference": _json, "tools": _json, "stream": _json}
        ),
        "consumer_manifest": _json,
        "context": _json,
    },
)


@given(body=st.binary(max_size=64) | _ensure_like.map(msgspec.json.encode))
async def test_ensure_route_never_answers_500_to_any_body(body: bytes) -> None:
    """SPEC §8: bad input gets a clear error in the envelope, never a 500."""
    async with trio.open_nursery() as nursery:
        app = create_endpoint_app(FakeGateway(nursery), admin_token=ADMIN_TOKEN)
        answer = await call_asgi(app, "POST", "/api/v1/endpoints", headers=ADMIN, body=body)
        assert answer.status in (201, 400, 409), answer.body
        if answer.status != 201:
            assert answer.body.startswith(b'{"error":{"message":')
