"""Whose answers the bridge replays: its own, to the same request, and nobody else's.

Issue 15: a token that may read an inference name may also publish under it, and
correlation ids are predictable, so a response found in the log is replayed only when the
bridge published it and it answers a request of the same name and correlation id
(:mod:`actors.bus._answer_book`). Every response the bridge publishes is valid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from actors.bus import InferenceBridge, ProviderRegistry
from contracts.events import Event, ListenQuery, PublishEnvelope
from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    REQUEST_NAMES,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    Invalid,
    failure,
    subject_of_raw,
    validate,
)
from tests.actors.bus.bridges import (
    PATIENCE,
    body,
    publish,
    response_to,
    responses,
    running_bridge,
)
from tests.fakes.inference_provider import FakeInferenceProvider
from tests.fakes.recording_event_log import RecordingEventLog, SimulatedCrash
from tests.fakes.stamping_event_log import StampingEventLog
from transport.event_log import EventLog, MemoryEventLog, open_memory_log

NODE = {"provider": "ollama", "node_id": "gpu-1"}
UNKNOWN_NODE = {"provider": "ollama", "node_id": "gpu-9"}
#: Valid ok:true answers, as a token with only inference:read could publish them.
FORGED = {
    VERIFY_REQUEST: {
        **NODE,
        "ok": True,
        "checks": [{"name": "runtime-ready", "ok": True, "diagnostic": "all good"}],
        "diagnostics": [],
    },
    STATUS_REQUEST: {
        **NODE,
        "ok": True,
        "runtime_status": "ready",
        "diagnostics": [],
        "models": ["forged:1b"],
    },
}
QUICK_DEADLINES = {STATUS_REQUEST: 0.2, INSTALL_REQUEST: 0.2}
QUICK_MARGIN = 0.1


@pytest.fixture
async def memory_log() -> AsyncIterator[MemoryEventLog]:
    async with open_memory_log() as log:
        yield log


async def forge(
    log: EventLog,
    request_name: str,
    correlation_id: str,
    request_id: str,
    *,
    identity_id: str = "mallory",
) -> Event:
    """Publish an ok:true response to ``request_name`` naming ``request_id``."""
    envelope = PublishEnvelope(
        name=RESPONSE_FOR[request_name],
        payload=msgspec.Raw(msgspec.json.encode(FORGED[request_name])),
        correlation_id=correlation_id,
        metadata={"request_id": request_id},
    )
    [event] = await log.append([envelope], identity_id=identity_id)
    return event


async def the_bridges_answer(log: EventLog, request: Event, forged: Event) -> dict[str, Any]:
    """The bridge's response to ``request``, after checking it is not ``forged`` again."""
    query = ListenQuery(
        pattern=RESPONSE_FOR[request.name], replay=True, correlation_id=request.correlation_id
    )
    with trio.fail_after(PATIENCE):
        async with log.listen(query) as stream:
            while (answer := await stream.receive()).identity_id != "asm-inference-bridge":
                assert answer.id == forged.id  # the forgery is the only other response
    assert answer.metadata == {"request_id": request.id}  # not a repeat of the forgery
    assert bytes(answer.payload) != bytes(forged.payload)
    return body(answer)


@pytest.mark.parametrize("name", [VERIFY_REQUEST, STATUS_REQUEST])
async def test_forged_answer_from_another_identity_is_not_replayed_for_an_unknown_node(
    memory_log: MemoryEventLog, name: str
) -> None:
    provider = FakeInferenceProvider(nodes=["gpu-1"])
    # The forger even guesses the id the operator's request will get.
    forged = await forge(memory_log, name, "deploy-001", str(memory_log.last_id + 2))
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, name, UNKNOWN_NODE, "deploy-001")
        assert request.id == forged.metadata["request_id"]
        answer = await the_bridges_answer(memory_log, request, forged)
    assert answer["ok"] is False
    assert answer["error_class"] == "unknown_node"
    assert answer["node_id"] == "gpu-9"


