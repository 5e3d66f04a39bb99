"""gemini workers against the fake ``gemini --acp``: many sessions per process, the system
prompt lock, faults, refusals, reaping.

Each test runs a :class:`~actors.sessions.WorkerPool` over ``tests/fakes/bin/gemini-acp-fake``
(as ``ASM_GEMINI_BIN``) with short timers, and checks that no process outlives it. The
fake's triggers ride in the last user turn (``[[hang]]``, ``[[crash]]``, ``[[echo]]``,
``[[permission]]``, ``[[unreachable]]``); its log holds every line the worker sent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import trio

from actors.sessions import SessionSpec, Timers, session_spec
from contracts.config import Config, ProviderSettings
from contracts.conversation import Conversation, Turn
from contracts.session import Failed, Finished, SessionEvent, TextDelta, Usage
from tests.actors.sessions.sessions import FAKE_BIN, FAST_LADDER, fake_environ, until
from tests.actors.sessions.test_workers import pool_of, run
from tests.processes import alive

ANSWER = "Bonne nuit"
TIMERS = Timers(first_event=5.0, idle=5.0, total=20.0)


def worker_spec(tmp_path: Path, timers: Timers = TIMERS, **env: str) -> SessionSpec:
    work_root = tmp_path / "sessions"
    work_root.mkdir(exist_ok=True)
    settings = ProviderSettings(
        mode="worker",
        env={"FAKE_ACP_ANSWER": ANSWER, "FAKE_ACP_LOG": str(tmp_path / "acp.log"), **env},
    )
    environ = fake_environ(tmp_path) | {"ASM_GEMINI_BIN": str(FAKE_BIN / "gemini-acp-fake")}
    config = Config(providers={"gemini": settings})
    spec = session_spec(
        "gemini", "gemini-2.5-flash", config, work_root=str(work_root), environ=environ
    )
    return dataclasses.replace(spec, timers=timers, ladder=FAST_LADDER)


def chat(
    last: str = "Good night", system: str = "You are a terse French translator."
) -> Conversation:
    return Conversation(
        system=system,
        turns=(Turn("user", "Hello"), Turn("assistant", "Bonjour"), Turn("user", last)),
    )


def sent(tmp_path: Path, method: str) -> list[dict[str, Any]]:
    """What the worker sent the fake with ``method``, in order."""
    path = tmp_path / "acp.log"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line.get("method") == method]


def echoed(events: list[SessionEvent]) -> dict[str, Any]:
    last = events[-1]
    assert isinstance(last, Finished), events
    seen: dict[str, Any] = json.loads(last.text)
    return seen


async def test_one_process_serves_many_completions_each_with_its_own_prompt_and_turns(
    tmp_path: Path,
) -> None:
    async with pool_of(worker_spec(tmp_path), 1) as pool:
        pids = set()
        for number in range(3):
            session, events = await run(pool, chat(system=f"Translator #{number}."))
            assert events[-1] == Finished(finish_reason="stop", text=ANSWER)
            assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
            assert [e for e in events if isinstance(e, Usage)], events
            pids.add(session.pid)
        assert len(pids) == 1 and None not in pids
        seen = []
        for number in range(3):
            last = f"What did you get, {number}? [[echo]]"
            conversation = chat(last, system=f"Be brief #{number}.")
            if number == 2:  # no earlier turns: a plain session/new
                conversation = Conversation(system="Alone.", turns=(Turn("user", last),))
            seen.append(echoed((await run(pool, conversation))[1]))
    assert seen[0] == {
        "system": "Be brief #0.",
        "history": [["user", "Hello"], ["assistant", "Bonjour"]],
        "prompt": "What did you get, 0? [[echo]]",
    }
    assert seen[1]["system"] == "Be brief #1."
    assert seen[1]["history"] == [["user", "Hello"], ["assistant", "Bonjour"]]
    assert seen[2] == {"system": "Alone.", "history": [], "prompt": "What did you get, 2? [[echo]]"}
    assert len(sent(tmp_path, "initialize")) == 1  # one process, one handshake
    assert len(sent(tmp_path, "session/load")) == 5


async def test_concurrent_completions_each_see_their_own_system_prompt(tmp_path: Path) -> None:
    """The lock's test: every session re-reads the system prompt file when another opens,
    and the fake's upstream takes 200 ms to its first chunk, so a completion that opened
    while another had not begun to answer would give that one its own prompt."""
    spec = worker_spec(tmp_path, FAKE_ACP_DELAY_MS="200", FAKE_ACP_CHUNKS="2")
    async with pool_of(spec, 1) as pool:
        results: dict[int, dict[str, Any]] = {}

        async def one(number: int) -> None:
            last = f"Question {number} [[echo]]"
            conversation = (
                chat(last, system=f"System prompt number {number}.")
                if number % 2
                else Conversation(
                    system=f"System prompt number {number}.", turns=(Turn("user", last),)
                )
            )
            results[number] = echoed((await run(pool, conversation))[1])

        async with trio.open_nursery() as nursery:
            for number in range(4):
                nursery.start_soon(one, number)
    for number, seen in results.items():
        assert seen["system"] == f"System prompt number {number}.", (number, seen)
        earlier = [["user", "Hello"], ["assistant", "Bonjour"]] if number % 2 else []
        assert seen["history"] == earlier
    assert len(results) == 4
    assert len(sent(tmp_path, "initialize")) == 1


async def test_a_hung_turn_times_out_and_is_cancelled_while_another_completes(
    tmp_path: Path,
) -> None:
    timers = Timers(first_event=5.0, idle=0.5, total=20.0)
    spec = worker_spec(tmp_path, timers, FAKE_ACP_DELAY_MS="100", FAKE_ACP_CHUNKS="10")
    async with pool_of(spec, 1) as pool:
        results: dict[str, list[SessionEvent]] = {}

        async def one(name: str, text: str) -> None:
            results[name] = (await run(pool, chat(text)))[1]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "hung", "Wait [[hang]]")
            nursery.start_soon(one, "fine", "Good night")
        hung = results["hung"][-1]
        assert isinstance(hung, Failed) and hung.kind == "timeout", hung
        assert "idle deadline of 0.5 s" in hung.message
        assert results["fine"][-1] == Finished(finish_reason="stop", text=ANSWER)
        await until(lambda: len(sent(tmp_path, "session/cancel")) == 1)
        pid = pool.ready()[0].pid
        session, after = await run(pool, chat())
        assert session.pid == pid and isinstance(after[-1], Finished)
    assert len(sent(tmp_path, "session/cancel")) == 1  # the hung turn, not the worker


async def test_a_crash_fails_exactly_the_turns_in_flight_and_a_new_worker_serves_the_next(
    tmp_path: Path,
) -> None:
    spec = worker_spec(tmp_path, FAKE_ACP_DELAY_MS="200", FAKE_ACP_CHUNKS="10")
    async with pool_of(spec, 1) as pool:
        first_pid = pool.ready()[0].pid
        done_before, _ = await run(pool, chat("Quick", system="s"))  # not in flight at the crash
        results: list[SessionEvent] = []

        async def one(text: str) -> None:
            results.append((await run(pool, chat(text)))[1][-1])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "Boom [[crash]]")
            nursery.start_soon(one, "Slow answer")
        assert [type(e) for e in results] == [Failed, Failed]
        assert all(isinstance(e, Failed) and e.kind == "crashed" for e in results), results
        assert all("exited with this turn in flight" in e.message for e in results)  # type: ignore[union-attr]
        await until(lambda: bool(pool.ready()), 10)
        session, events = await run(pool, chat())
        assert isinstance(events[-1], Finished)
        assert session.pid != first_pid and first_pid is not None and not alive(first_pid)
        assert pool.restarts == 1
        assert done_before.pid == first_pid


async def test_leaving_the_stream_cancels_the_turn_and_keeps_the_worker(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, FAKE_ACP_DELAY_MS="300", FAKE_ACP_CHUNKS="20")
    async with pool_of(spec, 1) as pool:
        conversation = chat()
        session = await pool.open(conversation)
        async with session.stream(conversation) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break  # the client went away after the first token
        assert session.reaped.is_set()
        await until(lambda: len(sent(tmp_path, "session/cancel")) == 1)
        again, after = await run(pool, chat())
        assert again.pid == session.pid and isinstance(after[-1], Finished)


async def test_a_permission_the_server_asks_for_is_refused(tmp_path: Path) -> None:
    async with pool_of(worker_spec(tmp_path), 1) as pool:
        _, events = await run(pool, chat("Run it [[permission]]"))
    assert events[-1] == Finished(finish_reason="stop", text="refused")
    log = [json.loads(line) for line in (tmp_path / "acp.log").read_text().splitlines()]
    answers = [line for line in log if "method" not in line and "result" in line]
    assert [a["result"] for a in answers] == [{"outcome": {"outcome": "cancelled"}}]


async def test_no_key_fails_not_logged_in_and_the_worker_goes_on(tmp_path: Path) -> None:
    async with pool_of(worker_spec(tmp_path, FAKE_ACP_MODE="no_key"), 1) as pool:
        pid = pool.ready()[0].pid
        for conversation in (chat(), Conversation(turns=(Turn("user", "Hi"),))):
            session, events = await run(pool, conversation)
            [failed] = [e for e in events if isinstance(e, Failed)]
            assert failed.kind == "not_logged_in", failed
            assert "GEMINI_API_KEY" in failed.message
            assert session.pid == pid
        assert pool.ready()[0].pid == pid and pool.restarts == 0


async def test_an_unreachable_upstream_fails_unreachable(tmp_path: Path) -> None:
    async with pool_of(worker_spec(tmp_path), 1) as pool:
        _, events = await run(pool, chat("Anyone? [[unreachable]]"))
        assert isinstance(events[-1], Failed) and events[-1].kind == "unreachable", events
        assert "fetch failed" in events[-1].message
        _, after = await run(pool, chat())
        assert after[-1] == Finished(finish_reason="stop", text=ANSWER)
