"""The session actor against the fake CLIs: answers, every fault's Failed kind, and reaping."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio

from actors.sessions import Session, SessionActor, SessionEnded, Timers
from contracts.openai import failure_status
from contracts.session import Failed, Finished, Message, Started, TextDelta, Usage
from tests.actors.sessions.sessions import FAST_LADDER, collect, fake_spec, pid_file, run_once
from tests.fakes.fake_cli import answer_text, expected_tokens
from tests.processes import alive, gone_within, group_members

PROVIDERS = ("claude", "codex", "gemini", "amp")
PROMPT = "Say hello to the session actor."
QUICK = Timers(first_event=1.0, idle=1.0, total=10.0)
# The ladder may take its whole budget; SIGKILL and the reap follow at once.
REAP_BUDGET = FAST_LADDER.budget + 1.0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_provider_answers_with_its_text_and_reported_usage(
    provider: str, tmp_path: Path
) -> None:
    session, events = await run_once(fake_spec(provider, tmp_path), PROMPT)
    assert isinstance(events[0], Started)
    assert events[0].provider == provider
    finished = events[-1]
    assert isinstance(finished, Finished), events[-1]
    assert finished.text == answer_text(provider, PROMPT)
    usage = [event for event in events if isinstance(event, Usage)]
    assert [(u.input_tokens, u.output_tokens) for u in usage] == [expected_tokens(provider, PROMPT)]
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta | Message))
    assert streamed == finished.text
    assert not alive(pid_file(tmp_path, "leader"))
    assert session.ended.is_set()


@pytest.mark.parametrize("provider", ["claude", "gemini"])
async def test_claude_and_gemini_stream_token_deltas(provider: str, tmp_path: Path) -> None:
    _, events = await run_once(fake_spec(provider, tmp_path), PROMPT)
    assert sum(isinstance(event, TextDelta) for event in events) >= 3


FAULTS = [
    ("silent_start", "timeout"),
    ("silent_mid", "timeout"),
    ("crash_mid", "crashed"),
    ("nonjson", "protocol_error"),
    ("huge_line", "output_too_large"),
    ("not_logged_in", "not_logged_in"),
    ("ignore_term", "timeout"),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("mode", "kind"), FAULTS)
async def test_each_fault_mode_gives_its_failed_kind_and_the_group_is_reaped(
    provider: str, mode: str, kind: str, tmp_path: Path
) -> None:
    spec = fake_spec(provider, tmp_path, mode=mode, timers=QUICK)
    start = trio.current_time()
    _, events = await run_once(spec, PROMPT)
    failed = events[-1]
    assert isinstance(failed, Failed), events[-1]
    assert failed.kind == kind, failed
    assert isinstance(events[0], Started)
    assert sum(isinstance(event, Failed | Finished) for event in events) == 1
    leader = pid_file(tmp_path, "leader")
    assert not alive(leader)
    assert group_members(leader) == []  # the whole process group, not only its leader
    # Timers first, then at most the ladder: nothing waits for more.
    assert trio.current_time() - start < QUICK.first_event + QUICK.idle + REAP_BUDGET


async def test_a_crash_keeps_the_stderr_tail_for_diagnostics(tmp_path: Path) -> None:
    _, events = await run_once(fake_spec("claude", tmp_path, mode="crash_mid"), PROMPT)
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.exit_code == 3
    assert failed.stderr_tail is not None
    assert "simulated crash" in failed.stderr_tail


async def test_a_stderr_flood_is_drained_and_only_its_tail_kept(tmp_path: Path) -> None:
    _, events = await run_once(fake_spec("codex", tmp_path, mode="stderr_flood"), PROMPT)
    assert isinstance(events[-1], Finished)


async def test_a_missing_executable_is_not_installed(tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path)
    spec = dataclasses.replace(spec, executable="/nonexistent/claude")
    session, events = await run_once(spec, PROMPT)
    assert session.pid is None
    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, Failed)
    assert failed.kind == "not_installed"
    assert "/nonexistent/claude" in failed.message


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_grandchild_dies_with_its_session(provider: str, tmp_path: Path) -> None:
    _, events = await run_once(fake_spec(provider, tmp_path, mode="grandchild"), PROMPT)
    assert isinstance(events[-1], Finished)
    assert await gone_within([pid_file(tmp_path, "grandchild")], REAP_BUDGET)


async def test_a_grandchild_is_reaped_when_the_session_is_cancelled(tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path, mode="grandchild")
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        events = session.submit("[fake:slow] take your time")
        await events.receive()
        session.cancel()
    assert await gone_within([pid_file(tmp_path, "leader")], REAP_BUDGET)


async def test_cancelling_gives_failed_cancelled_and_reaps_the_cli(tmp_path: Path) -> None:
    spec = fake_spec("gemini", tmp_path, mode="slow")
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        events = session.submit(PROMPT)
        first = await events.receive()
        assert isinstance(first, Started)
        session.cancel()
        rest = [event async for event in events]
    assert rest
    assert isinstance(rest[-1], Failed)
    assert rest[-1].kind == "cancelled"
    assert not alive(pid_file(tmp_path, "leader"))


async def test_a_consumer_that_goes_away_reaps_the_cli_within_the_ladder_budget(
    tmp_path: Path,
) -> None:
    spec = fake_spec("claude", tmp_path, mode="slow", extra_env={"FAKE_CLI_DELAY_MS": "300"})
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        events = session.submit(PROMPT)
        await events.receive()  # Started: the CLI is answering, slowly
        leader = pid_file(tmp_path, "leader")
        start = trio.current_time()
        events.close()  # the consumer leaves; the next event the actor sends notices
        with trio.fail_after(REAP_BUDGET + 1.0):
            await session.ended.wait()
    assert trio.current_time() - start < REAP_BUDGET + 1.0
    assert not alive(leader)


async def test_a_session_takes_one_prompt_only(tmp_path: Path) -> None:
    spec = fake_spec("amp", tmp_path)
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        assert session.parked
        await collect(session, PROMPT)
        with pytest.raises(SessionEnded):
            session.submit(PROMPT)


async def test_the_private_directory_is_removed_afterwards(tmp_path: Path) -> None:
    await run_once(fake_spec("codex", tmp_path), PROMPT)
    assert list((tmp_path / "sessions").iterdir()) == []


async def test_a_session_parked_on_stdin_keeps_its_process_until_the_prompt(
    tmp_path: Path,
) -> None:
    spec = fake_spec("claude", tmp_path, extra_env={"FAKE_CLI_STARTUP_MS": "0"})
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        assert session.pid is not None
        await trio.sleep(0.3)
        assert alive(session.pid)
        assert session.parked
        events = await collect(session, PROMPT)
    assert isinstance(events[-1], Finished)


async def test_a_reported_success_is_sent_before_the_cli_has_exited(tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path, mode="linger")
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        events = session.submit(PROMPT)
        async for event in events:
            if isinstance(event, Finished):
                break
        leader = pid_file(tmp_path, "leader")
        assert alive(leader)  # still lingering: the answer did not wait for the exit
        assert not session.reaped.is_set()
        await session.reaped.wait()
    assert not alive(leader)


async def test_a_cli_that_exits_after_its_result_still_ends_with_one_finished(
    tmp_path: Path,
) -> None:
    _, events = await run_once(fake_spec("codex", tmp_path, mode="linger"), PROMPT)
    assert isinstance(events[-1], Finished)
    assert sum(isinstance(event, Failed | Finished) for event in events) == 1


async def test_a_cli_that_never_reads_its_prompt_times_out(tmp_path: Path) -> None:
    # Start-up longer than the deadline: the 200 kB prompt fills the pipe and blocks.
    spec = fake_spec("claude", tmp_path, timers=QUICK, extra_env={"FAKE_CLI_STARTUP_MS": "60000"})
    _, events = await run_once(spec, "x" * 200_000)
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.kind == "timeout"
    assert "did not read its prompt" in failed.message
    assert not alive(pid_file(tmp_path, "leader"))


async def test_a_cli_that_only_retries_until_the_deadline_is_unreachable(tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path, mode="retrying", timers=QUICK)
    _, events = await run_once(spec, PROMPT)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == "unreachable", failed
    assert f"could not reach its service within {QUICK.first_event:g} s" in failed.message
    assert "check this host's network" in failed.message
    assert failure_status(failed.kind) == 503
    assert not alive(pid_file(tmp_path, "leader"))


async def test_a_silent_cli_is_still_a_timeout_not_unreachable(tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path, mode="silent_start", timers=QUICK)
    _, events = await run_once(spec, PROMPT)
    assert isinstance(events[-1], Failed) and events[-1].kind == "timeout"
