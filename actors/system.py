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
warm pool per (provider, model) that asks for it). Later parts (leases, the endpoint
transport, the event log, the bridge) join the root as they arrive.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from actors.launch import session_spec
from actors.pool import WarmPool
from actors.process_ledger import ProcessLedger
from actors.session import Session, SessionActor, SessionSpec
from actors.supervisor import (
    ChildSpec,
    DynamicSupervisor,
    Restart,
    SupervisorOptions,
    supervise,
    supervise_dynamic,
)
from contracts.config import Config
from contracts.prompt import normalize_messages, normalize_prompt
from contracts.session import Failed, Finished, FinishReason, SessionEvent, Usage

__all__ = ["Completion", "SessionFailed", "System", "open_system"]

Prompt = str | Sequence[Mapping[str, object]]
"""A prompt: plain text, or OpenAI-style chat messages (normalized as SPEC §3.2)."""


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
    """The running system; get one from :func:`open_system`."""

    def __init__(
        self,
        config: Config,
        work_root: str,
        environ: Mapping[str, str],
        ledger: ProcessLedger | None,
    ) -> None:
        self.config = config
        self._work_root = work_root
        self._environ = environ
        self._ledger = ledger
        self._sessions: DynamicSupervisor | None = None
        self._pools: DynamicSupervisor | None = None
        self._warm: dict[tuple[str, str], WarmPool] = {}
        self._ids = itertools.count(1)

    def spec(self, provider: str, model: str) -> SessionSpec:
        """The session spec for one run of ``provider`` with ``model`` under this config."""
        return session_spec(
            provider, model, self.config, work_root=self._work_root, environ=self._environ
        )

    async def start_session(self, spec: SessionSpec) -> Session:
        """Start one session actor under the session supervisor; it parks on stdin."""
        assert self._sessions is not None, "the system is not running"
        actor = SessionActor(spec, self._ledger)
        child = ChildSpec(
            id=f"session-{next(self._ids)}-{spec.driver.profile.id}",
            start=actor.run,
            restart=Restart.TEMPORARY,
            shutdown=spec.ladder.budget + 1.0,
        )
        session = await self._sessions.start_child(child)
        assert isinstance(session, Session)
        return session

    async def warm(self, provider: str, model: str, size: int) -> WarmPool:
        """Keep ``size`` sessions of (provider, model) parked; later runs take them first."""
        assert self._pools is not None, "the system is not running"
        key = (provider, model)
        if key not in self._warm:
            pool = WarmPool(self.spec(provider, model), size, self.start_session)
            child = ChildSpec(
                id=f"pool-{provider}-{model}", start=pool.run, restart=Restart.TRANSIENT
            )
            started = await self._pools.start_child(child)
            assert isinstance(started, WarmPool)
            self._warm[key] = started
        return self._warm[key]

    async def cool(self, provider: str, model: str) -> None:
        """Stop the warm pool of (provider, model), reaping its parked sessions."""
        if self._warm.pop((provider, model), None) is not None and self._pools is not None:
            await self._pools.terminate_child(f"pool-{provider}-{model}")

    async def _session_for(self, provider: str, model: str) -> Session:
        pool = self._warm.get((provider, model))
        if pool is not None:
            return await pool.acquire()
        return await self.start_session(self.spec(provider, model))

    @asynccontextmanager
    async def stream(
        self, provider: str, model: str, prompt: Prompt
    ) -> AsyncIterator[trio.MemoryReceiveChannel[SessionEvent]]:
        """Run one completion and read its events; leaving the block ends the run.

        Leaving before the last event (Finished or Failed) cancels the run, and the CLI's
        process group is reaped (within the shutdown ladder) before the block is left.
        After the last event the CLI is exiting by itself; its actor reaps it, under the
        session supervisor, without holding the caller.
        """
        text = _prompt_text(prompt)
        session = await self._session_for(provider, model)
        events = session.submit(text)
        try:
            yield events
        finally:
            if not session._answered:
                session.cancel()
                with trio.CancelScope(shield=True):
                    await session.reaped.wait()
            events.close()

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

    async def _run_sessions(self, *, task_status: trio.TaskStatus[object]) -> None:
        async with trio.open_nursery() as nursery:
            options = SupervisorOptions(name="sessions")
            self._sessions = await nursery.start(supervise_dynamic, options)
            task_status.started(self._sessions)

    async def _run_pools(self, *, task_status: trio.TaskStatus[object]) -> None:
        async with trio.open_nursery() as nursery:
            self._warm.clear()  # a restarted pool supervisor starts empty
            self._pools = await nursery.start(supervise_dynamic, SupervisorOptions(name="pools"))
            task_status.started(self._pools)


def _prompt_text(prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return normalize_prompt(prompt)
    return normalize_messages(prompt)


@asynccontextmanager
async def open_system(
    config: Config | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[System]:
    """Run the system in the caller's task tree until the block exits.

    ``state_dir`` holds the ledger of live process groups; anything a previous run left
    there is killed before the system starts (SPEC §4.4). Without it the system keeps no
    state. ``environ`` is the operator environment sessions inherit from (default
    ``os.environ``, read, never written).
    """
    ledger = None
    if state_dir is not None:
        ledger = ProcessLedger.open(Path(state_dir) / "process-groups")
        ledger.sweep()
    work_root = tempfile.mkdtemp(prefix="asm-sessions-")
    system = System(
        config or Config(), work_root, os.environ if environ is None else environ, ledger
    )
    root = [
        # Pools ask the session supervisor for sessions: sessions start first, stop last.
        ChildSpec("sessions", system._run_sessions, Restart.PERMANENT, shutdown=math.inf),
        ChildSpec("pools", system._run_pools, Restart.PERMANENT, shutdown=math.inf),
    ]
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervise, root, SupervisorOptions(name="root"))
            yield system
            nursery.cancel_scope.cancel()
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
