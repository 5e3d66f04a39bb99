"""What both quart-trio apps share: their setup, reading bodies and bearers, and refusing.

The endpoint app answers in the OpenAI error envelope, the Bus Events API in its own;
everything else about serving a request is the same, and lives here once::

    app = quart_app(__name__, answer=lambda refused: my_envelope(refused), what="the API")

    @app.post("/things")
    async def things() -> Response:
        body = await read_body(request, limit=1 << 20)   # 408/413 as a neutral Refused
        ...

A route (or this module) raises :class:`Refused` with a status, a short code and a
message; the app's ``answer`` turns it into its own envelope. So a body too large is
refused once, here, and each app says it in its own words, without knowing the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import trio
from quart import Request, Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from contracts.loopback import is_loopback

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "Refused",
    "bearer_token",
    "drain_body",
    "is_loopback_peer",
    "quart_app",
    "read_body",
]

log = logging.getLogger("asm.http")

BODY_TIMEOUT_SECONDS = 60.0
"""How long a client may take to send its body; guards against a body that never ends."""

_KEPT_HEADERS = frozenset({"allow"})  # a 405 says which methods would do


class Refused(Exception):
    """A request refused, in no app's envelope yet: ``Refused(413, "request_too_large", …)``.

    ``code`` is a short snake_case name of what went wrong; ``message`` is shown to the
    client, so it never holds a secret; ``headers`` go on the response (``allow``,
    ``www-authenticate``, ``retry-after``).
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def quart_app(name: str, *, answer: Callable[[Refused], Response], what: str) -> QuartTrio:
    """A QuartTrio app set up as both of ours are, refusing through ``answer``.

    ``answer`` renders a :class:`Refused` in the app's envelope; it answers every
    ``Refused`` a route raises, every HTTP error of Quart's (404, 405, …), and any other
    exception as a 500 ``internal_error`` naming ``what`` (logged with its traceback).
    The app's own error types are registered by the app, after this.
    """
    app = QuartTrio(name)
    app.config.update(
        RESPONSE_TIMEOUT=None,  # a stream lasts as long as its CLI runs or its listener wants
        BODY_TIMEOUT=BODY_TIMEOUT_SECONDS,
        # read_body enforces each limit while still reading the rest (see there);
        # Quart's own limit stops reading, which stalls the connection.
        MAX_CONTENT_LENGTH=None,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    app.url_map.merge_slashes = False  # no redirect that would resend a bearer elsewhere
    app.after_request(_drain_unread_body)

    async def refused(error: Refused) -> Response:
        return answer(error)

    async def http_error(error: HTTPException) -> Response:
        headers = {key: value for key, value in error.get_headers() if key.lower() in _KEPT_HEADERS}
        code = error.name.lower().replace(" ", "_")
        return answer(Refused(error.code or 500, code, error.description or error.name, headers))

    async def unexpected(error: Exception) -> Response:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return answer(Refused(500, "internal_error", f"internal error of {what}"))

    app.register_error_handler(Refused, refused)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
    return app


async def _drain_unread_body(response: Response) -> Response:
    await drain_body(request)
    return response


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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes: ``body = await read_body(request, limit)``.

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
        raise Refused(408, "request_timeout", "the request body took too long to arrive")
    if size > limit or (declared is not None and declared > limit):
        raise Refused(413, "request_too_large", f"the request body is larger than {limit} bytes")
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
