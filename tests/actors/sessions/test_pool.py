"""The warm pool helps at any arrival rate and never hands out a session it is retiring."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import trio

from actors.sessions import Session, SessionSpec, WarmPool
from actors.system import open_system
from contracts.config import Config, LeaseSettings, ProviderSettings, SessionSettings
from contracts.conversation import Conversation, Turn
from contracts.endpoint import InferenceRequest, ModelPreference
from contracts.session import Failed, Finished
from tests.actors.sessions.sessions import fake_environ, until
from tests.fakes.fake_cli import answer_text

CLIENTS, REQUESTS_EACH = 8, 25  # 200 requests


def _config(startup_ms: int = 0, pool_size: int = 1) -> Config:
    env = {"FAKE_CLI_STARTUP_MS": str(startup_ms)}
    return Config(
        providers={"claude": ProviderSettings(env=env, pool_size=pool_size)},
        sessions=SessionSettings(exit_grace=0.5, terminate_grace=0.5),
        leases=LeaseSettings(max_sessions=CLIENTS),
    )


def _chat(n: int) -> Conversation:
    """A different system prompt and history for every request: a parked claude takes any."""
    return Conversation(
        system=f"You answer request {n}.",
        turns=(Turn("user", f"first {n}"), Turn("assistant", "ok"), Turn("user", f"ask {n}")),
    )


async def test_a_pool_retiring_sessions_under_load_never_hands_one_out(tmp_path: Path) -> None:
    """Sessions retired every 20 ms while 8 clients take them: none is given a session that
    is already shutting down (before: 'claude session cancelled' for 1-3 % of requests)."""
    outcomes: list[str] = []
    async with open_system(_config(), environ=fake_environ(tmp_path)) as system:

        async def start(spec: SessionSpec, conversation: Conversation | None = None) -> Session:
            return await system.start_session(spec, conversation)

        pool = WarmPool(system.spec("claude", "m"), 2, start, max_park=0.02)

        async def client(number: int) -> None:
            for request in range(REQUESTS_EACH):
                chat = _chat(number * REQUESTS_EACH + request)
                session = await pool.acquire(chat)
                async with session.stream(chat) as events:
                    last = [event async for event in events][-1]
                outcomes.append(last.kind if isinstance(last, Failed) else "finished")
                assert isinstance(last, Finished | Failed)
                await trio.sleep(0.005 * (number % 3))  # stagger: retirements land between

        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            async with trio.open_nursery() as clients:
                for number in range(CLIENTS):
                    clients.start_soon(client, number)
            nursery.cancel_scope.cancel()
    assert len(outcomes) == CLIENTS * REQUESTS_EACH
    assert set(outcomes) == {"finished"}


async def test_eight_clients_hammering_one_lease_get_no_error(tmp_path: Path) -> None:
    """200 completions over HTTP on one lease with a warm pool: every one answered."""
    statuses: list[int] = []
    async with open_system(_config(startup_ms=20), environ=fake_environ(tmp_path)) as system:
        request = InferenceRequest(
            model_preference=ModelPreference(provider="claude", id="claude-sonnet-4-5")
        )
        endpoint, _ = await system.ensure_endpoint(request)
        url = f"{endpoint.base_url}/chat/completions"
        headers = dict(endpoint.headers)

        async def client(http: httpx.AsyncClient, number: int) -> None:
            for request_number in range(REQUESTS_EACH):
                n = number * REQUESTS_EACH + request_number
                body = {
                    "messages": [
                        {"role": "system", "content": f"You answer request {n}."},
                        {"role": "user", "content": f"ask {n}"},
                    ]
                }
                answer = await http.post(url, json=body, headers=headers)
                statuses.append(answer.status_code)
                assert answer.status_code == 200, answer.text
                content = answer.json()["choices"][0]["message"]["content"]
                assert content == answer_text("claude", f"ask {n}")

        async with httpx.AsyncClient(timeout=60) as http, trio.open_nursery() as clients:
            for number in range(CLIENTS):
                clients.start_soon(client, http, number)
        await system.release_endpoint(endpoint)
    assert statuses == [200] * (CLIENTS * REQUESTS_EACH)


async def test_a_parked_claude_stays_warm_with_requests_3_s_apart(tmp_path: Path) -> None:
    """claude gives up on *text* input after 3 s (the fake does too); on stream-json input
    it waits, so a session parked longer than that still serves the next request."""
    async with open_system(_config(startup_ms=100), environ=fake_environ(tmp_path)) as system:
        pool = await system.warm("claude", "m", size=1)
        for round_ in range(2):
            await until(lambda: pool.parked == 1)
            [parked] = [session for session in pool._parked if session.parked]
            await trio.sleep(3.5)  # past claude's 3 s text-input give-up
            assert parked.parked and parked.pid is not None
            chat = _chat(round_)
            session = await pool.acquire(chat)
            assert session is parked  # warm: the session parked 3.5 s ago, still alive
            async with session.stream(chat) as events:
                last = [event async for event in events][-1]
            assert isinstance(last, Finished)
            assert last.text == answer_text("claude", f"ask {round_}")


async def test_a_claude_with_text_input_gives_up_on_stdin_after_3_s(tmp_path: Path) -> None:
    """The fake models claude 2.1.197's text input: no stdin within 3 s, a warning, exit 1."""
    silent, kept_open = os.pipe()  # stdin stays open and says nothing
    try:
        with trio.fail_after(10):
            process = await trio.run_process(
                [
                    str(Path(__file__).parents[2] / "fakes" / "bin" / "claude"),
                    "-p",
                    "--output-format=stream-json",
                    "--verbose",
                ],
                stdin=silent,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env={**fake_environ(tmp_path), "FAKE_CLI_STDIN_WAIT_MS": "300"},
            )
    finally:
        os.close(silent)
        os.close(kept_open)
    assert process.returncode == 1
    assert b"no stdin data received in 0.3s" in process.stderr
