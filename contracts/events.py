"""The Bus Events envelope, its name grammar and the scope rules of BUS.md §2.

A publisher sends a :class:`PublishEnvelope`; the log stores and emits an
:class:`Event`, which carries the correlation id under both spellings BusDK clients
use. Who may publish or listen to a name is the pure function :func:`authorize`:

    >>> authorize("bus.inference.status.*", "listen", "inference:admin").allowed
    True
    >>> authorize("bus.inference.install.request", "publish", "events:send").missing
    ('inference:admin',)
"""

from __future__ import annotations

import re
import time
from typing import Any, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

DEFAULT_AUDIENCE: Final = "ai.hg.fi/api"
MAX_ENVELOPE_BYTES: Final = 1_048_576
MAX_NAME_LENGTH: Final = 255
MAX_CORRELATION_ID_LENGTH: Final = 255
INFERENCE_PREFIX: Final = "bus.inference."

NAME_PATTERN: Final = re.compile(r"\A[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")

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
    """The scopes a token's space-separated ``scope`` claim grants, implications included."""
    granted = set(scope_claim.split())
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


def parse_envelope(data: bytes) -> PublishEnvelope:
    """Decode and check one publish body; raises :class:`EnvelopeError` for a 400."""
    try:
        envelope = _ENVELOPE.decode(data)
    except msgspec.DecodeError as error:
        raise EnvelopeError(f"envelope: {error}") from None
    except UnicodeDecodeError:  # msgspec raises it for invalid UTF-8 inside a string
        raise EnvelopeError("envelope: the body is not valid UTF-8") from None
    check_envelope(envelope)
    return envelope


def parse_batch(data: bytes) -> list[PublishEnvelope]:
    """Decode and check a batch body (a JSON array); the first bad one fails them all."""
    try:
        envelopes = _BATCH.decode(data)
    except msgspec.DecodeError as error:
        raise EnvelopeError(f"batch: {error}") from None
    except UnicodeDecodeError:  # msgspec raises it for invalid UTF-8 inside a string
        raise EnvelopeError("batch: the body is not valid UTF-8") from None
    if not envelopes:
        raise EnvelopeError("batch: at least one envelope is needed")
    for index, envelope in enumerate(envelopes):
        try:
            check_envelope(envelope)
        except EnvelopeError as error:
            raise EnvelopeError(f"batch[{index}]: {error}") from None
    return envelopes


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
    """The event the log keeps for an accepted envelope; ids and time come from the log."""
    correlation = envelope.correlation()
    payload = envelope.payload if isinstance(envelope.payload, msgspec.Raw) else _NULL
    return Event(
        id=event_id,
        name=envelope.name,
        payload=payload,
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
