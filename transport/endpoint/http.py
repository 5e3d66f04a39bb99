"""The HTTP vocabulary the endpoint app's routes share (SPEC §3).

JSON bodies are encoded with msgspec; every error is the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}`` with an ``x-should-retry`` header.
A route refuses a request by raising :class:`OpenAIRefusal`, and the app answers it;
a neutral :class:`~transport.http.Refused` (a body too large, a 404 of Quart's) is put
in the same envelope by :func:`answer`::

    raise OpenAIRefusal(401, "the bearer token is wrong", type="authentication_error",
                          code="invalid_api_key")
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from quart import Response

from contracts.openai import ErrorBody, OpenAIRequestError, encode_json, should_retry
from transport.http import Refused

__all__ = ["OpenAIRefusal", "answer", "error_response", "json_response"]

_JSON = "application/json"


class OpenAIRefusal(OpenAIRequestError):
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
    """An error response with ``x-should-retry``: true only for a 429, or a 503 whose
    error code is not the operator's to fix (:func:`~contracts.openai.should_retry`).

    The official client retries other 5xx by default, which would run an agent twice,
    and would retry a CLI that is not installed three times.
    """
    error = getattr(body, "error", None)
    code = error.code if isinstance(error, ErrorBody) else None
    retry = "true" if should_retry(status, code) else "false"
    return json_response(body, status, {**(headers or {}), "x-should-retry": retry})


_NO_ROUTE = (
    "no such route: a lease serves /leases/<lease_ref>/v1/chat/completions,"
    " /v1/models and /health (the Responses API and other OpenAI routes are not served)"
)
"""The message of a 404 for a path no route matches (Werkzeug's own words are a web
page's: "If you entered the URL manually …")."""


def answer(refused: Refused) -> Response:
    """A neutral :class:`~transport.http.Refused` in the OpenAI envelope; an unknown
    route (Quart's 404 ``not_found``) says which routes there are."""
    kind = "server_error" if refused.status >= 500 else "invalid_request_error"
    message = _NO_ROUTE if refused.code == "not_found" else refused.message
    return OpenAIRefusal(
        refused.status, message, type=kind, code=refused.code, headers=refused.headers
    ).response()
