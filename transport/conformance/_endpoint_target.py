"""The endpoint under test: its base URL, its bearer token, and how to talk to it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from transport.conformance._harness import Violation
from transport.conformance._http import Answer, bearer

__all__ = ["OPENAI_ERROR_KEYS", "EndpointTarget", "check_usage", "envelope_problem", "openai_error"]

OPENAI_ERROR_KEYS = frozenset({"message", "type", "param", "code"})


@dataclass
class EndpointTarget:
    """``base_url`` is the OpenAI base URL (``…/leases/<ref>/v1``), ``token`` its bearer."""

    base_url: str
    token: str
    http: httpx.Client
    _model: str | None = field(default=None, repr=False)

    @property
    def lease_root(self) -> str | None:
        """The lease's own root (where ``/health`` lives), when the URL ends in ``/v1``."""
        return self.base_url.removesuffix("/v1") if self.base_url.endswith("/v1") else None

    def pinned_model(self) -> str:
        """The one model ``GET /models`` lists (every request rule is relative to it)."""
        if self._model is None:
            answer = self.get("/models")
            answer.expect(200)
            data = answer.json_object().get("data")
            if not isinstance(data, list) or not data or not isinstance(data[0], dict):
                raise Violation(f"GET /models names no model: {answer.excerpt()}")
            model = data[0].get("id")
            if not isinstance(model, str) or not model:
                raise Violation(f"GET /models gives no model id: {answer.excerpt()}")
            self._model = model
        return self._model

    def get(self, path: str, *, token: str | None = None, auth: bool = True) -> Answer:
        headers = bearer(token or self.token) if auth else {}
        return self.read(self.http.get(self.base_url + path, headers=headers))

    def post_chat(
        self, body: Any, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """POST ``body`` (bytes as they are, anything else JSON-encoded) to the completions."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json"}
        if headers is None:
            sent |= bearer(token or self.token)
        else:
            sent |= headers
        return self.read(
            self.http.post(self.base_url + "/chat/completions", content=raw, headers=sent)
        )

    def read(self, response: httpx.Response) -> Answer:
        """The answer, with the token blanked out of its body (see ``Answer.of``)."""
        return Answer.of(response, (self.token,))


def openai_error(answer: Answer, status: int) -> dict[str, Any]:
    """The ``error`` object of an answer that must be ``status`` in the OpenAI envelope."""
    answer.expect(status)
    body = answer.json_object()
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        raise Violation(f"not an OpenAI error envelope: {answer.excerpt()}")
    return error


def envelope_problem(answer: Answer) -> str | None:
    """What is wrong with an error answer's envelope (SPEC §3.1), or None."""
    body, problem = answer.error_json()
    if problem is not None:
        return problem
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return 'the error body has no "error" object'
    missing = OPENAI_ERROR_KEYS - set(error)
    if missing:
        return f"the error object lacks {sorted(missing)}"
    if not isinstance(error["message"], str) or not error["message"]:
        return "error.message is not a non-empty string"
    if not isinstance(error["type"], str) or not error["type"]:
        return "error.type is not a non-empty string"
    for key in ("param", "code"):
        if error[key] is not None and not isinstance(error[key], str):
            return f"error.{key} is neither a string nor null"
    return None


def check_usage(usage: Any) -> None:
    """``usage`` has the three counts, non-negative integers, total = prompt + completion."""
    if not isinstance(usage, dict):
        raise Violation(f"usage is not an object: {usage!r}")
    counts: list[int] = []
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        count = usage.get(key)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise Violation(f"usage.{key} is not a non-negative integer: {usage!r}")
        counts.append(count)
    if counts[0] + counts[1] != counts[2]:
        raise Violation(f"total_tokens is not prompt + completion: {usage!r}")