async def test_forged_verify_answer_does_not_stop_the_checks_running(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    provider.fail_checks("runtime-ready")
    forged = await forge(memory_log, VERIFY_REQUEST, "deploy-002", str(memory_log.last_id + 2))
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, VERIFY_REQUEST, NODE, "deploy-002")
        answer = await the_bridges_answer(memory_log, request, forged)
    assert provider.count("verify") == 1
    assert answer["error_class"] == "verify_failed"
    assert (answer["checks"][0]["name"], answer["checks"][0]["ok"]) == ("runtime-ready", False)


async def test_forged_status_answer_does_not_stop_the_status_being_read(
    memory_log: MemoryEventLog,
) -> None:
    provider = FakeInferenceProvider()
    forged = await forge(memory_log, STATUS_REQUEST, "deploy-003", str(memory_log.last_id + 2))
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, STATUS_REQUEST, NODE, "deploy-003")
        answer = await the_bridges_answer(memory_log, request, forged)
    assert provider.count("status") == 1
    assert answer["models"] == ["llama3.2:3b"]


async def test_forged_answer_naming_a_waiting_request_is_not_taken_for_the_bridges_own(
    memory_log: MemoryEventLog,
) -> None:
    """The request waits in the group (no bridge yet); whoever reads it forges its answer."""
    request = await publish(memory_log, VERIFY_REQUEST, UNKNOWN_NODE, "deploy-004")
    forged = await forge(memory_log, VERIFY_REQUEST, "deploy-004", request.id)
    provider = FakeInferenceProvider()
    async with running_bridge(memory_log, provider):
        answer = await the_bridges_answer(memory_log, request, forged)
    assert answer["error_class"] == "unknown_node"


async def test_answer_under_the_bridges_name_to_no_such_request_is_not_replayed(
    memory_log: MemoryEventLog,
) -> None:
    """The second condition: the request it names must be this (name, correlation id)'s."""
    other = await publish(memory_log, STATUS_REQUEST, NODE, "elsewhere")
    forged = await forge(
        memory_log, VERIFY_REQUEST, "deploy-005", other.id, identity_id="asm-inference-bridge"
    )
    provider = FakeInferenceProvider(nodes=["gpu-1"])
    async with running_bridge(memory_log, provider):
        request = await publish(memory_log, VERIFY_REQUEST, UNKNOWN_NODE, "deploy-005")
        answer = body(await response_to(memory_log, request))
    assert bytes(forged.payload) != msgspec.json.encode(answer)
    assert answer["error_class"] == "unknown_node"


