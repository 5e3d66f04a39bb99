"""The Bus Events API over HTTP: one quart-trio app over an :class:`EventLog` (BUS.md §2).

Publishers ``POST /api/v1/events`` (or ``/api/v1/events:batch``), listeners
``GET /api/v1/events/stream`` (NDJSON) and ``POST /api/v1/events/ack``; anyone may read
``GET /api/v1/events/capabilities`` and ``GET /healthz``. Serve it with hypercorn::

    async with open_memory_log() as log:
        app = create_events_app(log, TokenVerifier(secret))
        config = hypercorn.Config()
        config.bind = ["0.0.0.0:8788"]
        await hypercorn.trio.serve(app, config)

Unlike the endpoint app, peers are not refused for being remote: the Events API is the
bus that several machines share, and every route but capabilities and health is guarded
by a JWT instead.

Every error is ``{"error":{"type","message"}}``, answered by the handlers registered
here from what the routes raise; an unexpected exception is a 500 naming nothing
internal. Decisions where BUS.md is silent:

- Bodies: one envelope may be :data:`~contracts.events.MAX_ENVELOPE_BYTES` (1 MiB); a
  batch body :data:`MAX_BATCH_BYTES` (16 MiB), each of its envelopes 1 MiB and at most
  :data:`MAX_BATCH_ENVELOPES` of them. Over a limit → 413 too_large.
- ``Content-Type`` may be absent or JSON (``application/json``, ``…+json``); anything
  else → 415 unsupported_media_type.
- ``POST /api/v1/events/ack``: a token with a listen-capable scope acks only what was
  handed to its own subject (:func:`~contracts.events.held_by`); another
  subject's delivery is a 404 like an unknown id, and stays pending.
- Payloads are stored and streamed on one line; a payload or metadata nested deeper
  than :data:`~contracts.events.MAX_JSON_DEPTH` or a payload that is not UTF-8 → 400.
- Order of checks: token (401), then the request itself (400/413/415), then scopes
  (403), then the store (503).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from contracts.events import (
    DEFAULT_AUDIENCE,
    MAX_ENVELOPE_BYTES,
    MAX_JSON_DEPTH,
    PROTECTED_NAMESPACES,
    SCOPE_INFERENCE_ADMIN,
    SCOPE_INFERENCE_READ,
    SCOPE_LISTEN,
    EnvelopeError,
    ErrorType,
    PublishEnvelope,
    TokenClaims,
    authorize,
    error_body,
    granted_scopes,
    held_by,
    parse_ack,
    parse_batch,
    parse_envelope,
    parse_listen_query,
    receipt,
)
from contracts.inference import EVENT_NAMES, PROVIDERS
from transport.event_log import CursorError, EventLog, StoreError
from transport.events._stream import ndjson_response
from transport.events.auth import InvalidToken, TokenVerifier
from transport.http import LogLimit, Metrics, Refused, bearer_token, quart_app, read_body

__all__ = [
    "LISTEN_SCOPES",
    "MAX_ACK_BYTES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENVELOPES",
    "EventsCapabilities",
    "EventsRefusal",
    "create_events_app",
    "events_capabilities",
]

log = logging.getLogger("asm.events")

MAX_BATCH_BYTES: Final = 16 * MAX_ENVELOPE_BYTES
MAX_BATCH_ENVELOPES: Final = 1000
MAX_ACK_BYTES: Final = 4096
#: A token holding any of these may acknowledge deliveries.
LISTEN_SCOPES: Final = frozenset({SCOPE_LISTEN, SCOPE_INFERENCE_READ, SCOPE_INFERENCE_ADMIN})

_JSON: Final = "application/json"
_QUERY_KEYS: Final = (
    "name",
    "delivery",
    "group",
    "consumer",
    "replay",
    "after",
    "since",
    "follow",
    "correlation_id",
    "ack",
    "ack_wait",
)
_STORE_DOWN: Final = "the event store is unavailable"
_ERROR_TYPE_OF_STATUS: Final[dict[int, ErrorType]] = {
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
}


class EventsCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /api/v1/events/capabilities``: what this server offers."""

    backends: list[str]
    delivery_modes: list[str] = msgspec.field(default_factory=lambda: ["broadcast", "unicast"])
    ack_modes: list[str] = msgspec.field(default_factory=lambda: ["auto", "explicit"])
    protected_namespaces: dict[str, str] = msgspec.field(
        default_factory=lambda: dict(PROTECTED_NAMESPACES)
    )
    providers: list[str] = msgspec.field(default_factory=lambda: list(PROVIDERS))
    events: list[str] = msgspec.field(default_factory=lambda: list(EVENT_NAMES))
    max_envelope_bytes: int = MAX_ENVELOPE_BYTES
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_batch_envelopes: int = MAX_BATCH_ENVELOPES
    max_json_depth: int = MAX_JSON_DEPTH
    auth: str = "jwt-hs256"
    audience: str = DEFAULT_AUDIENCE


