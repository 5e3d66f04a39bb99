"""Idempotency replays what was done (BUS.md §3, decided in ``actors.bus._answer_book``).

A repeat of a request that acted (ok, or an install or model.ensure that failed part-way)
gets the stored answer; a repeat of one that did nothing (configuration, policy, a busy
node, a read-only operation) is asked afresh, so a retry after the operator fixed the
cause gets a fresh answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.bus._answer_book import replayed
from actors.ollama import OllamaProvider, SecretResolver
from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    REQUEST_NAMES,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    ErrorClass,
    InstallResponse,
)
from contracts.nodes import NodeSettings
from tests.actors.bus.bridges import body, publish, response_to, running_bridge
from tests.fakes.inference_provider import FakeInferenceProvider
from transport.event_log import MemoryEventLog, open_memory_log

NODE = {"provider": "ollama", "node_id": "gpu"}
INSTALL = {**NODE, "dry_run": False, "confirm": True}
DONE_FAILURES = {"provider_error", "timeout"}


@pytest.fixture
async def memory_log() -> AsyncIterator[MemoryEventLog]:
    async with open_memory_log() as log:
        yield log


@given(
    st.sampled_from(REQUEST_NAMES),
    st.booleans(),
    st.sampled_from(get_args(ErrorClass)),
)
def test_rule_only_what_was_done_is_replayed(name: str, ok: bool, error_class: str) -> None:
    """Rule: ok answers are replayed, and an install's or model.ensure's provider_error or
    timeout; no other failure (configuration, policy, conflict, status, verify)."""
    payload = b'{"ok":true}' if ok else b'{"ok":false,"error_class":"%s"}' % error_class.encode()
    acts = name in (INSTALL_REQUEST, MODEL_ENSURE_REQUEST)
    assert replayed(name, payload) is (ok or (acts and error_class in DONE_FAILURES))


async def test_an_unknown_node_added_and_restarted_gets_a_fresh_answer_to_the_same_request(
    memory_log: MemoryEventLog,
) -> None:
    """The seed flow: status on a node asm.toml lacks, the operator adds [nodes.gpu] and
    restarts, and the very same request (same correlation id) is answered afresh."""
    before = FakeInferenceProvider(nodes=[])
    async with running_bridge(memory_log, before):
        first = await publish(memory_log, STATUS_REQUEST, NODE, "seed-001")
        unknown = body(await response_to(memory_log, first))
        again = await publish(memory_log, STATUS_REQUEST, NODE, "seed-001")
        still = await response_to(memory_log, again)
    after = FakeInferenceProvider(nodes=["gpu"])
    async with running_bridge(memory_log, after):
        fixed = await publish(memory_log, STATUS_REQUEST, NODE, "seed-001")
        answer = await response_to(memory_log, fixed)
    assert unknown["error_class"] == "unknown_node"
    assert body(still)["error_class"] == "unknown_node"
    assert "answer_of" not in still.metadata  # asked again, not replayed
    assert body(answer)["ok"] is True
    assert answer.metadata == {"request_id": fixed.id}
    assert after.count("status") == 1


@pytest.mark.parametrize(
    "error_class", ["secret_not_found", "policy_denied", "confirmation_required"]
)
async def test_an_install_refused_before_it_ran_is_acted_on_when_sent_again(
    memory_log: MemoryEventLog, error_class: ErrorClass
) -> None:
    provider = FakeInferenceProvider(nodes=["gpu"])
    refused = InstallResponse(
        ok=False,
        provider="ollama",
        node_id="gpu",
        actions=[],
        diagnostics=[f"{error_class}: fix it"],
        runtime_status="unknown",
        error_class=error_class,
    )
    provider.answer_with("install", refused)
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-1")
        assert body(await response_to(memory_log, first))["error_class"] == error_class
        provider.answer_with("install", None)  # the operator fixed the cause
        again = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-1")
        answer = await response_to(memory_log, again)
    assert body(answer)["ok"] is True
    assert provider.count("install") == 2


async def test_an_install_that_failed_part_way_is_replayed_not_run_again(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider(nodes=["gpu"])
    provider.fail_with("install", RuntimeError("half done"))
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-2")
        failed = await response_to(memory_log, first)
    async with running_bridge(memory_log, provider):  # a restart finds it in the log
        again = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-2")
        answer = await response_to(memory_log, again)
    assert body(failed)["error_class"] == "provider_error"
    assert bytes(answer.payload) == bytes(failed.payload)
    assert answer.metadata == {"request_id": again.id, "answer_of": first.id}
    assert provider.count("install") == 1


async def test_a_failing_verify_is_checked_again_when_sent_again(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider(nodes=["gpu"])
    provider.fail_checks("model-ready")
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, VERIFY_REQUEST, NODE, "verify-1")
        assert body(await response_to(memory_log, first))["error_class"] == "verify_failed"
        again = await publish(memory_log, VERIFY_REQUEST, NODE, "verify-1")
        await response_to(memory_log, again)
    assert provider.count("verify") == 2


async def test_a_request_refused_as_the_node_was_busy_is_acted_on_once_it_is_free(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider(nodes=["gpu"])
    release = provider.hold("install")
    async with running_bridge(memory_log, provider):
        first = await publish(memory_log, INSTALL_REQUEST, INSTALL, "deploy-3")
        await provider.wait_for_calls(1)
        ensure = {**NODE, "model": "llama3.2:3b", "confirm": True}
        busy = await publish(memory_log, MODEL_ENSURE_REQUEST, ensure, "model-3")
        assert body(await response_to(memory_log, busy))["error_class"] == "conflict"
        release.set()
        await response_to(memory_log, first)
        again = await publish(memory_log, MODEL_ENSURE_REQUEST, ensure, "model-3")
        answer = body(await response_to(memory_log, again))
    assert answer["ok"] is True
    assert provider.count("ensure_model") == 1


async def test_the_unknown_node_answer_names_the_config_file_read(
    memory_log: MemoryEventLog,
) -> None:
    nodes = {"cpu": NodeSettings()}
    ollama = OllamaProvider(nodes, SecretResolver(None, {}), config_file="/srv/asm/asm.toml")
    unnamed = OllamaProvider(nodes, SecretResolver(None, {}))
    async with running_bridge(memory_log, ollama):
        request = await publish(memory_log, STATUS_REQUEST, NODE, "seed-002")
        [diagnostic] = body(await response_to(memory_log, request))["diagnostics"]
    assert diagnostic.startswith("unknown_node: provider 'ollama' has no node 'gpu'")
    assert "(its nodes: cpu)" in diagnostic
    assert "/srv/asm/asm.toml, the config file this server read" in diagnostic
    assert "add [nodes.gpu] and restart the server" in diagnostic
    assert "./asm.toml" in unnamed.where_nodes_are("gpu")
