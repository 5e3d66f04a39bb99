"""The one door to CLI sessions: their supervisors, their specs and their warm pools.

The system and the lease registry both reach sessions through one :class:`Sessions`.
It runs the session supervisor (one temporary child per CLI run) and the pool supervisor
(one warm pool per (provider, model) that asks for it), builds each run's
:class:`~actors.sessions.SessionSpec` from the configuration, and answers "a parked
session or a fresh one" (:meth:`Sessions.open`)::

    sessions = Sessions(Config(), work_root="/tmp/asm-sessions", environ=os.environ)
    async with trio.open_nursery() as nursery:
        await nursery.start(sessions.run_sessions)
        await nursery.start(sessions.run_pools)
        pool = await sessions.warm("claude", "claude-sonnet-4-5", 1)
        session = await sessions.open(pool, chat)  # a parked one, else a fresh one
        fresh = await sessions.open(sessions.spec("codex", "gpt-5"), chat)  # a fresh one

Why one door: a lease's sessions and the Python API's are the same kind of child of the
same supervisor, recorded in the same process ledger and counted in the same metrics;
whoever asks for one needs only this object, not callbacks into the system.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Mapping

import trio

from actors.processes import ProcessLedger
from actors.sessions.launch import session_spec
from actors.sessions.pool import WarmPool
from actors.sessions.session import Session, SessionActor
from actors.sessions.spec import SessionSpec
from actors.sessions.worker import INTERRUPT_WAIT
from actors.sessions.worker_pool import WorkerPool
from actors.supervisor import (
    ChildSpec,
    DynamicSupervisor,
    Restart,
    SupervisorOptions,
    supervise_dynamic,
)
from contracts.config import Config
from contracts.conversation import Conversation
from transport.http import Metrics

__all__ = ["Sessions"]


class Sessions:
    """The session and pool supervisors, the specs, the warm pools: every way to a session.

    ``work_root`` holds the sessions' private directories; ``environ`` is the operator
    environment they inherit from (read, never written); ``ledger`` writes their process
    groups down (None: nowhere); ``metrics`` counts their runs.
    """

    def __init__(
        self,
        config: Config,
        *,
        work_root: str,
        environ: Mapping[str, str],
        ledger: ProcessLedger | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self._work_root = work_root
        self._environ = environ
        self._ledger = ledger
        self._metrics = metrics
        self._sessions: DynamicSupervisor | None = None
        self._pools: DynamicSupervisor | None = None
        self._warm: dict[tuple[str, str], WarmPool] = {}
        self._workers: dict[tuple[str, str], WorkerPool] = {}
        self._holders: collections.Counter[tuple[str, str]] = collections.Counter()
        self._workers_lock = trio.Lock()
        self._ids = itertools.count(1)

    def spec(self, provider: str, model: str) -> SessionSpec:
        """The session spec for one run of ``provider`` with ``model`` under this config."""
        return session_spec(
            provider, model, self.config, work_root=self._work_root, environ=self._environ
        )

    async def start(self, spec: SessionSpec, conversation: Conversation | None = None) -> Session:
        """Start one session actor under the session supervisor.

        Without ``conversation`` it parks (where its CLI can) until one is submitted;
        with it, the CLI starts for that conversation, which is then submitted.
        """
        assert self._sessions is not None, "the system is not running"
        actor = SessionActor(spec, self._ledger, self._metrics, conversation=conversation)
        child = ChildSpec(
            id=f"session-{next(self._ids)}-{spec.driver.profile.id}",
            start=actor.run,
            restart=Restart.TEMPORARY,
            shutdown=spec.ladder.budget + 1.0,
        )
        session = await self._sessions.start_child(child)
        assert isinstance(session, Session)
        return session

    async def open(
        self, source: WarmPool | WorkerPool | SessionSpec, conversation: Conversation
    ) -> Session:
        """A session for ``conversation``: a worker's turn, a parked session or a fresh one.

        From a worker pool, a turn of its least busy ready worker; from a warm pool, a
        parked session that can take the conversation, else a fresh one of the pool's
        spec; from a spec, a fresh one.
        """
        if isinstance(source, WorkerPool):
            return await source.open(conversation)
        if isinstance(source, WarmPool):
            return await source.acquire(conversation)
        return await self.start(source, conversation)

    async def source(self, provider: str, model: str) -> WorkerPool | WarmPool | SessionSpec:
        """Where (provider, model)'s completions run under this config: its worker pool
        (``Config.mode_of``), else its warm pool if one is kept, else fresh sessions."""
        if self.config.mode_of(provider) == "worker":
            return await self.workers(provider, model)
        return self.pool(provider, model) or self.spec(provider, model)

    async def workers(self, provider: str, model: str) -> WorkerPool:
        """The worker pool of (provider, model), started on first use under the pool
        supervisor: ``[providers.<id>].workers`` long-lived server-mode CLIs."""
        assert self._pools is not None, "the system is not running"
        key = (provider, model)
        async with self._workers_lock:
            if key not in self._workers:
                spec = self.spec(provider, model)
                count = self.config.provider(provider).workers
                pool = WorkerPool(spec, count, ledger=self._ledger, metrics=self._metrics)
                child = ChildSpec(
                    id=f"workers-{provider}-{model}",
                    start=pool.run,
                    restart=Restart.TRANSIENT,
                    shutdown=spec.ladder.budget + INTERRUPT_WAIT + 1.0,
                )
                started = await self._pools.start_child(child)
                assert isinstance(started, WorkerPool)
                self._workers[key] = started
            return self._workers[key]

    def pool(self, provider: str, model: str) -> WarmPool | None:
        """The warm pool kept for (provider, model) (see :meth:`warm`), or None."""
        return self._warm.get((provider, model))

    async def warm(self, provider: str, model: str, size: int) -> WarmPool:
        """Keep ``size`` sessions of (provider, model) parked; later runs take them first."""
        assert self._pools is not None, "the system is not running"
        key = (provider, model)
        if key not in self._warm:
            pool = WarmPool(self.spec(provider, model), size, self.start)
            child = ChildSpec(
                id=f"pool-{provider}-{model}", start=pool.run, restart=Restart.TRANSIENT
            )
            started = await self._pools.start_child(child)
            assert isinstance(started, WarmPool)
            self._warm[key] = started
        return self._warm[key]

    def hold_workers(self, provider: str, model: str) -> None:
        """A lease of (provider, model) runs on its workers from now on."""
        self._holders[provider, model] += 1

    async def release_workers(self, provider: str, model: str) -> None:
        """A lease of (provider, model) ended: when it was the last, and no completion of
        the Python API runs on them, the workers are stopped and reaped. (Without leases,
        a pool the Python API started lives as long as the system.)"""
        key = (provider, model)
        self._holders[key] -= 1
        pool = self._workers.get(key)
        if self._holders[key] > 0 or pool is None or pool.in_flight():
            return
        del self._holders[key]
        self._workers.pop(key, None)
        if self._pools is not None:
            await self._pools.terminate_child(f"workers-{provider}-{model}")

    async def cool(self, provider: str, model: str) -> None:
        """Stop the warm pool of (provider, model), reaping its parked sessions."""
        if self._warm.pop((provider, model), None) is not None and self._pools is not None:
            await self._pools.terminate_child(f"pool-{provider}-{model}")

    async def run_sessions(self, *, task_status: trio.TaskStatus[object]) -> None:
        """Run the session supervisor (one temporary child per CLI run) until cancelled."""
        async with trio.open_nursery() as nursery:
            options = SupervisorOptions(name="sessions")
            self._sessions = await nursery.start(supervise_dynamic, options)
            task_status.started(self._sessions)

    async def run_pools(self, *, task_status: trio.TaskStatus[object]) -> None:
        """Run the pool supervisor (one warm pool per (provider, model)) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._warm.clear()  # a restarted pool supervisor starts empty
            self._workers.clear()
            self._pools = await nursery.start(supervise_dynamic, SupervisorOptions(name="pools"))
            task_status.started(self._pools)
