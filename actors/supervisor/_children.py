"""The children of one supervisor: how they start, stop, end and are restarted.

Used by :func:`actors.supervisor.supervise` and :func:`actors.supervisor.supervise_dynamic`;
nothing here is public.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

from actors.supervisor._spec import (
    ChildSpec,
    Restart,
    Strategy,
    SupervisorEscalation,
    SupervisorOptions,
    describe,
    should_restart,
)

__all__ = ["Child", "Children", "Exit", "ReadySignal", "Slot"]

log = logging.getLogger("asm.supervisor")


@dataclass(eq=False)
class Child:
    """One incarnation of a child; a restart makes a new one."""

    spec: ChildSpec
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    value: object = None
    stopping: bool = False


@dataclass(eq=False)
class Slot:
    """A child's place in start order; it outlives incarnations, so a restart keeps it."""

    spec: ChildSpec
    child: Child | None = None
    removed: bool = False


@dataclass(frozen=True)
class Exit:
    child: Child
    error: Exception | None


class ReadySignal:
    """The ``task_status`` a child sees: trio's, plus a hook run the moment it is up."""

    def __init__(
        self, outer: trio.TaskStatus[object], on_started: Callable[[object], None]
    ) -> None:
        self._outer = outer
        self._on_started = on_started
        self.has_started = False

    def started(self, value: object = None) -> None:
        self._outer.started(value)
        self.has_started = True
        self._on_started(value)


