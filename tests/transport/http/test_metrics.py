"""``GET /metrics``: sessions, leases, events and requests counted per system."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
from prometheus_client.parser import text_string_to_metric_families

from actors.system import System, open_system
from contracts.config import Config, ProviderSettings, SessionSettings
from tests.actors.sessions.sessions import fake_environ
from tests.fakes.fake_gateway import call_asgi

LADDER = SessionSettings(exit_grace=0.3, terminate_grace=0.3)
NAME = "ops.deploy.step"


def _config(tmp_path: Path) -> Config:
    env = {"FAKE_CLI_MODE": "ok", "FAKE_CLI_PID_DIR": str(tmp_path / "pids")}
    (tmp_path / "pids").mkdir(exist_ok=True)
    return Config(providers={"claude": ProviderSettings(env=env)}, sessions=LADDER)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _ensure(client: httpx.AsyncClient, system: System) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/endpoints",
        headers={"authorization": f"Bearer {system.admin_token}"},
        json={"request": {"model_preference": {"provider": "claude", "id": "m"}}},
    )
    assert created.status_code == 201, created.text
    return cast(dict[str, Any], created.json()["endpoint"])


async def _complete(client: httpx.AsyncClient, endpoint: dict[str, Any], text: str) -> int:
    response = await client.post(
        f"{endpoint['base_url']}/chat/completions",
        headers=endpoint["headers"],
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
    )
    return response.status_code


async def test_metrics_count_sessions_by_outcome_leases_and_requests(tmp_path: Path) -> None:
    async with (
        open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system,
        httpx.AsyncClient(base_url=str(system.base_url), timeout=30) as client,
    ):
        endpoint = await _ensure(client, system)
        assert await _complete(client, endpoint, "hi") == 200
        assert await _complete(client, endpoint, "[fake:crash_mid] hi") == 502
        refused = await client.post(
            "/api/v1/endpoints",
            headers={"authorization": f"Bearer {system.admin_token}"},
            json={"request": {"model_preference": {"provider": "nobody", "id": "m"}}},
        )
        assert refused.status_code >= 400
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "x-request-id" in scraped.headers
    samples = _samples(scraped.text)
    assert _value(samples, "asm_sessions_started_total", provider="claude") == 2
    finished = _value(samples, "asm_sessions_ended_total", provider="claude", outcome="finished")
    crashed = _value(samples, "asm_sessions_ended_total", provider="claude", outcome="crashed")
    assert (finished, crashed) == (1, 1)
    assert _value(samples, "asm_sessions_live") == 0
    assert _value(samples, "asm_leases_live") == 1
    assert _value(samples, "asm_lease_refusals_total", code="unsupported_provider") == 1
    assert _value(samples, "asm_http_requests_total", route="leases", status="2xx") == 1
    assert _value(samples, "asm_http_requests_total", route="leases", status="5xx") == 1
    assert endpoint["headers"]["authorization"].split()[-1] not in scraped.text


async def test_events_published_and_delivered_are_counted_by_backend(tmp_path: Path) -> None:
    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        assert system.bus is not None
        token = system.bus.issue_token("ops", "events:send events:listen", ttl_seconds=600)
        auth = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=str(system.base_url), headers=auth) as client:
            for number in range(2):
                published = await client.post(
                    "/api/v1/events", json={"name": NAME, "payload": {"n": number}}
                )
                assert published.status_code == 202, published.text
            listened = await client.get(
                "/api/v1/events/stream", params={"name": NAME, "replay": "true", "follow": "false"}
            )
            assert listened.status_code == 200
            samples = _samples((await client.get("/metrics")).text)
    assert _value(samples, "asm_events_published_total", backend="memory") == 2
    assert _value(samples, "asm_events_delivered_total") == 2
    assert _value(samples, "asm_http_requests_total", route="events", status="2xx") == 3


async def test_metrics_refuse_a_peer_that_is_not_loopback(tmp_path: Path) -> None:
    async with open_system(_config(tmp_path), bind=None, environ=fake_environ(tmp_path)) as system:
        app = cast(Any, system.http_app())
        remote = await call_asgi(app, "GET", "/metrics", client=("10.0.0.1", 4000))
        local = await call_asgi(app, "GET", "/metrics", client=("127.0.0.1", 4000))
    assert remote.status == 403
    assert b'"code":"loopback_only"' in remote.body
    assert b"asm_sessions_started" not in remote.body
    assert local.status == 200
    assert b"asm_sessions_started" in local.body
