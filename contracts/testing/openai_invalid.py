"""Hypothesis strategies for chat-completions requests that break one rule (SPEC §3.2).

Each example is labelled with the rule it breaks, so a harness can say which rule an
implementation got wrong::

    from hypothesis import given
    from contracts.testing.openai_invalid import invalid_chat_requests

    @given(invalid_chat_requests("gpt-5", "tools_refused"))
    def test_tools_are_refused(example): ...   # example.body: bytes, ready to POST

Every body is exactly what goes on the wire (``bytes``); all but the first rule's are
JSON objects that would be valid but for the one rule.
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

import msgspec
from hypothesis import strategies as st

from contracts.openai import MAX_BODY_BYTES, MAX_MESSAGES, MAX_PROMPT_BYTES, ROLES
from contracts.testing.openai import chat_messages, json_values

__all__ = ["REQUEST_RULES", "InvalidChatRequest", "RequestRule", "invalid_chat_requests"]

RequestRule = Literal[
    "body_is_json_object",
    "model_absent_or_pinned",
    "tools_refused",
    "stream_options_need_stream",
    "n_at_most_1",
    "messages_valid",
    "media_parts_refused",
    "prompt_at_most_256_kib",
    "body_at_most_1_mib",
    "logprobs_refused",
    "parameters_validated",
]
REQUEST_RULES: tuple[RequestRule, ...] = get_args(RequestRule)


class InvalidChatRequest(msgspec.Struct, frozen=True):
    """A request body breaking ``rule``; ``detail`` is what the error must name, if any."""

    rule: RequestRule
    body: bytes
    detail: str | None = None


def _encoded(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _base(draw: st.DrawFn) -> dict[str, Any]:
    return {"messages": draw(chat_messages(max_size=3))}


def _not_json() -> st.SearchStrategy[bytes]:
    def undecodable(raw: bytes) -> bool:
        try:
            json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return True
        return False

    broken = st.sampled_from([b"", b"{", b"{'messages': []}", b"[1,", b"nul", b"\xff\xfe{}"])
    return broken | st.binary(max_size=40).filter(undecodable)


def _not_objects() -> st.SearchStrategy[bytes]:
    return json_values().filter(lambda value: not isinstance(value, dict)).map(_encoded)


@st.composite
def _wrong_model(draw: st.DrawFn, pinned: str) -> InvalidChatRequest:
    model = draw(st.text(min_size=1, max_size=40).filter(lambda name: name != pinned))
    return InvalidChatRequest(
        "model_absent_or_pinned", _encoded(_base(draw) | {"model": model}), pinned
    )


_TOOL = {"type": "function", "function": {"name": "run", "parameters": {"type": "object"}}}


@st.composite
def _tools(draw: st.DrawFn) -> InvalidChatRequest:
    field, value = draw(
        st.sampled_from(
            [
                ("tools", [_TOOL]),
                ("functions", [_TOOL["function"]]),
                ("tool_choice", "auto"),
                ("tool_choice", "required"),
                ("tool_choice", {"type": "function", "function": {"name": "run"}}),
            ]
        )
    )
    return InvalidChatRequest("tools_refused", _encoded(_base(draw) | {field: value}), "tools")


@st.composite
def _stream_options(draw: st.DrawFn) -> InvalidChatRequest:
    body = _base(draw) | {"stream_options": {"include_usage": draw(st.booleans())}}
    if draw(st.booleans()):
        body["stream"] = False
    return InvalidChatRequest("stream_options_need_stream", _encoded(body))


@st.composite
def _n(draw: st.DrawFn) -> InvalidChatRequest:
    n = draw(st.integers(min_value=2, max_value=2**31))
    return InvalidChatRequest("n_at_most_1", _encoded(_base(draw) | {"n": n}))


@st.composite
def _messages(draw: st.DrawFn) -> InvalidChatRequest:
    valid = draw(chat_messages(max_size=3))
    broken: Any = draw(
        st.sampled_from(
            ["empty", "too_many", "role", "empty_content", "content_type", "absent", "last"]
        )
    )
    match broken:
        case "empty":
            messages: Any = []
        case "too_many":
            messages = [{"role": "user", "content": "x"}] * (MAX_MESSAGES + draw(st.integers(1, 8)))
        case "role":
            role = draw(st.text(max_size=12).filter(lambda name: name not in ROLES))
            messages = [*valid, {"role": role, "content": "x"}]
        case "empty_content":
            messages = [*valid, {"role": "user", "content": draw(st.sampled_from(["", []]))}]
        case "content_type":
            content = draw(st.none() | st.integers() | st.booleans())
            messages = [*valid, {"role": "user", "content": content}]
        case "last":  # a completion answers the user: the last turn is not the assistant's
            messages = [*valid, {"role": "assistant", "content": "x"}]
        case _:
            return InvalidChatRequest("messages_valid", _encoded({"model": None}))
    return InvalidChatRequest("messages_valid", _encoded({"messages": messages}))


@st.composite
def _logprobs(draw: st.DrawFn) -> InvalidChatRequest:
    field, value = draw(
        st.sampled_from([("logprobs", True)])
        | st.tuples(st.just("top_logprobs"), st.integers(min_value=0, max_value=20))
    )
    return InvalidChatRequest("logprobs_refused", _encoded(_base(draw) | {field: value}), field)


_OUT_OF_RANGE: dict[str, st.SearchStrategy[Any]] = {
    "temperature": st.floats(min_value=2.001, max_value=1e6) | st.floats(-1e6, -0.001),
    "top_p": st.floats(min_value=1.001, max_value=1e6) | st.floats(-1e6, -0.001),
    "max_tokens": st.integers(max_value=0),
    "max_completion_tokens": st.integers(max_value=0),
    "stop": st.lists(st.text(min_size=1, max_size=3), min_size=5, max_size=8) | st.just(""),
    "reasoning_effort": st.text(max_size=10).filter(
        lambda value: value not in {"none", "minimal", "low", "medium", "high", "xhigh"}
    ),
}


@st.composite
def _parameters(draw: st.DrawFn) -> InvalidChatRequest:
    field = draw(st.sampled_from(sorted(_OUT_OF_RANGE)))
    value = draw(_OUT_OF_RANGE[field])
    body = _base(draw) | {field: value}
    return InvalidChatRequest("parameters_validated", _encoded(body), field)


@st.composite
def _media(draw: st.DrawFn) -> InvalidChatRequest:
    valid = draw(chat_messages(max_size=3))
    part = draw(
        st.sampled_from(
            [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ]
        )
    )
    index = len(valid)
    message = {"role": "user", "content": [{"type": "text", "text": "look"}, part]}
    return InvalidChatRequest(
        "media_parts_refused", _encoded({"messages": [*valid, message]}), str(index)
    )


@st.composite
def _long_prompt(draw: st.DrawFn) -> InvalidChatRequest:
    size = MAX_PROMPT_BYTES + draw(st.integers(min_value=1, max_value=4096))
    body = {"messages": [{"role": "user", "content": "x" * size}]}
    return InvalidChatRequest("prompt_at_most_256_kib", _encoded(body))


@st.composite
def _large_body(draw: st.DrawFn) -> InvalidChatRequest:
    head = _encoded({"messages": [{"role": "user", "content": "hi"}], "padding": ""})
    extra = MAX_BODY_BYTES - len(head) + draw(st.integers(min_value=1, max_value=4096))
    body = {"messages": [{"role": "user", "content": "hi"}], "padding": "p" * extra}
    return InvalidChatRequest("body_at_most_1_mib", _encoded(body))


def invalid_chat_requests(
    pinned_model: str, rule: RequestRule | None = None
) -> st.SearchStrategy[InvalidChatRequest]:
    """Bodies breaking ``rule`` (or any one rule) for an endpoint pinned to ``pinned_model``."""
    by_rule: dict[RequestRule, st.SearchStrategy[InvalidChatRequest]] = {
        "body_is_json_object": (_not_json() | _not_objects()).map(
            lambda raw: InvalidChatRequest("body_is_json_object", raw)
        ),
        "model_absent_or_pinned": _wrong_model(pinned_model),
        "tools_refused": _tools(),
        "stream_options_need_stream": _stream_options(),
        "n_at_most_1": _n(),
        "messages_valid": _messages(),
        "media_parts_refused": _media(),
        "prompt_at_most_256_kib": _long_prompt(),
        "body_at_most_1_mib": _large_body(),
        "logprobs_refused": _logprobs(),
        "parameters_validated": _parameters(),
    }
    if rule is not None:
        return by_rule[rule]
    return st.one_of(*by_rule.values())
