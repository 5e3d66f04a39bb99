"""The lease routes of the endpoint app over real hypercorn (SPEC §3.1–§3.3).

Streaming has its own module (test_endpoint_streaming.py), the admin routes theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from contracts.conversation import Turn
from contracts.session import (
    Failed,
    FailedKind,
    Finished,
    Message,
    Started,
    TextDelta,
    Usage,
    Warning,
)
from contracts.testing import FAILED_KINDS
from tests.fakes.fake_gateway import (
    ADMIN_TOKEN,
    HANG,
    HELLO,
    MODEL,
    FakeGateway,
    FakeLease,
    Served,
    Step,
    call_asgi,
    open_served,
)
from transport.endpoint import create_endpoint_app

ANSWER: list[Step] = [
    Started(provider="claude"),
    TextDelta(text="Hel"),
    TextDelta(text="lo"),
    Usage(input_tokens=12, output_tokens=3, cached_input_tokens=8),
    Finished(finish_reason="stop", text="Hello"),
]
STATUS_OF_KIND = {
    "not_installed": 503,
    "not_logged_in": 503,
    "unreachable": 503,
    "crashed": 502,
    "protocol_error": 502,
    "output_too_large": 502,
    "timeout": 504,
    "cancelled": 499,
}


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    async with open_served(nursery) as served:
        yield served


def openai_client(served: Served, lease: FakeLease) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{served.origin}/leases/{lease.lease_ref}/v1",
        api_key=lease.token,
        max_retries=0,
        timeout=10,
    )


def assert_envelope(response: httpx.Response, status: int, retry: bool = False) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-should-retry"] == ("true" if retry else "false")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


# ------------------------------------------------------------------ health and models


async def test_health_names_the_lease_provider_and_model(served: Served) -> None:
    lease = served.lease(ANSWER)
    response = await served.http.get(
        f"/leases/{lease.lease_ref}/health", headers={"authorization": f"Bearer {lease.token}"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "endpoint_id": lease.endpoint_id,
        "lease_ref": lease.lease_ref,
        "provider": "claude",
        "model": MODEL,
    }


async def test_models_lists_only_the_pinned_model_to_the_official_client(served: Served) -> None:
    lease = served.lease(ANSWER)
    async with openai_client(served, lease) as client:
        page = await client.models.list()
        one = await client.models.retrieve(MODEL)
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("gpt-4o")
    assert [(m.id, m.owned_by, m.created) for m in page.data] == [(MODEL, "claude", lease.created)]
    assert (one.id, one.object, one.owned_by) == (MODEL, "model", "claude")


# ------------------------------------------------------------------ whole completions


async def test_whole_completion_carries_the_usage_the_cli_reported(served: Served) -> None:
    lease = served.lease(ANSWER)
    async with openai_client(served, lease) as client:
        completion = await client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            temperature=0.2,
        )
    assert completion.id.startswith("chatcmpl-") and len(completion.id) > len("chatcmpl-")
    assert completion.model == MODEL
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    assert completion.usage.total_tokens == 15
    [conversation] = lease.prompts
    assert (conversation.system, conversation.turns) == ("Be brief.", (Turn("user", "Hi"),))
    assert conversation.options.temperature == 0.2  # claude passes it on
    assert lease.exits[0].finished and lease.exits[0].error is None


async def test_parameters_the_cli_cannot_pass_on_are_named_in_a_header(served: Served) -> None:
    lease = served.lease(ANSWER, provider="gemini")
    body = {"messages": [{"role": "user", "content": "Hi"}], "temperature": 0.2, "seed": 7}
    answer = await served.post_chat(lease, body)
    assert answer.status_code == 200
    assert answer.headers["x-asm-ignored-params"] == "temperature, seed"
    assert lease.prompts[0].options.temperature is None
    streamed = await served.post_chat(lease, {**body, "stream": True})
    assert streamed.headers["x-asm-ignored-params"] == "temperature, seed"
    claude = served.lease(ANSWER)
    honoured = await served.post_chat(claude, {**body, "seed": None})
    assert "x-asm-ignored-params" not in honoured.headers


async def test_a_response_format_the_cli_cannot_hold_is_a_400(served: Served) -> None:
    lease = served.lease(ANSWER, provider="gemini")
    body = {
        "messages": [{"role": "user", "content": "Hi"}],
        "response_format": {"type": "json_object"},
    }
    answer = await served.post_chat(lease, body)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "response_format"
    assert answer.headers["x-should-retry"] == "false"
    assert lease.prompts == []


async def test_whole_completion_omits_usage_when_the_cli_reported_none(served: Served) -> None:
    lease = served.lease([Message(text="Hi there."), Finished(finish_reason="length", text="")])
    response = await served.post_chat(lease)
    assert response.status_code == 200
    body = response.json()
    assert "usage" not in body
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there."},
            "finish_reason": "length",
        }
    ]


async def test_each_completion_has_its_own_id(served: Served) -> None:
    lease = served.lease(ANSWER)
    first = (await served.post_chat(lease)).json()["id"]
    second = (await served.post_chat(lease)).json()["id"]
    assert first != second


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", FAILED_KINDS)
async def test_failure_before_the_first_byte_answers_the_status_of_its_kind(
    served: Served, kind: FailedKind, stream: bool
) -> None:
    """No failed session is retryable: a 503 (not installed, not logged in, unreachable)
    is the operator's to fix, any other would run the agent again."""
    lease = served.lease(
        [Started(provider="claude"), Warning(message="retrying"), Failed(kind=kind, message="no")]
    )
    response = await served.post_chat(lease, {**HELLO, "stream": stream})
    status = STATUS_OF_KIND[kind]
    error = assert_envelope(response, status, retry=False)
    assert error["type"] == "server_error"
    assert error["code"] == kind


