"""Supervision (SPEC §5): restart types, strategies, intensity, backoff, ordered stops."""

from __future__ import annotations

import functools
import itertools
import logging
import math
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import pytest
import trio

import actors.supervisor.tree
from actors.supervisor import (
    ChildSpec,
    DynamicSupervisor,
    LiveChild,
    Restart,
    Strategy,
    SupervisorEscalation,
    SupervisorOptions,
    supervise,
    supervise_dynamic,
)

Command = Literal["crash", "return"]


class ChildCrash(Exception):
    """What a probe child raises when told to crash."""


@dataclass
class Probe:
    """Children that write every start, stop, crash and return to one ordered log.

    A child waits for a command (``crash`` or ``finish``) unless told to ``then`` crash or
    return ``after`` some seconds. Each start's value is ``"<id>#<n>"`` for its n-th start.
    """

    log: list[str] = field(default_factory=list)
    started_at: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _commands: dict[str, trio.MemorySendChannel[Command]] = field(default_factory=dict)

    def spec(
        self,
        child_id: str,
        restart: Restart = Restart.PERMANENT,
        *,
        then: Command | None = None,
        after: float = 0.0,
        warmup: float = 0.0,
        linger: float = 0.0,
        shutdown: float = 5.0,
    ) -> ChildSpec:
        send, receive = trio.open_memory_channel[Command](math.inf)
        self._commands[child_id] = send

        async def child(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            await trio.sleep(warmup)
            self.log.append(f"start {child_id}")
            self.started_at[child_id].append(trio.current_time())
            task_status.started(f"{child_id}#{len(self.started_at[child_id])}")
            try:
                if then is None:
                    command = await receive.receive()
                else:
                    await trio.sleep(after)
                    command = then
            except trio.Cancelled:
                with trio.CancelScope(shield=True):
                    await trio.sleep(linger)
                self.log.append(f"stop {child_id}")
                raise
            self.log.append(f"{command} {child_id}")
            if command == "crash":
                raise ChildCrash(child_id)

        return ChildSpec(child_id, child, restart, shutdown)

    def crash(self, child_id: str) -> None:
        self._commands[child_id].send_nowait("crash")

    def finish(self, child_id: str) -> None:
        self._commands[child_id].send_nowait("return")

    def since(self, mark: int) -> list[str]:
        return self.log[mark:]


async def refuses_to_start(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    raise ChildCrash("refused")


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# Restart types


async def test_permanent_child_is_restarted_after_normal_exit(autojump_clock: trio.abc.Clock):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("a", Restart.PERMANENT)])
        probe.finish("a")
        await trio.sleep(1)
        assert probe.log == ["start a", "return a", "start a"]
        nursery.cancel_scope.cancel()


async def test_permanent_child_is_restarted_after_crash(autojump_clock: trio.abc.Clock):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("a", Restart.PERMANENT)])
        probe.crash("a")
        await trio.sleep(1)
        assert probe.log == ["start a", "crash a", "start a"]
        nursery.cancel_scope.cancel()


async def test_transient_child_is_restarted_after_crash(autojump_clock: trio.abc.Clock):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("a", Restart.TRANSIENT)])
        probe.crash("a")
        await trio.sleep(1)
        assert probe.log == ["start a", "crash a", "start a"]
        nursery.cancel_scope.cancel()


async def test_transient_child_is_not_restarted_after_normal_exit(autojump_clock: trio.abc.Clock):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("a", Restart.TRANSIENT), probe.spec("b")])
        probe.finish("a")
        await trio.sleep(10)
        assert probe.log == ["start a", "start b", "return a"]
        nursery.cancel_scope.cancel()
    assert probe.log[-1] == "stop b"


@pytest.mark.parametrize("ending", ["crash", "return"])
async def test_temporary_child_is_never_restarted(autojump_clock: trio.abc.Clock, ending: Command):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("a", Restart.TEMPORARY)])
        if ending == "crash":
            probe.crash("a")
        else:
            probe.finish("a")
        await trio.sleep(10)
        assert probe.log == ["start a", f"{ending} a"]
        nursery.cancel_scope.cancel()


# Start order and strategies


async def test_supervisor_is_ready_only_after_each_child_started_in_list_order(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    specs = [probe.spec(name, warmup=1.0) for name in "abc"]
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, specs)
        assert probe.log == ["start a", "start b", "start c"]
        assert [probe.started_at[name][0] for name in "abc"] == [1.0, 2.0, 3.0]
        nursery.cancel_scope.cancel()


async def test_one_for_one_restarts_only_the_failed_child(autojump_clock: trio.abc.Clock):
    probe = Probe()
    options = SupervisorOptions(strategy=Strategy.ONE_FOR_ONE)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec(name) for name in "abc"], options)
        mark = len(probe.log)
        probe.crash("b")
        await trio.sleep(1)
        assert probe.since(mark) == ["crash b", "start b"]
        nursery.cancel_scope.cancel()


