"""The Bus Events contract: the envelope, its name grammar and scopes, listen queries.

What a publisher sends (:class:`PublishEnvelope`), what a listener reads (:class:`Event`),
how it asks (:class:`ListenQuery`) and acks (:class:`AckRequest`), and which token
scopes each needs (BUS.md §2)::

    >>> from contracts.events import required_scopes
    >>> required_scopes("bus.inference.status.request", "publish")
    ('inference:read',)

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from contracts.events.envelope import (
    DEFAULT_AUDIENCE,
    MAX_ENVELOPE_BYTES,
    MAX_NAME_LENGTH,
    PROTECTED_NAMESPACES,
    SCOPE_INFERENCE_ADMIN,
    SCOPE_INFERENCE_READ,
    SCOPE_LISTEN,
    SCOPE_SEND,
    Action,
    EnvelopeError,
    ErrorBody,
    ErrorResponse,
    ErrorType,
    Event,
    PublishEnvelope,
    Receipt,
    TokenClaims,
    authorize,
    error_body,
    event_line,
    format_timestamp,
    granted_scopes,
    is_event_name,
    is_listen_pattern,
    matches,
    parse_batch,
    parse_envelope,
    receipt,
    required_scopes,
    stored_event,
)
from contracts.events.json_text import MAX_JSON_DEPTH, nests_deeper_than
from contracts.events.listen import AckRequest, ListenQuery, held_by, parse_ack, parse_listen_query

__all__ = [
    "DEFAULT_AUDIENCE",
    "MAX_ENVELOPE_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_NAME_LENGTH",
    "PROTECTED_NAMESPACES",
    "SCOPE_INFERENCE_ADMIN",
    "SCOPE_INFERENCE_READ",
    "SCOPE_LISTEN",
    "SCOPE_SEND",
    "AckRequest",
    "Action",
    "EnvelopeError",
    "ErrorBody",
    "ErrorResponse",
    "ErrorType",
    "Event",
    "ListenQuery",
    "PublishEnvelope",
    "Receipt",
    "TokenClaims",
    "authorize",
    "error_body",
    "event_line",
    "format_timestamp",
    "granted_scopes",
    "held_by",
    "is_event_name",
    "is_listen_pattern",
    "matches",
    "nests_deeper_than",
    "parse_ack",
    "parse_batch",
    "parse_envelope",
    "parse_listen_query",
    "receipt",
    "required_scopes",
    "stored_event",
]