def events_capabilities(
    backend: str, audience: str = DEFAULT_AUDIENCE, overrides: Mapping[str, Any] | None = None
) -> EventsCapabilities:
    """The capabilities of a server over a ``backend`` log, with ``overrides`` applied.

    Raises ValueError when an override has the wrong shape.
    """
    base = msgspec.to_builtins(EventsCapabilities(backends=[backend], audience=audience))
    try:
        return msgspec.convert({**base, **(overrides or {})}, EventsCapabilities)
    except msgspec.ValidationError as error:
        raise ValueError(f"capabilities: {error}") from None


class EventsRefusal(Exception):
    """A request the Events API refuses; answered ``status`` with the error body.

    The message is shown to the client, so it never holds a token or a secret.
    """

    def __init__(
        self,
        status: int,
        kind: ErrorType,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return Response(
            error_body(self.kind, self.message), self.status, self.headers, content_type=_JSON
        )


def create_events_app(
    log: EventLog,
    verifier: TokenVerifier,
    *,
    keepalive_seconds: float = 15.0,
    capabilities: EventsCapabilities | Mapping[str, Any] | None = None,
    metrics: Metrics | None = None,
) -> QuartTrio:
    """The Events API app over ``log``, its tokens checked by ``verifier``.

    ``keepalive_seconds``: the silence after which a stream sends a blank line.
    ``capabilities``: the capabilities document, or overrides of the default one
    (e.g. ``{"backends": ["memory", "sqlite", "redis"]}``); by default it names the
    log's backend and the verifier's audience. ``metrics``, when given, counts the
    events published and those delivered to streams.
    """
    if not keepalive_seconds > 0:
        raise ValueError("keepalive_seconds must be positive")
    if not isinstance(capabilities, EventsCapabilities):
        capabilities = events_capabilities(log.backend, verifier.audience, capabilities)
    app = quart_app(__name__, answer=_answer, what="the events API")
    _register_error_handlers(app)
    _register_publish_routes(app, log, verifier, metrics)
    _register_listen_routes(app, log, verifier, keepalive_seconds, metrics)
    encoded_capabilities = msgspec.json.encode(capabilities)

    @app.get("/api/v1/events/capabilities")
    async def capabilities_route() -> Response:
        return Response(encoded_capabilities, 200, content_type=_JSON)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', 200, content_type=_JSON)

    return app


# --- routes -----------------------------------------------------------------------


def _register_publish_routes(
    app: QuartTrio, log: EventLog, verifier: TokenVerifier, metrics: Metrics | None
) -> None:
    @app.post("/api/v1/events")
    async def publish() -> Response:
        claims = _claims(verifier)
        envelope = parse_envelope(await _read_json(MAX_ENVELOPE_BYTES))
        _authorize_publish([envelope], claims)
        [event] = await log.append([envelope], identity_id=claims.sub)
        if metrics is not None:
            metrics.published(log.backend)
        return _json(receipt(event), 202)

    @app.post("/api/v1/events:batch")
    async def publish_batch() -> Response:
        claims = _claims(verifier)
        body = await _read_json(MAX_BATCH_BYTES)
        _check_batch_sizes(body)
        envelopes = parse_batch(body)
        _authorize_publish(envelopes, claims)
        events = await log.append(envelopes, identity_id=claims.sub)
        if metrics is not None:
            metrics.published(log.backend, len(events))
        return _json([receipt(event) for event in events], 202)


def _register_listen_routes(
    app: QuartTrio,
    log: EventLog,
    verifier: TokenVerifier,
    keepalive_seconds: float,
    metrics: Metrics | None,
) -> None:
    @app.get("/api/v1/events/stream")
    async def stream() -> Response:
        claims = _claims(verifier)
        query = parse_listen_query(_query_params(), request.headers.get("Last-Event-ID"))
        verdict = authorize(query.pattern, "listen", claims.scope)
        if not verdict.allowed:
            raise _forbidden(f"listening to {query.pattern}", verdict.missing)
        if query.delivery == "unicast":
            query = msgspec.structs.replace(query, consumer=held_by(claims.sub, query.consumer))
        return await ndjson_response(
            log, query, keepalive_seconds=keepalive_seconds, metrics=metrics
        )

    @app.post("/api/v1/events/ack")
    async def ack() -> Response:
        claims = _claims(verifier)
        if not granted_scopes(claims.scope) & LISTEN_SCOPES:
            message = "acknowledging needs one of the scopes " + ", ".join(sorted(LISTEN_SCOPES))
            raise EventsRefusal(403, "forbidden", message)
        acked = parse_ack(await _read_json(MAX_ACK_BYTES))
        if not await log.ack(acked.group, held_by(claims.sub, acked.consumer), acked.id):
            message = "no delivery of that id is pending for this group and your consumer"
            raise EventsRefusal(404, "not_found", message)
        return Response(b'{"acked":true}', 200, content_type=_JSON)


def _claims(verifier: TokenVerifier) -> TokenClaims:
    header = request.headers.get("Authorization")
    if header is None:
        raise InvalidToken("a bearer token is required: Authorization: Bearer <jwt>")
    token = bearer_token(header)
    if token is None:
        raise InvalidToken("the Authorization header must be Bearer <jwt>")
    return verifier.verify(token)


def _authorize_publish(envelopes: list[PublishEnvelope], claims: TokenClaims) -> None:
    for index, envelope in enumerate(envelopes):
        verdict = authorize(envelope.name, "publish", claims.scope)
        if not verdict.allowed:
            where = f"batch[{index}]: " if len(envelopes) > 1 else ""
            raise _forbidden(f"{where}publishing {envelope.name}", verdict.missing)


def _forbidden(what: str, missing: tuple[str, ...]) -> EventsRefusal:
    noun = "scope" if len(missing) == 1 else "scopes"
    return EventsRefusal(403, "forbidden", f"{what} needs the {noun} {', '.join(missing)}")


def _query_params() -> dict[str, str]:
    """The stream's query parameters; one that is given twice is ambiguous (a 400)."""
    for key in _QUERY_KEYS:
        if len(request.args.getlist(key)) > 1:
            raise EnvelopeError(f"{key} is given more than once")
    return request.args.to_dict(flat=True)


async def _read_json(limit: int) -> bytes:
    """The request body, checked to be JSON by its Content-Type and at most ``limit``."""
    content_type = request.headers.get("Content-Type")
    if content_type is not None:
        mime = content_type.partition(";")[0].strip().lower()
        if mime != _JSON and not mime.endswith("+json"):
            raise EventsRefusal(
                415, "unsupported_media_type", "the body must be JSON: Content-Type: " + _JSON
            )
    return await read_body(request, limit)


def _check_batch_sizes(body: bytes) -> None:
    try:
        raws = msgspec.json.decode(body, type=list[msgspec.Raw])
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return  # not an array, or far too deep: parse_batch says why
    if len(raws) > MAX_BATCH_ENVELOPES:
        message = f"a batch holds at most {MAX_BATCH_ENVELOPES} envelopes"
        raise EventsRefusal(413, "too_large", message)
    for index, raw in enumerate(raws):
        if len(raw) > MAX_ENVELOPE_BYTES:
            message = f"batch[{index}]: the envelope is larger than {MAX_ENVELOPE_BYTES} bytes"
            raise EventsRefusal(413, "too_large", message)


def _json(body: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status, content_type=_JSON)


# --- errors -----------------------------------------------------------------------


def _answer(refused: Refused) -> Response:
    """A neutral :class:`~transport.http.Refused` in the Events API's envelope."""
    default: ErrorType = "bad_request" if refused.status < 500 else "internal_error"
    kind = _ERROR_TYPE_OF_STATUS.get(refused.status, default)
    return EventsRefusal(refused.status, kind, refused.message, refused.headers).response()


def _register_error_handlers(app: QuartTrio) -> None:
    store_warnings = LogLimit(seconds=10.0)  # an outage refuses every publish: one line

    async def refused(error: EventsRefusal) -> Response:
        return error.response()

    async def invalid_token(error: InvalidToken) -> Response:
        challenge = {"www-authenticate": "Bearer"}
        return EventsRefusal(401, "invalid_auth", error.message, challenge).response()

    async def bad_request(error: EnvelopeError | CursorError) -> Response:
        return EventsRefusal(400, "bad_request", str(error)).response()

    async def store_down(error: StoreError) -> Response:
        if (held := store_warnings.due()) is not None:
            what, more = f"{request.method} {request.path}", f"{held} more refused since"
            log.warning("event store failed serving %s: %s (%s)", what, error, more)
        return EventsRefusal(503, "unavailable", _STORE_DOWN, {"retry-after": "1"}).response()

    app.register_error_handler(EventsRefusal, refused)
    app.register_error_handler(InvalidToken, invalid_token)
    app.register_error_handler(EnvelopeError, bad_request)
    app.register_error_handler(CursorError, bad_request)
    app.register_error_handler(StoreError, store_down)
