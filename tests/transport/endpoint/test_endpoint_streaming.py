"""Streamed chat completions over real hypercorn: the SSE bytes (SPEC §3.3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import msgspec
import openai
import pytest
import trio
from hypercorn.typing import ASGIReceiveEvent, ASGISendEvent, HTTPResponseStartEvent

from contracts.session import Failed, Finished, Message, Started, TextDelta, Usage
from tests.fakes.fake_gateway import (
    ADMIN_TOKEN,
    HANG,
    HELLO,
    MODEL,
    FakeGateway,
    FakeLease,
    Pause,
    Served,
    Step,
    StreamExit,
    http_scope,
    open_served,
    serve_on_loopback,
)
from transport.endpoint import create_endpoint_app

STREAM = {**HELLO, "stream": True}
WITH_USAGE = {**STREAM, "stream_options": {"include_usage": True}}
KEEPALIVE = 0.2
CHAT = "/leases/{}/v1/chat/completions"


ANSWER: list[Step] = [
    Started(provider="claude"),
    TextDelta(text="Hel"),
    TextDelta(text="lo"),
    Usage(input_tokens=12, output_tokens=3),
    Finished(finish_reason="stop", text="Hello"),
]


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    async with open_served(nursery, keepalive_seconds=KEEPALIVE) as served:
        yield served


def sse_events(raw: bytes) -> list[str]:
    """The events of an SSE body, each as its one line (``data: …`` or ``: keep-alive``)."""
    assert raw.endswith(b"\n\n"), raw[-40:]
    events = raw.decode().split("\n\n")[:-1]
    assert all("\n" not in event for event in events), events
    return events


def chunks_of(events: list[str]) -> list[dict[str, Any]]:
    """The JSON chunks, checking the framing: comments aside, ``data: [DONE]`` last."""
    data = [event for event in events if not event.startswith(":")]
    assert data[-1] == "data: [DONE]"
    assert all(event.startswith("data: {") for event in data[:-1])
    return [msgspec.json.decode(event.removeprefix("data: ")) for event in data[:-1]]


async def post_stream(served: Served, lease: FakeLease, body: object = STREAM) -> httpx.Response:
    response = await served.post_chat(lease, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response


async def test_stream_sends_role_text_finish_then_done_under_one_id(served: Served) -> None:
    lease = served.lease(ANSWER)
    chunks = chunks_of(sse_events((await post_stream(served, lease)).content))
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert len({chunk["created"] for chunk in chunks}) == 1
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["model"] for chunk in chunks} == {MODEL}
    assert [chunk["choices"] for chunk in chunks] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    ]
    assert all("usage" not in chunk for chunk in chunks)
    assert lease.exits[0].finished and lease.exits[0].error is None


async def test_stream_ends_with_the_usage_chunk_only_when_asked(served: Served) -> None:
    lease = served.lease(ANSWER)
    chunks = chunks_of(sse_events((await post_stream(served, lease, WITH_USAGE)).content))
    *before, last = chunks
    assert all(chunk["usage"] is None and chunk["choices"] for chunk in before)
    assert before[-1]["choices"][0]["finish_reason"] == "stop"
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert last["id"] == before[0]["id"] and last["created"] == before[0]["created"]


async def test_stream_never_invents_usage_the_cli_did_not_report(served: Served) -> None:
    lease = served.lease([TextDelta(text="Hi"), Finished(finish_reason="stop", text="Hi")])
    chunks = chunks_of(sse_events((await post_stream(served, lease, WITH_USAGE)).content))
    assert all(chunk["usage"] is None for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_whole_message_blocks_stream_as_content(served: Served) -> None:
    lease = served.lease(
        [Message(text="First."), Message(text="Second."), Finished(finish_reason="length", text="")]
    )
    chunks = chunks_of(sse_events((await post_stream(served, lease)).content))
    contents = [chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-1]]
    assert contents == ["First.", "Second."]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_answer_given_only_at_the_end_is_still_streamed(served: Served) -> None:
    lease = served.lease([Started(provider="claude"), Finished(finish_reason="stop", text="Hi")])
    chunks = chunks_of(sse_events((await post_stream(served, lease)).content))
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {},
    ]


async def test_failure_after_streaming_began_is_an_error_event_then_done(served: Served) -> None:
    lease = served.lease(
        [TextDelta(text="par"), Failed(kind="crashed", message="claude exited with 1")]
    )
    events = sse_events((await post_stream(served, lease)).content)
    assert events[-1] == "data: [DONE]"
    error = msgspec.json.decode(events[-2].removeprefix("data: "))
    assert error == {
        "error": {"message": "claude exited with 1", "type": "server_error", "code": "crashed"}
    }
    assert [chunk["choices"][0]["delta"] for chunk in chunks_of(events[:-2] + events[-1:])] == [
        {"role": "assistant", "content": ""},
        {"content": "par"},
    ]


async def test_stream_that_ends_without_a_result_reports_a_protocol_error(served: Served) -> None:
    lease = served.lease([TextDelta(text="par")])
    events = sse_events((await post_stream(served, lease)).content)
    assert msgspec.json.decode(events[-2].removeprefix("data: "))["error"]["code"] == (
        "protocol_error"
    )
    assert events[-1] == "data: [DONE]"


async def test_silent_cli_gets_keepalive_comments(served: Served) -> None:
    lease = served.lease(
        [
            TextDelta(text="a"),
            Pause(1.0),
            TextDelta(text="b"),
            Finished(finish_reason="stop", text="ab"),
        ]
    )
    events = sse_events((await post_stream(served, lease)).content)
    first, second = (
        next(i for i, event in enumerate(events) if f'"content":"{text}"' in event)
        for text in ("a", "b")
    )
    between = events[first + 1 : second]
    assert 3 <= len(between) <= 6
    assert set(between) == {": keep-alive"}
    assert ": keep-alive" not in events[second:]


async def test_cli_silent_before_its_first_text_gets_the_stream_started(served: Served) -> None:
    """After one keep-alive interval without text, the 200 is committed and comments flow;
    a failure after that can only be reported in the stream."""
    lease = served.lease(
        [Started(provider="claude"), Pause(1.0), Failed(kind="timeout", message="late")]
    )
    events = sse_events((await post_stream(served, lease)).content)
    role = msgspec.json.decode(events[0].removeprefix("data: "))
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events.count(": keep-alive") >= 2
    assert '"code":"timeout"' in events[-2]
    assert events[-1] == "data: [DONE]"


async def test_stream_outlasting_the_response_timeout_completes(nursery: trio.Nursery) -> None:
    """No response timeout cuts a stream: the app disables Quart's (60 s by default), and
    a stream answers with no timeout of its own even where one is configured."""
    gateway = FakeGateway(nursery)
    app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN, keepalive_seconds=KEEPALIVE)
    assert app.config["RESPONSE_TIMEOUT"] is None
    app.config["RESPONSE_TIMEOUT"] = 0.3  # what a stream must ignore
    origin = await serve_on_loopback(nursery, app)
    lease = gateway.add_lease(
        [
            TextDelta(text="a"),
            Pause(1.0),
            TextDelta(text="b"),
            Finished(finish_reason="stop", text="ab"),
        ],
        model=MODEL,
    )
    async with httpx.AsyncClient(base_url=origin, timeout=10) as http:
        response = await Served(gateway, origin, http).post_chat(lease, STREAM)
    chunks = chunks_of(sse_events(response.content))
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_official_client_reads_the_stream_with_usage(served: Served) -> None:
    lease = served.lease(ANSWER)
    async with openai.AsyncOpenAI(
        base_url=f"{served.origin}/leases/{lease.lease_ref}/v1",
        api_key=lease.token,
        max_retries=0,
        timeout=10,
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15


async def test_client_gone_mid_stream_leaves_the_lease_stream(served: Served) -> None:
    lease = served.lease([Started(provider="claude"), TextDelta(text="a"), HANG])
    async with served.http.stream(
        "POST",
        f"/leases/{lease.lease_ref}/v1/chat/completions",
        json=STREAM,
        headers={"authorization": f"Bearer {lease.token}"},
    ) as response:
        async for line in response.aiter_lines():
            if '"content":"a"' in line:
                break
        assert lease.exits == []  # the session is still running while the client reads
    with trio.fail_after(5):
        await lease.exited.wait()
    assert lease.exits[0].finished is False
    assert lease.exits[0].error == "Cancelled"


async def test_client_gone_before_the_first_text_leaves_the_lease_stream(
    nursery: trio.Nursery,
) -> None:
    gateway = FakeGateway(nursery)
    app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN, keepalive_seconds=30)
    origin = await serve_on_loopback(nursery, app)
    lease = gateway.add_lease([Started(provider="claude"), HANG], model=MODEL)
    async with httpx.AsyncClient(base_url=origin, timeout=0.5) as http:
        with pytest.raises(httpx.ReadTimeout):
            await Served(gateway, origin, http).post_chat(lease, STREAM)
    with trio.fail_after(5):
        await lease.exited.wait()
    assert lease.exits[0].finished is False
    assert lease.exits[0].error == "Cancelled"


async def test_client_gone_while_a_frame_is_being_sent_leaves_the_lease_stream(
    nursery: trio.Nursery,
) -> None:
    """The other way a disconnect arrives: the body generator waits at a ``yield`` while
    the server is stuck sending to the client; Quart then closes the body, and the
    generator leaves the lease's context by GeneratorExit."""
    gateway = FakeGateway(nursery)
    lease = gateway.add_lease([TextDelta(text="a"), HANG], model=MODEL)
    app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN, keepalive_seconds=KEEPALIVE)
    client_gone = trio.Event()
    requests: list[ASGIReceiveEvent] = [
        {"type": "http.request", "body": msgspec.json.encode(STREAM), "more_body": False}
    ]
    sent: list[ASGISendEvent] = []

    async def receive() -> ASGIReceiveEvent:
        if requests:
            return requests.pop(0)
        await client_gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: ASGISendEvent) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            client_gone.set()  # the client leaves while its socket is full
            await trio.sleep_forever()

    headers = {"authorization": f"Bearer {lease.token}"}
    with trio.fail_after(5):
        await app(http_scope("POST", CHAT.format(lease.lease_ref), headers=headers), receive, send)
    assert cast(HTTPResponseStartEvent, sent[0])["status"] == 200
    # Left within the request itself, not later by the garbage collector's finalizer.
    assert lease.exits == [StreamExit(finished=False, error="GeneratorExit")]
