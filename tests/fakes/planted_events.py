"""The Bus Events API app with one planted contract bug each, for ``asm conformance events``.

``events_bugs(secret)`` maps a bug's name to the rules the harness must report broken
and the rewrites that plant it over the real events app (``create_events_app`` over a
memory log; ``secret`` is the app's token secret, which one bug needs)::

    bug = events_bugs(SECRET)["after_ignored"]
    app = PlantedBug(create_events_app(log, TokenVerifier(SECRET)), bug.name, **bug.rewrites)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt

from tests.fakes.planted_bugs import Request, Response, decoded

STREAM = "/api/v1/events/stream"
PUBLISH = "/api/v1/events"
BATCH = "/api/v1/events:batch"


@dataclass(frozen=True)
class EventsBug:
    """A bug ``name``, the rules it ``breaks`` (exactly those fail), its rewrites."""

    name: str
    breaks: frozenset[str]
    rewrites: dict[str, Any] = field(default_factory=dict)


def _query(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.query.decode(), keep_blank_values=True)


def _lines(response: Response) -> list[Any]:
    """The stream's lines, each a parsed event (or the bytes of a blank line)."""
    return [decoded(line) if line.strip() else line for line in response.body.split(b"\n")]


def _set_lines(response: Response, lines: list[Any]) -> None:
    encoded = [line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines]
    response.body = b"\n".join(encoded)


def _is_stream(response: Response) -> bool:
    return response.request.path == STREAM and response.status == 200


# --- the bugs -----------------------------------------------------------------------


def _fake_receipt(envelope: Any) -> dict[str, Any]:
    name = envelope.get("name") if isinstance(envelope, dict) else None
    return {
        "accepted": True,
        "id": "999999",
        "name": name,
        "correlation_id": None,
        "created_at": "2024-01-01T00:00:00.000Z",
    }


def _forbidden_allowed(response: Response) -> None:
    """A 403 becomes a 202 with a made-up receipt, or an empty 200 stream."""
    if response.status != 403:
        return
    body = decoded(response.request.body)
    if response.request.path == STREAM:
        response.status, response.body = 200, b""
        response.set_header(b"content-type", b"application/x-ndjson")
        return
    response.status = 202
    receipt = (
        [_fake_receipt(each) for each in body] if isinstance(body, list) else _fake_receipt(body)
    )
    response.body = json.dumps(receipt).encode()


def _unicast_by_default(request: Request) -> None:
    query = _query(request)
    if request.path == STREAM and not any(key == "delivery" for key, _ in query):
        request.query = urlencode([*query, ("delivery", "unicast")]).encode()


def _after_dropped(request: Request) -> None:
    if request.path != STREAM:
        return
    query = _query(request)
    if any(key == "after" for key, _ in query):
        request.query = urlencode([(k, v) for k, v in query if k != "after"]).encode()
    request.headers = [(k, v) for k, v in request.headers if k.lower() != b"last-event-id"]


def _camel_dropped(response: Response) -> None:
    if _is_stream(response):
        lines = _lines(response)
        for line in lines:
            if isinstance(line, dict):
                line.pop("correlationId", None)
        _set_lines(response, lines)


def _created_at_dropped(response: Response) -> None:
    if response.request.path not in (PUBLISH, BATCH) or response.status != 202:
        return
    body = decoded(response.body)
    for receipt in body if isinstance(body, list) else [body]:
        if isinstance(receipt, dict):
            receipt.pop("created_at", None)
    response.body = json.dumps(body).encode()


def _plain_text_errors(response: Response) -> None:
    """Errors as a text page that, like some error pages, echoes the request's header."""
    if response.status < 400:
        return
    authorization = (response.request.header(b"authorization") or b"").decode()
    response.body = f"Error {response.status} (Authorization: {authorization})\n".encode()
    response.set_header(b"content-type", b"text/plain")


class _CallerIdentity:
    """Stores the identity_id an envelope claims instead of the token's sub."""

    def __init__(self) -> None:
        self.claimed: dict[str, Any] = {}

    def request(self, request: Request) -> None:
        if request.path not in (PUBLISH, BATCH):
            return
        body = decoded(request.body)
        for envelope in body if isinstance(body, list) else [body]:
            if isinstance(envelope, dict) and "identity_id" in envelope:
                self.claimed[str(envelope.get("name"))] = envelope["identity_id"]

    def response(self, response: Response) -> None:
        if not _is_stream(response):
            return
        lines = _lines(response)
        for line in lines:
            if isinstance(line, dict) and line.get("name") in self.claimed:
                line["identity_id"] = self.claimed[line["name"]]
        _set_lines(response, lines)


def _alg_none_accepted(secret: bytes) -> Any:
    """An unsigned token (alg none) is taken at its word: re-signed before the app sees it."""

    def rewrite(request: Request) -> None:
        authorization = (request.header(b"authorization") or b"").decode()
        scheme, _, token = authorization.partition(" ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return
        if scheme.lower() != "bearer" or str(header.get("alg")).lower() != "none":
            return
        signed = jwt.encode(claims, secret, algorithm="HS256")
        request.headers = [
            (k, f"Bearer {signed}".encode() if k.lower() == b"authorization" else v)
            for k, v in request.headers
        ]

    return rewrite


def events_bugs(secret: bytes) -> dict[str, EventsBug]:
    """Every planted Events API bug, by name."""
    identity = _CallerIdentity()
    bugs = [
        EventsBug(
            "missing_403",
            frozenset({"scope.missing_scope_is_403", "errors.bus_envelope"}),
            {"response": _forbidden_allowed},
        ),
        EventsBug(
            "delivery_defaults_to_unicast",
            frozenset({"listen.delivery_defaults_to_broadcast"}),
            {"request": _unicast_by_default},
        ),
        EventsBug(
            "after_ignored",
            frozenset({"listen.after_resumes_after_the_cursor"}),
            {"request": _after_dropped},
        ),
        EventsBug(
            "one_correlation_spelling",
            frozenset({"listen.replay_returns_what_was_published"}),
            {"response": _camel_dropped},
        ),
        EventsBug(
            "receipt_without_created_at",
            frozenset({"publish.receipt", "publish.batch_is_all_or_nothing"}),
            {"response": _created_at_dropped},
        ),
        EventsBug(
            "caller_identity_trusted",
            frozenset({"publish.identity_is_stamped_from_sub"}),
            {"request": identity.request, "response": identity.response},
        ),
        EventsBug(
            "alg_none_accepted",
            frozenset({"auth.tampered_token_is_401"}),
            {"request": _alg_none_accepted(secret)},
        ),
        EventsBug(
            "errors_as_plain_text",
            frozenset(
                {
                    "publish.invalid_envelope_is_400",
                    "publish.over_1_mib_is_413",
                    "publish.batch_is_all_or_nothing",
                    "listen.bad_query_is_400",
                    "auth.bearer_required",
                    "auth.tampered_token_is_401",
                    "scope.missing_scope_is_403",
                    "errors.bus_envelope",
                }
            ),
            {"response": _plain_text_errors},
        ),
    ]
    return {bug.name: bug for bug in bugs}
