"""Workers against the fake ``codex app-server``: many turns per process, faults, reaping.

Each test runs a :class:`~actors.sessions.WorkerPool` over
``tests/fakes/bin/codex-app-server-fake`` (as ``ASM_CODEX_BIN``) with short timers, and
checks that no process outlives it. The fake's triggers ride in the last user turn
(``[[hang]]``, ``[[crash]]``, ``[[echo]]``, ``[[tool]]``); its log holds every line the
worker sent.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from actors.processes import ProcessLedger
from actors.sessions import Session, SessionSpec, Timers, WorkerPool, session_spec
from contracts.config import Config, ProviderSettings
from contracts.conversation import Conversation, Turn
from contracts.session import Failed, Finished, SessionEvent, TextDelta
from tests.actors.sessions.sessions import FAKE_BIN, FAST_LADDER, fake_environ, until
from tests.processes import alive

ANSWER = "Bonne nuit"
TIMERS = Timers(first_event=5.0, idle=5.0, total=20.0)


def worker_spec(tmp_path: Path, timers: Timers = TIMERS, **env: str) -> SessionSpec:
    work_root = tmp_path / "sessions"
    work_root.mkdir(exist_ok=True)
    settings = ProviderSettings(
        mode="worker",
        env={
            "FAKE_APP_SERVER_ANSWER": ANSWER,
            "FAKE_APP_SERVER_LOG": str(tmp_path / "app-server.log"),
            **env,
        },
    )
    environ = fake_environ(tmp_path) | {"ASM_CODEX_BIN": str(FAKE_BIN / "codex-app-server-fake")}
    config = Config(providers={"codex": settings})
    spec = session_spec("codex", "gpt-5", config, work_root=str(work_root), environ=environ)
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
    path = tmp_path / "app-server.log"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line.get("method") == method]


@asynccontextmanager
async def pool_of(
    spec: SessionSpec,
    count: int,
    ledger: ProcessLedger | None = None,
    *,
    ready: bool = True,
    max_turns: int = 200,
) -> AsyncIterator[WorkerPool]:
    """A running pool (its workers ready, unless ``ready`` is False); on exit every worker
    process it started is gone."""
    pids: set[int] = set()
    async with trio.open_nursery() as nursery:
        pool: WorkerPool = await nursery.start(
            WorkerPool(spec, count, ledger=ledger, max_turns=max_turns).run
        )
        if ready:
            await until(lambda: len(pool.ready()) == count, 10)
        try:
            yield pool
        finally:
            pids = {w.pid for w in pool.workers if w is not None and w.pid is not None}
            nursery.cancel_scope.cancel()
    assert not [pid for pid in pids if alive(pid)]  # every worker reaped with the pool


async def run(pool: WorkerPool, conversation: Conversation) -> tuple[Session, list[SessionEvent]]:
    session = await pool.open(conversation)
    async with session.stream(conversation) as events:
        seen = [event async for event in events]
    return session, seen


async def test_one_process_serves_many_completions_each_with_its_own_instructions(
    tmp_path: Path,
) -> None:
    async with pool_of(worker_spec(tmp_path), 1) as pool:
        pids = set()
        for number in range(3):
            session, events = await run(pool, chat(system=f"Translator #{number}."))
            assert events[-1] == Finished(finish_reason="stop", text=ANSWER)
            assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
            pids.add(session.pid)
        assert len(pids) == 1 and None not in pids
        _, echoed = await run(pool, chat("What did you get? [[echo]]", system="Be brief."))
    received = json.loads(echoed[-1].text)  # type: ignore[union-attr]
    assert received["baseInstructions"] == "Be brief."
    assert received["injected"] == [["user", "Hello"], ["assistant", "Bonjour"]]
    assert received["input"] == "What did you get? [[echo]]"
    assert [s["params"]["baseInstructions"] for s in sent(tmp_path, "thread/start")] == [
        "Translator #0.",
        "Translator #1.",
        "Translator #2.",
        "Be brief.",
    ]
    assert len(sent(tmp_path, "initialize")) == 1  # one process, one handshake


async def test_a_hung_turn_times_out_and_the_workers_other_turn_completes(tmp_path: Path) -> None:
    timers = Timers(first_event=5.0, idle=0.5, total=20.0)
    spec = worker_spec(
        tmp_path, timers, FAKE_APP_SERVER_DELAY_MS="100", FAKE_APP_SERVER_CHUNKS="10"
    )
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
        assert len(sent(tmp_path, "turn/interrupt")) == 1  # the hung turn, not the worker
        pid = pool.ready()[0].pid
        session, after = await run(pool, chat())
        assert session.pid == pid and isinstance(after[-1], Finished)


async def test_a_crash_fails_exactly_the_turns_in_flight_and_a_new_worker_serves_the_next(
    tmp_path: Path,
) -> None:
    spec = worker_spec(tmp_path, FAKE_APP_SERVER_DELAY_MS="400", FAKE_APP_SERVER_CHUNKS="10")
    async with pool_of(spec, 1) as pool:
        first_pid = pool.ready()[0].pid
        done_before, _ = await run(pool, chat())  # served: not in flight when it crashes
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


async def test_leaving_the_stream_interrupts_the_turn_and_keeps_the_worker(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, FAKE_APP_SERVER_DELAY_MS="300", FAKE_APP_SERVER_CHUNKS="20")
    async with pool_of(spec, 1) as pool:
        conversation = chat()
        session = await pool.open(conversation)
        async with session.stream(conversation) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break  # the client went away after the first token
        assert session.reaped.is_set()
        await until(lambda: len(sent(tmp_path, "turn/interrupt")) == 1)
        again, after = await run(pool, chat())
        assert again.pid == session.pid and isinstance(after[-1], Finished)


async def test_a_worker_is_used_only_once_ready(tmp_path: Path) -> None:
    spec = worker_spec(
        tmp_path, FAKE_APP_SERVER_MODE="slow_ready", FAKE_APP_SERVER_READY_DELAY_MS="700"
    )
    async with pool_of(spec, 1, ready=False) as pool:
        assert pool.ready() == []
        started = trio.current_time()
        _, events = await run(pool, chat())
        assert isinstance(events[-1], Finished)
        assert trio.current_time() - started > 0.3  # it waited for the handshake


async def test_a_worker_that_never_gets_ready_fails_the_completion_saying_so(
    tmp_path: Path,
) -> None:
    timers = Timers(first_event=0.5, idle=5.0, total=20.0)
    spec = worker_spec(tmp_path, timers, FAKE_APP_SERVER_MODE="never_ready")
    async with pool_of(spec, 1, ready=False) as pool:
        _, events = await run(pool, chat())
    [failed] = events  # nothing started: the failure is the only event
    assert isinstance(failed, Failed) and failed.kind == "timeout"
    assert failed.message == "no codex worker was ready within 0.5 s"


async def test_a_missing_executable_is_not_installed_at_once(tmp_path: Path) -> None:
    spec = dataclasses.replace(worker_spec(tmp_path), executable=str(tmp_path / "no-codex"))
    async with pool_of(spec, 2, ready=False) as pool:
        with trio.fail_after(3):
            _, events = await run(pool, chat())
    assert isinstance(events[-1], Failed) and events[-1].kind == "not_installed"
    assert "cannot run" in events[-1].message


async def test_a_malformed_line_is_skipped(tmp_path: Path) -> None:
    async with pool_of(worker_spec(tmp_path, FAKE_APP_SERVER_MODE="malformed"), 1) as pool:
        _, events = await run(pool, chat())
        assert isinstance(events[-1], Finished)
        assert pool.ready()[0].malformed_lines == 1


async def test_an_approval_the_server_asks_for_is_declined(tmp_path: Path) -> None:
    async with pool_of(worker_spec(tmp_path), 1) as pool:
        _, events = await run(pool, chat("Run it [[tool]]"))
    assert events[-1] == Finished(finish_reason="stop", text="declined")
    log = [json.loads(line) for line in (tmp_path / "app-server.log").read_text().splitlines()]
    assert [line["decision"] for line in log if line.get("fake") == "approvalDecision"] == [
        "decline"
    ]


async def test_the_worker_is_in_the_ledger_while_it_runs(tmp_path: Path) -> None:
    ledger = ProcessLedger.open(tmp_path / "ledger")
    async with pool_of(worker_spec(tmp_path), 1, ledger=ledger) as pool:
        pid = pool.ready()[0].pid
        assert (tmp_path / "ledger" / str(pid)).exists() or str(pid) in " ".join(
            p.name for p in (tmp_path / "ledger").rglob("*")
        )
    assert not [p for p in (tmp_path / "ledger").rglob("*") if p.name == str(pid)]


async def test_a_worker_is_recycled_after_its_turns_and_its_successor_serves(
    tmp_path: Path,
) -> None:
    async with pool_of(worker_spec(tmp_path), 1, max_turns=2) as pool:
        pids: list[int] = []
        for _ in range(5):
            session, events = await run(pool, chat())
            assert isinstance(events[-1], Finished), events
            assert session.pid is not None
            pids.append(session.pid)
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
        assert not alive(pids[0]) and not alive(pids[2])
        assert (pool.recycled, pool.restarts) == (2, 0)  # replaced, not restarted after a crash


async def test_a_key_the_worker_prints_never_leaves_it(tmp_path: Path) -> None:
    """The answer repeats the worker's own API key: what leaves is redacted, streamed or not."""
    key = "sk-ant-api03-LEAKED-0123456789abcdef"
    spec = worker_spec(
        tmp_path, FAKE_APP_SERVER_ANSWER=f"my key is {key} ok", FAKE_APP_SERVER_CHUNKS="7"
    )
    spec = dataclasses.replace(spec, env={**spec.env, "CODEX_API_KEY": key})
    async with pool_of(spec, 1) as pool:
        _, events = await run(pool, chat())
    assert isinstance(events[-1], Finished)
    assert key not in repr(events)
    assert "my key is" in events[-1].text
