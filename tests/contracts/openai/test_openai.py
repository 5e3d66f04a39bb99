"""The chat-completions contract: request rules, response bytes, failure mapping."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.openai import (
    MAX_BODY_BYTES,
    ChatCompletion,
    ChatCompletionChunk,
    OpenAIRequestError,
    Usage,
    ValidChatRequest,
    conversation_from_messages,
    encode_json,
    validate_chat_request,
)
from contracts.openai import requests as chat
from contracts.openai import responses as chat_responses
from contracts.session import FailedKind, finish_reason_from
from contracts.session import Usage as SessionUsage
from contracts.testing import (
    FAILED_KINDS,
    chat_chunks,
    chat_completion_requests,
    chat_completions,
    chat_messages,
    chat_requests,
    error_envelopes,
    ignored_openai_fields,
    json_values,
    model_lists,
    stream_error_envelopes,
    unknown_fields,
    unset_or,
    usages,
    valid_chat_requests,
)

PINNED = "claude-sonnet-4-5"
_encode = msgspec.json.encode
_HELLO = [{"role": "user", "content": "Hi"}]


def _refused(body: bytes | dict[str, Any]) -> OpenAIRequestError:
    raw = body if isinstance(body, bytes) else _encode(body)
    with pytest.raises(OpenAIRequestError) as caught:
        validate_chat_request(raw, PINNED)
    return caught.value


def _accepted(body: dict[str, Any]) -> ValidChatRequest:
    return validate_chat_request(_encode(body), PINNED)


# ------------------------------------------------------------------------- request rules


@given(chat_requests(PINNED))
def test_valid_requests_are_accepted_as_their_conversation(body: dict[str, Any]) -> None:
    """Rule: a request within every rule is accepted, its messages mapped to turns."""
    valid = _accepted(body)
    expected = conversation_from_messages(body["messages"])
    assert (valid.conversation.system, valid.conversation.turns) == (
        expected.system,
        expected.turns,
    )
    assert valid.stream is bool(body.get("stream"))
    assert valid.include_usage is bool((body.get("stream_options") or {}).get("include_usage"))


@given(json_values().filter(lambda value: not isinstance(value, dict)))
def test_rule_body_must_be_json_object(value: object) -> None:
    """Rule: the body's top level is a JSON object; any other JSON value answers 400."""
    error = _refused(_encode(value))
    assert (error.status, error.type) == (400, "invalid_request_error")
    assert "must be a JSON object" in error.message


@given(st.binary(max_size=64) | st.binary(max_size=64).map(lambda b: b'{"messages":' + b))
def test_rule_body_must_be_json(body: bytes) -> None:
    """Rule: a body that is not JSON answers 400 saying so."""
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    else:
        assume(False)
    error = _refused(body)
    assert error.status == 400
    assert "not valid JSON" in error.message


@pytest.mark.parametrize("body", [b"\xff{}", b'{"a":"\xed\xa0\x80"}', b"[" * 100_000, b""])
def test_undecodable_or_too_deep_bodies_answer_400(body: bytes) -> None:
    assert _refused(body).status == 400


@given(chat_requests(PINNED), st.integers(min_value=0, max_value=2))
def test_rule_body_at_most_1_mib(body: dict[str, Any], extra: int) -> None:
    """Rule: a body of exactly 1 MiB is read; one byte more answers 413."""
    encoded = _encode(body)
    padded = encoded + b" " * (MAX_BODY_BYTES - len(encoded) + extra)
    if extra == 0:
        assert validate_chat_request(padded, PINNED).conversation.prompt
    else:
        assert _refused(padded).status == 413


@given(chat_messages(), st.none() | st.text(max_size=20) | st.just(PINNED))
def test_rule_model_absent_or_pinned(messages: list[dict[str, Any]], model: str | None) -> None:
    """Rule: model is absent, null or the pinned model; another answers 400 naming the pin."""
    if model is None or model == PINNED:
        assert _accepted({"messages": messages, "model": model}).conversation
    else:
        error = _refused({"messages": messages, "model": model})
        assert (error.status, error.param) == (400, "model")
        assert PINNED in error.message


_tools = st.lists(json_values(), min_size=1, max_size=3) | st.dictionaries(
    st.text(max_size=5), json_values(), min_size=1
)


@given(
    chat_requests(PINNED),
    st.sampled_from(["tools", "functions", "tool_choice"]),
    st.data(),
)
def test_rule_tools_refused(body: dict[str, Any], field: str, data: st.DataObject) -> None:
    """Rule: non-empty tools or functions, or a tool_choice other than "none", answer 400."""
    if field == "tool_choice":
        value = data.draw(json_values().filter(lambda v: v not in (None, "none")))
    else:
        value = data.draw(_tools)
    error = _refused({**body, field: value})
    assert (error.status, error.type, error.param) == (400, "invalid_request_error", "tools")
    assert "does not support tools" in error.message