async def test_one_for_all_stops_the_others_in_reverse_then_starts_all_in_order(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    options = SupervisorOptions(strategy=Strategy.ONE_FOR_ALL)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec(name) for name in "abc"], options)
        mark = len(probe.log)
        probe.crash("b")
        await trio.sleep(1)
        assert probe.since(mark) == [
            "crash b",
            "stop c",
            "stop a",
            "start a",
            "start b",
            "start c",
        ]
        nursery.cancel_scope.cancel()


async def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    options = SupervisorOptions(strategy=Strategy.REST_FOR_ONE)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec(name) for name in "abcd"], options)
        mark = len(probe.log)
        probe.crash("b")
        await trio.sleep(1)
        assert probe.since(mark) == [
            "crash b",
            "stop d",
            "stop c",
            "start b",
            "start c",
            "start d",
        ]
        nursery.cancel_scope.cancel()
    assert probe.since(mark + 6) == ["stop d", "stop c", "stop b", "stop a"]


async def test_one_for_all_stops_a_temporary_sibling_and_does_not_restart_it(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
):
    probe = Probe()
    specs = [probe.spec("a"), probe.spec("t", Restart.TEMPORARY), probe.spec("c")]
    options = SupervisorOptions(strategy=Strategy.ONE_FOR_ALL)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, specs, options)
        mark = len(probe.log)
        probe.crash("c")
        await trio.sleep(1)
        assert probe.since(mark) == ["crash c", "stop t", "stop a", "start a", "start c"]
        nursery.cancel_scope.cancel()
    assert any("restarting ['a', 'c'] (one_for_all" in r.getMessage() for r in caplog.records)


# Intensity, backoff, escalation


async def test_exceeding_restart_intensity_stops_children_in_reverse_and_escalates(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
):
    probe = Probe()
    specs = [probe.spec("a"), probe.spec("b", then="crash"), probe.spec("c")]
    with pytest.raises(SupervisorEscalation) as raised:
        await supervise(specs, SupervisorOptions(name="root", max_restarts=3, max_seconds=5.0))
    escalation = raised.value
    assert (escalation.supervisor, escalation.child_id) == ("root", "b")
    assert isinstance(escalation.cause, ChildCrash)
    assert escalation.__cause__ is escalation.cause
    assert "more than 3 restarts within 5.0s" in str(escalation)
    assert probe.log == [
        "start a",
        "start b",
        "crash b",
        "start c",
        *["start b", "crash b"] * 3,
        "stop c",
        "stop a",
    ]
    assert any(
        r.levelno == logging.ERROR and "escalating" in r.getMessage() and "'b'" in r.getMessage()
        for r in caplog.records
    )


async def test_restarts_further_apart_than_the_window_never_escalate(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    spec = probe.spec("a", then="crash", after=2.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [spec], SupervisorOptions(max_restarts=1, max_seconds=1.0))
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert len(probe.started_at["a"]) >= 14
    assert gaps(probe.started_at["a"]) == pytest.approx([2.05] * (len(probe.started_at["a"]) - 1))


async def test_restarts_back_off_exponentially_from_50ms(autojump_clock: trio.abc.Clock):
    probe = Probe()
    with pytest.raises(SupervisorEscalation):
        await supervise(
            [probe.spec("a", then="crash")], SupervisorOptions(max_restarts=5, max_seconds=60)
        )
    assert gaps(probe.started_at["a"]) == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8])


async def test_restart_backoff_is_capped(autojump_clock: trio.abc.Clock):
    probe = Probe()
    options = SupervisorOptions(max_restarts=4, max_seconds=60, backoff_cap=0.15)
    with pytest.raises(SupervisorEscalation):
        await supervise([probe.spec("a", then="crash")], options)
    assert gaps(probe.started_at["a"]) == pytest.approx([0.05, 0.1, 0.15, 0.15])


async def test_crash_and_restart_are_logged_with_child_id_cause_attempt_and_backoff(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("b")], SupervisorOptions(name="root"))
        probe.crash("b")
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    messages = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert (
        "asm.supervisor",
        logging.ERROR,
        "supervisor 'root': child 'b' crashed: ChildCrash('b')",
    ) in messages
    assert (
        "asm.supervisor",
        logging.WARNING,
        "supervisor 'root': restarting ['b'] (one_for_one, attempt 1, backoff 0.050s) "
        "after child 'b' ended with ChildCrash('b')",
    ) in messages


