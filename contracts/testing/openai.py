"""Hypothesis strategies for the chat-completions contract and the session events.

They generate what a conforming implementation must accept (``chat_requests``) and
every message shape this project emits (``chat_completions``, ``chat_chunks``, …), so
the same strategies drive this project's own tests and ``asm conformance endpoint``
against any other implementation::

    from hypothesis import given
    from contracts.testing.openai import chat_requests

    @given(chat_requests("gpt-5"))
    def test_accepted(body):
        assert post(json.dumps(body)).status_code == 200

Strings never hold lone surrogates (JSON cannot carry them) and numbers stay within
what JSON round-trips exactly: no NaN, no infinity, integers within ±2**53.
"""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import strategies as st
from msgspec import UNSET

from contracts import conversation, openai, session
from contracts.openai import PARAMETERS, ROLES, SYSTEM_ROLES

__all__ = [
    "FAILED_KINDS",
    "IGNORED_OPENAI_FIELDS",
    "KNOWN_REQUEST_FIELDS",
    "chat_chunks",
    "chat_completion_requests",
    "chat_completions",
    "chat_message",
    "chat_message_with",
    "chat_messages",
    "chat_requests",
    "completion_ids",
    "conversations",
    "error_envelopes",
    "ignored_openai_fields",
    "json_values",
    "message_contents",
    "model_lists",
    "request_parameters",
    "roles",
    "session_events",
    "stream_error_envelopes",
    "system_only_messages",
    "text_parts",
    "unknown_fields",
    "unset_or",
    "usages",
    "valid_chat_requests",
]

IGNORED_OPENAI_FIELDS: tuple[str, ...] = (
    "presence_penalty",
    "frequency_penalty",
    "user",
    "metadata",
    "parallel_tool_calls",
    "logit_bias",
)
"""Standard OpenAI request fields a CLI cannot honour; accepted whatever their value."""

KNOWN_REQUEST_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "tools",
        "functions",
        "tool_choice",
        "response_format",
        "logprobs",
        "top_logprobs",
        *PARAMETERS,
        *IGNORED_OPENAI_FIELDS,
    }
)
"""Every field name the request rules know; any other name must be ignored."""

FAILED_KINDS: tuple[session.FailedKind, ...] = get_args(session.FailedKind)

_MAX_JSON_INT = 2**53
_short_text = st.text(max_size=40)
_counts = st.integers(min_value=0, max_value=_MAX_JSON_INT)
_finish_reasons: st.SearchStrategy[session.FinishReason] = st.sampled_from(
    get_args(session.FinishReason)
)


def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Any JSON value: ``json_values()`` (nested arrays and objects, few leaves)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-_MAX_JSON_INT, max_value=_MAX_JSON_INT)
        | st.floats(allow_nan=False, allow_infinity=False)
        | _short_text
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_short_text, inner, max_size=4),
        max_leaves=max_leaves,
    )


def roles() -> st.SearchStrategy[str]:
    """One of the accepted roles: system, developer, user, assistant, tool."""
    return st.sampled_from(sorted(ROLES))