@given(
    chat_messages(),
    st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}),
    st.sampled_from(["absent", False, True]),
)
def test_rule_stream_options_needs_stream(
    messages: list[dict[str, Any]], options: dict[str, bool], stream: object
) -> None:
    """Rule: stream_options is allowed only with stream: true."""
    body: dict[str, Any] = {"messages": messages, "stream_options": options}
    if stream != "absent":
        body["stream"] = stream
    if stream is True:
        assert _accepted(body).include_usage is options.get("include_usage", False)
    else:
        assert (_refused(body).status, _refused(body).param) == (400, "stream_options")


@given(chat_messages(), st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_rule_n_at_most_1(messages: list[dict[str, Any]], n: int | None) -> None:
    """Rule: n is absent, null or 1; more (or fewer) choices answer 400 with param "n"."""
    if n in (None, 1):
        assert _accepted({"messages": messages, "n": n}).conversation
    else:
        assert (_refused({"messages": messages, "n": n}).param) == "n"


@given(chat_requests(PINNED), ignored_openai_fields())
def test_rule_ignored_openai_fields_accepted(body: dict[str, Any], ignored: dict[str, Any]) -> None:
    """Rule: penalties, user, metadata, parallel_tool_calls and logit_bias are accepted and
    ignored whatever their value."""
    assert _accepted({**body, **ignored}) == _accepted(body)


@given(chat_requests(PINNED), unknown_fields())
def test_rule_unknown_fields_ignored(body: dict[str, Any], unknown: dict[str, Any]) -> None:
    """Rule: fields the contract does not know are ignored."""
    assert _accepted({**body, **unknown}) == _accepted(body)


_WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "model": st.integers() | st.booleans() | st.lists(st.text(max_size=3), max_size=2),
    "stream": st.none() | st.integers() | st.text(max_size=5),
    # JSON has no infinity (msgspec writes it as null), so only finite floats.
    "n": st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=3) | st.booleans(),
    "stream_options": st.integers() | st.text(max_size=3) | st.lists(st.none(), max_size=2),
    "messages": st.none() | st.text(max_size=3) | st.dictionaries(st.text(max_size=2), st.none()),
}


@given(chat_requests(PINNED), st.sampled_from(sorted(_WRONG_TYPES)), st.data())
def test_rule_type_errors_name_their_field(
    body: dict[str, Any], field: str, data: st.DataObject
) -> None:
    """Rule: a field of the wrong JSON type answers 400 with that field as param."""
    error = _refused({**body, field: data.draw(_WRONG_TYPES[field])})
    assert (error.status, error.param) == (400, field)


def test_stream_as_a_string_is_a_type_error_on_stream() -> None:
    error = _refused({"messages": _HELLO, "stream": "yes"})
    assert (error.status, error.param) == (400, "stream")
    assert "Expected `bool`" in error.message


def test_missing_messages_names_messages() -> None:
    assert _refused({"model": PINNED}).param == "messages"


@given(chat_messages(max_size=3))
def test_rule_message_rules_answer_400_with_param_messages(messages: list[dict[str, Any]]) -> None:
    """Rule: a message the prompt rules refuse answers 400 with param "messages"."""
    bad = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    error = _refused({"messages": [*messages, bad]})
    assert (error.status, error.param) == (400, "messages")
    assert f"messages[{len(messages)}].content[0]" in error.message


def _mutated(body: dict[str, Any], field: str, value: object) -> bytes:
    return _encode({**body, field: value})


_arbitrary_bodies = st.one_of(
    st.binary(max_size=200),
    json_values().map(_encode),
    st.builds(
        _mutated,
        chat_requests(PINNED),
        st.sampled_from(["messages", "model", "stream", "stream_options", "n", "tools"]),
        json_values(),
    ),
)


@given(_arbitrary_bodies)
def test_validation_raises_nothing_but_request_errors(body: bytes) -> None:
    """Rule: on any bytes, validate_chat_request returns or raises OpenAIRequestError."""
    try:
        validate_chat_request(body, PINNED)
    except OpenAIRequestError as error:
        assert error.status in (400, 413)
        assert encode_json(error.envelope())


# ------------------------------------------------------------------------- response shapes