class Children:
    """The children of one supervisor, in start order, and the rules that restart them.

    Every restart decision runs in one task (:meth:`run`), so strategies never interleave.
    A child reports its end through a channel; a report from an incarnation that has since
    been stopped or replaced is stale and ignored.
    """

    def __init__(self, nursery: trio.Nursery, options: SupervisorOptions) -> None:
        self.nursery = nursery
        self.options = options
        self.name = options.name
        self.slots: dict[str, Slot] = {}
        self.closed = False
        self._restarts: list[float] = []
        self._exits_tx, self._exits_rx = trio.open_memory_channel[Exit](math.inf)

    async def start(self, slot: Slot) -> object:
        """Start one incarnation; it joins ``slots`` the moment it calls ``started()``."""
        return await self.nursery.start(self._run, slot)

    async def start_all(self, specs: Sequence[ChildSpec]) -> SupervisorEscalation | None:
        for spec in specs:
            try:
                await self.start(Slot(spec))
            except Exception as exc:
                # Raised to whoever started this supervisor, which reports it once.
                log.debug("supervisor %r: child %r failed to start: %r", self.name, spec.id, exc)
                return SupervisorEscalation(self.name, spec.id, exc, "a child failed to start")
        return None

    async def run(self) -> SupervisorEscalation:
        """Handle child exits until the restart intensity is exceeded."""
        while True:
            escalation = await self._handle(await self._exits_rx.receive())
            if escalation is not None:
                return escalation

    def forget(self, slot: Slot) -> None:
        slot.removed = True
        if self.slots.get(slot.spec.id) is slot:
            del self.slots[slot.spec.id]

    async def stop_slot(self, slot: Slot) -> None:
        child, slot.child = slot.child, None
        if child is not None:
            await self._stop(child)

    async def stop_all(self) -> None:
        """Stop every child, newest first; nothing starts after this."""
        self.closed = True
        for slot in reversed(list(self.slots.values())):
            await self.stop_slot(slot)

    async def _stop(self, child: Child) -> None:
        """Cancel ``child`` and wait until it has finished.

        The shutdown budget only bounds the wait before a note: Trio cannot abandon a
        task, so the supervisor keeps waiting for a child that takes longer (a CLI being
        reaped, a connection draining), which is not a fault.
        """
        child.stopping = True
        child.scope.cancel()
        with trio.move_on_after(child.spec.shutdown) as budget:
            await child.done.wait()
        if budget.cancelled_caught:
            log.info(
                "supervisor %r: child %r still stopping after %gs; waiting for it",
                self.name,
                child.spec.id,
                child.spec.shutdown,
            )
            await child.done.wait()
        log.debug("supervisor %r: child %r stopped", self.name, child.spec.id)

    async def _run(
        self, slot: Slot, task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED
    ) -> None:
        child = Child(slot.spec)
        ready = ReadySignal(task_status, lambda value: self._enlist(slot, child, value))
        error: Exception | None = None
        try:
            with child.scope:
                try:
                    await slot.spec.start(task_status=ready)
                except Exception as exc:
                    if not ready.has_started:
                        raise  # a start failure belongs to whoever called start()
                    error = exc
        finally:
            child.done.set()
        if error is not None:
            when = " while stopping" if child.stopping else ""
            log.error("supervisor %r: child %r crashed%s: %r", self.name, slot.spec.id, when, error)
        if not child.stopping and slot.child is child:
            self._exits_tx.send_nowait(Exit(child, error))

    def _enlist(self, slot: Slot, child: Child, value: object) -> None:
        child.value = value
        if trio.lowlevel.current_task().parent_nursery is not self.nursery:
            return  # its start was cancelled: trio left it to unwind where it was
        child.scope.shield = True
        if self.closed or slot.removed:
            child.stopping = True
            child.scope.cancel()
            return
        slot.child = child
        self.slots.setdefault(slot.spec.id, slot)
        log.debug("supervisor %r: child %r started", self.name, slot.spec.id)

    async def _handle(self, ended: Exit) -> SupervisorEscalation | None:
        slot = self.slots.get(ended.child.spec.id)
        if slot is None or slot.child is not ended.child:
            return None  # stopped or replaced since it ended
        slot.child = None
        if not should_restart(slot.spec.restart, ended.error):
            # A temporary child that returned (a session run) is routine; anything else not.
            routine = ended.error is None and _temporary(slot)
            log.log(
                logging.DEBUG if routine else logging.INFO,
                "supervisor %r: %s child %r ended with %s and is not restarted",
                self.name,
                slot.spec.restart.value,
                slot.spec.id,
                describe(ended.error),
            )
            self.forget(slot)
            return None
        failed, cause = slot, ended.error
        while True:
            attempt = self._count_restart()
            if attempt > self.options.max_restarts:
                return self._escalate(failed, cause)
            delay = self.options.backoff(attempt)
            group = self._group(failed)
            restarted = [s.spec.id for s in group if s is failed or not _temporary(s)]
            log.warning(
                "supervisor %r: restarting %s (%s, attempt %d, backoff %.3fs) "
                "after child %r ended with %s",
                self.name,
                restarted,
                self.options.strategy.value,
                attempt,
                delay,
                failed.spec.id,
                describe(cause),
            )
            for sibling in reversed(group):
                await self.stop_slot(sibling)
                if _temporary(sibling):
                    self.forget(sibling)  # stopped by a sibling's restart, never restarted
            await trio.sleep(delay)
            failure = await self._start_group(group)
            if failure is None:
                return None
            failed, cause = failure

    def _count_restart(self) -> int:
        now = trio.current_time()
        window = self.options.max_seconds
        self._restarts = [t for t in self._restarts if now - t < window]
        self._restarts.append(now)
        return len(self._restarts)

    def _group(self, failed: Slot) -> list[Slot]:
        order = list(self.slots.values())
        match self.options.strategy:
            case Strategy.ONE_FOR_ONE:
                return [failed]
            case Strategy.ONE_FOR_ALL:
                return order
            case Strategy.REST_FOR_ONE:
                return order[order.index(failed) :]

    async def _start_group(self, group: list[Slot]) -> tuple[Slot, Exception] | None:
        for slot in group:
            if slot.removed:
                continue
            try:
                await self.start(slot)
            except Exception as exc:
                log.error(
                    "supervisor %r: child %r failed to restart: %r", self.name, slot.spec.id, exc
                )
                return slot, exc
        return None

    def _escalate(self, failed: Slot, cause: BaseException | None) -> SupervisorEscalation:
        options = self.options
        reason = f"more than {options.max_restarts} restarts within {options.max_seconds}s"
        log.error(
            "supervisor %r: escalating (%s) after child %r ended with %s",
            self.name,
            reason,
            failed.spec.id,
            describe(cause),
        )
        return SupervisorEscalation(self.name, failed.spec.id, cause, reason)


def _temporary(slot: Slot) -> bool:
    return slot.spec.restart is Restart.TEMPORARY
