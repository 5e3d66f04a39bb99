"""What a CLI session says while it runs: one tagged union of session events.

Every provider decoder (``contracts.providers.*``) turns a line of its CLI's stdout into
zero or more of these events, and everything downstream (the session actor, the
chat-completions endpoint, ``asm query``) reads only them. So the four CLIs differ in
``contracts/providers/`` and nowhere else.

The union is tagged with ``"type"`` so an event survives a trip through a memory channel,
a log line or a test fixture unchanged::

    >>> from contracts.session import TextDelta, decode_event, encode_event
    >>> encode_event(TextDelta(text="Hi"))
    b'{"type":"text_delta","text":"Hi"}'
    >>> decode_event(b'{"type":"text_delta","text":"Hi"}')
    TextDelta(text='Hi')

A session ends with exactly one ``Finished`` or ``Failed``; the events before it are
``Started`` first, then any mix of ``TextDelta``, ``Message``, ``Usage`` and ``Warning``.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias

import msgspec

__all__ = [
    "Failed",
    "FailedKind",
    "FinishReason",
    "Finished",
    "Message",
    "SessionEvent",
    "Started",
    "TextDelta",
    "Usage",
    "Warning",
    "connection_trouble",
    "decode_event",
    "encode_event",
    "finish_reason_from",
]

FailedKind: TypeAlias = Literal[
    "not_installed",
    "not_logged_in",
    "unreachable",
    "timeout",
    "crashed",
    "protocol_error",
    "cancelled",
    "output_too_large",
]
"""Why a session failed; the endpoint maps each kind to one HTTP status.

``unreachable`` (**decided**, beyond SPEC §4.2): the CLI could not reach its vendor's
service (it only retried, or said so) before the first-event deadline; like
``not_installed`` and ``not_logged_in`` it is the operator's to fix, so a 503 that the
client is told not to retry (``x-should-retry: false``: nothing of it goes away by itself).
"""

FinishReason: TypeAlias = Literal["stop", "length", "content_filter"]
"""How a session that did not fail ended: "length" when the CLI hit its output limit,
"content_filter" when the provider withheld (the rest of) the answer.

"tool_calls" never occurs (tools are refused) and nothing else is passed through.
"""

_LENGTH_REASONS: Final = frozenset(
    {"length", "max_tokens", "max_output_tokens", "model_context_window_exceeded"}
)
_FILTER_REASONS: Final = frozenset(
    {"content_filter", "refusal", "safety", "recitation", "blocklist", "prohibited_content", "spii"}
)


def finish_reason_from(raw: str | None) -> FinishReason:
    """Map a provider's stop reason to OpenAI's: "stop", "length" or "content_filter".

    Anthropic's ``max_tokens``, Gemini's ``MAX_TOKENS`` and the Responses API's
    ``max_output_tokens`` are "length"; Anthropic's ``refusal``, Gemini's ``SAFETY`` (and
    its other blocks) and OpenAI's ``content_filter`` are "content_filter"; anything else,
    known or not, is "stop"::

        >>> finish_reason_from("MAX_TOKENS"), finish_reason_from("refusal")
        ('length', 'content_filter')
    """
    reason = (raw or "").lower()
    if reason in _LENGTH_REASONS:
        return "length"
    return "content_filter" if reason in _FILTER_REASONS else "stop"


_Count = Annotated[int, msgspec.Meta(ge=0)]


class _Event(msgspec.Struct, frozen=True, tag_field="type"):
    """Base of every session event: frozen, tagged by ``"type"``."""


class Started(_Event, frozen=True, tag="started"):
    """The CLI is running; ``session_id`` and ``model`` are given when the CLI reports them.

    ``Started(provider="claude", session_id="3f2a…", model="claude-sonnet-4-5")``
    """

    provider: str
    session_id: str | None = None
    model: str | None = None


class TextDelta(_Event, frozen=True, tag="text_delta"):
    """A piece of the answer as the CLI streams it: ``TextDelta(text="Hel")``."""

    text: str


class Message(_Event, frozen=True, tag="message"):
    """A whole block of the answer, from a CLI that gives no deltas.

    A consumer streams it only when no ``TextDelta`` came for that block, so text is
    never counted twice: ``Message(text="Hello there.")``.
    """

    text: str


class Usage(_Event, frozen=True, tag="usage"):
    """Token counts the CLI reported (never estimated).

    ``input_tokens`` counts every prompt token, cached ones included (the OpenAI meaning
    of ``prompt_tokens``); ``cached_input_tokens`` is the part of them that came from a
    cache. A decoder for a CLI that reports them separately (Anthropic's input_tokens
    excludes cache reads) adds them up first::

        Usage(input_tokens=1200, output_tokens=35, cached_input_tokens=1024, cost_usd=0.004)
    """

    input_tokens: _Count
    output_tokens: _Count
    cached_input_tokens: _Count | None = None
    cost_usd: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Warning(_Event, frozen=True, tag="warning"):  # shadows the builtin: the spec's name
    """Something non-fatal: a retry notice, a recovered error. ``Warning(message="…")``."""

    message: str


class Finished(_Event, frozen=True, tag="finished"):
    """The session ended well; ``text`` is the whole answer.

    ``Finished(finish_reason="stop", text="Hello there.")``
    """

    finish_reason: FinishReason
    text: str


class Failed(_Event, frozen=True, tag="failed"):
    """The session ended badly; ``stderr_tail`` is the last of its stderr, for diagnostics.

    ``Failed(kind="not_logged_in", message="claude: not logged in", exit_code=1)``
    """

    kind: FailedKind
    message: str
    exit_code: int | None = None
    stderr_tail: str | None = None


SessionEvent: TypeAlias = Started | TextDelta | Message | Usage | Warning | Finished | Failed
"""Any event of a CLI session."""

_ENCODER = msgspec.json.Encoder()
_DECODER: msgspec.json.Decoder[SessionEvent] = msgspec.json.Decoder(SessionEvent)


def encode_event(event: SessionEvent) -> bytes:
    """Encode one event as JSON: ``encode_event(Finished(finish_reason="stop", text="ok"))``."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | str) -> SessionEvent:
    """Decode one event from JSON: ``decode_event(b'{"type":"warning","message":"retry"}')``.

    Raises ``msgspec.ValidationError`` (or ``msgspec.DecodeError`` for bad JSON) when the
    data is not a session event.
    """
    return _DECODER.decode(data)


_CONNECTION_TROUBLE: Final = (
    ("ECONNREFUSED", "connection refused"),
    ("Connection refused", "connection refused"),
    ("fetch failed", "the request failed to connect"),
    ("ENOTFOUND", "host not found"),
    ("EAI_AGAIN", "host not found"),
    ("ETIMEDOUT", "connection timed out"),
    ("ECONNRESET", "connection reset"),
)


def connection_trouble(stderr_tail: str) -> str | None:
    """What a CLI's stderr says about reaching its service, in our words (never its text,
    which may hold a URL with a key); None when it says nothing of the kind.

    >>> connection_trouble("Error: connect ECONNREFUSED 127.0.0.1:9")
    'connection refused'
    """
    for needle, meaning in _CONNECTION_TROUBLE:
        if needle in stderr_tail:
            return meaning
    return None
