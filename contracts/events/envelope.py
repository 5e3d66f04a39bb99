"""The Bus Events envelope, its name grammar and the scope rules of BUS.md §2.

A publisher sends a :class:`PublishEnvelope`; the log stores and emits an
:class:`Event`, which carries the correlation id under both spellings BusDK clients
use; its payload is stored and sent on one line, nested at most
:data:`~contracts.events.MAX_JSON_DEPTH` deep (:mod:`contracts.events.json_text` says
why). Who may publish or listen to a name is the pure function :func:`authorize`:

    >>> authorize("bus.inference.status.*", "listen", "inference:admin").allowed
    True
    >>> authorize("bus.inference.install.request", "publish", "events:send").missing
    ('inference:admin',)
"""

from __future__ import annotations

import re
import time
from typing import Any, Final, Literal, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from contracts.events.json_text import MAX_JSON_DEPTH, nests_deeper_than, one_line, payload_line

__all__ = [
    "DEFAULT_AUDIENCE",
    "IMPLIED_SCOPES",
    "INFERENCE_PREFIX",
    "MAX_CORRELATION_ID_LENGTH",
    "MAX_ENVELOPE_BYTES",
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "PROTECTED_NAMESPACES",
    "SCOPE_INFERENCE_ADMIN",
    "SCOPE_INFERENCE_READ",
    "SCOPE_LISTEN",
    "SCOPE_SEND",
    "Action",
    "Authorization",
    "EnvelopeError",
    "ErrorBody",
    "ErrorResponse",
    "ErrorType",
    "Event",
    "PublishEnvelope",
    "Receipt",
    "T",
    "TokenClaims",
    "authorize",
    "check_envelope",
    "error_body",
    "event_line",
    "format_timestamp",
    "granted_scopes",
    "is_event_name",
    "is_listen_pattern",
    "line_safe",
    "matches",
    "parse_batch",
    "parse_envelope",
    "receipt",
    "required_scopes",
    "stored_event",
]

DEFAULT_AUDIENCE: Final = "ai.hg.fi/api"
MAX_ENVELOPE_BYTES: Final = 1_048_576
MAX_NAME_LENGTH: Final = 255
MAX_CORRELATION_ID_LENGTH: Final = 255
INFERENCE_PREFIX: Final = "bus.inference."

NAME_PATTERN: Final = re.compile(r"\A[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")

T = TypeVar("T")
Action = Literal["publish", "listen"]
ErrorType = Literal[
    "bad_request",
    "invalid_auth",
    "forbidden",
    "not_found",
    "too_large",
    # The HTTP-level errors of the Events API app, beyond BusDK's documented five.
    "method_not_allowed",
    "request_timeout",
    "unsupported_media_type",
    "unavailable",
    "internal_error",
]

SCOPE_SEND: Final = "events:send"
SCOPE_LISTEN: Final = "events:listen"
SCOPE_INFERENCE_ADMIN: Final = "inference:admin"
SCOPE_INFERENCE_READ: Final = "inference:read"

#: Protected namespaces and the scope each needs, for publishing and listening alike.
PROTECTED_NAMESPACES: Final[dict[str, str]] = {
    "bus.inference.install.": SCOPE_INFERENCE_ADMIN,
    "bus.inference.model.ensure.": SCOPE_INFERENCE_ADMIN,
    "bus.inference.status.": SCOPE_INFERENCE_READ,
    "bus.inference.verify.": SCOPE_INFERENCE_READ,
}
#: A granted scope that implies others.
IMPLIED_SCOPES: Final[dict[str, frozenset[str]]] = {
    SCOPE_INFERENCE_ADMIN: frozenset({SCOPE_INFERENCE_READ}),
}
_GENERIC_SCOPE: Final[dict[Action, str]] = {"publish": SCOPE_SEND, "listen": SCOPE_LISTEN}


class EnvelopeError(ValueError):
    """A publish envelope that breaks a rule; the message says which, for a 400."""


def is_event_name(name: str) -> bool:
    """Dotted lowercase segments of letters, digits, ``_`` and ``-``."""
    return len(name) <= MAX_NAME_LENGTH and NAME_PATTERN.match(name) is not None


def is_listen_pattern(pattern: str) -> bool:
    """An exact event name, or a prefix of whole segments ending in ``.*``."""
    if pattern.endswith(".*"):
        return is_event_name(pattern[:-2])
    return is_event_name(pattern)


def matches(pattern: str, name: str) -> bool:
    """Whether the event ``name`` is selected by the listen ``pattern``."""
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return name == pattern


# --- scopes -----------------------------------------------------------------------


