"""The inference bridge answers each request once, under its correlation id (BUS.md §3).

Restarts, repeats and competing bridges are in ``test_bridge_recovery.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest
import trio

from actors.bus import InferenceBridge, ProviderRegistry
from contracts.events import ListenQuery
from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    InstallResponse,
    Invalid,
    validate,
)
from tests.actors.bus.bridges import body, publish, response_to, running_bridge
from tests.fakes.inference_provider import FakeInferenceProvider, Operation
from tests.fakes.recording_event_log import RecordingEventLog
from transport.event_log import MemoryEventLog, MemoryEventStream, open_memory_log

NODE: dict[str, object] = {"provider": "ollama", "node_id": "gpu-1"}
REQUESTS: dict[str, tuple[dict[str, object], Operation]] = {
    INSTALL_REQUEST: ({**NODE, "dry_run": False, "confirm": True}, "install"),
    MODEL_ENSURE_REQUEST: ({**NODE, "model": "llama3.2:3b"}, "ensure_model"),
    STATUS_REQUEST: (NODE, "status"),
    VERIFY_REQUEST: ({**NODE, "checks": ["runtime-ready"]}, "verify"),
}


@pytest.fixture
async def memory_log() -> AsyncIterator[MemoryEventLog]:
    async with open_memory_log() as log:
        yield log


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_each_request_is_answered_under_its_correlation_id_then_acked(
    memory_log: MemoryEventLog, name: str
) -> None:
    log = RecordingEventLog(memory_log)
    provider = FakeInferenceProvider()
    payload, operation = REQUESTS[name]
    async with running_bridge(log, provider, consumer="bridge-1"):
        request = await publish(memory_log, name, payload, "corr-1")
        response = await response_to(log, request)
        assert await log.acked(request.id) is True
    assert response.name == RESPONSE_FOR[name]
    assert response.correlation_id == "corr-1"
    assert response.metadata == {"request_id": request.id}
    assert not isinstance(validate(response.name, bytes(response.payload)), Invalid)
    assert body(response)["ok"] is True
    assert log.steps == [("publish", request.id), ("ack", request.id)]
    assert [done for done, _ in provider.calls] == [operation]
    # Acked: nothing of it is pending any more, so acking again finds nothing.
    assert await memory_log.ack("asm-inference", "bridge-1", request.id) is False


async def test_invalid_request_is_answered_bad_request_naming_the_rule(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, STATUS_REQUEST, {"provider": "ollama"}, "bad-1")
        answer = body(await response_to(memory_log, request))
    assert answer["ok"] is False
    assert answer["error_class"] == "bad_request"
    assert answer["diagnostics"][0].startswith("required_fields:")
    assert answer["provider"] == "ollama"
    assert provider.calls == []


async def test_payload_that_is_not_an_object_is_answered_bad_request(
    memory_log: MemoryEventLog,
) -> None:
    async with running_bridge(memory_log, FakeInferenceProvider()):
        request = await publish(memory_log, MODEL_ENSURE_REQUEST, ["not", "an", "object"], "b-2")
        answer = body(await response_to(memory_log, request))
    assert answer["error_class"] == "bad_request"
    assert answer["diagnostics"][0].startswith("payload_is_object:")
    # Nothing valid to echo: the stand-ins, so the answer is still a valid response.
    assert (answer["provider"], answer["node_id"], answer["model"]) == ("ollama", "-", "-")


async def test_request_without_correlation_id_is_answered_without_one(
    memory_log: MemoryEventLog,
) -> None:
    async with running_bridge(memory_log, FakeInferenceProvider()):
        request = await publish(memory_log, STATUS_REQUEST, NODE)
        response = await response_to(memory_log, request)
    assert response.correlation_id is None
    assert body(response)["ok"] is True


async def test_provider_not_served_here_is_answered_unsupported_provider(
    memory_log: MemoryEventLog,
) -> None:
    other = FakeInferenceProvider(provider_id="vllm")
    async with running_bridge(memory_log, other):
        request = await publish(memory_log, STATUS_REQUEST, NODE, "u-1")
        answer = body(await response_to(memory_log, request))
    assert answer["error_class"] == "unsupported_provider"
    assert answer["runtime_status"] == "unknown"
    assert other.calls == []


async def test_node_no_provider_serves_is_answered_unknown_node(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider(nodes=["gpu-1"])
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, VERIFY_REQUEST, {**NODE, "node_id": "gpu-9"}, "n-1")
        answer = body(await response_to(memory_log, request))
    assert answer["error_class"] == "unknown_node"
    assert "gpu-9" in answer["diagnostics"][0]
    assert provider.calls == []


async def test_second_install_on_a_busy_node_is_answered_conflict(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    release = provider.hold("install")
    payload, _ = REQUESTS[INSTALL_REQUEST]
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, INSTALL_REQUEST, payload, "i-1")
        await provider.wait_for_calls(1)
        second = await publish(
            memory_log, MODEL_ENSURE_REQUEST, REQUESTS[MODEL_ENSURE_REQUEST][0], "m-1"
        )
        conflict = body(await response_to(memory_log, second))
        release.set()
        done = body(await response_to(memory_log, first))
    assert conflict["error_class"] == "conflict"
    assert conflict["model"] == "llama3.2:3b"
    assert done["ok"] is True
    assert [operation for operation, _ in provider.calls] == ["install"]


async def test_status_is_answered_while_an_install_runs(memory_log: MemoryEventLog) -> None:
    provider = FakeInferenceProvider()
    release = provider.hold("install")
    async with running_bridge(memory_log, provider):
        install = await publish(memory_log, INSTALL_REQUEST, REQUESTS[INSTALL_REQUEST][0], "i-2")
        await provider.wait_for_calls(1)
        status = await publish(memory_log, STATUS_REQUEST, NODE, "s-2")
        answer = body(await response_to(memory_log, status))
        assert not release.is_set()
        release.set()
        await response_to(memory_log, install)
    assert answer["ok"] is True
    assert answer["runtime_status"] == "ready"


async def test_request_past_its_deadline_is_answered_timeout(memory_log: MemoryEventLog) -> None:
    provider = FakeInferenceProvider()
    provider.sleep("install")  # forever
    async with running_bridge(memory_log, provider, deadlines={INSTALL_REQUEST: 0.05}):
        request = await publish(memory_log, INSTALL_REQUEST, REQUESTS[INSTALL_REQUEST][0], "t-1")
        answer = body(await response_to(memory_log, request))
    assert answer["ok"] is False
    assert answer["error_class"] == "timeout"
    assert answer["diagnostics"][0].startswith("timeout:")


async def test_provider_exception_is_answered_provider_error_without_its_text(
    memory_log: MemoryEventLog, caplog: pytest.LogCaptureFixture
) -> None:
    provider = FakeInferenceProvider()
    provider.fail_with("status", RuntimeError("http://admin:hunter2-secret@gpu-1 refused"))
    with caplog.at_level(logging.DEBUG):
        async with running_bridge(memory_log, provider):
            request = await publish(memory_log, STATUS_REQUEST, NODE, "e-1")
            response = await response_to(memory_log, request)
    answer = body(response)
    assert answer["error_class"] == "provider_error"
    assert "RuntimeError" in answer["diagnostics"][0]
    assert b"hunter2" not in bytes(response.payload)
    assert "hunter2" not in caplog.text
    assert "provider_error" in caplog.text


async def test_invalid_provider_answer_is_answered_provider_error(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    bad_action = InstallResponse(
        ok=True, provider="ollama", node_id="gpu-1", actions=["Not An Action"], diagnostics=[]
    )
    provider.answer_with("install", bad_action)
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, INSTALL_REQUEST, NODE, "p-1")
        answer = body(await response_to(memory_log, request))
    assert answer["error_class"] == "provider_error"
    assert "action_names" in answer["diagnostics"][0]


async def test_failing_verify_is_passed_on_as_verify_failed(memory_log: MemoryEventLog) -> None:
    provider = FakeInferenceProvider()
    provider.fail_checks("model-ready")
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, VERIFY_REQUEST, NODE, "v-1")
        answer = body(await response_to(memory_log, request))
    assert answer["ok"] is False
    assert answer["error_class"] == "verify_failed"
    assert [(c["name"], c["ok"]) for c in answer["checks"]] == [
        ("runtime-ready", True),
        ("model-ready", False),
    ]


async def test_listen_failure_ends_the_bridge_for_its_supervisor() -> None:
    class LostConnection(Exception):
        pass

    class UnreachableLog(MemoryEventLog):
        def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[MemoryEventStream]:
            raise LostConnection("the Bus Events API went away")

    bridge = InferenceBridge(UnreachableLog(trio.current_time), ProviderRegistry())
    with pytest.raises(ExceptionGroup) as raised:
        await bridge.run()
    assert raised.group_contains(LostConnection)


def test_registry_resolves_names_and_lists_nodes() -> None:
    gpu = FakeInferenceProvider(nodes=["gpu-2", "gpu-1"])
    registry = ProviderRegistry([gpu])
    assert registry.names() == ("ollama",)
    assert registry.nodes() == {"ollama": ("gpu-1", "gpu-2")}
    assert registry.resolve("ollama", "gpu-1") is gpu
    assert registry.lookup("vllm") is None
    with pytest.raises(ValueError, match="already registered"):
        registry.register(FakeInferenceProvider())
