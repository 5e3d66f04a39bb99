"""The streaming rules of SPEC §3.3: role chunk first, one id, finish then ``[DONE]``.

Each rule posts a valid streaming request (a real completion) and reads the whole
event stream; a check looks at one property only, so a broken stream names exactly the
rule it breaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from contracts.testing import chat_requests
from transport.conformance._endpoint_target import EndpointTarget, check_usage
from transport.conformance._harness import Rule, Violation

__all__ = ["DONE", "ROLE_DELTA", "Stream", "stream_rules"]

DONE = "[DONE]"
ROLE_DELTA = {"role": "assistant", "content": ""}


class Stream:
    """A finished event stream: its data payloads and the chunks decoded from them."""

    def __init__(self, data: list[str], include_usage: bool) -> None:
        self.data = data
        self.include_usage = include_usage
        self.chunks: list[dict[str, Any]] = []
        for payload in data:
            if payload == DONE:
                continue
            try:
                chunk = json.loads(payload)
            except ValueError:
                raise Violation(
                    f"a data line is neither JSON nor [DONE]: {payload[:120]!r}"
                ) from None
            if not isinstance(chunk, dict):
                raise Violation(f"a chunk is not an object: {payload[:120]!r}")
            if "error" in chunk:
                raise Violation(f"the stream carried an error: {payload[:200]}")
            self.chunks.append(chunk)

    def content_chunks(self) -> list[dict[str, Any]]:
        """Every chunk but the final usage chunk (``choices: []``)."""
        return [chunk for chunk in self.chunks if chunk.get("choices") != []]


def _streaming(body: dict[str, Any], include_usage: bool | None) -> dict[str, Any]:
    body = body | {"stream": True}
    body.pop("stream_options", None)
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    return body


def _examples(target: EndpointTarget) -> st.SearchStrategy[tuple[dict[str, Any], bool | None]]:
    return st.tuples(
        st.deferred(lambda: chat_requests(target.pinned_model())),
        st.sampled_from([None, False, True]),
    )


def _stream_rule(
    target: EndpointTarget, name: str, summary: str, check: Callable[[Stream, str], None]
) -> Rule[Any]:
    def run(example: tuple[dict[str, Any], bool | None]) -> None:
        body, include_usage = example
        answer = target.post_chat(_streaming(body, include_usage))
        answer.expect(200)
        if answer.content_type != "text/event-stream":
            raise Violation(f"a streaming answer is {answer.content_type!r}, not text/event-stream")
        check(Stream(answer.sse_data(), include_usage is True), target.pinned_model())

    return Rule(name, summary, _examples(target), run, max_examples=8)


def _role_first(stream: Stream, pinned: str) -> None:
    if not stream.chunks:
        raise Violation("the stream has no chunks")
    first = stream.chunks[0]
    choices = first.get("choices")
    delta = choices[0].get("delta") if isinstance(choices, list) and choices else None
    if delta != ROLE_DELTA:
        raise Violation(
            f'the first chunk\'s delta is {delta!r}, not {{"role":"assistant","content":""}}'
        )


def _one_id(stream: Stream, pinned: str) -> None:
    ids = {chunk.get("id") for chunk in stream.chunks}
    created = {chunk.get("created") for chunk in stream.chunks}
    if len(ids) != 1 or not str(next(iter(ids))).startswith("chatcmpl-"):
        raise Violation(f"chunks do not share one chatcmpl- id: {sorted(map(str, ids))[:4]}")
    if len(created) != 1 or not isinstance(next(iter(created)), int):
        raise Violation(f"chunks do not share one integer created: {sorted(map(str, created))[:4]}")
    for chunk in stream.chunks:
        if chunk.get("object") != "chat.completion.chunk" or chunk.get("model") != pinned:
            raise Violation(f"a chunk is not a chat.completion.chunk of {pinned!r}: {chunk}")


def _finish_then_done(stream: Stream, pinned: str) -> None:
    if not stream.data or stream.data[-1] != DONE or stream.data.count(DONE) != 1:
        raise Violation(
            f"the stream does not end with exactly one data: [DONE] (last: {stream.data[-1:]})"
        )
    content = stream.content_chunks()
    if not content:
        raise Violation("the stream has no content chunks")
    last = content[-1]["choices"][0]
    if last.get("delta") != {} or last.get("finish_reason") not in ("stop", "length"):
        raise Violation(f"the last content chunk is not an empty delta with stop/length: {last}")
    for chunk in content[:-1]:
        reason = chunk["choices"][0].get("finish_reason")
        if reason is not None:
            raise Violation(f"a chunk before the last has finish_reason {reason!r}")


def _usage_when_asked(stream: Stream, pinned: str) -> None:
    usage_chunks = [chunk for chunk in stream.chunks if chunk.get("choices") == []]
    if not stream.include_usage:
        carried = [chunk["usage"] for chunk in stream.chunks if chunk.get("usage") is not None]
        if usage_chunks or carried:
            raise Violation("usage was sent although stream_options.include_usage was not true")
        return
    if len(usage_chunks) != 1 or stream.chunks[-1] is not usage_chunks[0]:
        raise Violation("include_usage: the last chunk before [DONE] is not one choices: [] chunk")
    check_usage(usage_chunks[0].get("usage"))
    for chunk in stream.content_chunks():
        if "usage" not in chunk or chunk["usage"] is not None:
            raise Violation(f"include_usage: a content chunk does not carry usage: null: {chunk}")


def stream_rules(target: EndpointTarget) -> list[Rule[Any]]:
    """The four streaming rules."""
    return [
        _stream_rule(
            target,
            "stream.first_chunk_is_the_role",
            'the first chunk\'s delta is {"role":"assistant","content":""}',
            _role_first,
        ),
        _stream_rule(
            target,
            "stream.chunks_share_one_id",
            "every chunk has one chatcmpl- id, one created, the pinned model",
            _one_id,
        ),
        _stream_rule(
            target,
            "stream.finish_chunk_then_done",
            "an empty delta with stop/length ends the content, then one data: [DONE]",
            _finish_then_done,
        ),
        _stream_rule(
            target,
            "stream.usage_only_when_asked",
            "with include_usage a last choices: [] chunk has usage (others usage: null); else none",
            _usage_when_asked,
        ),
    ]
