"""The loopback HTTP surface of the endpoints: one quart-trio app (SPEC §3).

Each lease is published as an OpenAI-compatible API under ``/leases/<lease_ref>/``,
guarded by the lease's bearer token; the admin routes (:mod:`transport.endpoint_admin`)
ensure and release leases; ``GET /openapi.json`` serves the OpenAPI document of the whole
surface (:mod:`transport.openapi`). The app holds no state and starts no task: it asks the
:class:`~transport.endpoint_gateway.LeaseGateway` it is given. Serve it with hypercorn::

    app = create_endpoint_app(gateway, admin_token=token)
    config = hypercorn.Config()
    config.bind = ["127.0.0.1:8787"]
    urls = await nursery.start(hypercorn.trio.serve, app, config)

Every error, from a bad body to an unknown route, is the OpenAI envelope with an
``x-should-retry`` header; an unexpected exception is a 500 that names nothing internal.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from contracts.openai import OpenAIRequestError, validate_chat_request
from contracts.openai_params import IGNORED_PARAMS_HEADER
from contracts.openai_responses import model_list
from contracts.providers import profile
from transport.chat_completions import Completion
from transport.endpoint_admin import register_admin_routes
from transport.endpoint_gateway import Lease, LeaseBusy, LeaseGateway, LeaseGone
from transport.endpoint_http import (
    BODY_TIMEOUT_SECONDS,
    Refusal,
    bearer_token,
    drain_body,
    error_response,
    is_loopback_peer,
    json_response,
    read_body,
)
from transport.openapi import openapi_document

__all__ = ["create_endpoint_app"]

_log = logging.getLogger(__name__)


class LeaseHealth(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok"] = "ok"
    endpoint_id: str
    lease_ref: str
    provider: str
    model: str


def create_endpoint_app(
    gateway: LeaseGateway, *, admin_token: str, keepalive_seconds: float = 15.0
) -> QuartTrio:
    """The endpoint app over ``gateway``: lease routes, admin routes and ``/healthz``.

    ``admin_token`` guards the admin routes; ``keepalive_seconds`` is how long a stream
    may stay silent before a ``: keep-alive`` comment is sent.
    """
    if not admin_token:
        raise ValueError("admin_token must not be empty")
    if not keepalive_seconds > 0:
        raise ValueError("keepalive_seconds must be positive")
    app = QuartTrio(__name__)
    app.config.update(
        # A stream lasts as long as the CLI runs; the session's own timers bound it.
        RESPONSE_TIMEOUT=None,
        BODY_TIMEOUT=BODY_TIMEOUT_SECONDS,
        # read_body enforces the 1 MiB limit while still reading the rest (see there);
        # Quart's own limit stops reading, which stalls the connection.
        MAX_CONTENT_LENGTH=None,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    app.url_map.merge_slashes = False  # no redirect that would resend a bearer elsewhere
    app.before_request(_refuse_remote_peers)
    app.after_request(_drain_unread_body)
    _register_error_handlers(app)
    _register_lease_routes(app, gateway, keepalive_seconds)
    register_admin_routes(app, gateway, admin_token)
    document = msgspec.json.encode(openapi_document())

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return Response(document, 200, content_type="application/json")

    return app


async def _refuse_remote_peers() -> None:
    # Served on loopback only; this also stops a request relayed from elsewhere.
    if not is_loopback_peer(request.scope.get("client")):
        raise Refusal(
            403,
            "this endpoint answers loopback clients only",
            type="permission_error",
            code="loopback_only",
        )


async def _drain_unread_body(response: Response) -> Response:
    await drain_body(request)
    return response


def _register_lease_routes(app: QuartTrio, gateway: LeaseGateway, keepalive: float) -> None:
    def authorized_lease(lease_ref: str) -> Lease:
        lease = gateway.lease(lease_ref)
        if lease is None:
            raise Refusal(404, "no live lease has this reference", code="lease_not_found")
        token = bearer_token(request.headers.get("Authorization"))
        if token is None or not lease.authorizes(token):
            raise Refusal(
                401,
                "the bearer token is missing" if token is None else "the bearer token is wrong",
                type="authentication_error",
                code="invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )
        return lease

    @app.get("/leases/<lease_ref>/health")
    async def health(lease_ref: str) -> Response:
        lease = authorized_lease(lease_ref)
        return json_response(
            LeaseHealth(
                endpoint_id=lease.endpoint_id,
                lease_ref=lease.lease_ref,
                provider=lease.provider,
                model=lease.model,
            )
        )

    @app.get("/leases/<lease_ref>/v1/models")
    async def models(lease_ref: str) -> Response:
        lease = authorized_lease(lease_ref)
        return json_response(model_list(lease.model, lease.created, lease.provider))

    @app.get("/leases/<lease_ref>/v1/models/<path:model_id>")
    async def model(lease_ref: str, model_id: str) -> Response:
        lease = authorized_lease(lease_ref)
        if model_id != lease.model:
            raise Refusal(
                404,
                f"this endpoint serves the model {lease.model!r} only",
                param="model",
                code="model_not_found",
            )
        return json_response(model_list(lease.model, lease.created, lease.provider).data[0])

    @app.post("/leases/<lease_ref>/v1/chat/completions")
    async def chat_completions(lease_ref: str) -> Response:
        lease = authorized_lease(lease_ref)
        body = await read_body(request)
        valid = validate_chat_request(body, lease.model, profile(lease.provider))
        completion = Completion(lease, valid, keepalive_seconds=keepalive)
        response = await (completion.streamed() if valid.stream else completion.whole())
        if valid.ignored:
            # Parameters the CLI cannot pass on: accepted, and said so (SPEC §3.2).
            response.headers[IGNORED_PARAMS_HEADER] = ", ".join(valid.ignored)
        return response


def _register_error_handlers(app: QuartTrio) -> None:
    async def refused(error: Refusal) -> Response:
        return error.response()

    async def invalid_request(error: OpenAIRequestError) -> Response:
        return error_response(error.status, error.envelope())

    async def busy(error: LeaseBusy) -> Response:
        return Refusal(
            429,
            "the lease runs as many sessions as it may; retry later",
            type="rate_limit_error",
            code="lease_busy",
        ).response()

    async def gone(error: LeaseGone) -> Response:
        return Refusal(404, "the lease was released", code="lease_not_found").response()

    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        kept = {"allow"}  # a 405 says which methods would do
        headers = {name: value for name, value in error.get_headers() if name.lower() in kept}
        kind = "server_error" if status >= 500 else "invalid_request_error"
        name = error.name.lower().replace(" ", "_")
        return Refusal(
            status, error.description or error.name, type=kind, code=name, headers=headers
        ).response()

    async def unexpected(error: Exception) -> Response:
        _log.exception("unexpected error serving %s %s", request.method, request.path)
        return Refusal(
            500, "internal error of the endpoint", type="server_error", code="internal_error"
        ).response()

    app.register_error_handler(Refusal, refused)
    app.register_error_handler(OpenAIRequestError, invalid_request)
    app.register_error_handler(LeaseBusy, busy)
    app.register_error_handler(LeaseGone, gone)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
