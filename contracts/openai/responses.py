"""OpenAI chat-completion response shapes and the streaming framing (SPEC §3.3).

The byte layout of every chunk (``usage`` absent, ``null`` or an object; one id and one
``created`` across a stream) is fixed here, not in the transport, so the server and the
conformance harness agree on it::

    yield sse_data(role_chunk(cid, created, model, include_usage))
    yield sse_data(content_chunk(cid, created, model, include_usage, "Hel"))
    yield sse_data(finish_chunk(cid, created, model, include_usage, "stop"))
    yield SSE_DONE
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from contracts import session
from contracts.session import FinishReason

__all__ = [
    "SSE_DONE",
    "SSE_KEEPALIVE",
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "Model",
    "ModelList",
    "StreamErrorBody",
    "StreamErrorEnvelope",
    "Usage",
    "chat_completion",
    "content_chunk",
    "encode_json",
    "finish_chunk",
    "model_list",
    "role_chunk",
    "sse_data",
    "stream_error_data",
    "usage_chunk",
    "usage_from_session",
]

SSE_DONE = b"data: [DONE]\n\n"
SSE_KEEPALIVE = b": keep-alive\n\n"

_Count = Annotated[int, msgspec.Meta(ge=0)]


class Usage(msgspec.Struct, frozen=True):
    """Token usage as the CLI reported it; never estimated."""

    prompt_tokens: _Count
    completion_tokens: _Count
    total_tokens: _Count


class AssistantMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(msgspec.Struct, frozen=True, kw_only=True):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason


class ChatCompletion(msgspec.Struct, frozen=True, kw_only=True):
    """A non-streaming answer; ``usage`` is left out (UNSET) when the CLI reported none."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | UnsetType = UNSET


class Delta(msgspec.Struct, frozen=True, kw_only=True):
    """What a chunk adds; the finish chunk's delta is empty (``{}``)."""

    role: Literal["assistant"] | UnsetType = UNSET
    content: str | UnsetType = UNSET


class ChunkChoice(msgspec.Struct, frozen=True, kw_only=True):
    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One streamed chunk.

    ``usage`` is absent (UNSET) unless the request asked for ``include_usage``; then it
    is ``null`` on every chunk but the last, whose ``choices`` is empty.
    """

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | UnsetType | None = UNSET


class StreamErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    message: str
    type: str = "server_error"
    code: str | None = None


class StreamErrorEnvelope(msgspec.Struct, frozen=True):
    """An error after streaming began: ``{"error": {"message", "type", "code"}}``."""

    error: StreamErrorBody


class Model(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(msgspec.Struct, frozen=True, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Model]


_ENCODER = msgspec.json.Encoder()


def encode_json(obj: msgspec.Struct) -> bytes:
    """Encode a response Struct as JSON bytes: ``encode_json(error.envelope())``."""
    return _ENCODER.encode(obj)


def usage_from_session(usage: session.Usage) -> Usage:
    """OpenAI usage from a session's ``Usage`` event (whose input_tokens include cached)."""
    total = usage.input_tokens + usage.output_tokens
    return Usage(usage.input_tokens, usage.output_tokens, total)


def chat_completion(
    id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: FinishReason,
    *,
    usage: Usage | None = None,
) -> ChatCompletion:
    """A whole answer: ``chat_completion("chatcmpl-1", 1700000000, "m", "Hi", "stop")``."""
    return ChatCompletion(
        id=id,
        created=created,
        model=model,
        choices=[Choice(message=AssistantMessage(content=text), finish_reason=finish_reason)],
        usage=UNSET if usage is None else usage,
    )


def role_chunk(id: str, created: int, model: str, include_usage: bool) -> ChatCompletionChunk:
    """The first chunk: ``delta {"role": "assistant", "content": ""}``."""
    return _chunk(id, created, model, include_usage, Delta(role="assistant", content=""))


def content_chunk(
    id: str, created: int, model: str, include_usage: bool, text: str
) -> ChatCompletionChunk:
    """A piece of text: ``content_chunk(cid, created, model, include_usage, "Hel")``."""
    return _chunk(id, created, model, include_usage, Delta(content=text))


def finish_chunk(
    id: str, created: int, model: str, include_usage: bool, finish_reason: FinishReason
) -> ChatCompletionChunk:
    """The chunk with an empty delta and the finish reason, after the last text."""
    return _chunk(id, created, model, include_usage, Delta(), finish_reason=finish_reason)


def usage_chunk(id: str, created: int, model: str, usage: Usage) -> ChatCompletionChunk:
    """The last chunk when ``include_usage`` was asked: ``"choices": []`` and the usage."""
    return ChatCompletionChunk(id=id, created=created, model=model, choices=[], usage=usage)


def _chunk(
    id: str,
    created: int,
    model: str,
    include_usage: bool,
    delta: Delta,
    *,
    finish_reason: FinishReason | None = None,
) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id=id,
        created=created,
        model=model,
        choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
        usage=None if include_usage else UNSET,
    )


def sse_data(obj: msgspec.Struct) -> bytes:
    """One SSE event: ``sse_data(chunk)`` gives ``b"data: {...}\\n\\n"``.

    JSON never holds a raw newline (msgspec escapes them), so one line always suffices.
    """
    return b"data: " + _ENCODER.encode(obj) + b"\n\n"


def stream_error_data(message: str, code: str | None) -> bytes:
    """The SSE event for a failure after streaming began; send :data:`SSE_DONE` after it."""
    return sse_data(StreamErrorEnvelope(StreamErrorBody(message=message, code=code)))


def model_list(model: str, created: int, owned_by: str) -> ModelList:
    """``GET /v1/models`` of a lease: ``model_list("gpt-5", 1700000000, "codex")``."""
    return ModelList(data=[Model(id=model, created=created, owned_by=owned_by)])