async def test_session_that_ends_without_a_result_is_a_bad_gateway(served: Served) -> None:
    lease = served.lease([Started(provider="claude"), TextDelta(text="partial")])
    error = assert_envelope(await served.post_chat(lease), 502)
    assert error["code"] == "protocol_error"


async def test_official_client_does_not_retry_a_crashed_session(served: Served) -> None:
    lease = served.lease([Failed(kind="crashed", message="exit 1")])
    async with openai.AsyncOpenAI(
        base_url=f"{served.origin}/leases/{lease.lease_ref}/v1", api_key=lease.token, timeout=10
    ) as client:  # default max_retries: 2
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}]
            )
    assert len(lease.prompts) == 1


# ------------------------------------------------------------------ refusals


async def test_busy_lease_answers_429_that_may_be_retried(served: Served) -> None:
    lease = served.lease(ANSWER)
    lease.busy = True
    error = assert_envelope(await served.post_chat(lease), 429, retry=True)
    assert error["code"] == "lease_busy"


async def test_lease_released_while_starting_answers_404(served: Served) -> None:
    lease = served.lease(ANSWER)
    lease.gone = True
    assert_envelope(await served.post_chat(lease, {**HELLO, "stream": True}), 404)


async def test_unknown_lease_answers_404_on_every_route(served: Served) -> None:
    lease = served.lease(ANSWER)
    auth = {"authorization": f"Bearer {lease.token}"}
    for method, path in [
        ("GET", "/leases/no-such-lease/health"),
        ("GET", "/leases/no-such-lease/v1/models"),
        ("GET", f"/leases/no-such-lease/v1/models/{MODEL}"),
        ("POST", "/leases/no-such-lease/v1/chat/completions"),
    ]:
        response = await served.http.request(method, path, headers=auth, json=HELLO)
        assert assert_envelope(response, 404)["code"] == "lease_not_found"


