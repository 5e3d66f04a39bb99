"""Leases (SPEC §2.4): ensure, refuse, stream, release, TTL, idle, limits and pools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import trio

from actors.leases import LeaseActor
from actors.system import System, open_system
from contracts.config import Config, LeaseSettings, ProviderSettings, SessionSettings
from contracts.endpoint import InferenceRequest
from contracts.endpoint_refusal import EndpointRefused
from contracts.session import Finished, Started
from tests.actors.sessions.sessions import fake_environ, until
from tests.processes import alive
from transport.endpoint import LeaseBusy, LeaseGone

PROMPT = "Hello, lease."


def _request(
    provider: str = "claude", model: str | None = "fake-model", **extra: object
) -> InferenceRequest:
    return msgspec.convert(
        {"model_preference": {"provider": provider, "id": model}, **extra}, InferenceRequest
    )


@asynccontextmanager
async def _system(
    tmp_path: Path, mode: str = "ok", leases: LeaseSettings | None = None
) -> AsyncIterator[System]:
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    env = {"FAKE_CLI_MODE": mode, "FAKE_CLI_PID_DIR": str(pids)}
    config = Config(
        # Spawned sessions of the fake CLIs (codex workers: tests/actors/sessions/test_workers.py).
        providers={
            p: ProviderSettings(env=env, mode="spawn") for p in ("claude", "codex", "gemini", "amp")
        },
        sessions=SessionSettings(exit_grace=0.3, terminate_grace=0.3),
        leases=leases or LeaseSettings(),
    )
    async with open_system(config, bind=None, environ=fake_environ(tmp_path)) as system:
        yield system


def _lease(system: System, ref: str) -> LeaseActor:
    lease = system.leases.lease(ref)
    assert lease is not None
    return lease


async def test_ensure_returns_a_descriptor_with_a_strong_token_and_the_compatibility(
    tmp_path: Path,
) -> None:
    async with _system(tmp_path) as system:
        descriptor, compatibility = await system.ensure_endpoint(_request())
        assert compatibility.compatible and compatibility.reason == "protocol_match"
        assert descriptor.provider_identity == "claude"
        assert descriptor.model_identity == "fake-model"
        assert descriptor.base_url.endswith(f"/leases/{descriptor.lease_ref}/v1")
        assert descriptor.health_ref.endswith(f"/leases/{descriptor.lease_ref}/health")
        token = descriptor.headers["authorization"].removeprefix("Bearer ")
        assert len(token) >= 43  # 32 random bytes, urlsafe base64
        assert _lease(system, descriptor.lease_ref).authorizes(token)
        assert not _lease(system, descriptor.lease_ref).authorizes(token[:-1] + "x")
        assert token not in msgspec.json.encode(descriptor.metadata).decode()
        listed = system.leases.endpoints()
        assert [d.lease_ref for d in listed] == [descriptor.lease_ref]
        assert token not in msgspec.json.encode(listed).decode()


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_request(provider="llama"), "unsupported_provider"),
        (_request(model=None), "missing_model_identity"),
        (_request(model="  "), "missing_model_identity"),
        (_request(tools=[{"type": "function"}]), "incompatible"),
        (_request(tool_choice="auto"), "incompatible"),
    ],
)
async def test_ensure_refuses_with_its_reason(
    request_: InferenceRequest, code: str, tmp_path: Path
) -> None:
    async with _system(tmp_path) as system:
        with pytest.raises(EndpointRefused) as caught:
            await system.ensure_endpoint(request_)
        assert caught.value.refusal.code == code
        if code == "incompatible":
            result = caught.value.refusal.compatibility
            assert result is not None
            assert result.missing_requirements == ["tool_calling"]
            assert result.metadata.provider == "claude"
        assert system.leases.endpoints() == []


@pytest.mark.parametrize("configured", ["", "/nonexistent/bin/codex"])
async def test_ensure_refuses_a_cli_that_is_not_installed_naming_where_to_set_it(
    configured: str, tmp_path: Path
) -> None:
    """Refused at ensure, not by every completion as a 503 the client would retry."""
    pids = tmp_path / "pids"
    pids.mkdir()
    environ = {**fake_environ(tmp_path), "PATH": str(tmp_path)}
    environ.pop("ASM_CODEX_BIN")
    config = Config(providers={"codex": ProviderSettings(executable=configured or None)})
    async with open_system(config, bind=None, environ=environ) as system:
        with pytest.raises(EndpointRefused) as caught:
            await system.ensure_endpoint(_request("codex"))
        refusal = caught.value.refusal
        assert refusal.code == "not_installed"
        assert "ASM_CODEX_BIN" in refusal.message
        assert "[providers.codex].executable" in refusal.message
        assert repr(configured or "codex") in refusal.message
        assert system.leases.endpoints() == []
        descriptor, _ = await system.ensure_endpoint(_request("claude"))  # the others serve
        assert descriptor.lease_ref


async def test_authority_refs_are_filtered_into_the_metadata(tmp_path: Path) -> None:
    request = _request(authority_refs={"authority_ref": "auth-1", "unknown_ref": "x"})
    context = {"caller_trace_ref": "trace-9", "target_ref": "  ", "token": "secret"}
    async with _system(tmp_path) as system:
        descriptor, _ = await system.ensure_endpoint(request, context=context)
    assert descriptor.metadata.authority_refs == {
        "authority_ref": "auth-1",
        "caller_trace_ref": "trace-9",
    }


async def test_a_lease_streams_a_completion(tmp_path: Path) -> None:
    async with _system(tmp_path) as system:
        descriptor, _ = await system.ensure_endpoint(_request("gemini"))
        async with _lease(system, descriptor.lease_ref).stream(PROMPT) as events:
            seen = [event async for event in events]
    assert isinstance(seen[0], Started)
    assert isinstance(seen[-1], Finished)


async def test_release_reaps_in_flight_sessions_and_is_idempotent(tmp_path: Path) -> None:
    async with _system(tmp_path, mode="silent_start") as system:
        descriptor, _ = await system.ensure_endpoint(_request())
        lease = _lease(system, descriptor.lease_ref)
        ended: list[object] = []

        async def consume() -> None:
            async with lease.stream(PROMPT) as events:
                ended.extend([event async for event in events])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await until((tmp_path / "pids" / "leader").exists)
            leader = int((tmp_path / "pids" / "leader").read_text())
            await system.release_endpoint(descriptor)
            assert not alive(leader)
        assert system.leases.lease(descriptor.lease_ref) is None
        await system.release_endpoint(descriptor.lease_ref)  # again: nothing happens
        await system.release_endpoint("lease-unknown")
        with pytest.raises(LeaseGone):
            async with lease.stream(PROMPT):
                pass


async def test_a_lease_ends_after_its_ttl(tmp_path: Path) -> None:
    async with _system(tmp_path) as system:
        descriptor, _ = await system.ensure_endpoint(_request(), context={"lease_ttl_seconds": 0.3})
        assert system.leases.lease(descriptor.lease_ref) is not None
        await until(lambda: system.leases.lease(descriptor.lease_ref) is None)


async def test_a_lease_ends_when_idle_but_not_while_it_works(tmp_path: Path) -> None:
    leases = LeaseSettings(idle_seconds=0.4)
    async with _system(tmp_path, mode="slow", leases=leases) as system:
        descriptor, _ = await system.ensure_endpoint(_request())
        lease = _lease(system, descriptor.lease_ref)
        async with lease.stream(PROMPT) as events:  # ~1.4 s of slow deltas
            seen = [event async for event in events]
        assert isinstance(seen[-1], Finished)
        assert lease.live  # the run lasted longer than the idle timeout
        await until(lambda: not lease.live)


async def test_more_concurrent_sessions_than_allowed_is_busy(tmp_path: Path) -> None:
    async with _system(
        tmp_path, mode="silent_start", leases=LeaseSettings(max_sessions=1)
    ) as system:
        descriptor, _ = await system.ensure_endpoint(_request())
        lease = _lease(system, descriptor.lease_ref)
        async with lease.stream(PROMPT):
            with pytest.raises(LeaseBusy):
                async with lease.stream(PROMPT):
                    pass


async def test_a_lease_keeps_its_pool_parked_and_release_reaps_it(tmp_path: Path) -> None:
    async with _system(tmp_path, leases=LeaseSettings(pool_size=1)) as system:
        descriptor, _ = await system.ensure_endpoint(_request("codex"))
        lease = _lease(system, descriptor.lease_ref)
        assert lease._pool is not None
        pool = lease._pool
        await until(lambda: pool.parked == 1)
        parked = pool._parked[0].pid
        assert parked is not None and alive(parked)
        async with lease.stream(PROMPT) as events:
            seen = [event async for event in events]
        assert isinstance(seen[-1], Finished)
        await until(lambda: pool.parked == 1)
        replacement = pool._parked[0].pid
        assert replacement != parked
        await system.release_endpoint(descriptor)
        assert replacement is not None and not alive(replacement)
