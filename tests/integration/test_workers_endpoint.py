"""A lease on codex workers, through the official openai client on a real socket.

codex runs in worker mode over the fake ``codex app-server``
(``tests/fakes/bin/codex-app-server-fake``): the endpoint answers as it does for spawned
sessions, a worker crash answers 502 (whole) or an in-band error (streamed) for exactly
the requests in flight, and the next request is served by a restarted worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import openai
import trio
from openai.types.chat import ChatCompletionMessageParam

from actors.system import System, open_system
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.endpoint import InferenceRequest
from tests.actors.sessions.sessions import FAKE_BIN, fake_environ, until
from tests.processes import alive

ANSWER = "Bonne nuit"
MODEL = "gpt-5"


@asynccontextmanager
async def _lease(tmp_path: Path, **env: str) -> AsyncIterator[tuple[System, openai.AsyncOpenAI]]:
    settings = ProviderSettings(
        mode="worker", workers=2, env={"FAKE_APP_SERVER_ANSWER": ANSWER, **env}
    )
    config = Config(
        providers={"codex": settings},
        sessions=SessionSettings(exit_grace=0.3, terminate_grace=0.3),
    )
    environ = fake_environ(tmp_path) | {"ASM_CODEX_BIN": str(FAKE_BIN / "codex-app-server-fake")}
    async with open_system(config, environ=environ) as system:
        request = msgspec.convert(
            {"model_preference": {"provider": "codex", "id": MODEL}}, InferenceRequest
        )
        descriptor, _ = await system.ensure_endpoint(request)
        bearer = descriptor.headers["authorization"].removeprefix("Bearer ")
        client = openai.AsyncOpenAI(base_url=descriptor.base_url, api_key=bearer, max_retries=0)
        yield system, client


def _pool_pids(system: System) -> set[int]:
    pool = system.sessions._workers.get(("codex", MODEL))
    return {w.pid for w in pool.workers if w is not None and w.pid} if pool else set()


async def test_a_lease_on_workers_answers_whole_and_streamed_and_reaps_them(
    tmp_path: Path,
) -> None:
    async with _lease(tmp_path) as (system, client):
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "You are a terse translator."},
            {"role": "user", "content": "Good night"},
        ]
        whole = await client.chat.completions.create(model=MODEL, messages=messages)
        assert whole.choices[0].message.content == ANSWER
        assert whole.usage is not None and whole.usage.completion_tokens == 3
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=messages,
            stream=True,
        )
        pieces = [c.choices[0].delta.content async for c in stream if c.choices]
        assert "".join(p for p in pieces if p) == ANSWER
        results: list[str | None] = []

        async def one() -> None:
            answer = await client.chat.completions.create(model=MODEL, messages=messages)
            results.append(answer.choices[0].message.content)

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(one)
        assert results == [ANSWER] * 8
        pids = _pool_pids(system)
        assert len(pids) == 2
    assert not [pid for pid in pids if alive(pid)]


async def test_a_worker_crash_fails_its_requests_502_or_in_band_and_the_next_is_served(
    tmp_path: Path,
) -> None:
    async with _lease(tmp_path, FAKE_APP_SERVER_DELAY_MS="300", FAKE_APP_SERVER_CHUNKS="6") as (
        system,
        client,
    ):
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "warm up"}]
        )
        await until(lambda: len(_pool_pids(system)) == 2, 10)
        before = _pool_pids(system)
        outcomes: dict[str, object] = {}

        async def whole() -> None:
            try:
                await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "Boom [[crash]]"}]
                )
            except openai.APIStatusError as error:
                outcomes["whole"] = (error.status_code, error.response.headers["x-should-retry"])

        async def streamed() -> None:
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Boom [[crash]]"}], stream=True
            )
            try:
                async for _ in stream:
                    pass
            except openai.APIError as error:
                outcomes["stream"] = str(error.message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(whole)
            nursery.start_soon(streamed)
        assert outcomes["whole"] == (502, "false")  # as for any crashed session
        assert "exited with this turn in flight" in str(outcomes["stream"])
        answer = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Good night"}]
        )
        assert answer.choices[0].message.content == ANSWER
        await until(lambda: len(_pool_pids(system)) == 2, 10)
        assert _pool_pids(system) != before
    assert not [pid for pid in before if alive(pid)]


async def test_the_last_lease_on_the_workers_takes_them_along(tmp_path: Path) -> None:
    """Release and expiry reap workers as they reap sessions: the workers of (provider,
    model) outlive a lease only while another lease still runs on them."""
    async with _lease(tmp_path) as (system, client):
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}]
        )
        await until(lambda: len(_pool_pids(system)) == 2, 10)
        pids = _pool_pids(system)
        request = msgspec.convert(
            {"model_preference": {"provider": "codex", "id": MODEL}}, InferenceRequest
        )
        second, _ = await system.ensure_endpoint(request)
        first = next(d for d in system.leases.endpoints() if d.endpoint_id != second.endpoint_id)
        await system.release_endpoint(first.lease_ref)
        assert all(alive(pid) for pid in pids)  # the second lease still runs on them
        await system.release_endpoint(second.lease_ref)
        await until(lambda: not [pid for pid in pids if alive(pid)], 10)
        assert _pool_pids(system) == set()