class Authorization(msgspec.Struct, frozen=True):
    """The outcome of :func:`authorize`: allowed, or the scopes that are missing."""

    allowed: bool
    required: tuple[str, ...]
    missing: tuple[str, ...]


def required_scopes(target: str, action: Action) -> tuple[str, ...]:
    """The scopes needed to ``action`` the event name or listen pattern ``target``.

    A name under a protected namespace needs that namespace's scope; any other name
    needs ``events:send`` (publish) or ``events:listen`` (listen). A prefix needs every
    scope that some name under it needs. Sorted, without duplicates.
    """
    generic = _GENERIC_SCOPE[action]
    if not target.endswith(".*"):
        for namespace, scope in PROTECTED_NAMESPACES.items():
            if target.startswith(namespace):
                return (scope,)
        return (generic,)
    prefix = target[:-1]  # keeps the dot: "bus.inference."
    for namespace, scope in PROTECTED_NAMESPACES.items():
        if prefix.startswith(namespace):
            return (scope,)  # every name under the prefix is in this namespace
    needed = {generic}
    needed.update(
        scope for namespace, scope in PROTECTED_NAMESPACES.items() if namespace.startswith(prefix)
    )
    return tuple(sorted(needed))


def granted_scopes(scope_claim: str) -> frozenset[str]:
    """The scopes a token's ``scope`` claim grants, implications included.

    The claim is split on ASCII spaces only (RFC 8693 §4.2, RFC 6749 §3.3): a scope name
    holding another kind of whitespace is one unknown name, never two granted ones.
    """
    granted = {scope for scope in scope_claim.split(" ") if scope}
    for scope in list(granted):
        granted |= IMPLIED_SCOPES.get(scope, frozenset())
    return frozenset(granted)


def authorize(target: str, action: Action, scope_claim: str) -> Authorization:
    """Whether a token with ``scope_claim`` may ``action`` ``target`` (BUS.md §2.3)."""
    required = required_scopes(target, action)
    granted = granted_scopes(scope_claim)
    missing = tuple(scope for scope in required if scope not in granted)
    return Authorization(allowed=not missing, required=required, missing=missing)


# --- envelopes --------------------------------------------------------------------


class PublishEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """What a publisher sends. Unknown keys are ignored (``identity_id`` among them:
    the server stamps it from the token); ``delivery`` is accepted and ignored."""

    name: str
    payload: msgspec.Raw | UnsetType = UNSET
    correlation_id: str | UnsetType | None = UNSET
    correlation_id_camel: str | UnsetType | None = msgspec.field(
        default=UNSET, name="correlationId"
    )
    delivery: Any = None
    metadata: dict[str, Any] | UnsetType = UNSET

    def correlation(self) -> str | None:
        """The correlation id under whichever spelling was used."""
        for value in (self.correlation_id, self.correlation_id_camel):
            if isinstance(value, str):
                return value
        return None


class TokenClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The claims of a Bus API token (JWT HS256)."""

    sub: str
    aud: str | list[str]
    scope: str = ""
    iat: int
    exp: int


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An event as the log stores and emits it: one NDJSON line of a stream.

    **Decided**: the correlation id is stored once and emitted under both
    ``correlation_id`` and ``correlationId``.
    """

    id: str
    name: str
    payload: msgspec.Raw
    correlation_id: str | None = None
    correlation_id_camel: str | None = msgspec.field(default=None, name="correlationId")
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    identity_id: str = ""
    created_at: str


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """The 202 answer to one published envelope."""

    accepted: bool = True
    id: str
    name: str
    correlation_id: str | None
    created_at: str


class ErrorBody(msgspec.Struct, frozen=True):
    type: ErrorType
    message: str


class ErrorResponse(msgspec.Struct, frozen=True):
    """``{"error":{"type","message"}}``, the body of every Events API error."""

    error: ErrorBody


_ENVELOPE: Final = msgspec.json.Decoder(PublishEnvelope)
_BATCH: Final = msgspec.json.Decoder(list[PublishEnvelope])
_NULL: Final = msgspec.Raw(b"null")
_EVENT_ENCODER: Final = msgspec.json.Encoder()


def parse_envelope(data: bytes) -> PublishEnvelope:
    """Decode and check one publish body; raises :class:`EnvelopeError` for a 400.

    The envelope returned carries its payload on one line (:func:`line_safe`).
    """
    envelope = _decode(_ENVELOPE, data, "envelope", levels=1)
    check_envelope(envelope)
    return line_safe(envelope)


