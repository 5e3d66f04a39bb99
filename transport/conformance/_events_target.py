"""The Bus Events API under test: its origin, the tokens given, and how to talk to it.

Every name the harness publishes lives under a namespace no one else uses,
``conformance.<run>.n<k>`` (a fresh ``k`` per example), and every stream it opens has
``follow=false``, so every read ends::

    target = EventsTarget("http://127.0.0.1:8787", grants, http)
    ns = target.namespace()
    event_id = target.published_id({"name": f"{ns}.hello", "payload": 1})
    events = target.events({"name": f"{ns}.*", "since": "600"})
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx

from contracts.events import SCOPE_LISTEN, SCOPE_SEND
from transport.conformance._events_tokens import TokenGrant, secret_parts
from transport.conformance._harness import Violation
from transport.conformance._http import Answer, bearer

__all__ = [
    "ERROR_TYPES",
    "EventsTarget",
    "bus_error",
    "canonical",
    "check_receipt",
    "envelope_problem",
    "sent_correlation",
]

EVENTS: Final = "/api/v1/events"
#: A window wide enough to hold every event an example published, for listens that
#: are not about where a stream starts.
RECENT: Final = "600"
#: The status of each Bus error and its ``error.type`` (BUS.md §2.1).
ERROR_TYPES: Final = {400: "bad_request", 401: "invalid_auth", 403: "forbidden", 413: "too_large"}


@dataclass
class EventsTarget:
    """``base_url`` is the origin without ``/api/v1/events`` (BUS_EVENTS_API_BASE_URL)."""

    base_url: str
    grants: tuple[TokenGrant, ...]
    http: httpx.Client
    run: str = field(default_factory=lambda: secrets.token_hex(4))
    _serial: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _hidden: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        for grant in self.grants:
            self.hide(*secret_parts(grant.token))

    def hide(self, *texts: str) -> None:
        """Blank ``texts`` (tokens) out of every answer body from now on."""
        self._hidden.update(text for text in texts if text)

    def _read(self, response: httpx.Response) -> Answer:
        return Answer.of(response, self._hidden)

    # --- tokens -------------------------------------------------------------------------

    @property
    def users(self) -> list[TokenGrant]:
        """The tokens that may publish and listen to ordinary names."""
        probe = f"conformance.{self.run}"
        return [g for g in self.grants if g.may(probe, "publish") and g.may(probe, "listen")]

    def needs_user(self) -> str | None:
        """Why a rule that publishes and listens cannot run (a precondition), or None."""
        if self.users:
            return None
        return f"no token in the file holds {SCOPE_SEND} and {SCOPE_LISTEN}; add one"

    @property
    def user(self) -> TokenGrant:
        """The token the rules publish and listen with."""
        users = self.users
        if not users:
            raise Violation(self.needs_user() or "no usable token")
        return users[0]

    # --- names --------------------------------------------------------------------------

    def namespace(self) -> str:
        """A namespace of names no one else uses: one per example."""
        return f"conformance.{self.run}.n{next(self._serial)}"

    def unique(self, label: str) -> str:
        """A unique segment (``<label>-<run>-<k>``) for names outside ``conformance.``."""
        return f"{label}-{self.run}-{next(self._serial)}"

    # --- requests -----------------------------------------------------------------------

    def _headers(self, token: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
        sent = {} if headers is None else dict(headers)
        if headers is None:
            sent |= bearer(token if token is not None else self.user.token)
        return sent

    def post(
        self,
        path: str,
        body: Any,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """POST ``body`` (bytes as they are, anything else as JSON) to ``/api/v1/events…``.

        ``headers`` replaces the bearer header (to send none, or a bad one)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json"} | self._headers(token, headers)
        return self._read(self.http.post(self.base_url + EVENTS + path, content=raw, headers=sent))

    def publish(self, body: Any, **how: Any) -> Answer:
        return self.post("", body, **how)

    def publish_batch(self, bodies: Any, **how: Any) -> Answer:
        return self.post(":batch", bodies, **how)

    def listen(
        self,
        params: Mapping[str, str],
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """GET the stream with ``params`` (``follow=false`` unless given)."""
        query = {"follow": "false"} | dict(params)
        url = self.base_url + EVENTS + "/stream"
        sent = self._headers(token, headers)
        return self._read(self.http.get(url, params=query, headers=sent))

    def get_open(self, path: str) -> Answer:
        """GET ``path`` (from the origin) without any token."""
        return self._read(self.http.get(self.base_url + path))

    def published_id(self, body: Any, **how: Any) -> str:
        """Publish ``body``; the receipt's id (202 expected)."""
        answer = self.publish(body, **how)
        answer.expect(202)
        event_id = answer.json_object().get("id")
        if not isinstance(event_id, str) or not event_id:
            raise Violation(f"the receipt has no id: {answer.excerpt()}")
        return event_id

    def events(self, params: Mapping[str, str], **how: Any) -> list[dict[str, Any]]:
        """The events a ``follow=false`` stream gives (200 NDJSON expected)."""
        answer = self.listen(params, **how)
        answer.expect(200)
        if answer.content_type != "application/x-ndjson":
            raise Violation(f"the stream is not application/x-ndjson: {answer.excerpt()}")
        return answer.ndjson()


def sent_correlation(body: Mapping[str, Any]) -> str | None:
    """The correlation id an envelope carries, under either spelling."""
    value = body.get("correlation_id", body.get("correlationId"))
    return value if isinstance(value, str) else None


def canonical(value: Any) -> str:
    """JSON text that tells ``true`` from ``1`` and ignores key order: for comparing."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def check_receipt(receipt: Any, sent: Mapping[str, Any]) -> str:
    """``receipt`` is ``{"accepted":true,"id","name","correlation_id","created_at"}``
    for the envelope ``sent``; its id."""
    if not isinstance(receipt, dict):
        raise Violation(f"the receipt is not an object: {receipt!r}")
    missing = {"accepted", "id", "name", "correlation_id", "created_at"} - set(receipt)
    if missing:
        raise Violation(f"the receipt lacks {sorted(missing)}: {receipt!r}")
    if receipt["accepted"] is not True:
        raise Violation(f"accepted is not true: {receipt!r}")
    if not isinstance(receipt["id"], str) or not receipt["id"]:
        raise Violation(f"id is not a non-empty string: {receipt!r}")
    if receipt["name"] != sent["name"]:
        raise Violation(f"name {receipt['name']!r} is not the one sent, {sent['name']!r}")
    if receipt["correlation_id"] != sent_correlation(sent):
        raise Violation(
            f"correlation_id {receipt['correlation_id']!r} is not the one sent,"
            f" {sent_correlation(sent)!r}"
        )
    created = receipt["created_at"]
    try:
        datetime.fromisoformat(created if isinstance(created, str) else "")
    except ValueError:
        raise Violation(f"created_at is not an ISO 8601 time: {created!r}") from None
    return receipt["id"]


def bus_error(answer: Answer, status: int) -> str:
    """The message of an answer that must be ``status`` with its Bus error type."""
    answer.expect(status)
    try:
        body = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise Violation(f'not a Bus error {{"error":{{"type","message"}}}}: {answer.excerpt()}')
    if error.get("type") != ERROR_TYPES[status]:
        raise Violation(
            f"HTTP {status} has error.type {error.get('type')!r}, not {ERROR_TYPES[status]!r}"
        )
    message = error.get("message")
    if not isinstance(message, str) or not message:
        raise Violation(f"error.message is not a non-empty string: {answer.excerpt()}")
    return message


def envelope_problem(answer: Answer) -> str | None:
    """What makes an error answer other than exactly ``{"error":{"type","message"}}``
    (JSON, the type its status has), or None."""
    body, problem = answer.error_json()
    if problem is not None:
        return problem
    if not isinstance(body, dict) or set(body) != {"error"}:
        return 'the error body is not exactly {"error": …}'
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"type", "message"}:
        keys = sorted(error) if isinstance(error, dict) else type(error).__name__
        return f'the error object is not exactly {{"type","message"}}: {keys}'
    if error["type"] != ERROR_TYPES.get(answer.status):
        return f"HTTP {answer.status} has error.type {error['type']!r}"
    if not isinstance(error["message"], str) or not error["message"]:
        return "error.message is not a non-empty string"
    return None