_ROUND_TRIPS: list[tuple[st.SearchStrategy[Any], type[msgspec.Struct]]] = [
    (chat_completion_requests(), chat.ChatCompletionRequest),
    (st.builds(chat.StreamOptions, st.booleans()), chat.StreamOptions),
    (valid_chat_requests(), ValidChatRequest),
    (error_envelopes(), chat.ErrorEnvelope),
    (error_envelopes().map(lambda e: e.error), chat.ErrorBody),
    (usages(), Usage),
    (chat_completions(), ChatCompletion),
    (chat_completions().map(lambda c: c.choices[0]), chat_responses.Choice),
    (chat_completions().map(lambda c: c.choices[0].message), chat_responses.AssistantMessage),
    (chat_chunks(), ChatCompletionChunk),
    (
        chat_chunks().filter(lambda c: bool(c.choices)).map(lambda c: c.choices[0]),
        chat_responses.ChunkChoice,
    ),
    (
        st.builds(
            chat_responses.Delta, role=unset_or(st.just("assistant")), content=unset_or(st.text())
        ),
        chat_responses.Delta,
    ),
    (stream_error_envelopes(), chat_responses.StreamErrorEnvelope),
    (stream_error_envelopes().map(lambda e: e.error), chat_responses.StreamErrorBody),
    (model_lists(), chat_responses.ModelList),
    (model_lists().map(lambda m: m.data[0]), chat_responses.Model),
]
_DECODERS = {type_: msgspec.json.Decoder(type_) for _, type_ in _ROUND_TRIPS}


@pytest.mark.parametrize(
    ("strategy", "type_"), _ROUND_TRIPS, ids=[t.__name__ for _, t in _ROUND_TRIPS]
)
@given(data=st.data())
def test_every_struct_round_trips(
    strategy: st.SearchStrategy[Any], type_: type[msgspec.Struct], data: st.DataObject
) -> None:
    """Rule: encoding then decoding any contract Struct gives back an equal value."""
    value = data.draw(strategy)
    assert _DECODERS[type_].decode(encode_json(value)) == value


_HEAD = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m",'


@pytest.mark.parametrize(
    ("chunk", "encoded"),
    [
        (
            chat_responses.role_chunk("chatcmpl-1", 7, "m", include_usage=False),
            b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
            b'"finish_reason":null}]}',
        ),
        (
            chat_responses.content_chunk("chatcmpl-1", 7, "m", False, "Hel"),
            b'"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}',
        ),
        (
            chat_responses.content_chunk("chatcmpl-1", 7, "m", True, "Hel"),
            b'"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}',
        ),
        (
            chat_responses.finish_chunk("chatcmpl-1", 7, "m", True, "length"),
            b'"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}',
        ),
        (
            chat_responses.usage_chunk("chatcmpl-1", 7, "m", Usage(3, 4, 7)),
            b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}',
        ),
    ],
)
def test_chunk_bytes_carry_usage_absent_null_or_object(
    chunk: ChatCompletionChunk, encoded: bytes
) -> None:
    assert chat_responses.sse_data(chunk) == b"data: " + _HEAD + encoded + b"\n\n"


@given(st.lists(st.text(), max_size=4), st.booleans(), usages())
def test_a_stream_shares_one_id_and_usage_is_null_until_the_last_chunk(
    texts: list[str], include_usage: bool, usage: Usage
) -> None:
    """Rule: usage is absent without include_usage; with it, null until the usage chunk."""
    args = ("chatcmpl-x", 1, "m", include_usage)
    chunks = [
        chat_responses.role_chunk(*args),
        *(chat_responses.content_chunk(*args, t) for t in texts),
    ]
    chunks.append(chat_responses.finish_chunk(*args, "stop"))
    if include_usage:
        chunks.append(chat_responses.usage_chunk("chatcmpl-x", 1, "m", usage))
    decoded = [msgspec.json.decode(encode_json(c)) for c in chunks]
    assert {(d["id"], d["created"]) for d in decoded} == {("chatcmpl-x", 1)}
    if include_usage:
        assert all(d["usage"] is None for d in decoded[:-1])
        assert decoded[-1]["choices"] == [] and decoded[-1]["usage"]["total_tokens"] >= 0
    else:
        assert all("usage" not in d for d in decoded)


@given(chat_chunks())
def test_sse_data_is_one_event_of_one_line(chunk: ChatCompletionChunk) -> None:
    """Rule: a chunk is framed as one `data:` line ended by a blank line."""
    framed = chat_responses.sse_data(chunk)
    assert framed.startswith(b"data: ") and framed.endswith(b"\n\n")
    assert framed.count(b"\n") == 2


