"""What a Bus Events API client raises, one class per thing the caller does about it.

- :class:`EventsAuthError` (401, 403): the token is wrong or lacks a scope; retrying
  cannot help, so it fails fast.
- :class:`EventsRequestError` (400, 404, 413): the request itself is wrong.
- :class:`EventsUnavailableError`: no connection, a timeout, a 5xx or a 429; worth
  retrying later (a listening stream does so by itself).
- :class:`EventsProtocolError`: the server answered something that is not the API.
- :class:`EventsTimeoutError`: no response event arrived in time.

Every message says what went wrong with the server's own error type and words; none
holds the bearer token (the client redacts it even from what the server says).
"""

from __future__ import annotations

from typing import Final

import httpx
import msgspec

__all__ = [
    "EventsAuthError",
    "EventsError",
    "EventsProtocolError",
    "EventsRequestError",
    "EventsTimeoutError",
    "EventsUnavailableError",
    "error_from_response",
    "error_from_transport",
]

REDACTED: Final = "[redacted]"


class EventsError(Exception):
    """A Bus Events API call that failed.

    ``status`` is the HTTP status (None when no answer came), ``kind`` the server's
    error type (``invalid_auth``, ``forbidden``, ``bad_request``…) and ``message`` its
    words; ``str(error)`` is ``"<kind>: <message> (<status>)"``.
    """

    def __init__(self, message: str, *, status: int | None = None, kind: str = "") -> None:
        self.status = status
        self.kind = kind
        self.message = message
        shown = f"{kind}: {message}" if kind else message
        super().__init__(shown if status is None else f"{shown} ({status})")


class EventsAuthError(EventsError):
    """401 or 403: the token is not accepted, or lacks a scope the name needs."""


class EventsRequestError(EventsError):
    """400, 404 or 413: the request is wrong; the same request will fail again."""


class EventsUnavailableError(EventsError):
    """No usable answer (connection, timeout, 5xx, 429); trying again later may work."""


class EventsProtocolError(EventsError):
    """The server answered something the Bus Events API never sends."""


class EventsTimeoutError(EventsError):
    """The response event did not arrive in time."""


class _ErrorBody(msgspec.Struct):
    type: str = ""
    message: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody


_ERROR: Final = msgspec.json.Decoder(_ErrorEnvelope)


def error_from_response(response: httpx.Response, *, secret: str) -> EventsError:
    """The error for a non-2xx ``response`` whose body has been read.

    The server's ``{"error":{"type","message"}}`` is kept; ``secret`` (the token) is
    blanked out of it should a server ever echo it.
    """
    status = response.status_code
    try:
        body = _ERROR.decode(response.content)
        kind, message = body.error.type, body.error.message
    except (msgspec.DecodeError, UnicodeDecodeError, httpx.ResponseNotRead):
        kind, message = "", ""
    message = message or f"the server answered {response.reason_phrase or 'an error'}"
    if secret:
        message, kind = message.replace(secret, REDACTED), kind.replace(secret, REDACTED)
    if status in (401, 403):
        return EventsAuthError(message, status=status, kind=kind)
    if status >= 500 or status in (408, 429):
        return EventsUnavailableError(message, status=status, kind=kind)
    if 400 <= status < 500:
        return EventsRequestError(message, status=status, kind=kind)
    return EventsProtocolError(f"unexpected answer: {message}", status=status, kind=kind)


def error_from_transport(error: httpx.HTTPError, origin: str) -> EventsUnavailableError:
    """The error for a request that got no answer from ``origin`` (scheme://host:port).

    httpx's transport errors describe the connection ("[Errno 111] Connection
    refused"), never the request's headers.
    """
    if isinstance(error, httpx.TimeoutException):
        return EventsUnavailableError(f"{origin} did not answer in time")
    reason = str(error) or type(error).__name__
    return EventsUnavailableError(f"cannot reach {origin} ({reason})")
