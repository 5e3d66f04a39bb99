"""What the conformance checks see of an HTTP answer, and how they read it.

The harness speaks plain synchronous httpx (no retries, no proxies from the
environment) so that it can run from a command, from a pytest plugin or from a thread of
a Trio program alike. An :class:`Answer` is the whole response, read to its end::

    answer = Answer.of(http.get(url, headers=bearer(token)))
    body = answer.json_object()          # raises Violation unless a JSON object
    chunks = answer.sse_data()           # the data: payloads of an event stream
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from transport.conformance._harness import REDACTED, Violation

__all__ = ["EXCERPT_CHARS", "Answer", "bearer", "open_client"]

EXCERPT_CHARS = 200


def open_client(timeout: float) -> httpx.Client:
    """A client for the harness: the environment's proxies ignored, no redirects."""
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Answer:
    """One HTTP response, read whole."""

    status: int
    headers: httpx.Headers
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response, hidden: Iterable[str] = ()) -> Answer:
        """The response read whole, each of ``hidden`` (tokens) blanked out of its body.

        A server that echoes a token would otherwise show it in a counterexample, and an
        excerpt cut short in the middle of it would escape the table's redaction.
        """
        body = response.read()
        for text in sorted(set(hidden), key=len, reverse=True):
            if text:
                body = body.replace(text.encode(), REDACTED.encode())
        return cls(response.status_code, response.headers, body)

    @property
    def content_type(self) -> str:
        value: str = self.headers.get("content-type", "")
        return value.split(";", maxsplit=1)[0].strip().lower()

    def excerpt(self) -> str:
        text = self.body[:EXCERPT_CHARS].decode("utf-8", "replace")
        more = "…" if len(self.body) > EXCERPT_CHARS else ""
        return f"HTTP {self.status} {self.content_type or '(no content-type)'}: {text}{more}"

    def expect(self, *statuses: int) -> None:
        if self.status not in statuses:
            wanted = " or ".join(str(status) for status in statuses)
            raise Violation(f"expected HTTP {wanted}, got {self.excerpt()}")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise Violation(f"the body is not JSON: {self.excerpt()}") from None

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise Violation(f"the body is not a JSON object: {self.excerpt()}")
        return value

    def error_json(self) -> tuple[Any, str | None]:
        """An error answer's decoded body, or why it is not a JSON body (its problem)."""
        if self.content_type != "application/json":
            return None, f"the error's content-type is {self.content_type!r}, not application/json"
        try:
            return json.loads(self.body), None
        except (ValueError, UnicodeDecodeError):
            return None, "the error body is not JSON"

    def sse_data(self) -> list[str]:
        """The ``data:`` payloads of a ``text/event-stream`` body, one per event."""
        events: list[str] = []
        lines: list[str] = []
        # Only CR, LF and CRLF end a line here (str.splitlines would also split a
        # payload at U+0085 or U+2028, which JSON may carry raw).
        for raw_line in self.body.splitlines():
            raw = raw_line.decode("utf-8", "replace")
            if raw == "":
                if lines:
                    events.append("\n".join(lines))
                    lines = []
            elif raw.startswith("data:"):
                lines.append(raw[5:].removeprefix(" "))
        if lines:
            events.append("\n".join(lines))
        return events

    def ndjson(self) -> list[dict[str, Any]]:
        """The JSON objects of an ``application/x-ndjson`` body (blank lines skipped)."""
        found: list[dict[str, Any]] = []
        for number, line in enumerate(self.body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise Violation(
                    f"line {number} of the stream is not JSON: {line[:120]!r}"
                ) from None
            if not isinstance(value, dict):
                raise Violation(f"line {number} of the stream is not an object: {line[:120]!r}")
            found.append(value)
        return found
