"""The bus is its own failure domain (issue 15, item 3): a store that goes away pauses
the bridge and never reaches the root supervisor, the endpoints or the leases.

The bus's store is a :class:`tests.fakes.flaky_event_log.FlakyEventLog` over a memory
log, taken down for long enough that a bridge restarted by its supervisor on each
failure would exhaust the bus's intensity (3 restarts in 5 s) many times over. The real
Redis outage is ``tests/actors/cli/test_store_outage.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

import actors.bus.actor
from actors.bus import Bus
from actors.supervisor import SupervisorEscalation
from actors.system import open_system
from contracts.config import Config
from contracts.inference import BRIDGE_IDENTITY, STATUS_REQUEST
from tests.actors.bus.bridges import publish, response_to
from tests.actors.sessions.sessions import fake_environ
from tests.fakes.fake_cli import answer_text
from tests.fakes.flaky_event_log import FlakyEventLog
from tests.transport.events.served_events import token
from transport.event_log import StoreError, open_memory_log
from transport.http import Backoff

OUTAGE_SECONDS = 1.5  # about 30 bridge attempts at the test's backoff


@pytest.fixture
def flaky_stores(monkeypatch: pytest.MonkeyPatch) -> list[FlakyEventLog]:
    """Every store the bus opens, in order; each a flaky memory log."""
    opened: list[FlakyEventLog] = []

    @asynccontextmanager
    async def open_flaky(store: str) -> AsyncIterator[FlakyEventLog]:
        async with open_memory_log() as inner:
            opened.append(FlakyEventLog(inner))
            yield opened[-1]

    monkeypatch.setattr(actors.bus.actor, "open_event_log", open_flaky)
    return opened


async def test_a_store_outage_pauses_the_bridge_and_the_endpoints_never_notice(
    tmp_path: Path, flaky_stores: list[FlakyEventLog]
) -> None:
    bus = Bus("memory", secret=b"k" * 32)
    bus.backoff = Backoff(initial=0.02, maximum=0.05)
    async with open_system(Config(), environ=fake_environ(tmp_path), bus=bus) as system:
        [store] = flaky_stores
        store.down()
        with pytest.raises(StoreError):
            await publish(bus.log, STATUS_REQUEST, {"provider": "ollama", "node_id": "n"})
        with trio.move_on_after(OUTAGE_SECONDS):
            while True:  # the endpoints answer all through the outage
                completion = await system.query("claude", "fake-model", "still there?")
                assert completion.text == answer_text("claude", "still there?")
        store.up()
        request = await publish(
            bus.log, STATUS_REQUEST, {"provider": "ollama", "node_id": "n"}, "after-outage"
        )
        response = await response_to(bus.log, request)  # the bridge listens again
    assert response.identity_id != "tester"
    assert flaky_stores == [store], "the store was reopened: the bus restarted"


async def test_a_bus_that_never_started_still_fails_its_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @asynccontextmanager
    async def unreachable(store: str) -> AsyncIterator[FlakyEventLog]:
        raise StoreError("redis at redis://127.0.0.1:1/0 does not answer")
        yield  # pragma: no cover

    monkeypatch.setattr(actors.bus.actor, "open_event_log", unreachable)
    with pytest.raises(SupervisorEscalation) as raised:  # itself, not in a group
        async with open_system(
            Config(), environ=fake_environ(tmp_path), bus=Bus("memory", secret=b"k" * 32)
        ):
            pass  # pragma: no cover
    assert "does not answer" in repr(raised.value)


async def test_a_remote_bridge_knows_its_own_answers_by_its_tokens_subject() -> None:
    """Over a remote Events API the bridge's publishes are stamped with its token's
    subject: that is the identity whose stored answers it replays (and no other)."""
    bus = Bus(
        "memory",
        secret=b"k" * 32,
        events_url="http://127.0.0.1:9",
        events_token=token("inference:admin", subject="gpu-bridge"),
    )
    async with bus._bridge_log() as (_, identity):
        assert identity == "gpu-bridge"
    local = Bus("memory", secret=b"k" * 32)
    async with local._bridge_log() as (log, identity):
        assert log is local.log and identity == BRIDGE_IDENTITY
