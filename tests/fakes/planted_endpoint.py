"""The endpoint app with one planted contract bug each, for ``asm conformance endpoint``.

``ENDPOINT_BUGS`` maps a bug's name to the rule the harness must report broken and the
rewrites that plant it over the real endpoint app (over a FakeGateway lease)::

    bug = ENDPOINT_BUGS["no_role_chunk"]
    app = PlantedBug(create_endpoint_app(gateway, admin_token=…), bug.name, **bug.rewrites)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from contracts.session import Finished, Started, TextDelta, Usage
from tests.fakes.fake_gateway import Step
from tests.fakes.planted_bugs import Request, Response, decoded

LEASE_SCRIPT: tuple[Step, ...] = (
    Started(provider="claude"),
    TextDelta(text="Hello"),
    TextDelta(text=" there"),
    Usage(input_tokens=12, output_tokens=2),
    Finished(finish_reason="stop", text="Hello there"),
)
"""What each completion of the lease under test says: two deltas, usage, stop."""


@dataclass(frozen=True)
class EndpointBug:
    name: str
    breaks: str
    rewrites: dict[str, Any] = field(default_factory=dict)
    also_breaks: frozenset[str] = frozenset()
    """Rules that fail too, as a consequence (an error no longer given breaks its envelope)."""


def _json_body(request: Request) -> dict[str, Any] | None:
    body = decoded(request.body)
    return body if isinstance(body, dict) else None


def _set_body(request: Request, body: dict[str, Any]) -> None:
    request.body = json.dumps(body).encode()


def _stream_by_default(request: Request) -> None:
    body = _json_body(request)
    if body is not None and "stream" not in body and request.path.endswith("/chat/completions"):
        _set_body(request, body | {"stream": True})


def _tools_dropped(request: Request) -> None:
    body = _json_body(request)
    if body is not None:
        body = {k: v for k, v in body.items() if k not in ("tools", "functions", "tool_choice")}
        _set_body(request, body)


def _any_token(request: Request, token: str) -> None:
    if request.header(b"authorization") is not None:
        request.headers = [
            (key, f"Bearer {token}".encode() if key.lower() == b"authorization" else value)
            for key, value in request.headers
        ]


def _usage_always(request: Request) -> None:
    body = _json_body(request)
    if body is not None and body.get("stream") is True:
        _set_body(request, body | {"stream_options": {"include_usage": True}})


def _sse_events(response: Response) -> list[bytes]:
    return [event for event in response.body.split(b"\n\n") if event]


def _drop_role_chunk(response: Response) -> None:
    events = _sse_events(response)
    if response.status == 200 and events and events[0].startswith(b"data: {"):
        response.body = b"\n\n".join(events[1:]) + b"\n\n"


def _drop_done(response: Response) -> None:
    events = [event for event in _sse_events(response) if event != b"data: [DONE]"]
    if response.status == 200 and response.body.startswith(b"data:"):
        response.body = b"\n\n".join(events) + b"\n\n"


def _drop_retry_header(response: Response) -> None:
    response.set_header(b"x-should-retry", None)


def _plain_text_errors(response: Response) -> None:
    if response.status >= 400:
        message = json.loads(response.body)["error"]["message"]
        response.body = message.encode()
        response.set_header(b"content-type", b"text/plain; charset=utf-8")


def _model_of_the_vendor(response: Response) -> None:
    body = _json_body(response.request)
    if response.status == 200 and body is not None and "model" not in body:
        if not response.body.startswith(b"{"):
            return  # a stream
        completion = json.loads(response.body)
        if isinstance(completion, dict) and completion.get("object") == "chat.completion":
            response.body = json.dumps(completion | {"model": "default"}).encode()


_ERROR_RULES = ("errors.openai_envelope", "errors.x_should_retry_false")
_REFUSAL_RULES = frozenset(
    {
        "auth.bearer_required",
        "auth.wrong_token_is_401",
        "models.unknown_model_is_404",
        "lease.health_names_the_lease",
        "request.body_must_be_a_json_object",
        "request.body_at_most_1_mib",
        "request.model_must_be_pinned",
        "request.tools_are_refused",
        "request.stream_options_need_stream",
        "request.n_at_most_1",
        "request.messages_are_validated",
        "request.media_parts_are_refused",
        "request.prompt_at_most_256_kib",
        "request.logprobs_are_refused",
        "request.parameters_are_validated",
    }
)


def endpoint_bugs(lease_token: str) -> dict[str, EndpointBug]:
    """Every planted endpoint bug; ``lease_token`` is the one real token of the lease."""
    bugs = [
        EndpointBug(
            "stream_on_by_default",
            "request.stream_defaults_to_false",
            {"request": _stream_by_default},
            frozenset(
                {"request.stream_options_need_stream", "response.completion_shape", *_ERROR_RULES}
            ),
        ),
        EndpointBug(
            "no_role_chunk", "stream.first_chunk_is_the_role", {"response": _drop_role_chunk}
        ),
        EndpointBug("no_done", "stream.finish_chunk_then_done", {"response": _drop_done}),
        EndpointBug(
            "tools_silently_dropped",
            "request.tools_are_refused",
            {"request": _tools_dropped},
            # The error rules provoke errors with any invalid request, tools among them.
            frozenset(_ERROR_RULES),
        ),
        EndpointBug(
            "any_token_accepted",
            "auth.wrong_token_is_401",
            {"request": lambda request: _any_token(request, lease_token)},
            frozenset({"auth.bearer_required", *_ERROR_RULES}),
        ),
        EndpointBug(
            "usage_always_streamed", "stream.usage_only_when_asked", {"request": _usage_always}
        ),
        EndpointBug(
            "retry_header_missing", "errors.x_should_retry_false", {"response": _drop_retry_header}
        ),
        EndpointBug(
            "plain_text_errors",
            "errors.openai_envelope",
            {"response": _plain_text_errors},
            _REFUSAL_RULES,
        ),
        EndpointBug(
            "wrong_default_model", "response.completion_shape", {"response": _model_of_the_vendor}
        ),
    ]
    return {bug.name: bug for bug in bugs}