async def test_released_lease_answers_404(served: Served) -> None:
    lease = served.lease(ANSWER)
    await served.gateway.release_endpoint(lease.lease_ref)
    assert_envelope(await served.post_chat(lease), 404)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"Bearer",
        b"Bearer wrong-token",
        b"Basic dXNlcjpwYXNz",
        "Bearer t\u00f6ken".encode("latin-1"),
    ],
)
async def test_missing_or_wrong_token_answers_401(
    served: Served, authorization: bytes | None
) -> None:
    lease = served.lease(ANSWER)
    headers = {} if authorization is None else {b"authorization": authorization}
    for method, path in [
        ("GET", f"/leases/{lease.lease_ref}/health"),
        ("GET", f"/leases/{lease.lease_ref}/v1/models"),
        ("POST", f"/leases/{lease.lease_ref}/v1/chat/completions"),
    ]:
        response = await served.http.request(method, path, headers=headers, json=HELLO)
        error = assert_envelope(response, 401)
        assert error["code"] == "invalid_api_key"
        assert lease.token not in response.text
    assert lease.prompts == []


async def test_another_lease_token_answers_401(served: Served) -> None:
    lease, other = served.lease(ANSWER), served.lease(ANSWER)
    assert_envelope(await served.post_chat(lease, token=other.token), 401)


async def test_tools_are_refused_naming_the_tools_param(served: Served) -> None:
    lease = served.lease(ANSWER)
    tool = {"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}
    extras: list[dict[str, object]] = [
        {"tools": [tool]},
        {"tool_choice": "auto"},
        {"functions": [tool["function"]]},
    ]
    for extra in extras:
        error = assert_envelope(await served.post_chat(lease, {**HELLO, **extra}), 400)
        assert error["type"] == "invalid_request_error"
        assert error["param"] == "tools"
        assert "does not support tools" in error["message"]
    assert lease.prompts == []


async def test_other_model_is_refused_naming_the_pinned_one(served: Served) -> None:
    lease = served.lease(ANSWER)
    error = assert_envelope(await served.post_chat(lease, {**HELLO, "model": "gpt-4o"}), 400)
    assert error["param"] == "model"
    assert MODEL in error["message"]


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'"text"', b"\xff\xfe", b'{"messages": []}', b'{"messages": "Hi"}'],
)
async def test_bad_body_is_400_in_the_envelope(served: Served, body: bytes) -> None:
    lease = served.lease(ANSWER)
    response = await served.http.post(
        f"/leases/{lease.lease_ref}/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {lease.token}", "content-type": "application/json"},
    )
    assert assert_envelope(response, 400)["type"] == "invalid_request_error"
    assert lease.prompts == []


async def test_body_over_one_mib_is_413_whether_declared_or_streamed(served: Served) -> None:
    lease = served.lease(ANSWER)
    url = f"/leases/{lease.lease_ref}/v1/chat/completions"
    auth = {"authorization": f"Bearer {lease.token}"}
    oversized = b'{"messages": [{"role": "user", "content": "' + b"x" * (1 << 20) + b'"}]}'

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(oversized), 65536):
            yield oversized[start : start + 65536]

    declared = await served.http.post(url, content=oversized, headers=auth)
    streamed = await served.http.post(url, content=chunked(), headers=auth)
    assert "content-length" not in streamed.request.headers
    for response in (declared, streamed):
        assert assert_envelope(response, 413)["code"] == "request_too_large"
    # The connection is still usable afterwards.
    assert (await served.post_chat(lease)).status_code == 200


async def test_large_bodies_answered_before_reading_keep_the_connection_serving(
    served: Served,
) -> None:
    """An answer given before the body is read must not stall the client's upload, nor
    the next request on the same connection."""
    lease = served.lease(ANSWER)
    for _ in range(3):
        response = await served.http.post(
            "/leases/no-such-lease/v1/chat/completions", content=b"x" * 8_000_000, timeout=3
        )
        assert_envelope(response, 404)
    assert (await served.post_chat(lease)).status_code == 200


