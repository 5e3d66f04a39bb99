"""The OpenAPI 3.1 document of every HTTP route of ``asm serve`` (SPEC §3, BUS.md §2).

One port answers the endpoint app (lease routes, admin routes, ``/healthz``,
``/openapi.json``), the Bus Events API (:mod:`transport.events.app`) and ``/metrics``
(Prometheus text). The HTTP surface (:mod:`transport.surface`) serves it at ``GET /openapi.json``::

    document = openapi_document()
    document["paths"]["/leases/{lease_ref}/v1/chat/completions"]["post"]

Request and response schemas are derived from the msgspec Structs the routes decode and
encode (:func:`msgspec.json.schema_components`), so the document follows the code;
``tests/transport/test_openapi.py`` checks that it names exactly the routes the apps
register. Errors: the endpoint and admin routes answer the OpenAI envelope
(``ErrorEnvelope``), the Events API ``{"error":{"type","message"}}`` (``ErrorResponse``).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from contracts import __version__, openai
from contracts import events as bus
from contracts.endpoint import ConsumerManifest
from contracts.events import AckRequest
from contracts.openai import ChatCompletion, Model, ModelList
from transport._openapi_events import Json, events_paths, json_body, ref
from transport.endpoint import (
    EndpointList,
    EnsuredEndpoint,
    EnsureEndpointBody,
    RefusalBody,
    ServiceHealth,
)
from transport.events import EventsCapabilities

__all__ = ["OPENAPI_VERSION", "openapi_document"]

OPENAPI_VERSION: Final = "3.1.0"


_STRUCTS: Final[tuple[Any, ...]] = (
    openai.ChatCompletionRequest,
    ChatCompletion,
    ModelList,
    Model,
    openai.ErrorEnvelope,
    EnsureEndpointBody,
    EnsuredEndpoint,
    EndpointList,
    RefusalBody,
    ServiceHealth,
    ConsumerManifest,
    bus.PublishEnvelope,
    bus.Receipt,
    bus.ErrorResponse,
    AckRequest,
    EventsCapabilities,
    bus.Event,
)
_LEASE_HEALTH: Final[Json] = {
    "type": "object",
    "properties": {
        "status": {"const": "ok"},
        "endpoint_id": {"type": "string"},
        "lease_ref": {"type": "string"},
        "provider": {"type": "string"},
        "model": {"type": "string"},
    },
    "required": ["status", "endpoint_id", "lease_ref", "provider", "model"],
}
_TEXT_PART: Final[Json] = {
    "type": "object",
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    "required": ["type", "text"],
}
#: SPEC §3.2: what the struct's ``list[dict]`` leaves to the validation rules.
_MESSAGES: Final[Json] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 128,
    "items": {
        "type": "object",
        "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "items": _TEXT_PART},
                ]
            },
        },
        "required": ["role", "content"],
    },
}
#: BUS.md §2.1: dotted lowercase segments of letters, digits, ``_`` and ``-``.
_EVENT_NAME: Final[Json] = {
    "type": "string",
    "maxLength": bus.MAX_NAME_LENGTH,
    "pattern": "^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$",
}
_LEASE_REF: Final[Json] = {
    "name": "lease_ref",
    "in": "path",
    "required": True,
    "description": "The lease's reference, as its descriptor names it.",
    "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}
_MODEL_ID: Final[Json] = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "description": "The model id; only the lease's pinned model is found.",
    "schema": {"type": "string", "minLength": 1},
}


def _openai_errors(*statuses: int) -> dict[str, Json]:
    descriptions = {
        400: "The request is refused (the OpenAI error envelope)",
        401: "The bearer token is missing or wrong",
        403: "The peer is not loopback",
        404: "No live lease has this reference, or no such model",
        409: "Incompatible: the envelope plus the compatibility result",
        413: "The body is larger than 1 MiB",
        429: "The lease runs as many sessions as it may",
        502: "The CLI crashed or spoke garbage",
        503: "The CLI is not installed or not logged in",
        504: "The session's deadline passed",
    }
    envelope = ref("ErrorEnvelope")
    return {
        str(status): json_body(
            ref("RefusalBody") if status == 409 else envelope, descriptions[status]
        )
        for status in statuses
    }


def _endpoint_paths() -> Json:
    lease: list[Json] = [{"leaseToken": []}]
    admin: list[Json] = [{"adminToken": []}]
    tags = ["leases"]
    admin_tags = ["admin"]
    return {
        "/leases/{lease_ref}/health": {
            "get": {
                "operationId": "leaseHealth",
                "tags": tags,
                "summary": "The lease's health",
                "security": lease,
                "parameters": [_LEASE_REF],
                "responses": {
                    "200": json_body(_LEASE_HEALTH, "The lease is live"),
                    **_openai_errors(401, 403, 404),
                },
            }
        },
        "/leases/{lease_ref}/v1/models": {
            "get": {
                "operationId": "listModels",
                "tags": tags,
                "summary": "The lease's pinned model, as an OpenAI model list",
                "security": lease,
                "parameters": [_LEASE_REF],
                "responses": {
                    "200": json_body(ref("ModelList"), "The pinned model"),
                    **_openai_errors(401, 403, 404),
                },
            }
        },
        "/leases/{lease_ref}/v1/models/{model_id}": {
            "get": {
                "operationId": "retrieveModel",
                "tags": tags,
                "summary": "One model: found only when it is the pinned one",
                "security": lease,
                "parameters": [_LEASE_REF, _MODEL_ID],
                "responses": {
                    "200": json_body(ref("Model"), "The pinned model"),
                    **_openai_errors(401, 403, 404),
                },
            }
        },
        "/leases/{lease_ref}/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "tags": tags,
                "summary": "Run one CLI session (SPEC §3.2, §3.3)",
                "description": "With `stream: true` the answer is `text/event-stream`: "
                "`data: <chunk>` lines, then `data: [DONE]`. Errors carry `x-should-retry`."
                " Request parameters the lease's CLI cannot pass on are named in"
                " `x-asm-ignored-params`; a `response_format` it cannot hold is a 400.",
                "security": lease,
                "parameters": [_LEASE_REF],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("ChatCompletionRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "The completion, or its stream of chunks",
                        "content": {
                            "application/json": {"schema": ref("ChatCompletion")},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    **_openai_errors(400, 401, 403, 404, 413, 429, 502, 503, 504),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "serviceHealth",
                "tags": ["service"],
                "summary": "Liveness; no token needed",
                "security": [],
                "responses": {"200": json_body(ref("ServiceHealth"), "The service is up")},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapiDocument",
                "tags": ["service"],
                "summary": "This document",
                "security": [],
                "responses": {"200": json_body({"type": "object"}, "The OpenAPI document")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["service"],
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/v1/consumer-manifest": {
            "get": {
                "operationId": "defaultConsumerManifest",
                "tags": admin_tags,
                "summary": "The default consumer manifest",
                "security": admin,
                "responses": {
                    "200": json_body(ref("ConsumerManifest"), "The manifest"),
                    **_openai_errors(401, 403),
                },
            }
        },
        "/api/v1/endpoints": {
            "get": {
                "operationId": "listEndpoints",
                "tags": admin_tags,
                "summary": "The live leases, tokens redacted",
                "security": admin,
                "responses": {
                    "200": json_body(ref("EndpointList"), "The live endpoints"),
                    **_openai_errors(401, 403),
                },
            },
            "post": {
                "operationId": "ensureEndpoint",
                "tags": admin_tags,
                "summary": "Ensure an endpoint: lease a CLI provider's model (SPEC §3.4)",
                "security": admin,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("EnsureEndpointBody")}},
                },
                "responses": {
                    "201": json_body(ref("EnsuredEndpoint"), "The descriptor and compatibility"),
                    **_openai_errors(400, 401, 403, 409, 413, 503),
                },
            },
        },
        "/api/v1/endpoints/{lease_ref}": {
            "delete": {
                "operationId": "releaseEndpoint",
                "tags": admin_tags,
                "summary": "Release a lease; idempotent",
                "security": admin,
                "parameters": [_LEASE_REF],
                "responses": {
                    "204": {"description": "Released (or already gone)"},
                    **_openai_errors(401, 403),
                },
            }
        },
    }


def _any_value(kind: type) -> Json:
    # ``object`` fields (e.g. a chat request's ``tools``) take any JSON value.
    if kind is object:
        return {"description": "any JSON value"}
    raise NotImplementedError(f"no JSON schema for {kind!r}")


def openapi_document() -> Json:
    """The OpenAPI 3.1 document of the endpoint app, the Events API and ``/metrics``."""
    _, components = msgspec.json.schema_components(
        _STRUCTS, schema_hook=_any_value, ref_template="#/components/schemas/{name}"
    )
    components["ChatCompletionRequest"]["properties"]["messages"] = _MESSAGES
    # The Struct gives messages a default, so that the validation rules refuse their
    # absence in words; a request without them is still refused, and the document says so.
    components["ChatCompletionRequest"]["required"] = ["messages"]
    components["PublishEnvelope"]["properties"]["name"] = _EVENT_NAME
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "asm-trio HTTP surface",
            "version": __version__,
            "description": "Loopback endpoint routes (SPEC §3) and the Bus Events API "
            "(BUS.md §2), served on one port by `asm serve`.",
        },
        "paths": {**_endpoint_paths(), **events_paths()},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "leaseToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The lease's token, from its endpoint descriptor.",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token, in the state dir (0600).",
                },
                "busJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 JWT with sub, aud, scope, iat, exp (BUS.md §2.3).",
                },
            },
        },
    }
