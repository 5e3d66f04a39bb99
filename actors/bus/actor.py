"""The Bus side of the system: the event-log actor, the provider registry and the bridge.

:class:`Bus` is what :func:`actors.open_system` runs under its root supervisor as the
``bus`` child, a rest_for_one supervisor over two children (SPEC §5):

- ``event-log``: opens the store (``memory``, ``sqlite:PATH`` or ``redis://…``) and holds
  it open; the Events API reaches it through :attr:`Bus.log`, which always answers
  with the store that is open now (a restarted store is picked up, a missing one is a
  503);
- ``providers``: what the inference providers keep alive (the Ollama runtimes of nodes
  without systemd);
- ``bridge``: the :class:`~actors.bus.InferenceBridge` over that log, or over a
  remote Bus Events API when ``events_url`` is given. It starts after the log and the
  providers and is restarted with them.

::

    bus = Bus("sqlite:.asm/events.db", secret=secret)
    token = bus.issue_token("ops", "inference:admin", ttl_seconds=3600)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

import trio

from actors.bus.bridge import InferenceBridge
from actors.bus.registry import ProviderRegistry
from actors.supervisor import (
    ChildSpec,
    Restart,
    Strategy,
    SupervisorEscalation,
    SupervisorOptions,
    supervise,
)
from contracts.events import DEFAULT_AUDIENCE, Event, ListenQuery, PublishEnvelope
from contracts.inference import BRIDGE_IDENTITY
from transport.event_log import (
    EventLog,
    EventStream,
    StoreError,
    check_store,
    open_event_log,
    store_label,
)
from transport.events import EventsClient, RemoteEventLog, TokenVerifier, issue_token
from transport.http import Backoff

__all__ = ["STORE_BACKOFF", "Bus", "CurrentLog"]

log = logging.getLogger("asm.bus")

STORE_BACKOFF: Final = Backoff(initial=0.5, maximum=10.0)
"""How the bus waits for a store that went away: 0.25–0.5 s first, at most 10 s."""


class CurrentLog:
    """An :class:`EventLog` that is whichever store the event-log actor has open now."""

    def __init__(self, backend: str) -> None:
        self._backend = backend
        self.current: EventLog | None = None

    def _open(self) -> EventLog:
        if self.current is None:
            raise StoreError("the event store is not open")
        return self.current

    @property
    def backend(self) -> str:
        return self._backend

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        return await self._open().append(envelopes, identity_id=identity_id)

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        return self._open().listen(query)

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        return await self._open().ack(group, consumer, event_id)


class Bus:
    """The store, the token rules and the bridge of one system (see the module docstring).

    ``store`` is checked here (``transport.event_log.stores.StoreSpecError``); ``secret``
    signs and verifies the Events API's tokens; ``events_url`` and ``events_token`` put
    the bridge on a remote Bus Events API instead of the local store.
    """

    def __init__(
        self,
        store: str = "memory",
        *,
        secret: bytes,
        registry: ProviderRegistry | None = None,
        audience: str = DEFAULT_AUDIENCE,
        events_url: str | None = None,
        events_token: str | None = None,
    ) -> None:
        self.store = store
        self.log = CurrentLog(check_store(store))
        self.registry = registry if registry is not None else ProviderRegistry()
        self.verifier = TokenVerifier(secret, audience=audience)
        self._secret = secret
        self._audience = audience
        if events_url is not None and not events_token:
            raise ValueError("a remote Bus Events API needs a token (BUS_API_TOKEN)")
        self._remote = (events_url, events_token) if events_url is not None else None
        self.backoff = STORE_BACKOFF
        self._up = False

    @property
    def store_label(self) -> str:
        """The store as it may be shown (no password)."""
        return store_label(self.store)

    def issue_token(self, subject: str, scopes: str, *, ttl_seconds: float) -> str:
        """A token for this bus's Events API, signed with its secret."""
        return issue_token(
            self._secret,
            subject=subject,
            scopes=scopes,
            ttl_seconds=ttl_seconds,
            audience=self._audience,
        )

    def child_spec(self) -> ChildSpec:
        """The ``bus`` child of the system's root supervisor."""
        return ChildSpec("bus", self.run, Restart.PERMANENT, shutdown=30.0)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the store and the bridge until cancelled; started once the bridge listens.

        A bus that could not start fails (a store that never opened is the operator's to
        fix). Once it has started it is its own failure domain: it never ends on its own;
        when its supervisor gives up, it starts again after a jittered backoff, and the
        root supervisor, the endpoints and their leases never see it.
        """
        children = [
            ChildSpec("event-log", self._run_log, Restart.PERMANENT),
            ChildSpec("providers", self._run_providers, Restart.PERMANENT, shutdown=30.0),
            ChildSpec("bridge", self._run_bridge, Restart.PERMANENT, shutdown=10.0),
        ]
        options = SupervisorOptions(name="bus", strategy=Strategy.REST_FOR_ONE)
        started = _Once(task_status, then=self._mark_up)
        delays = self.backoff.delays()
        while True:
            try:
                await supervise(children, options, task_status=started)
            except SupervisorEscalation as error:
                if not self._up:
                    raise
                delay = next(delays)
                log.warning("bus: %s; starting it again in %.1f s", error, delay)
                await trio.sleep(delay)

    def _mark_up(self) -> None:
        self._up = True

    async def _run_log(self, *, task_status: trio.TaskStatus[object]) -> None:
        """Hold the store open; once the bus has been up, wait for a store that is down
        (publishes answer 503 meanwhile) instead of failing."""
        delays = self.backoff.delays()
        while True:
            try:
                async with open_event_log(self.store) as store:
                    self.log.current = store
                    try:
                        task_status.started(store)
                        await trio.sleep_forever()
                    finally:
                        self.log.current = None
            except StoreError as error:
                if not self._up:
                    raise
                delay = next(delays)
                log.warning("event store unavailable: %s; retrying in %.1f s", error, delay)
                await trio.sleep(delay)

    async def _run_providers(self, *, task_status: trio.TaskStatus[None]) -> None:
        """The inference providers' own children (the runtimes they keep alive)."""
        async with trio.open_nursery() as nursery:
            for provider in self.registry.supervising():
                await nursery.start(provider.run)
            task_status.started()
            await trio.sleep_forever()

    async def _run_bridge(self, *, task_status: trio.TaskStatus[None]) -> None:
        """The bridge over the log; once the bus has been up, a store that fails under it
        pauses the bridge until the store answers again (its requests stay pending)."""
        started = _Once(task_status)
        delays = self.backoff.delays()
        while True:
            try:
                async with self._bridge_log() as (events, identity):
                    bridge = InferenceBridge(events, self.registry, identity_id=identity)
                    await bridge.run(task_status=started)
            except* StoreError as group:
                if not (self._up and started.done):
                    raise
                delay = next(delays)
                log.warning(
                    "inference bridge paused: %s; retrying in %.1f s", group.exceptions[0], delay
                )
                await trio.sleep(delay)

    def _bridge_log(self) -> AbstractAsyncContextManager[tuple[EventLog, str]]:
        """The bridge's log and the identity its publishes are stamped with there (the
        remote token's subject), by which it knows its own stored answers."""
        if self._remote is None:
            return _just(self.log)
        url, token = self._remote
        assert token is not None
        return _remote_log(url, token)


class _Once:
    """A task status that reports the first ``started`` and ignores the rest: a part that
    retries inside its child starts once, however often it reconnects."""

    def __init__(
        self, status: trio.TaskStatus[Any], *, then: Callable[[], None] | None = None
    ) -> None:
        self._status = status
        self._then = then
        self.done = False

    def started(self, value: Any = None) -> None:
        if not self.done:
            self.done = True
            self._status.started(value)
            if self._then is not None:
                self._then()


@asynccontextmanager
async def _just(events: EventLog) -> AsyncIterator[tuple[EventLog, str]]:
    yield events, BRIDGE_IDENTITY


@asynccontextmanager
async def _remote_log(url: str, token: str) -> AsyncIterator[tuple[EventLog, str]]:
    async with EventsClient(url, token) as client:
        yield RemoteEventLog(client), client.subject or BRIDGE_IDENTITY
