"""The admin routes: ensure, release and list endpoints over HTTP (SPEC §3.4).

They are the northbound API of SPEC §2.4 for callers outside the process (``asm endpoint
…``), guarded by the admin token; :func:`create_endpoint_app` registers them::

    POST   /api/v1/endpoints            {"request": {...}, "consumer_manifest"?, "context"?}
           → 201 {"endpoint", "compatibility"} | 409 incompatible | 400 refused or malformed
           | 503 ``not_installed`` (the CLI is missing; ``x-should-retry: false``)
           (a refusal for one field names it in ``param``: ``model_preference.id``,
           ``context.lease_ttl_seconds``, ``context.lease_idle_seconds``)
    DELETE /api/v1/endpoints/<lease_ref> → 204, also for a lease already gone
    GET    /api/v1/endpoints            → {"endpoints": [descriptor with token redacted]}
    GET    /api/v1/consumer-manifest    → the default consumer manifest
    GET    /healthz                     → {"ok": true, "service": "asm"}, no token needed

Errors use the same envelope as the lease routes; a 409 adds the compatibility result
beside it, so a refused consumer still learns what the provider publishes.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType
from quart import Quart, Response, request

from contracts.endpoint import (
    CompatibilityResult,
    ConsumerManifest,
    EndpointDescriptor,
    InferenceRequest,
)
from contracts.endpoint_refusal import EndpointRefused
from contracts.openai import MAX_BODY_BYTES, ErrorBody
from transport.endpoint.gateway import LeaseGateway
from transport.endpoint.http import OpenAIRefusal, error_response, json_response
from transport.http import bearer_token, read_body

__all__ = ["EnsureEndpointBody", "register_admin_routes"]


class EnsureEndpointBody(msgspec.Struct, frozen=True, kw_only=True):
    """The body of ``POST /api/v1/endpoints``; unknown fields are ignored."""

    request: InferenceRequest
    consumer_manifest: ConsumerManifest | None = None
    context: dict[str, Any] = {}


class EnsuredEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """The 201 answer: the descriptor (with its bearer token) and the compatibility."""

    endpoint: EndpointDescriptor
    compatibility: CompatibilityResult


class EndpointList(msgspec.Struct, frozen=True, kw_only=True):
    endpoints: list[EndpointDescriptor]


class RefusalBody(msgspec.Struct, frozen=True, kw_only=True):
    """A refused ensure: the error envelope, plus the compatibility result when known."""

    error: ErrorBody
    compatibility: CompatibilityResult | UnsetType = UNSET


class ServiceHealth(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool = True
    service: Literal["asm"] = "asm"


_REFUSAL_STATUS: dict[str, int] = {"incompatible": 409, "not_installed": 503}
"""A refusal's status, 400 otherwise: a missing CLI is the server's state, not the
request's fault (**decided**); its code says no client retry can help."""

_ENSURE_BODY: msgspec.json.Decoder[EnsureEndpointBody] = msgspec.json.Decoder(EnsureEndpointBody)


def register_admin_routes(app: Quart, gateway: LeaseGateway, admin_token: str) -> None:
    """Add the admin routes to ``app``; each compares the bearer in constant time."""
    expected = admin_token.encode()

    def require_admin() -> None:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None or not hmac.compare_digest(token.encode(), expected):
            raise OpenAIRefusal(
                401,
                "the admin routes need the admin bearer token",
                type="authentication_error",
                code="invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(ServiceHealth())

    @app.get("/api/v1/consumer-manifest")
    async def default_consumer_manifest() -> Response:
        require_admin()
        return json_response(gateway.consumer_manifest())

    @app.get("/api/v1/endpoints")
    async def list_endpoints() -> Response:
        require_admin()
        descriptors = [descriptor.redacted() for descriptor in gateway.endpoints()]
        return json_response(EndpointList(endpoints=descriptors))

    @app.post("/api/v1/endpoints")
    async def ensure_endpoint() -> Response:
        require_admin()
        body = _decode_ensure(await read_body(request, MAX_BODY_BYTES))
        try:
            descriptor, compatibility = await gateway.ensure_endpoint(
                body.request, body.consumer_manifest, body.context
            )
        except EndpointRefused as refused:
            return _refusal_response(refused)
        return json_response(EnsuredEndpoint(endpoint=descriptor, compatibility=compatibility), 201)

    @app.delete("/api/v1/endpoints/<lease_ref>")
    async def release_endpoint(lease_ref: str) -> Response:
        require_admin()
        await gateway.release_endpoint(lease_ref)
        return Response(b"", 204)


def _decode_ensure(body: bytes) -> EnsureEndpointBody:
    try:
        return _ENSURE_BODY.decode(body)
    except msgspec.ValidationError as error:
        message = f"the request body is not an endpoint request: {error}"
    except msgspec.DecodeError as error:
        message = f"the request body is not valid JSON: {error}"
    except RecursionError:
        message = "the request body nests too deeply"
    raise OpenAIRefusal(400, message, code="invalid_request")


def _refusal_response(refused: EndpointRefused) -> Response:
    refusal = refused.refusal
    status = _REFUSAL_STATUS.get(refusal.code, 400)
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = RefusalBody(
        error=ErrorBody(refusal.message, kind, refusal.param, refusal.code),
        compatibility=UNSET if refusal.compatibility is None else refusal.compatibility,
    )
    return error_response(status, body)  # not_installed: 503, x-should-retry false
