"""Schemathesis fuzzing of the non-streaming routes, against the real apps over hypercorn.

Every operation of the OpenAPI document (but the NDJSON stream and ``/metrics``, which
the apps themselves do not serve) gets schema-valid and schema-invalid requests, with
valid bearer tokens so that they reach the handlers; no answer may be a 5xx, and every
4xx body must be its API's error envelope.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response

from tests.fakes.fake_gateway import ADMIN_TOKEN, MODEL, FakeGateway, serve_on_loopback
from tests.fakes.recording_event_log import RecordingEventLog
from tests.transport.events.served_events import SECRET as EVENTS_SECRET
from tests.transport.events.served_events import serve_asgi, token
from transport.endpoint import create_endpoint_app
from transport.event_log import open_memory_log
from transport.events import TokenVerifier, create_events_app
from transport.openapi import openapi_document

MAX_EXAMPLES = 30
NOT_FUZZED = {"GET /api/v1/events/stream", "GET /metrics"}
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}
BUS_ERROR_KEYS = {"type", "message"}


def envelope_problem(label: str, response: Response) -> str | None:
    """What is wrong with ``response`` for ``label``, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:300]}"
    if status < 400:
        return None
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        return f"{status} body is not JSON: {response.text[:300]}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"{status} body is not an error envelope: {body}"
    if " /api/v1/events" in label:
        expected, extra = BUS_ERROR_KEYS, set()
    else:
        expected, extra = OPENAI_ERROR_KEYS, {"compatibility"}
    if set(error) != expected or not set(body) <= {"error"} | extra:
        return f"{status} envelope has the wrong keys: {body}"
    return None


def fuzz_one(strategy: SearchStrategy[Case[Any]], label: str, base_url: str) -> list[str]:
    """Call ``MAX_EXAMPLES`` cases of ``strategy`` (derandomized); the problems found."""
    problems: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def call(case: Case[Any]) -> None:
        response = case.call(base_url=base_url, timeout=10)
        problem = envelope_problem(label, response)
        if problem is not None:
            problems.append(f"{label} {case.path_parameters} {case.body!r}: {problem}")

    call()
    return problems


def fuzz(origins: dict[str, str], auth: dict[str, str], lease_ref: str) -> list[str]:
    """Run every fuzzed operation in both generation modes; the problems found."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    problems: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in NOT_FUZZED:
            continue
        bearer = next((value for prefix, value in auth.items() if prefix in label), None)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        # The live lease, so that the lease routes reach their handlers (the DELETE
        # route gets generated references: a released lease would stay released).
        fixed = {"lease_ref": lease_ref} if operation.path.startswith("/leases/") else None
        base_url = origins["events" if " /api/v1/events" in label else "endpoint"]
        for mode in GenerationMode:
            strategy = operation.as_strategy(mode, path_parameters=fixed, headers=headers)
            try:
                problems += fuzz_one(strategy, label, base_url)
            except Unsatisfiable:
                # Nothing of it may be made invalid (no body, and what is in the
                # path and headers was fixed above): only the positive cases.
                assert mode is GenerationMode.NEGATIVE, label
    return problems


async def test_fuzzed_requests_answer_no_5xx_and_errors_in_their_envelope(
    nursery: trio.Nursery,
) -> None:
    gateway = FakeGateway(nursery)
    lease = gateway.add_lease(model=MODEL)
    endpoint_origin = await serve_on_loopback(
        nursery, create_endpoint_app(gateway, admin_token=ADMIN_TOKEN, keepalive_seconds=0.2)
    )
    async with open_memory_log() as memory_log:
        log = RecordingEventLog(memory_log)
        events_app = create_events_app(log, TokenVerifier(EVENTS_SECRET))
        events_origin, events_scope = await serve_asgi(nursery, events_app)
        origins = {"endpoint": endpoint_origin, "events": events_origin}
        auth = {"/leases/": lease.token, "/api/v1/events": token(), " /api/v1/": ADMIN_TOKEN}
        # schemathesis calls with (blocking) requests: off the loop that serves the apps.
        problems = await trio.to_thread.run_sync(fuzz, origins, auth, lease.lease_ref)
        events_scope.cancel()
    assert problems == []
    # The lease routes were reached with the lease's token: the handlers ran sessions.
    assert lease.prompts
    assert gateway.ensured
    # And the Events API's handlers with the JWT: events were stored, acks looked up.
    assert {kind for kind, _ in log.steps} == {"publish", "ack"}
