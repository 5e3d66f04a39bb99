"""A pool of workers for one (provider, model): kept alive, restarted, borrowed from.

:class:`WorkerPool` keeps ``count`` :class:`~actors.sessions.worker.Worker` actors
running for one session spec. A worker recycled after its ``max_turns`` (slot ``i`` of
``n`` after ``max_turns * (1 + i / n)``, so they are not all recycled at once) is
replaced at once. Each slot restarts its worker when it dies, after a
backoff that doubles with each failure in a row (:data:`BACKOFF_BASE` up to
:data:`BACKOFF_CAP`) and starts over once a worker has served; a worker is used only
once it is ready. :meth:`WorkerPool.open` gives a completion a session handle on the
ready worker with the fewest turns in flight, waiting up to the first-event deadline
for one to be ready::

    pool = await nursery.start(WorkerPool(spec, 2, ledger=ledger).run)
    session = await pool.open(conversation)
    async with session.stream(conversation) as events:
        ...

A worker that cannot start at all (the executable is missing, it is not logged in)
leaves its error on the pool: a completion that finds no ready worker fails with it
(``not_installed`` when the executable did not run, ``crashed`` otherwise) rather than
waiting for a worker that will not come. A worker that served and then died leaves no
error: the completions that find none ready wait (up to the first-event deadline) for
its successor.
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from actors.processes import ProcessLedger
from actors.sessions.handle import Session
from actors.sessions.outbox import Outbox
from actors.sessions.spec import SessionSpec
from actors.sessions.worker import MAX_TURNS, Worker, WorkerExited
from contracts.conversation import Conversation
from contracts.session import Failed, FailedKind
from transport.http import Metrics

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "WorkerPool"]

log = logging.getLogger("asm.workers")

BACKOFF_BASE: Final = 0.2
"""Seconds before the first restart of a slot's worker; doubled per failure in a row."""
BACKOFF_CAP: Final = 10.0
"""The longest wait between two restarts of a slot's worker."""


class WorkerPool:
    """``count`` workers of ``spec``; run it under a supervisor, borrow with :meth:`open`."""

    def __init__(
        self,
        spec: SessionSpec,
        count: int,
        *,
        ledger: ProcessLedger | None = None,
        metrics: Metrics | None = None,
        max_turns: int = MAX_TURNS,
    ) -> None:
        self.spec = spec
        self.count = count
        self.max_turns = max_turns
        self.recycled = 0
        self.workers: list[Worker | None] = [None] * count
        self.restarts = 0
        self.last_error: tuple[FailedKind, str] | None = None
        self._ledger = ledger
        self._metrics = metrics
        self._changed = trio.Event()  # set (and renewed) when a worker becomes ready
        self._nursery: trio.Nursery | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the slots' workers running until cancelled (then all are reaped)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for slot in range(self.count):
                nursery.start_soon(self._keep, slot)
            task_status.started(self)

    async def _keep(self, slot: int) -> None:
        failures = 0
        provider = self.spec.driver.profile.id
        while True:
            name = f"worker {slot + 1}/{self.count}"
            # Staggered, so that the slots are not all recycled at once.
            turns = self.max_turns + slot * self.max_turns // self.count
            worker = Worker(
                self.spec,
                self._ledger,
                self._metrics,
                name=name,
                on_ready=self._ready,
                max_turns=turns,
            )
            self.workers[slot] = worker
            try:
                await worker.run()
                self.workers[slot] = None
                self.recycled += 1
                failures = 0
                continue  # recycled: its successor starts at once
            except WorkerExited as exc:
                log.warning("%s %s: %s", provider, worker.name, exc)
                if not worker.became_ready:  # it cannot start: say why, rather than wait
                    kind: FailedKind = "not_installed" if "cannot run" in str(exc) else "crashed"
                    self.last_error = (kind, str(exc))
            finally:
                self.workers[slot] = None
            failures = 1 if worker.served else failures + 1
            self.restarts += 1
            self._wake()  # those waiting learn the error at once
            await trio.sleep(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)))

    def _ready(self) -> None:
        self.last_error = None
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def in_flight(self) -> int:
        """Turns its workers run now."""
        return sum(w.in_flight for w in self.workers if w is not None)

    def ready(self) -> list[Worker]:
        """The workers that take conversations now."""
        return [w for w in self.workers if w is not None and w.ready]

    async def open(self, conversation: Conversation) -> Session:
        """A session whose conversation a ready worker runs as one turn (see module docs).

        ``conversation`` only says what is coming; the caller submits it through the
        handle as for any session."""
        deadline = trio.current_time() + self.spec.timers.first_event
        while True:
            ready = self.ready()
            if ready:
                return min(ready, key=lambda worker: worker.in_flight).open()
            if self.last_error is not None or trio.current_time() >= deadline:
                break
            with trio.move_on_at(deadline):
                await self._changed.wait()
        kind, message = self.last_error or (
            "timeout",
            f"no {self.spec.driver.profile.id} worker was ready within"
            f" {self.spec.timers.first_event:g} s",
        )
        return await self._failing(Failed(kind=kind, message=message))

    async def _failing(self, failed: Failed) -> Session:
        """A handle whose only event, once its conversation is submitted, is ``failed``."""
        session = Session(provider=self.spec.driver.profile.id, model=self.spec.model)
        assert self._nursery is not None, "the pool is not running"
        self._nursery.start_soon(self._fail_alone, session, failed)
        await trio.lowlevel.checkpoint()
        return session

    async def _fail_alone(self, session: Session, failed: Failed) -> None:
        outbox = Outbox(session, model=self.spec.model, metrics=self._metrics)
        try:
            with session.run_scope(), trio.move_on_after(self.spec.timers.idle):
                await session.receive_conversation()
                outbox.begin()
                await outbox.fail_alone(failed, self.spec.timers.idle)
        finally:
            session.close_events()
            session.reaped.set()
            session.ended.set()