async def test_supervisor_that_cannot_start_a_child_stops_the_started_ones_and_fails(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    specs = [probe.spec("a"), probe.spec("b"), ChildSpec("c", refuses_to_start)]
    with pytest.raises(SupervisorEscalation) as raised:
        await supervise(specs)
    assert raised.value.child_id == "c"
    assert isinstance(raised.value.cause, ChildCrash)
    assert probe.log == ["start a", "start b", "stop b", "stop a"]


async def test_child_that_fails_to_restart_is_retried_and_counts_toward_intensity(
    autojump_clock: trio.abc.Clock,
):
    attempts: list[float] = []

    async def crashes_then_refuses(
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        attempts.append(trio.current_time())
        if len(attempts) > 1:
            raise ChildCrash("refused")
        task_status.started()
        raise ChildCrash("crashed")

    with pytest.raises(SupervisorEscalation) as raised:
        await supervise([ChildSpec("a", crashes_then_refuses)], SupervisorOptions(max_restarts=2))
    assert raised.value.cause is not None
    assert raised.value.cause.args == ("refused",)
    assert gaps(attempts) == pytest.approx([0.05, 0.1])


async def test_nested_supervisor_escalation_is_a_crash_its_parent_restarts_then_escalates(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    inner = functools.partial(
        supervise, [probe.spec("b", then="crash")], SupervisorOptions(name="inner", max_restarts=1)
    )
    specs = [probe.spec("a"), ChildSpec("inner", inner, shutdown=math.inf)]
    with pytest.raises(SupervisorEscalation) as raised:
        await supervise(specs, SupervisorOptions(name="outer", max_restarts=1))
    outer = raised.value
    assert (outer.supervisor, outer.child_id) == ("outer", "inner")
    assert isinstance(outer.cause, SupervisorEscalation)
    assert (outer.cause.supervisor, outer.cause.child_id) == ("inner", "b")
    assert isinstance(outer.cause.cause, ChildCrash)
    # Each incarnation of the inner supervisor starts b twice; the outer one restarted it once.
    assert probe.log.count("start b") == 4
    assert probe.log[-1] == "stop a"


# Stopping


async def test_cancelled_supervisor_stops_children_in_reverse_start_order_nested_too(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    inner = functools.partial(supervise, [probe.spec("b1"), probe.spec("b2")])
    specs = [probe.spec("a"), ChildSpec("inner", inner, shutdown=math.inf), probe.spec("c")]
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, specs)
        mark = len(probe.log)
        nursery.cancel_scope.cancel()
    assert probe.log[:mark] == ["start a", "start b1", "start b2", "start c"]
    assert probe.since(mark) == ["stop c", "stop b2", "stop b1", "stop a"]


async def test_shutdown_budget_overrun_is_one_calm_line_and_the_supervisor_still_waits(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "asm.supervisor")
    probe = Probe()
    specs = [probe.spec("a"), probe.spec("slow", linger=3.0, shutdown=1.0)]
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, specs, SupervisorOptions(name="root"))
        cancelled_at = trio.current_time()
        nursery.cancel_scope.cancel()
    assert trio.current_time() - cancelled_at == pytest.approx(3.0)
    assert probe.log[-2:] == ["stop slow", "stop a"]
    overruns = [r for r in caplog.records if "still stopping" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in overruns] == [
        (logging.INFO, "supervisor 'root': child 'slow' still stopping after 1s; waiting for it")
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_child_within_its_shutdown_budget_logs_no_overrun(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "asm.supervisor")
    probe = Probe()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, [probe.spec("a", linger=0.5, shutdown=1.0)])
        nursery.cancel_scope.cancel()
    assert probe.log == ["start a", "stop a"]
    assert not [r for r in caplog.records if "still stopping" in r.getMessage()]


# Dynamic supervisor


async def test_start_child_returns_the_value_the_child_started_with(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        assert await sup.start_child(probe.spec("a")) == "a#1"
        assert await sup.start_child(probe.spec("b")) == "b#1"
        assert sup.which_children() == [LiveChild("a", "a#1"), LiveChild("b", "b#1")]
        nursery.cancel_scope.cancel()


async def test_start_child_failure_raises_in_the_caller_and_the_supervisor_carries_on(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        with pytest.raises(ChildCrash):
            await sup.start_child(ChildSpec("bad", refuses_to_start))
        assert await sup.start_child(probe.spec("a")) == "a#1"
        assert sup.which_children() == [LiveChild("a", "a#1")]
        # The failed id is free again.
        assert await sup.start_child(probe.spec("bad")) == "bad#1"
        nursery.cancel_scope.cancel()


async def test_start_child_refuses_an_id_already_in_use(autojump_clock: trio.abc.Clock):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        await sup.start_child(probe.spec("a"))
        with pytest.raises(ValueError, match="'a'"):
            await sup.start_child(probe.spec("a"))
        assert probe.log == ["start a"]
        nursery.cancel_scope.cancel()


async def test_terminate_child_stops_a_permanent_child_for_good(autojump_clock: trio.abc.Clock):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        await sup.start_child(probe.spec("a", Restart.PERMANENT))
        await sup.start_child(probe.spec("b"))
        await sup.terminate_child("a")
        await trio.sleep(10)
        assert probe.log == ["start a", "start b", "stop a"]
        assert sup.which_children() == [LiveChild("b", "b#1")]
        with pytest.raises(LookupError):
            await sup.terminate_child("a")
        nursery.cancel_scope.cancel()


async def test_terminate_child_waits_for_the_child_beyond_its_budget(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "asm.supervisor")
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        await sup.start_child(probe.spec("a", linger=2.0, shutdown=0.5))
        before = trio.current_time()
        await sup.terminate_child("a")
        assert trio.current_time() - before == pytest.approx(2.0)
        assert probe.log == ["start a", "stop a"]
        assert any("'a' still stopping" in r.getMessage() for r in caplog.records)
        nursery.cancel_scope.cancel()


async def test_dynamic_temporary_child_is_not_restarted_after_crash(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        await sup.start_child(probe.spec("s", Restart.TEMPORARY))
        probe.crash("s")
        await trio.sleep(10)
        assert probe.log == ["start s", "crash s"]
        assert sup.which_children() == []
        nursery.cancel_scope.cancel()


async def test_dynamic_permanent_child_is_restarted_and_reports_its_new_value(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        await sup.start_child(probe.spec("a"))
        await sup.start_child(probe.spec("b"))
        probe.crash("a")
        await trio.sleep(0.01)
        assert sup.which_children() == [LiveChild("b", "b#1")], "a is backing off"
        await trio.sleep(1)
        assert probe.log == ["start a", "start b", "crash a", "start a"]
        # A restarted child keeps its place in start order.
        assert sup.which_children() == [LiveChild("a", "a#2"), LiveChild("b", "b#1")]
        nursery.cancel_scope.cancel()
    assert probe.log[-2:] == ["stop b", "stop a"]


async def test_dynamic_supervisor_stops_live_children_in_reverse_start_order(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    async with trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)
        for name in "abc":
            await sup.start_child(probe.spec(name, Restart.TEMPORARY))
        nursery.cancel_scope.cancel()
    assert probe.log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    with pytest.raises(trio.ClosedResourceError):
        await sup.start_child(probe.spec("late"))


async def test_child_that_comes_up_after_its_dynamic_supervisor_stopped_is_stopped_at_once(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    outcome: list[str] = []
    async with trio.open_nursery() as callers, trio.open_nursery() as nursery:
        sup: DynamicSupervisor = await nursery.start(supervise_dynamic)

        async def late_caller() -> None:
            try:
                await sup.start_child(probe.spec("late", warmup=1.0))
            except trio.ClosedResourceError:
                outcome.append("closed")

        callers.start_soon(late_caller)
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    assert outcome == ["closed"]
    assert probe.log == ["start late", "stop late"]


async def test_dynamic_supervisor_escalates_when_a_child_restarts_too_often(
    autojump_clock: trio.abc.Clock,
):
    probe = Probe()
    options = SupervisorOptions(name="sessions", max_restarts=2)
    with pytest.RaisesGroup(SupervisorEscalation) as raised:
        async with trio.open_nursery() as nursery:
            sup: DynamicSupervisor = await nursery.start(supervise_dynamic, options)
            await sup.start_child(probe.spec("steady"))
            await sup.start_child(probe.spec("flaky", then="crash"))
            await trio.sleep_forever()
    escalation = raised.value.exceptions[0]
    assert isinstance(escalation, SupervisorEscalation)
    assert (escalation.supervisor, escalation.child_id) == ("sessions", "flaky")
    assert probe.log.count("start flaky") == 3
    assert probe.log[-1] == "stop steady"


async def test_dynamic_supervisor_accepts_only_one_for_one():
    with pytest.raises(ValueError, match="ONE_FOR_ONE"):
        await supervise_dynamic(SupervisorOptions(strategy=Strategy.ONE_FOR_ALL))


async def test_static_supervisor_refuses_duplicate_child_ids():
    probe = Probe()
    with pytest.raises(ValueError, match="unique"):
        await supervise([probe.spec("a"), probe.spec("a")])
    assert probe.log == []


def test_module_docstring_example_runs() -> None:
    """The example that opens actors/supervisor/tree.py runs as written (real clock, ~50 ms)."""
    doc = actors.supervisor.tree.__doc__
    assert doc is not None
    block: list[str] = []
    for line in doc.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        block.append(line)
    example = textwrap.dedent("\n".join(block))
    assert example.strip().endswith("trio.run(main)")
    exec(compile(example, "<actors.supervisor.tree docstring>", "exec"), {})