def text_parts(min_size: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A ``{"type": "text", "text": …}`` part whose text has at least ``min_size`` chars."""
    return st.fixed_dictionaries({"type": st.just("text"), "text": st.text(min_size=min_size)})


def message_contents() -> st.SearchStrategy[str | list[dict[str, Any]]]:
    """Valid content: a non-empty string, or text parts of which one at least is non-empty."""
    parts = st.tuples(
        st.lists(text_parts(), max_size=3),
        text_parts(min_size=1),
        st.lists(text_parts(), max_size=3),
    ).map(lambda t: [*t[0], t[1], *t[2]])
    return st.text(min_size=1) | parts


def chat_message() -> st.SearchStrategy[dict[str, Any]]:
    """One valid chat message, sometimes with a ``name`` (which is ignored)."""
    return chat_message_with(roles())


def chat_message_with(roles_: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """One valid chat message whose role is drawn from ``roles_``."""
    return st.fixed_dictionaries(
        {"role": roles_, "content": message_contents()},
        optional={"name": _short_text},
    )


@st.composite
def chat_messages(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> list[dict[str, Any]]:
    """A valid ``messages`` list: any roles, ending with a user (or tool) message.

    ``chat_messages()`` or ``chat_messages(max_size=128)``. (A list of system messages
    only is valid too; :func:`system_only_messages` draws those.)
    """
    head = draw(st.lists(chat_message(), min_size=max(min_size - 1, 0), max_size=max_size - 1))
    return [*head, draw(chat_message_with(st.sampled_from(["user", "tool"])))]


def system_only_messages(max_size: int = 4) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A valid ``messages`` list of system and developer messages only."""
    return st.lists(
        chat_message_with(st.sampled_from(sorted(SYSTEM_ROLES))), min_size=1, max_size=max_size
    )


def ignored_openai_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Some of the standard fields a CLI cannot honour, each with any JSON value."""
    return st.dictionaries(st.sampled_from(IGNORED_OPENAI_FIELDS), json_values(), max_size=4)


def request_parameters() -> st.SearchStrategy[dict[str, Any]]:
    """Valid values of the sampling parameters (each is honoured or named as ignored).

    Never ``response_format`` (an implementation may refuse it) nor log-probabilities.
    """
    stop = st.text(min_size=1, max_size=8)
    values: dict[str, st.SearchStrategy[Any]] = {
        "temperature": st.none() | st.floats(0, 2) | st.integers(0, 2),
        "top_p": st.none() | st.floats(0, 1),
        "max_tokens": st.none() | st.integers(1, 1_000_000),
        "max_completion_tokens": st.none() | st.integers(1, 1_000_000),
        "stop": st.none() | stop | st.lists(stop, max_size=4),
        "seed": st.none() | st.integers(-(2**53), 2**53),
        "reasoning_effort": st.none() | st.sampled_from(sorted(conversation.EFFORTS)),
        "logprobs": st.none() | st.just(False),
    }
    return st.fixed_dictionaries({}, optional=values)


def unknown_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Fields no OpenAI request defines, with any JSON value."""
    names = st.text(min_size=1, max_size=20).filter(lambda name: name not in KNOWN_REQUEST_FIELDS)
    return st.dictionaries(names, json_values(), max_size=3)


@st.composite
def chat_requests(draw: st.DrawFn, pinned_model: str) -> dict[str, Any]:
    """A request body (as a dict, to be JSON-encoded) that the rules must accept.

    ``chat_requests("gpt-5")``: model absent, null or the pinned one; stream and
    stream_options consistent; n absent, null or 1; tools absent, null or empty; valid
    sampling parameters; plus ignored and unknown fields.
    """
    body: dict[str, Any] = draw(unknown_fields())
    body.update(draw(ignored_openai_fields()))
    body.update(draw(request_parameters()))
    body["messages"] = draw(chat_messages() | system_only_messages())
    model = draw(st.sampled_from(["absent", "null", "pinned"]))
    if model != "absent":
        body["model"] = pinned_model if model == "pinned" else None
    stream = draw(st.sampled_from([None, False, True]))
    if stream is not None:
        body["stream"] = stream
    if stream:
        options = draw(
            st.none() | st.fixed_dictionaries({}, optional={"include_usage": st.booleans()})
        )
        if options is not None or draw(st.booleans()):
            body["stream_options"] = options
    for name, values in (
        ("n", [None, 1]),
        ("tools", [None, []]),
        ("functions", [None, []]),
        ("tool_choice", [None, "none"]),
    ):
        if draw(st.booleans()):
            body[name] = draw(st.sampled_from(values))
    return body


def chat_completion_requests() -> st.SearchStrategy[openai.ChatCompletionRequest]:
    """Decoded requests (any values, not necessarily valid), for round trips."""
    return st.builds(
        openai.ChatCompletionRequest,
        messages=st.lists(st.dictionaries(_short_text, json_values(), max_size=3), max_size=3),
        model=st.none() | _short_text,
        stream=st.booleans(),
        stream_options=st.none() | st.builds(openai.StreamOptions, st.booleans()),
        n=st.none() | st.integers(min_value=-_MAX_JSON_INT, max_value=_MAX_JSON_INT),
        tools=json_values(),
        functions=json_values(),
        tool_choice=json_values(),
    )


def conversations() -> st.SearchStrategy[conversation.Conversation]:
    """``Conversation`` values of the shape the mapping rule makes: turns ending with a
    user turn, any system text, and some request options."""
    turn = st.builds(conversation.Turn, st.sampled_from(["user", "assistant"]), st.text(min_size=1))
    last = st.builds(conversation.Turn, st.just("user"), st.text(min_size=1))
    options = st.builds(
        conversation.RequestOptions,
        temperature=st.none() | st.floats(0, 2),
        max_tokens=st.none() | st.integers(1, 10_000),
        stop=st.lists(st.text(min_size=1, max_size=5), max_size=4).map(tuple),
        reasoning_effort=st.none() | st.sampled_from(sorted(conversation.EFFORTS)),
        response_format=st.none()
        | st.builds(conversation.ResponseFormat, kind=st.just("json_object")),
    )
    return st.builds(
        lambda history, final, system, opts: conversation.Conversation(
            turns=(*history, final), system=system, options=opts
        ),
        st.lists(turn, max_size=4),
        last,
        st.text(max_size=20),
        options,
    )


def valid_chat_requests() -> st.SearchStrategy[openai.ValidChatRequest]:
    """``ValidChatRequest`` values, for round trips."""
    return st.builds(
        openai.ValidChatRequest,
        conversations(),
        st.booleans(),
        st.booleans(),
        st.lists(st.sampled_from(PARAMETERS), max_size=3, unique=True).map(tuple),
    )


def session_events() -> st.SearchStrategy[session.SessionEvent]:
    """Any session event, every variant and every optional field."""
    maybe_text = st.none() | _short_text
    return st.one_of(
        st.builds(session.Started, _short_text, maybe_text, maybe_text),
        st.builds(session.TextDelta, st.text()),
        st.builds(session.Message, st.text()),
        st.builds(
            session.Usage,
            _counts,
            _counts,
            st.none() | _counts,
            st.none() | st.floats(min_value=0, allow_nan=False, allow_infinity=False),
        ),
        st.builds(session.Warning, st.text()),
        st.builds(session.Finished, _finish_reasons, st.text()),
        st.builds(
            session.Failed,
            st.sampled_from(FAILED_KINDS),
            st.text(),
            st.none() | st.integers(min_value=-255, max_value=255),
            maybe_text,
        ),
    )


def completion_ids() -> st.SearchStrategy[str]:
    """``chatcmpl-`` followed by a few letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return st.text(alphabet, min_size=1, max_size=24).map(lambda s: f"chatcmpl-{s}")


def usages() -> st.SearchStrategy[openai.Usage]:
    """OpenAI usage objects whose total is the sum of its parts."""
    return st.builds(
        lambda p, c: openai.Usage(p, c, p + c),
        st.integers(0, _MAX_JSON_INT // 2),
        st.integers(0, _MAX_JSON_INT // 2),
    )


_created = st.integers(min_value=0, max_value=2**40)


def chat_completions() -> st.SearchStrategy[openai.ChatCompletion]:
    """Non-streaming answers, with and without usage."""
    return st.builds(
        lambda cid, created, model, text, reason, usage: openai.chat_completion(
            cid, created, model, text, reason, usage=usage
        ),
        completion_ids(),
        _created,
        _short_text,
        st.text(),
        _finish_reasons,
        st.none() | usages(),
    )


@st.composite
def chat_chunks(draw: st.DrawFn) -> openai.ChatCompletionChunk:
    """Any chunk the framing builders make: role, content, finish or usage chunk."""
    cid, created, model = draw(completion_ids()), draw(_created), draw(_short_text)
    include_usage = draw(st.booleans())
    match draw(st.sampled_from(["role", "content", "finish", "usage"])):
        case "role":
            return openai.role_chunk(cid, created, model, include_usage)
        case "content":
            return openai.content_chunk(cid, created, model, include_usage, draw(st.text()))
        case "finish":
            reason = draw(_finish_reasons)
            return openai.finish_chunk(cid, created, model, include_usage, reason)
        case _:
            return openai.usage_chunk(cid, created, model, draw(usages()))


def error_envelopes() -> st.SearchStrategy[openai.ErrorEnvelope]:
    """HTTP error bodies, with and without param and code."""
    maybe_text = st.none() | _short_text
    body = st.builds(openai.ErrorBody, st.text(), _short_text, maybe_text, maybe_text)
    return st.builds(openai.ErrorEnvelope, body)


def stream_error_envelopes() -> st.SearchStrategy[openai.StreamErrorEnvelope]:
    """In-stream error events."""
    body = st.builds(
        openai.StreamErrorBody,
        message=st.text(),
        code=st.none() | st.sampled_from(FAILED_KINDS),
    )
    return st.builds(openai.StreamErrorEnvelope, body)


def model_lists() -> st.SearchStrategy[openai.ModelList]:
    """``/v1/models`` answers of one pinned model."""
    return st.builds(openai.model_list, _short_text, _created, _short_text)


def unset_or(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy`` or msgspec's UNSET (a field left out of the encoding)."""
    return st.just(UNSET) | strategy
