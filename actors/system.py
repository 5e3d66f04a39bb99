"""The system: the supervision tree and the Python API over CLI sessions.

Embed it in any Trio program; everything runs in the caller's task tree and is reaped
when the block exits::

    async with open_system(Config()) as system:
        completion = await system.query("claude", "claude-sonnet-4-5", "Say hi")
        print(completion.text, completion.usage)

        async with system.stream("codex", "gpt-5", "Count to 3") as events:
            async for event in events:
                print(event)

The tree (SPEC §5): a root supervisor (one_for_one) over the session supervisor
(dynamic, temporary children: one per CLI run) and the pool supervisor (dynamic; one
warm pool per (provider, model) that asks for it), both run by
:class:`~actors.sessions.Sessions` (the one door to sessions, shared with the lease
registry); the lease registry's supervisor (dynamic; one lease actor per endpoint); the
Bus (:mod:`actors.bus.actor`: the event-log actor and the inference bridge under a
rest_for_one supervisor) and the transport actor (hypercorn serving the endpoint routes
and the Bus Events API on one port).
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NoReturn

import trio

from actors.bus import Bus
from actors.leases import LeaseRegistry
from actors.processes import ProcessLedger, hold_state_dir
from actors.serving import serve_http
from actors.sessions import Session, Sessions, SessionSpec, WarmPool
from actors.supervisor import ChildSpec, Restart, SupervisorOptions, supervise
from contracts.config import Config
from contracts.conversation import Conversation
from contracts.endpoint import (
    CompatibilityResult,
    ConsumerManifest,
    EndpointDescriptor,
    InferenceRequest,
)
from contracts.openai import conversation_from_messages, conversation_from_prompt
from contracts.session import Failed, Finished, FinishReason, SessionEvent, Usage
from transport.endpoint import create_endpoint_app
from transport.events import create_events_app, events_capabilities
from transport.http import Metrics
from transport.surface import HttpSurface

__all__ = ["Completion", "SessionFailed", "System", "open_system"]

Prompt = str | Sequence[Mapping[str, object]] | Conversation
"""A prompt: plain text, OpenAI-style chat messages (mapped as SPEC §3.2 says), or a
:class:`~contracts.conversation.Conversation` (with its request options)."""


@dataclass(frozen=True)
class Completion:
    """What :meth:`System.query` returns: the whole answer and the usage the CLI reported."""

    text: str
    finish_reason: FinishReason
    usage: Usage | None
    events: list[SessionEvent] = field(repr=False)


class SessionFailed(Exception):
    """A session ended with ``Failed``; ``failed`` says why (its kind names the failure)."""

    def __init__(self, failed: Failed) -> None:
        super().__init__(f"{failed.kind}: {failed.message}")
        self.failed = failed


class System:
    """The running system; get one from :func:`open_system`.

    Its sessions (the session and pool supervisors, specs, warm pools) are
    :attr:`sessions`; its endpoint leases are :attr:`leases`, which take their sessions
    from the same door.
    """

    def __init__(
        self,
        config: Config,
        work_root: str,
        environ: Mapping[str, str],
        ledger: ProcessLedger | None,
        admin_token: str,
        *,
        bus: Bus | None,
    ) -> None:
        self.config = config
        self.admin_token = admin_token
        self.bus = bus
        self.base_url: str | None = None
        self.metrics = Metrics()  # served on GET /metrics (transport.http.metrics)
        self._work_root = work_root
        self.sessions = Sessions(
            config, work_root=work_root, environ=environ, ledger=ledger, metrics=self.metrics
        )
        self.leases = LeaseRegistry(self.sessions, config, metrics=self.metrics)

    def spec(self, provider: str, model: str) -> SessionSpec:
        """The session spec for one run of ``provider`` with ``model`` under this config."""
        return self.sessions.spec(provider, model)

    async def start_session(
        self, spec: SessionSpec, conversation: Conversation | None = None
    ) -> Session:
        """Start one session actor under the session supervisor.

        Without ``conversation`` it parks (where its CLI can) until one is submitted;
        with it, the CLI starts for that conversation, which is then submitted.
        """
        return await self.sessions.start(spec, conversation)

    async def warm(self, provider: str, model: str, size: int) -> WarmPool:
        """Keep ``size`` sessions of (provider, model) parked; later runs take them first."""
        return await self.sessions.warm(provider, model, size)

    async def cool(self, provider: str, model: str) -> None:
        """Stop the warm pool of (provider, model), reaping its parked sessions."""
        await self.sessions.cool(provider, model)

    def consumer_manifest(self) -> ConsumerManifest:
        """The default consumer manifest (SPEC §2.1)."""
        return self.leases.consumer_manifest()

    async def ensure_endpoint(
        self,
        request: InferenceRequest,
        manifest: ConsumerManifest | None = None,
        context: Mapping[str, object] | None = None,
    ) -> tuple[EndpointDescriptor, CompatibilityResult]:
        """Publish (provider, model) as a leased endpoint (SPEC §2.4).

        Returns the descriptor (base_url and bearer header for any OpenAI client) and the
        compatibility result; raises ``contracts.endpoint_refusal.EndpointRefused``.
        """
        return await self.leases.ensure_endpoint(request, manifest, context)

    async def release_endpoint(self, lease: str | EndpointDescriptor) -> None:
        """End a lease (idempotent); its in-flight sessions are cancelled and reaped."""
        await self.leases.release_endpoint(lease)

    @asynccontextmanager
    async def stream(
        self, provider: str, model: str, prompt: Prompt
    ) -> AsyncIterator[trio.MemoryReceiveChannel[SessionEvent]]:
        """Run one completion and read its events: see :meth:`Session.stream`."""
        conversation = _conversation(prompt)
        sessions = self.sessions
        # Its workers (mode = "worker"), else its warm pool if one is kept, else a fresh one.
        source = await sessions.source(provider, model)
        session = await sessions.open(source, conversation)
        async with session.stream(conversation) as events:
            yield events

    async def query(self, provider: str, model: str, prompt: Prompt) -> Completion:
        """Run one completion to its end; raises :class:`SessionFailed` when it fails."""
        seen: list[SessionEvent] = []
        async with self.stream(provider, model, prompt) as events:
            async for event in events:
                seen.append(event)
                if isinstance(event, Finished | Failed):
                    break
        last = seen[-1] if seen else None
        if isinstance(last, Finished):
            usage = next((e for e in reversed(seen) if isinstance(e, Usage)), None)
            return Completion(last.text, last.finish_reason, usage, seen)
        if isinstance(last, Failed):
            raise SessionFailed(last)
        raise SessionFailed(Failed(kind="cancelled", message=f"{provider} session ended early"))

    def http_app(self) -> HttpSurface:
        """The ASGI app of the whole HTTP surface: endpoint routes and the Bus Events API."""
        keepalive = self.config.server.keepalive_seconds
        endpoints = create_endpoint_app(
            self.leases, admin_token=self.admin_token, keepalive_seconds=keepalive
        )
        if self.bus is None:
            return HttpSurface(endpoints, None, self.metrics)
        capabilities = events_capabilities(
            self.bus.log.backend, overrides={"providers": self.bus.registry.names()}
        )
        events = create_events_app(
            self.bus.log,
            self.bus.verifier,
            keepalive_seconds=keepalive,
            capabilities=capabilities,
            metrics=self.metrics,
        )
        return HttpSurface(endpoints, events, self.metrics)

    async def _run_http(self, bind: str, *, task_status: trio.TaskStatus[object]) -> None:
        app = self.http_app()
        async with trio.open_nursery() as nursery:
            self.base_url = await nursery.start(serve_http, app, bind)
            self.leases.origin = self.base_url
            task_status.started(self.base_url)


def _raise_as_itself(error: BaseException) -> NoReturn:
    """Raise ``error`` again, keeping the context it had (not the group it came in)."""
    context = error.__context__
    try:
        raise error
    finally:
        error.__context__ = context
        del error


def _conversation(prompt: Prompt) -> Conversation:
    if isinstance(prompt, Conversation):
        return prompt
    if isinstance(prompt, str):
        return conversation_from_prompt(prompt)
    return conversation_from_messages(prompt)


@asynccontextmanager
async def open_system(
    config: Config | None = None,
    *,
    bind: str | None = "127.0.0.1:0",
    state_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    admin_token: str | None = None,
    bus: Bus | Literal["memory"] | None = "memory",
) -> AsyncIterator[System]:
    """Run the system in the caller's task tree until the block exits.

    The loopback HTTP surface (endpoints and admin routes) is served on ``bind``
    (``"127.0.0.1:0"``: a free port; ``system.base_url`` says which); ``bind=None``
    serves nothing, for the Python API alone. ``state_dir`` holds the ledger of live
    process groups; anything a previous run left there is killed before the system
    starts (SPEC §4.4), and the directory is locked while the system runs (another
    process opening it gets :class:`~actors.processes.StateDirBusy`). ``environ`` is
    the operator environment sessions inherit from (default ``os.environ``, read, never
    written). ``admin_token`` guards the admin
    routes (a fresh random one by default: ``system.admin_token``). ``bus`` is the Bus
    side (:class:`actors.bus.Bus`: its store, token secret and bridge): by default an
    in-memory log with a random secret (``system.bus.issue_token`` makes tokens), None
    for none.

    An exception that is the only one to leave the block comes out as itself, not
    wrapped in the ExceptionGroup of the nursery the system runs in (Trio's pattern for
    a context manager over a nursery), so the caller catches its own errors as usual::

        try:
            async with open_system() as system:
                await system.query("claude", "claude-sonnet-4-5", "Say hi")
        except SessionFailed as exc:
            print(exc.failed.kind)

    A failure to start (a store that does not open, a port in use) comes out the same
    way, as :class:`~actors.supervisor.SupervisorEscalation`; only several exceptions
    at once (the block's and the system's) stay an ExceptionGroup.
    """
    # One system per state directory, for its whole life (re-entrant under asm serve,
    # which holds it already): another process's sweep would kill this one's CLIs.
    ledger = None
    if state_dir is not None:
        ledger = ProcessLedger.open(Path(state_dir) / "process-groups")  # makes the dirs
    holding = hold_state_dir(Path(state_dir)) if state_dir is not None else nullcontext()
    with holding:
        if ledger is not None:
            ledger.sweep()
        work_root = tempfile.mkdtemp(prefix="asm-sessions-")
        if ledger is not None:
            ledger.record_directory(Path(work_root))
        system = System(
            config or Config(),
            work_root,
            os.environ if environ is None else environ,
            ledger,
            admin_token or secrets.token_urlsafe(32),
            bus=Bus("memory", secret=secrets.token_bytes(32)) if bus == "memory" else bus,
        )
        sessions = system.sessions
        # Started in this order, stopped in reverse: the HTTP surface stops taking requests
        # first, then leases reap their sessions, then pools and sessions go.
        root = [
            ChildSpec("sessions", sessions.run_sessions, Restart.PERMANENT, shutdown=math.inf),
            ChildSpec("pools", sessions.run_pools, Restart.PERMANENT, shutdown=math.inf),
            ChildSpec("leases", system.leases.run, Restart.PERMANENT, shutdown=math.inf),
        ]
        if system.bus is not None:
            root.append(system.bus.child_spec())
        if bind is not None:
            root.append(
                ChildSpec("http", functools.partial(system._run_http, bind), Restart.PERMANENT)
            )
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(supervise, root, SupervisorOptions(name="root"))
                yield system
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) != 1:
                raise
            _raise_as_itself(group.exceptions[0])
        finally:
            shutil.rmtree(work_root, ignore_errors=True)
            if ledger is not None:
                ledger.forget_directory(Path(work_root))
