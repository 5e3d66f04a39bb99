"""The loopback HTTP surface of the endpoints: one quart-trio app (SPEC §3).

Each lease is published as an OpenAI-compatible API under ``/leases/<lease_ref>/``,
guarded by the lease's bearer token; the admin routes (:mod:`transport.endpoint.admin`)
ensure and release leases (``GET /openapi.json``, the document of every route, is served
beside it by :mod:`transport.surface`). The app holds no state and starts no task: it asks the
:class:`~transport.endpoint.LeaseGateway` it is given. Serve it with hypercorn::

    app = create_endpoint_app(gateway, admin_token=token)
    config = hypercorn.Config()
    config.bind = ["127.0.0.1:8787"]
    urls = await nursery.start(hypercorn.trio.serve, app, config)

Every error, from a bad body to an unknown route, is the OpenAI envelope with an
``x-should-retry`` header; an unexpected exception is a 500 that names nothing internal.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from contracts.openai import (
    IGNORED_PARAMS_HEADER,
    MAX_BODY_BYTES,
    OpenAIRequestError,
    model_list,
    validate_chat_request,
)
from contracts.providers import profile
from transport.endpoint.admin import register_admin_routes
from transport.endpoint.chat_completions import CompletionAnswer
from transport.endpoint.gateway import Lease, LeaseBusy, LeaseGateway, LeaseGone
from transport.endpoint.http import OpenAIRefusal, answer, error_response, json_response
from transport.http import bearer_token, is_loopback_peer, quart_app, read_body

__all__ = ["create_endpoint_app"]


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
    app = quart_app(__name__, answer=answer, what="the endpoint")
    app.before_request(_refuse_remote_peers)
    _register_error_handlers(app)
    _register_lease_routes(app, gateway, keepalive_seconds)
    register_admin_routes(app, gateway, admin_token)
    return app


async def _refuse_remote_peers() -> None:
    # Served on loopback only; this also stops a request relayed from elsewhere.
    if not is_loopback_peer(request.scope.get("client")):
        raise OpenAIRefusal(
            403,
            "this endpoint answers loopback clients only",
            type="permission_error",
            code="loopback_only",
        )


def _register_lease_routes(app: QuartTrio, gateway: LeaseGateway, keepalive: float) -> None:
    def authorized_lease(lease_ref: str) -> Lease:
        lease = gateway.lease(lease_ref)
        if lease is None:
            raise OpenAIRefusal(404, "no live lease has this reference", code="lease_not_found")
        token = bearer_token(request.headers.get("Authorization"))
        if token is None or not lease.authorizes(token):
            raise OpenAIRefusal(
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
            raise OpenAIRefusal(
                404,
                f"this endpoint serves the model {lease.model!r} only",
                param="model",
                code="model_not_found",
            )
        return json_response(model_list(lease.model, lease.created, lease.provider).data[0])

    @app.post("/leases/<lease_ref>/v1/chat/completions")
    async def chat_completions(lease_ref: str) -> Response:
        lease = authorized_lease(lease_ref)
        body = await read_body(request, MAX_BODY_BYTES)
        valid = validate_chat_request(body, lease.model, profile(lease.provider))
        completion = CompletionAnswer(lease, valid, keepalive_seconds=keepalive)
        response = await (completion.streamed() if valid.stream else completion.whole())
        if valid.ignored:
            # Parameters the CLI cannot pass on: accepted, and said so (SPEC §3.2).
            response.headers[IGNORED_PARAMS_HEADER] = ", ".join(valid.ignored)
        return response


def _register_error_handlers(app: QuartTrio) -> None:
    async def refused(error: OpenAIRefusal) -> Response:
        return error.response()

    async def invalid_request(error: OpenAIRequestError) -> Response:
        return error_response(error.status, error.envelope())

    async def busy(error: LeaseBusy) -> Response:
        return OpenAIRefusal(
            429,
            "the lease runs as many sessions as it may; retry later",
            type="rate_limit_error",
            code="lease_busy",
        ).response()

    async def gone(error: LeaseGone) -> Response:
        return OpenAIRefusal(404, "the lease was released", code="lease_not_found").response()

    app.register_error_handler(OpenAIRefusal, refused)
    app.register_error_handler(OpenAIRequestError, invalid_request)
    app.register_error_handler(LeaseBusy, busy)
    app.register_error_handler(LeaseGone, gone)
