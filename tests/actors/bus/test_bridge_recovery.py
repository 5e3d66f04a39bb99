"""The bridge acts once per (name, correlation id): repeats, restarts, competing bridges.

BUS.md §3: a crash between publish and ack redelivers the request, and a repeated
(name, correlation_id) is answered with the stored response instead of acting twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from actors.bus import InferenceBridge, ProviderRegistry
from contracts.inference import INSTALL_REQUEST, STATUS_REQUEST
from tests.actors.bus.bridges import body, publish, response_to, responses, running_bridge
from tests.fakes.inference_provider import FakeInferenceProvider
from tests.fakes.recording_event_log import RecordingEventLog, SimulatedCrash
from transport.event_log import MemoryEventLog, open_memory_log

NODE = {"provider": "ollama", "node_id": "gpu-1"}
INSTALL = {**NODE, "dry_run": False, "confirm": True}
#: Short deadlines, so an unacked request returns to the group within a fraction of a second.
QUICK_DEADLINES = {STATUS_REQUEST: 0.2, INSTALL_REQUEST: 0.2}
QUICK_MARGIN = 0.1


@pytest.fixture
async def memory_log() -> AsyncIterator[MemoryEventLog]:
    async with open_memory_log() as log:
        yield log


async def test_repeated_correlation_id_is_answered_without_acting_again(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-1")
        first_response = await response_to(memory_log, first)
        again = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-1")
        again_response = await response_to(memory_log, again)
    assert provider.count("install") == 1
    assert bytes(again_response.payload) == bytes(first_response.payload)
    assert again_response.correlation_id == "deploy-1"


async def test_duplicate_arriving_while_the_first_runs_waits_for_its_answer(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    release = provider.hold("install")
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-2")
        await provider.wait_for_calls(1)
        again = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-2")
        release.set()
        answers = [await response_to(memory_log, request) for request in (first, again)]
    assert provider.count("install") == 1
    assert [body(answer)["ok"] for answer in answers] == [True, True]
    assert bytes(answers[0].payload) == bytes(answers[1].payload)


async def test_same_correlation_id_on_another_request_name_is_a_new_request(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    async with running_bridge(memory_log, provider):
        install = await publish(memory_log, INSTALL_REQUEST, INSTALL, "shared-id")
        await response_to(memory_log, install)
        status = await publish(memory_log, STATUS_REQUEST, NODE, "shared-id")
        answer = body(await response_to(memory_log, status))
    assert [operation for operation, _ in provider.calls] == ["install", "status"]
    assert answer["runtime_status"] == "ready"


async def run_until_crash(
    bridge: InferenceBridge, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    try:
        await bridge.run(task_status=task_status)
    except* SimulatedCrash:
        pass


async def test_bridge_restarted_after_crash_between_publish_and_ack_does_not_act_again(
    memory_log: MemoryEventLog,
) -> None:
    crashing = RecordingEventLog(memory_log)
    crashing.crash_next_ack()
    first_provider = FakeInferenceProvider()
    first = InferenceBridge(
        crashing,
        ProviderRegistry([first_provider]),
        consumer="bridge-1",
        deadlines=QUICK_DEADLINES,
        ack_margin=QUICK_MARGIN,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(run_until_crash, first)
        request = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-3")
        await crashing.crashed()
    assert crashing.steps == [("publish", request.id), ("crash", request.id)]

    restarted = RecordingEventLog(memory_log)
    second_provider = FakeInferenceProvider()
    async with running_bridge(
        restarted,
        second_provider,
        consumer="bridge-2",
        deadlines=QUICK_DEADLINES,
        ack_margin=QUICK_MARGIN,
    ):
        # The unacked request returns to the group after ack_wait, to the new bridge.
        assert await restarted.acked(request.id) is True
    assert first_provider.count("install") == 1
    assert second_provider.calls == []
    # The stored response answered it already: the redelivery is acked, not re-answered.
    assert restarted.steps == [("ack", request.id)]
    [stored] = await responses(memory_log, INSTALL_REQUEST, "deploy-3")
    assert body(stored)["ok"] is True


async def test_repeat_sent_after_a_restart_gets_the_response_stored_in_the_log(
    memory_log: MemoryEventLog,
) -> None:
    before = FakeInferenceProvider()
    async with running_bridge(memory_log, before):
        first = await publish(memory_log, STATUS_REQUEST, NODE, "status-4")
        original = await response_to(memory_log, first)
    after = FakeInferenceProvider()
    async with running_bridge(memory_log, after):
        again = await publish(memory_log, STATUS_REQUEST, NODE, "status-4")
        repeated = await response_to(memory_log, again)
    assert before.count("status") == 1
    assert after.calls == []
    assert bytes(repeated.payload) == bytes(original.payload)
    assert repeated.metadata == {"request_id": again.id, "answer_of": first.id}


async def test_answers_older_than_the_window_are_acted_on_again() -> None:
    now = [1_000_000.0]
    provider = FakeInferenceProvider()
    async with (
        open_memory_log(clock=lambda: now[0]) as log,
        running_bridge(log, provider, idempotency_seconds=60.0, clock=lambda: now[0]),
    ):
        first = await publish(log, STATUS_REQUEST, NODE, "status-5")
        await response_to(log, first)
        now[0] += 30.0
        within = await publish(log, STATUS_REQUEST, NODE, "status-5")
        await response_to(log, within)
        assert provider.count("status") == 1
        now[0] += 31.0  # 61 s after the first answer: neither memory nor log reuse it
        late = await publish(log, STATUS_REQUEST, NODE, "status-5")
        await response_to(log, late)
    assert provider.count("status") == 2


async def test_two_bridges_in_one_group_answer_each_request_once(
    memory_log: MemoryEventLog,
) -> None:
    log = RecordingEventLog(memory_log)
    providers = [FakeInferenceProvider(), FakeInferenceProvider()]
    correlation_ids = [f"many-{index}" for index in range(20)]
    async with (
        running_bridge(log, providers[0], consumer="bridge-a"),
        running_bridge(log, providers[1], consumer="bridge-b"),
    ):
        requests = [await publish(memory_log, STATUS_REQUEST, NODE, c) for c in correlation_ids]
        for request in requests:
            assert await log.acked(request.id) is True
    assert sum(len(provider.calls) for provider in providers) == len(requests)
    for correlation_id in correlation_ids:
        assert len(await responses(memory_log, STATUS_REQUEST, correlation_id)) == 1
