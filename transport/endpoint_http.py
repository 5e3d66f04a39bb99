"""The HTTP vocabulary the endpoint app's routes share (SPEC §3).

JSON bodies are encoded with msgspec; every error is the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}`` with an ``x-should-retry`` header;
bearer tokens are read from ``Authorization``; peers are checked to be loopback. A route
refuses a request by raising :class:`Refusal`, and the app answers it::

    raise Refusal(401, "the bearer token is wrong", type="authentication_error",
                  code="invalid_api_key")
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import trio
from quart import Request, Response

from contracts.loopback import is_loopback
from contracts.openai import MAX_BODY_BYTES, OpenAIRequestError, should_retry
from contracts.openai_responses import encode_json

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "Refusal",
    "bearer_token",
    "drain_body",
    "error_response",
    "is_loopback_peer",
    "json_response",
    "read_body",
]

BODY_TIMEOUT_SECONDS = 60.0
"""How long a client may take to send its body; guards against a body that never ends."""

_JSON = "application/json"


class Refusal(OpenAIRequestError):
    """A request a route refuses; the app answers ``status`` with the error envelope.

    An :class:`~contracts.openai.OpenAIRequestError` with response ``headers`` (e.g.
    ``WWW-Authenticate`` on a 401). The message is shown to the client, so it never
    holds a secret.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, type, param, code)
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The error response for this refusal."""
        return error_response(self.status, self.envelope(), self.headers)


def json_response(
    body: msgspec.Struct, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A msgspec-encoded JSON response: ``json_response(model_list(...))``."""
    return Response(encode_json(body), status, dict(headers or {}), content_type=_JSON)


def error_response(
    status: int, body: msgspec.Struct, headers: Mapping[str, str] | None = None
) -> Response:
    """An error response with ``x-should-retry``: true only for 429 and 503.

    The official client retries other 5xx by default, which would run an agent twice.
    """
    retry = "true" if should_retry(status) else "false"
    return json_response(body, status, {**(headers or {}), "x-should-retry": retry})


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None.

    A token that is not printable ASCII is refused here (None), so a comparison in
    constant time (``hmac.compare_digest`` on str) never meets a character it rejects.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if not (token.isascii() and token.isprintable()):
        return None
    return token


def is_loopback_peer(client: object) -> bool:
    """Whether an ASGI ``scope["client"]`` is a loopback address (127.0.0.0/8 or ::1).

    ``is_loopback_peer(("127.0.0.1", 50312))`` is True; an unknown peer (None, a Unix
    socket) is not loopback, so the app refuses it rather than guess.
    """
    if not isinstance(client, tuple | list) or not client:
        return False
    host = client[0]
    return isinstance(host, str) and is_loopback(host)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, at most ``limit`` bytes: ``body = await read_body(request)``.

    A declared ``Content-Length`` over the limit, or more bytes than the limit actually
    sent, is a 413; a body still arriving after :data:`BODY_TIMEOUT_SECONDS` is a 408.
    Bytes past the limit are read and dropped rather than kept, so the refusal costs no
    memory and the client, which sends its whole body before it reads the answer, gets
    the 413 instead of a stalled upload.
    """
    declared = request.content_length
    kept = bytearray()
    size = 0
    with trio.move_on_after(BODY_TIMEOUT_SECONDS) as timer:
        async for chunk in request.body:
            size += len(chunk)
            if size <= limit and (declared is None or declared <= limit):
                kept += chunk
    if timer.cancelled_caught:
        raise Refusal(408, "the request body took too long to arrive", code="request_timeout")
    if size > limit or (declared is not None and declared > limit):
        message = f"the request body is larger than {limit} bytes"
        raise Refusal(413, message, code="request_too_large")
    return bytes(kept)


async def drain_body(request: Request) -> None:
    """Read and drop whatever the client still sends of a body no route read.

    An answer given before the body is read (401, 404, …) would otherwise stall the
    connection: hypercorn's queue towards the app fills once the app stops reading, and
    the client, still uploading, never sees the answer.
    """
    with trio.move_on_after(BODY_TIMEOUT_SECONDS):
        async for _ in request.body:
            pass
