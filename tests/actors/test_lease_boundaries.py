"""Leases at their trust boundaries, over HTTP against the real system (issue 15).

What ensure refuses (a model id no command line can carry, a lease timeout that is not a
positive number), what a completion cut short by a release answers (404, SPEC §2.4), and
whose request id a session's log lines carry (the completion's, not the admin call's
that created the lease).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serving import JsonFormatter
from actors.system import System, open_system
from contracts.config import Config, LeaseSettings, ProviderSettings, SessionSettings
from tests.actors.sessions.sessions import fake_environ, until


@asynccontextmanager
async def _served(
    tmp_path: Path, *, pool_size: int = 0
) -> AsyncIterator[tuple[System, httpx.AsyncClient]]:
    config = Config(
        providers={"claude": ProviderSettings(env={"FAKE_CLI_MODE": "ok"})},
        sessions=SessionSettings(exit_grace=0.3, terminate_grace=0.3),
        leases=LeaseSettings(pool_size=pool_size),
    )
    async with (
        open_system(config, environ=fake_environ(tmp_path)) as system,
        httpx.AsyncClient(base_url=str(system.base_url), timeout=30) as http,
    ):
        yield system, http


async def _ensure(
    system: System,
    http: httpx.AsyncClient,
    model: str = "m",
    context: dict[str, object] | None = None,
) -> httpx.Response:
    return await http.post(
        "/api/v1/endpoints",
        headers={"authorization": f"Bearer {system.admin_token}"},
        json={
            "request": {"model_preference": {"provider": "claude", "id": model}},
            "context": context or {},
        },
    )


async def _complete(
    http: httpx.AsyncClient, endpoint: dict[str, Any], prompt: str, *, stream: bool = False
) -> httpx.Response:
    return await http.post(
        f"{endpoint['base_url']}/chat/completions",
        headers=endpoint["headers"],
        json={"messages": [{"role": "user", "content": prompt}], "stream": stream},
    )


@pytest.mark.parametrize("model", ["fake\x00model", "-p", "m" * 201, "two words", "tab\tbed"])
async def test_ensure_refuses_a_model_id_no_command_line_can_carry(
    model: str, tmp_path: Path
) -> None:
    async with _served(tmp_path) as (system, http):
        answer = await _ensure(system, http, model)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["param"]) == ("invalid_model_identity", "model_preference.id")
        assert error["message"].startswith("model_preference.id ")
        assert system.leases.endpoints() == []
        assert (await _ensure(system, http, "claude-sonnet-4-5")).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lease_ttl_seconds", -1),
        ("lease_ttl_seconds", "10"),
        ("lease_ttl_seconds", 0),
        ("lease_idle_seconds", -1),
        ("lease_idle_seconds", "10"),
        ("lease_idle_seconds", 0),
        ("lease_idle_seconds", True),
    ],
)
async def test_ensure_refuses_a_lease_timeout_that_is_no_positive_number(
    field: str, value: object, tmp_path: Path
) -> None:
    async with _served(tmp_path) as (system, http):
        answer = await _ensure(system, http, context={field: value})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["param"]) == ("invalid_lease_timeout", f"context.{field}")
        assert f"context.{field}" in error["message"]
        assert system.leases.endpoints() == []
        assert (await _ensure(system, http, context={field: 30})).status_code == 201


@pytest.mark.parametrize("stream", [False, True])
async def test_releasing_a_lease_during_a_completion_answers_404(
    stream: bool, tmp_path: Path
) -> None:
    """SPEC §2.4: on release the lease cancels its in-flight sessions and its routes
    answer 404 from then on; a completion it cut short before its first byte as well."""
    async with _served(tmp_path) as (system, http):
        created = await _ensure(system, http)
        endpoint = created.json()["endpoint"]
        lease = system.leases.lease(endpoint["lease_ref"])
        assert lease is not None
        answers: list[httpx.Response] = []

        async def complete() -> None:
            answers.append(await _complete(http, endpoint, "[fake:silent_start]", stream=stream))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(complete)
            await until(lambda: any(s.pid for s in lease._inflight))
            await system.release_endpoint(endpoint["lease_ref"])
    [answer] = answers
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "lease_not_found"


async def test_session_log_lines_carry_the_completions_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lease (and its warm pool) is started by the admin call; the session that
    serves a completion logs under the completion's request id all the same."""
    caplog.handler.setFormatter(JsonFormatter())
    with caplog.at_level(logging.DEBUG, logger="asm"):
        async with _served(tmp_path, pool_size=1) as (system, http):
            created = await _ensure(system, http)
            endpoint = created.json()["endpoint"]
            lease = system.leases.lease(endpoint["lease_ref"])
            assert lease is not None and lease._pool is not None
            pool = lease._pool
            await until(lambda: pool.parked == 1)
            answer = await _complete(http, endpoint, "[fake:crash_mid] Hi")
            assert answer.status_code == 502, answer.text
    entries = [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]
    sessions = [entry for entry in entries if entry["logger"] == "asm.session"]
    [crashed] = [entry for entry in sessions if "failed: crashed" in entry["message"]]
    assert crashed.get("request_id") == answer.headers["x-request-id"], crashed
    assert crashed.get("lease_ref") == endpoint["lease_ref"], crashed
    admin_id = created.headers["x-request-id"]
    assert [entry for entry in sessions if entry.get("request_id") == admin_id] == []
    # The pool's spare, spawned before any completion, names the lease and no request.
    spare = [entry for entry in sessions if "spawned" in entry["message"]]
    assert spare and all(entry.get("lease_ref") == endpoint["lease_ref"] for entry in spare)
