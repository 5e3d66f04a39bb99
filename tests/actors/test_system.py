"""The Python API: ``open_system``, ``system.query``, ``system.stream``, warm pools, orphans."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import trio

from actors.processes import ProcessLedger
from actors.sessions import Session, SessionSpec
from actors.system import SessionFailed, open_system
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.conversation import Conversation
from contracts.session import Finished, Started, TextDelta
from tests.actors.sessions.sessions import children_environ, fake_environ, fake_spec, until
from tests.fakes.fake_cli import answer_text, expected_tokens
from tests.processes import alive, gone_within

PROMPT = "Hello, system."
LADDER = SessionSettings(exit_grace=0.3, terminate_grace=0.3)
REAP_BUDGET = 0.6 + 1.0


def _config(tmp_path: Path, mode: str = "ok") -> Config:
    env = {"FAKE_CLI_MODE": mode, "FAKE_CLI_PID_DIR": str(tmp_path / "pids")}
    # Spawned sessions of the fake CLIs (codex workers: tests/actors/sessions/test_workers.py).
    settings = {name: ProviderSettings(env=env, mode="spawn") for name in ("claude", "codex")}
    (tmp_path / "pids").mkdir(exist_ok=True)
    return Config(providers=settings, sessions=LADDER)


async def test_query_returns_the_answer_and_the_reported_usage(tmp_path: Path) -> None:
    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        completion = await system.query("claude", "fake-model", PROMPT)
    assert completion.text == answer_text("claude", PROMPT)
    assert completion.finish_reason == "stop"
    assert completion.usage is not None
    usage = (completion.usage.input_tokens, completion.usage.output_tokens)
    assert usage == expected_tokens("claude", PROMPT)


async def test_query_accepts_chat_messages(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "Hi there"}]
    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        completion = await system.query("codex", "fake-model", messages)
    assert completion.text.startswith("Hello from fake codex. You said: ")
    assert "Hi there" in completion.text


async def test_a_failed_session_raises_session_failed_with_its_kind(tmp_path: Path) -> None:
    config = _config(tmp_path, "not_logged_in")
    async with open_system(config, environ=fake_environ(tmp_path)) as system:
        with pytest.raises(SessionFailed) as caught:
            await system.query("claude", "fake-model", PROMPT)
    assert caught.value.failed.kind == "not_logged_in"


async def test_the_callers_own_exception_leaves_open_system_as_itself(tmp_path: Path) -> None:
    """Not wrapped in the nursery's ExceptionGroup: ``except SessionFailed`` around the
    block catches it, with its own traceback and cause."""
    config = _config(tmp_path, "not_logged_in")
    cause = ValueError("the caller's own cause")
    try:
        async with open_system(config, environ=fake_environ(tmp_path)) as system:
            try:
                await system.query("claude", "fake-model", PROMPT)
            except SessionFailed as failed:
                raise failed from cause
    except SessionFailed as caught:
        assert caught.failed.kind == "not_logged_in"
        assert caught.__cause__ is cause
        assert not isinstance(caught.__context__, BaseExceptionGroup)
    else:  # pragma: no cover
        pytest.fail("SessionFailed did not leave open_system")


async def test_a_callers_own_group_is_unwrapped_once_only(tmp_path: Path) -> None:
    mine = ExceptionGroup("mine", [KeyError("a"), KeyError("b")])
    with pytest.raises(ExceptionGroup) as raised:
        async with open_system(Config(), bind=None, environ=fake_environ(tmp_path)):
            raise mine
    assert raised.value.message == "mine"  # Trio's cancel scopes may copy a group
    assert raised.value.exceptions == mine.exceptions


async def test_stream_yields_started_deltas_and_finished(tmp_path: Path) -> None:
    async with (
        open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system,
        system.stream("claude", "fake-model", PROMPT) as events,
    ):
        seen = [event async for event in events]
    assert isinstance(seen[0], Started)
    assert sum(isinstance(event, TextDelta) for event in seen) >= 3
    assert isinstance(seen[-1], Finished)


async def test_leaving_a_stream_early_reaps_the_cli_within_the_ladder_budget(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, "ignore_term")
    async with open_system(config, environ=fake_environ(tmp_path)) as system:
        async with system.stream("claude", "fake-model", PROMPT) as events:
            await events.receive()  # Started; the CLI will never answer
            leader = int((tmp_path / "pids" / "leader").read_text())
            start = trio.current_time()
        assert trio.current_time() - start < REAP_BUDGET
        assert not alive(leader)


async def test_a_cancelled_consumer_reaps_its_cli(tmp_path: Path) -> None:
    config = _config(tmp_path, "silent_start")
    async with open_system(config, environ=fake_environ(tmp_path)) as system:
        with trio.move_on_after(0.5):
            await system.query("codex", "fake-model", PROMPT)
        leader = int((tmp_path / "pids" / "leader").read_text())
        assert await gone_within([leader], REAP_BUDGET)


async def test_leaving_the_system_reaps_every_session(tmp_path: Path) -> None:
    config = _config(tmp_path, "silent_start")
    async with open_system(config, environ=fake_environ(tmp_path)) as system:
        session = await system.start_session(system.spec("claude", "fake-model"))
        session.submit(PROMPT)
        assert session.pid is not None
        pid = session.pid
    assert not alive(pid)


async def test_the_warm_pool_parks_sessions_and_serves_from_them(tmp_path: Path) -> None:
    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        pool = await system.warm("claude", "fake-model", size=2)
        await until(lambda: pool.parked == 2)
        parked_pids = {s.pid for s in pool._parked}
        session = await pool.acquire(PROMPT)
        assert session.pid in parked_pids
        await until(lambda: pool.parked == 2)  # replaced after use
        completion = await system.query("claude", "fake-model", PROMPT)
        assert completion.text == answer_text("claude", PROMPT)


async def test_cooling_a_pool_reaps_its_parked_sessions(tmp_path: Path) -> None:
    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        pool = await system.warm("codex", "fake-model", size=1)
        await until(lambda: pool.parked == 1)
        pid = pool._parked[0].pid
        assert pid is not None and alive(pid)
        await system.cool("codex", "fake-model")
        assert not alive(pid)


async def test_a_parked_session_that_dies_is_replaced(tmp_path: Path) -> None:
    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        pool = await system.warm("claude", "fake-model", size=1)
        await until(lambda: pool.parked == 1)
        first = pool._parked[0]
        first.cancel()
        await first.ended.wait()
        await until(lambda: pool.parked == 1 and pool._parked[0] is not first)


async def test_a_not_installed_cli_fails_each_request_without_spinning(tmp_path: Path) -> None:
    environ = {**fake_environ(tmp_path), "ASM_CLAUDE_BIN": "/nonexistent/claude"}
    async with open_system(_config(tmp_path), environ=environ) as system:
        pool = await system.warm("claude", "fake-model", size=1)
        with pytest.raises(SessionFailed) as caught:
            await system.query("claude", "fake-model", PROMPT)
        assert caught.value.failed.kind == "not_installed"
        assert pool.parked <= 1


def test_a_restart_sweeps_the_process_groups_a_previous_run_left(tmp_path: Path) -> None:
    ledger = ProcessLedger.open(tmp_path / "process-groups")
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True, env=children_environ())
    try:
        ledger.record(orphan.pid)
        killed = ProcessLedger.open(tmp_path / "process-groups").sweep()
        assert killed == [orphan.pid]
        assert orphan.wait(timeout=5) < 0
        assert list((tmp_path / "process-groups").iterdir()) == []
    finally:
        orphan.kill()
        orphan.wait()


async def test_open_system_sweeps_orphans_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True, env=children_environ())
    try:
        ProcessLedger.open(state / "process-groups").record(orphan.pid)
        async with open_system(_config(tmp_path), state_dir=state, environ=fake_environ(tmp_path)):
            assert orphan.wait(timeout=5) < 0
    finally:
        orphan.kill()
        orphan.wait()


async def test_a_hard_killed_runs_session_work_root_is_removed_at_the_next_start(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    left = tmp_path / "asm-sessions-left"
    (left / "work").mkdir(parents=True)
    ProcessLedger.open(state / "process-groups").record_directory(left)
    async with open_system(
        _config(tmp_path), state_dir=state, environ=fake_environ(tmp_path)
    ) as system:
        assert not left.exists()
        work_root = Path(system._work_root)
        assert work_root.is_dir()
        recorded = [entry.read_text() for entry in (state / "process-groups").iterdir()]
        assert recorded == [str(work_root)]
    assert not work_root.exists()
    assert list((state / "process-groups").iterdir()) == []


async def test_sessions_are_written_down_while_they_live(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = _config(tmp_path, "silent_start")
    async with open_system(config, state_dir=state, environ=fake_environ(tmp_path)) as system:
        session = await system.start_session(system.spec("claude", "fake-model"))
        groups = state / "process-groups"
        assert [p.name for p in groups.iterdir() if p.name.isdigit()] == [str(session.pid)]
        session.cancel()
        await session.ended.wait()
        assert [p.name for p in groups.iterdir() if p.name.isdigit()] == []


async def test_a_pool_retires_a_session_parked_too_long_and_parks_again_only_when_used(
    tmp_path: Path,
) -> None:
    """A CLI that gives up on stdin (claude: 3 s) must not make an idle pool churn."""
    from actors.sessions import WarmPool

    async with open_system(_config(tmp_path), environ=fake_environ(tmp_path)) as system:
        starts: list[int] = []

        async def start(spec: SessionSpec, conversation: Conversation | None = None) -> Session:
            starts.append(1)
            return await system.start_session(spec, conversation)

        pool = WarmPool(system.spec("codex", "fake-model"), 1, start, max_park=0.3)
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            await until(lambda: pool.parked == 1)
            await trio.sleep(1.5)  # five park limits: retired once, not replaced
            assert pool.parked == 0 and len(starts) == 1
            session = await pool.acquire(PROMPT)  # a cold start; it parks again after it
            async with session.stream(PROMPT) as events:
                assert isinstance([e async for e in events][-1], Finished)
            await until(lambda: pool.parked == 1)
            assert len(starts) == 3
            nursery.cancel_scope.cancel()


def test_claude_parks_without_a_limit_and_gemini_never_parks(tmp_path: Path) -> None:
    """claude waits on stream-json input as long as stdin is open; gemini gives up on
    stdin after 0.5 s and reads its conversation as it starts: no pool parks it."""
    from actors.sessions import WarmPool

    async def start(spec: SessionSpec, conversation: Conversation | None = None) -> Session:
        raise AssertionError("not started here")

    claude = WarmPool(fake_spec("claude", tmp_path), 1, start)
    gemini = WarmPool(fake_spec("gemini", tmp_path), 1, start)
    assert claude.size == 1 and claude.max_park is None
    assert gemini.size == 0