async def run_until_crash(
    bridge: InferenceBridge, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    try:
        await bridge.run(task_status=task_status)
    except* SimulatedCrash:
        pass


@pytest.mark.parametrize("given_identity", [True, False])
async def test_bridge_whose_log_stamps_another_identity_still_finds_its_own_answer(
    memory_log: MemoryEventLog, given_identity: bool
) -> None:
    """A remote API stamps the token's subject: given it, or having learned it from its
    own publishes, a bridge replays the answer a crashed bridge left unacked."""
    stamped = StampingEventLog(memory_log, "svc-bridge")
    crashing = RecordingEventLog(stamped)
    crashing.crash_next_ack()
    options: dict[str, Any] = {"deadlines": QUICK_DEADLINES, "ack_margin": QUICK_MARGIN}
    first_provider = FakeInferenceProvider()
    first = InferenceBridge(
        crashing, ProviderRegistry([first_provider]), consumer="bridge-1", **options
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(run_until_crash, first)
        request = await publish(memory_log, INSTALL_REQUEST, NODE, "deploy-006")
        await crashing.crashed()

    restarted = RecordingEventLog(stamped)
    second_provider = FakeInferenceProvider()
    identity = {"identity_id": "svc-bridge"} if given_identity else {}
    async with running_bridge(
        restarted, second_provider, consumer="bridge-2", **options, **identity
    ) as second:
        if not given_identity:  # it learns its stamp from what it publishes
            await response_to(memory_log, await publish(memory_log, STATUS_REQUEST, NODE, "s"))
        assert await restarted.acked(request.id) is True
    assert second.consumer == "bridge-2"
    assert first_provider.count("install") == 1
    assert second_provider.count("install") == 0
    [stored] = await responses(memory_log, INSTALL_REQUEST, "deploy-006")
    assert stored.identity_id == "svc-bridge"


# --- every response the bridge publishes is valid ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
request_like = st.fixed_dictionaries(
    {},
    optional={"provider": json_values, "node_id": json_values, "model": json_values},
).flatmap(lambda fields: st.dictionaries(st.text(max_size=8), json_values).map(fields.__or__))


@given(st.sampled_from(REQUEST_NAMES), request_like | json_values)
def test_bad_request_answer_is_a_valid_response_whatever_the_request_holds(
    name: str, request: Any
) -> None:
    """Rules provider_registered, node_id_format, model_format for the bridge's answers:
    what a bad request names is echoed only when valid, else a stand-in."""
    data = msgspec.json.encode(request)
    answer = msgspec.json.encode(failure(name, subject_of_raw(data), "bad_request", ["x"]))
    assert not isinstance(validate(RESPONSE_FOR[name], answer), Invalid), answer


@pytest.mark.parametrize(
    "request_payload",
    [
        {"provider": "", "node_id": "gpu-1"},
        {"provider": "ollama", "node_id": "gpu 1"},
        {"provider": "ollama", "node_id": "gpu-1", "model": "bad model"},
    ],
)
async def test_bridge_answers_a_request_with_invalid_ids_with_a_valid_response(
    memory_log: MemoryEventLog, request_payload: dict[str, str]
) -> None:
    async with running_bridge(memory_log, FakeInferenceProvider()):
        request = await publish(memory_log, MODEL_ENSURE_REQUEST, request_payload, "bad-ids")
        response = await response_to(memory_log, request)
    assert not isinstance(validate(response.name, bytes(response.payload)), Invalid)
    answer = body(response)
    assert answer["error_class"] == "bad_request"
    assert answer["node_id"] in (request_payload["node_id"], "-")


async def test_a_request_that_reuses_an_answered_correlation_id_is_a_conflict(
    memory_log: MemoryEventLog,
) -> None:
    """Mallory pre-empts the operator's predictable correlation id with a request of her
    own; the operator's request is not answered with the answer to hers."""
    provider = FakeInferenceProvider(nodes=["gpu-1", "gpu-2"])
    theirs = {"provider": "ollama", "node_id": "gpu-2"}
    async with running_bridge(memory_log, provider):
        hers = await publish(memory_log, STATUS_REQUEST, theirs, "deploy-006")
        assert body(await response_to(memory_log, hers))["node_id"] == "gpu-2"
        operators = await publish(memory_log, STATUS_REQUEST, NODE, "deploy-006")
        answer = await response_to(memory_log, operators)
        # A true repeat (the same JSON value, keys in another order) is still a repeat.
        again = await publish(
            memory_log, STATUS_REQUEST, dict(reversed(theirs.items())), "deploy-006"
        )
        repeat = await response_to(memory_log, again)
    assert body(answer)["error_class"] == "conflict"
    assert body(answer)["node_id"] == "gpu-1"  # about the operator's request
    assert hers.id in body(answer)["diagnostics"][0]
    assert "answer_of" not in answer.metadata
    assert provider.count("status") == 1  # hers only; gpu-1 was never asked
    assert repeat.metadata == {"request_id": again.id, "answer_of": hers.id}
    assert body(repeat)["node_id"] == "gpu-2"
    assert not isinstance(validate(RESPONSE_FOR[STATUS_REQUEST], bytes(answer.payload)), Invalid)
