"""JSON nested far too deep for a recursive decoder is a 400 in the OpenAI envelope on
the chat route and in the admin envelope on ensure, never a 500 (issue 15 §6); the
Events API routes have theirs in test_events_trust.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from contracts.session import Finished, Started, TextDelta
from tests.fakes.fake_gateway import ADMIN_TOKEN, Served, Step, open_served

ANSWER: list[Step] = [
    Started(provider="claude"),
    TextDelta(text="Hi"),
    Finished(finish_reason="stop", text="Hi"),
]
LEVELS = [1_000, 100_000]


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def bodies(levels: int) -> list[bytes]:
    """The body itself, a message's content, and an ignored parameter, each ``levels`` deep."""
    deep = nested(levels)
    return [
        deep,
        b'{"messages":[{"role":"user","content":' + deep + b"}]}",
        b'{"messages":[{"role":"user","content":"Hi"}],"metadata":{"m":' + deep + b"}}",
    ]


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    async with open_served(nursery) as served:
        yield served


@pytest.mark.parametrize("levels", LEVELS)
async def test_deep_json_on_the_chat_route_is_a_400_in_the_openai_envelope(
    served: Served, levels: int
) -> None:
    lease = served.lease(ANSWER)
    headers = {"authorization": f"Bearer {lease.token}", "content-type": "application/json"}
    for body in bodies(levels):
        response = await served.http.post(
            f"/leases/{lease.lease_ref}/v1/chat/completions", content=body, headers=headers
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert lease.prompts == []


@pytest.mark.parametrize("levels", LEVELS)
async def test_deep_json_on_ensure_is_a_400_in_the_admin_envelope(
    served: Served, levels: int
) -> None:
    deep = nested(levels)
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"}
    for body in (deep, b'{"request":{"model_preference":' + deep + b'},"context":{}}'):
        response = await served.http.post("/api/v1/endpoints", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_request"
    assert served.gateway.ensured == []