def parse_batch(data: bytes) -> list[PublishEnvelope]:
    """Decode and check a batch body (a JSON array); the first bad one fails them all."""
    envelopes = _decode(_BATCH, data, "batch", levels=2)
    if not envelopes:
        raise EnvelopeError("batch: at least one envelope is needed")
    checked = []
    for index, envelope in enumerate(envelopes):
        try:
            check_envelope(envelope)
            checked.append(line_safe(envelope))
        except EnvelopeError as error:
            raise EnvelopeError(f"batch[{index}]: {error}") from None
    return checked


def _decode(decoder: msgspec.json.Decoder[T], data: bytes, what: str, *, levels: int) -> T:
    """``data`` decoded, its payloads and metadata nested at most :data:`MAX_JSON_DEPTH`
    (``levels``: how deep the envelopes sit in the body)."""
    too_deep = f"{what}: payload and metadata may nest at most {MAX_JSON_DEPTH} levels"
    try:
        decoded = decoder.decode(data)
    except msgspec.DecodeError as error:
        raise EnvelopeError(f"{what}: {error}") from None
    except UnicodeDecodeError:  # msgspec raises it for invalid UTF-8 inside a string
        raise EnvelopeError(f"{what}: the body is not valid UTF-8") from None
    except RecursionError:  # nested far deeper than the limit
        raise EnvelopeError(too_deep) from None
    if nests_deeper_than(data, MAX_JSON_DEPTH + levels):
        raise EnvelopeError(too_deep)
    return decoded


def line_safe(envelope: PublishEnvelope) -> PublishEnvelope:
    """``envelope`` with its payload on one line, as every listener's NDJSON needs it
    (:func:`contracts.events.json_text.payload_line`); an invalid UTF-8 payload is an
    :class:`EnvelopeError`."""
    if not isinstance(envelope.payload, msgspec.Raw):
        return envelope
    given = bytes(envelope.payload)
    try:
        payload = payload_line(given)
    except ValueError as error:
        raise EnvelopeError(str(error)) from None
    if payload == given:
        return envelope
    return msgspec.structs.replace(envelope, payload=msgspec.Raw(payload))


def check_envelope(envelope: PublishEnvelope) -> None:
    """The envelope rules beyond types: name grammar, payload, correlation ids."""
    if not is_event_name(envelope.name):
        raise EnvelopeError(
            "name must be dotted lowercase segments of letters, digits, '_' or '-'"
            f" (at most {MAX_NAME_LENGTH} characters)"
        )
    if envelope.name.startswith(INFERENCE_PREFIX) and envelope.payload is UNSET:
        raise EnvelopeError(f"payload is required for {INFERENCE_PREFIX}* events")
    snake, camel = envelope.correlation_id, envelope.correlation_id_camel
    if isinstance(snake, str) and isinstance(camel, str) and snake != camel:
        raise EnvelopeError("correlation_id and correlationId differ")
    value = envelope.correlation()
    if value is not None and not 0 < len(value) <= MAX_CORRELATION_ID_LENGTH:
        raise EnvelopeError(f"correlation_id must be 1-{MAX_CORRELATION_ID_LENGTH} characters")


def stored_event(
    envelope: PublishEnvelope, *, event_id: str, identity_id: str, created_at: str
) -> Event:
    """The event the log keeps for an accepted envelope; ids and time come from the log.

    Its payload is on one line (:func:`line_safe`) whoever appends it, the Events API or
    an embedded caller; an invalid UTF-8 payload raises :class:`EnvelopeError`.
    """
    correlation = envelope.correlation()
    payload = line_safe(envelope).payload
    return Event(
        id=event_id,
        name=envelope.name,
        payload=payload if isinstance(payload, msgspec.Raw) else _NULL,
        correlation_id=correlation,
        correlation_id_camel=correlation,
        metadata=envelope.metadata if isinstance(envelope.metadata, dict) else {},
        identity_id=identity_id,
        created_at=created_at,
    )


def receipt(event: Event) -> Receipt:
    """The 202 receipt of a stored event."""
    return Receipt(
        id=event.id,
        name=event.name,
        correlation_id=event.correlation_id,
        created_at=event.created_at,
    )


def event_line(event: Event) -> bytes:
    """``event`` as one NDJSON line of a stream, its LF included.

    Every other field is escaped by the encoder; :func:`one_line` covers the payload
    even if it was stored before the one-line rule, and the line separators some
    readers also break at (U+2028, U+2029, U+0085) in any string.
    """
    return one_line(_EVENT_ENCODER.encode(event)) + b"\n"


def error_body(kind: ErrorType, message: str) -> bytes:
    """An Events API error body, encoded."""
    return msgspec.json.encode(ErrorResponse(ErrorBody(kind, message)))


def format_timestamp(seconds: float) -> str:
    """``created_at`` for a Unix time: ISO 8601 UTC with milliseconds and a ``Z``."""
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
