"""The Bus Events API part of the OpenAPI document (BUS.md §2); see :mod:`transport.openapi`.

Also the small builders both parts share: :func:`ref`, :func:`json_body`.
"""

from __future__ import annotations

from typing import Any, Final

from contracts.events import MAX_JSON_DEPTH

__all__ = ["Json", "bus_errors", "events_paths", "json_body", "ref"]

Json = dict[str, Any]

_BUS_ERRORS: Final = {
    400: "bad_request",
    401: "invalid_auth: the JWT is missing, malformed, expired or for another audience",
    403: "forbidden: a scope is missing",
    404: "not_found: no delivery of that id is pending for this group and your consumer",
    413: "too_large",
    415: "unsupported_media_type: the body must be JSON",
    503: "unavailable: the event store failed",
}
_PAYLOAD_RULES: Final = (
    "The payload is stored and streamed on one line: line breaks between its tokens are"
    " dropped and U+2028, U+2029 and U+0085 escaped (the same JSON value). A payload that"
    f" is not UTF-8, or a payload or metadata nested deeper than {MAX_JSON_DEPTH} arrays"
    " and objects, is a 400."
)
_FLAG: Final[Json] = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}


def ref(name: str) -> Json:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: Json, description: str) -> Json:
    """A response of ``application/json`` content."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def bus_errors(*statuses: int) -> dict[str, Json]:
    """The Events API's error responses ``{"error":{"type","message"}}`` of ``statuses``."""
    error = ref("ErrorResponse")
    return {str(status): json_body(error, _BUS_ERRORS[status]) for status in statuses}


def _json_request(schema: Json) -> Json:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: Json, description: str, *, required: bool = False) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _stream_parameters() -> list[Json]:
    text = {"type": "string", "minLength": 1}
    return [
        _query("name", text, "An event name, or a prefix ending in `.*`", required=True),
        _query("delivery", {"type": "string", "enum": ["broadcast", "unicast"]}, "Delivery"),
        _query("group", text, "The unicast group (default `default`)"),
        _query("consumer", text, "The consumer (default `default`)"),
        _query("replay", _FLAG, "Start from the oldest retained event"),
        _query("after", text, "Start after this cursor"),
        _query("since", {"type": "number", "minimum": 0}, "Start this many seconds back"),
        _query("follow", _FLAG, "`false`: return after the backlog"),
        _query("correlation_id", text, "Only events of this correlation id"),
        _query("ack", {"type": "string", "enum": ["auto", "explicit"]}, "Acknowledgement"),
        _query("ack_wait", {"type": "number", "exclusiveMinimum": 0}, "Redelivery delay (s)"),
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": "As `after`",
            "schema": text,
        },
    ]


def events_paths() -> Json:
    """The paths of the Bus Events API."""
    jwt: list[Json] = [{"busJwt": []}]
    tags = ["events"]
    return {
        "/api/v1/events": {
            "post": {
                "operationId": "publishEvent",
                "tags": tags,
                "summary": "Publish one event (BUS.md §2.1)",
                "description": _PAYLOAD_RULES,
                "security": jwt,
                "requestBody": _json_request(ref("PublishEnvelope")),
                "responses": {
                    "202": json_body(ref("Receipt"), "Accepted and stored"),
                    **bus_errors(400, 401, 403, 413, 415, 503),
                },
            }
        },
        "/api/v1/events:batch": {
            "post": {
                "operationId": "publishEvents",
                "tags": tags,
                "summary": "Publish several events, all or nothing",
                "description": _PAYLOAD_RULES,
                "security": jwt,
                "requestBody": _json_request({"type": "array", "items": ref("PublishEnvelope")}),
                "responses": {
                    "202": json_body(
                        {"type": "array", "items": ref("Receipt")}, "One receipt per envelope"
                    ),
                    **bus_errors(400, 401, 403, 413, 415, 503),
                },
            }
        },
        "/api/v1/events/stream": {
            "get": {
                "operationId": "listenEvents",
                "tags": tags,
                "summary": "Listen: one event per NDJSON line (BUS.md §2.2)",
                "description": "A blank line every 15 s keeps the stream alive.",
                "security": jwt,
                "parameters": _stream_parameters(),
                "responses": {
                    "200": {
                        "description": "The events, one `Event` per line",
                        "content": {"application/x-ndjson": {"schema": ref("Event")}},
                    },
                    **bus_errors(400, 401, 403, 503),
                },
            }
        },
        "/api/v1/events/ack": {
            "post": {
                "operationId": "ackEvent",
                "tags": tags,
                "summary": "Acknowledge an explicit-ack delivery",
                "description": "Only a delivery handed to a consumer of the token's own"
                " subject (`sub`) is acked; another subject's is a 404 and stays pending.",
                "security": jwt,
                "requestBody": _json_request(ref("AckRequest")),
                "responses": {
                    "200": json_body(
                        {
                            "type": "object",
                            "properties": {"acked": {"const": True}},
                            "required": ["acked"],
                        },
                        "Acknowledged",
                    ),
                    **bus_errors(400, 401, 403, 404, 413, 415, 503),
                },
            }
        },
        "/api/v1/events/capabilities": {
            "get": {
                "operationId": "eventsCapabilities",
                "tags": tags,
                "summary": "What this server offers; no token needed",
                "security": [],
                "responses": {"200": json_body(ref("EventsCapabilities"), "The capabilities")},
            }
        },
    }