def test_sse_constants_and_stream_error_bytes() -> None:
    assert chat_responses.SSE_DONE == b"data: [DONE]\n\n"
    assert chat_responses.SSE_KEEPALIVE == b": keep-alive\n\n"
    assert chat_responses.stream_error_data("claude crashed", "crashed") == (
        b'data: {"error":{"message":"claude crashed","type":"server_error","code":"crashed"}}\n\n'
    )


def test_completion_without_usage_omits_the_key() -> None:
    assert b'"usage"' not in encode_json(
        chat_responses.chat_completion("chatcmpl-1", 7, "m", "Hi", "stop")
    )
    with_usage = chat_responses.chat_completion(
        "chatcmpl-1", 7, "m", "Hi", "stop", usage=Usage(1, 2, 3)
    )
    assert encode_json(with_usage).endswith(
        b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,'
        b'"total_tokens":3}}'
    )


def test_error_envelope_has_null_param_and_code_when_unknown() -> None:
    assert encode_json(OpenAIRequestError(400, "bad").envelope()) == (
        b'{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}'
    )


def test_model_list_bytes() -> None:
    assert encode_json(chat_responses.model_list("gpt-5", 7, "codex")) == (
        b'{"object":"list","data":[{"id":"gpt-5","object":"model","created":7,"owned_by":"codex"}]}'
    )


def test_usage_from_session_counts_cached_input_as_prompt_tokens() -> None:
    usage = SessionUsage(input_tokens=1200, output_tokens=35, cached_input_tokens=1024)
    assert chat_responses.usage_from_session(usage) == Usage(1200, 35, 1235)


@given(chat_completions(), st.lists(chat_chunks(), max_size=3))
def test_the_official_client_parses_our_responses(
    completion: ChatCompletion, chunks: list[ChatCompletionChunk]
) -> None:
    """Rule: the openai package's own types accept every response shape we emit."""
    sdk = pytest.importorskip("openai.types.chat")
    sdk.ChatCompletion.model_validate_json(encode_json(completion))
    for chunk in chunks:
        sdk.ChatCompletionChunk.model_validate_json(encode_json(chunk))


# ------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("not_installed", 503),
        ("not_logged_in", 503),
        ("crashed", 502),
        ("protocol_error", 502),
        ("output_too_large", 502),
        ("timeout", 504),
        ("cancelled", 499),
    ],
)
def test_failure_kinds_map_to_their_status(kind: FailedKind, status: int) -> None:
    assert chat.failure_status(kind) == status
    assert chat.failure_envelope(kind, "why").error.code == kind


@given(st.integers(min_value=100, max_value=599))
def test_rule_only_429_and_503_may_be_retried(status: int) -> None:
    """Rule: x-should-retry is true only for 429 and 503."""
    assert chat.should_retry(status) is (status in (429, 503))


@given(st.integers(min_value=100, max_value=599), st.sampled_from(FAILED_KINDS))
def test_rule_no_failed_session_is_retryable(status: int, kind: FailedKind) -> None:
    """Rule: a failed session's answer is never retryable: a 503 (not installed, not
    logged in, unreachable) is the operator's to fix, any other runs the agent again."""
    assert chat.should_retry(chat.failure_status(kind), kind) is False
    assert chat.should_retry(status, kind) is (status == 429)


@given(st.sampled_from([None, "store_unavailable", "lease_busy", "rate_limit_exceeded"]))
def test_rule_a_condition_that_goes_away_by_itself_is_retryable(code: str | None) -> None:
    """Rule: a 429, or a 503 whose code is not the operator's to fix, may be retried."""
    assert chat.should_retry(429, code) and chat.should_retry(503, code)


def test_every_failure_kind_has_an_error_status() -> None:
    assert all(chat.failure_status(kind) >= 499 for kind in FAILED_KINDS)


@given(st.none() | st.text(max_size=20) | st.sampled_from(["length", "MAX_TOKENS", "SAFETY"]))
def test_rule_finish_reason_is_stop_length_or_content_filter(raw: str | None) -> None:
    """Rule: whatever a CLI says, the finish reason is "stop", "length" or "content_filter"."""
    assert finish_reason_from(raw) in ("stop", "length", "content_filter")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("max_tokens", "length"),
        ("MAX_TOKENS", "length"),
        ("max_output_tokens", "length"),
        ("length", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("SAFETY", "content_filter"),
        ("content_filter", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("end_turn", "stop"),
        ("STOP", "stop"),
        ("tool_use", "stop"),
        (None, "stop"),
    ],
)
def test_provider_stop_reasons_map_to_openais(raw: str | None, reason: str) -> None:
    assert finish_reason_from(raw) == reason