async def test_unknown_route_and_wrong_method_answer_in_the_envelope(served: Served) -> None:
    error = assert_envelope(await served.http.get("/v1/chat/completions"), 404)
    assert error["code"] == "not_found"
    assert "/leases/<lease_ref>/v1/chat/completions" in error["message"]
    lease = served.lease(ANSWER)
    response = await served.http.get(f"/leases/{lease.lease_ref}/v1/chat/completions")
    assert_envelope(response, 405)
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize("kind", ["not_installed", "not_logged_in", "unreachable"])
async def test_the_official_client_does_not_retry_what_the_operator_must_fix(
    served: Served, kind: FailedKind
) -> None:
    lease = served.lease([Started(provider="claude"), Failed(kind=kind, message="no")])
    attempts: list[object] = []

    async def count(request: object) -> None:
        attempts.append(request)

    http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [count]})
    client = openai.AsyncOpenAI(
        base_url=f"{served.origin}/leases/{lease.lease_ref}/v1",
        api_key=lease.token,
        max_retries=3,
        timeout=10,
        http_client=http,
    )
    async with http:
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}]
            )
    assert raised.value.status_code == 503
    assert len(attempts) == 1


# ------------------------------------------------------------------ peers and faults


@pytest.mark.parametrize("peer", [("10.0.0.1", 1234), ("::ffff:10.0.0.1", 1), None])
async def test_request_from_a_remote_peer_is_refused_403(
    nursery: trio.Nursery, peer: tuple[str, int] | None
) -> None:
    gateway = FakeGateway(nursery)
    lease = gateway.add_lease()
    app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN)
    auth = {"authorization": f"Bearer {lease.token}"}
    answer = await call_asgi(
        app, "GET", f"/leases/{lease.lease_ref}/health", headers=auth, client=peer
    )
    assert answer.status == 403
    assert answer.headers["x-should-retry"] == "false"
    assert b'"code":"loopback_only"' in answer.body
    for loopback in [("127.0.0.1", 5), ("127.8.9.10", 5), ("::1", 5), ("::ffff:127.0.0.1", 5)]:
        ok = await call_asgi(
            app, "GET", f"/leases/{lease.lease_ref}/health", headers=auth, client=loopback
        )
        assert ok.status == 200, loopback


async def test_unexpected_fault_is_a_500_that_names_nothing_internal(
    nursery: trio.Nursery,
) -> None:
    class BrokenGateway(FakeGateway):
        def lease(self, lease_ref: str) -> FakeLease | None:
            raise RuntimeError("secret-internal-detail")

    app = create_endpoint_app(BrokenGateway(nursery), admin_token=ADMIN_TOKEN)
    answer = await call_asgi(app, "GET", "/leases/x/health")
    assert answer.status == 500
    assert b"secret-internal-detail" not in answer.body
    assert b'"code":"internal_error"' in answer.body
    assert answer.headers["x-should-retry"] == "false"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_chat_like = st.fixed_dictionaries(
    {},
    optional={
        "messages": _json,
        "model": _json,
        "stream": _json,
        "stream_options": _json,
        "n": _json,
        "tools": _json,
        "tool_choice": _json,
    },
)


@given(body=st.binary(max_size=64) | _chat_like.map(msgspec.json.encode))
async def test_chat_route_never_answers_500_to_any_body(body: bytes) -> None:
    """SPEC §8: bad input gets a clear error in the envelope, never a 500."""
    async with trio.open_nursery() as nursery:
        gateway = FakeGateway(nursery)
        lease = gateway.add_lease(ANSWER, model=MODEL)
        app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN)
        answer = await call_asgi(
            app,
            "POST",
            f"/leases/{lease.lease_ref}/v1/chat/completions",
            headers={"authorization": f"Bearer {lease.token}"},
            body=body,
        )
        assert answer.status in (200, 400), answer.body
        if answer.status == 400:
            assert answer.body.startswith(b'{"error":{"message":')
        nursery.cancel_scope.cancel()


async def test_hanging_session_is_left_when_a_whole_completion_client_gives_up(
    served: Served,
) -> None:
    lease = served.lease([Started(provider="claude"), HANG])
    with pytest.raises(httpx.ReadTimeout):
        await served.http.post(
            f"/leases/{lease.lease_ref}/v1/chat/completions",
            json=HELLO,
            headers={"authorization": f"Bearer {lease.token}"},
            timeout=0.5,
        )
    with trio.fail_after(5):
        await lease.exited.wait()
    assert lease.exits[0].finished is False
    assert lease.exits[0].error == "Cancelled"
