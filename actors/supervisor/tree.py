"""OTP supervision on Trio nurseries: restart types, strategies, intensity, ordered stops.

    import trio
    from actors.supervisor.tree import ChildSpec, Restart, SupervisorOptions, supervise

    async def ticker(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started("ticking")
        while True:
            await trio.sleep(0.01)

    async def main() -> None:
        specs = [ChildSpec("ticker", ticker, Restart.PERMANENT, shutdown=1.0)]
        async with trio.open_nursery() as nursery:
            await nursery.start(supervise, specs, SupervisorOptions(name="root"))
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()  # the supervisor stops its children in reverse

    trio.run(main)

A child is an async function called as ``start(task_status=...)``; it reports "I am up"
with ``task_status.started(value)``, exactly as for ``nursery.start``, and the supervisor
starts children one after another so a child may rely on the ones before it. For
per-request children, ``await nursery.start(supervise_dynamic)`` hands back a
:class:`DynamicSupervisor` with ``start_child``, ``terminate_child`` and
``which_children``.

Why children are shielded: Trio delivers a cancellation to every task under the
cancelled scope at once, so a plain nursery cannot stop its children in reverse start
order. Once a child has started, its own cancel scope is shielded, and the only thing
that cancels it is the supervisor, which does so one child at a time, newest first,
waiting for each to finish. A supervisor that is itself cancelled does exactly that
(shielded) before it lets the cancellation through.

Why escalation is a plain exception: a supervisor that gives up stops its children and
then raises :class:`SupervisorEscalation` outside its nursery, so a parent supervisor
sees an ordinary crash of one child (and applies its own restart rules), not an
exception group.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from actors.supervisor._children import Children, Slot, log
from actors.supervisor._spec import (
    ChildSpec,
    ChildStart,
    LiveChild,
    Restart,
    Strategy,
    SupervisorEscalation,
    SupervisorOptions,
)

__all__ = [
    "ChildSpec",
    "ChildStart",
    "DynamicSupervisor",
    "LiveChild",
    "Restart",
    "Strategy",
    "SupervisorEscalation",
    "SupervisorOptions",
    "supervise",
    "supervise_dynamic",
]

_DEFAULTS = SupervisorOptions()


async def supervise(
    specs: Sequence[ChildSpec],
    options: SupervisorOptions = _DEFAULTS,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``specs`` under ``options`` until cancelled; ``await nursery.start(supervise, ...)``.

    Children start in list order, each up before the next starts; ``nursery.start`` returns
    once all are up. It never returns on its own: when cancelled it stops its children in
    reverse start order; when a child cannot start, or restarts exceed the intensity, it
    stops them the same way and raises :class:`SupervisorEscalation`.
    """
    ids = [spec.id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"supervisor {options.name!r}: child ids must be unique, got {ids}")
    async with trio.open_nursery() as nursery:
        children = Children(nursery, options)
        try:
            escalation = await children.start_all(specs)
            if escalation is None:
                task_status.started()
                escalation = await children.run()
        finally:
            with trio.CancelScope(shield=True):
                await children.stop_all()
    raise escalation from escalation.cause


async def supervise_dynamic(
    options: SupervisorOptions = _DEFAULTS,
    *,
    task_status: trio.TaskStatus[DynamicSupervisor] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a supervisor that starts children on request; ``nursery.start`` returns its handle.

        sessions: DynamicSupervisor = await nursery.start(supervise_dynamic)
        value = await sessions.start_child(ChildSpec("s-1", session, Restart.TEMPORARY))

    Children run in this supervisor's nursery, restart one at a time (only
    :attr:`Strategy.ONE_FOR_ONE` is accepted) and count against its restart intensity.
    When cancelled, or when it escalates, it stops its live children in reverse start order.
    """
    if options.strategy is not Strategy.ONE_FOR_ONE:
        raise ValueError("a dynamic supervisor restarts one child at a time: use ONE_FOR_ONE")
    async with trio.open_nursery() as nursery:
        children = Children(nursery, options)
        try:
            task_status.started(DynamicSupervisor(children))
            escalation = await children.run()
        finally:
            with trio.CancelScope(shield=True):
                await children.stop_all()
    raise escalation from escalation.cause


class DynamicSupervisor:
    """The handle of a running :func:`supervise_dynamic`: start, stop and list its children."""

    def __init__(self, children: Children) -> None:
        self._children = children
        self._starting: set[str] = set()

    @property
    def name(self) -> str:
        return self._children.name

    async def start_child(self, spec: ChildSpec) -> object:
        """Start a child and return the value it passed to ``task_status.started``.

        A child that fails before it is up raises here, in the caller, and never reaches the
        supervisor. Raises ``ValueError`` when the id is taken and
        ``trio.ClosedResourceError`` when the supervisor has stopped.
        """
        children = self._children
        if children.closed:
            raise trio.ClosedResourceError(f"supervisor {self.name!r} has stopped")
        if spec.id in children.slots or spec.id in self._starting:
            raise ValueError(f"supervisor {self.name!r} already has a child {spec.id!r}")
        self._starting.add(spec.id)
        try:
            value = await children.start(Slot(spec))
        except Exception as exc:
            log.debug("supervisor %r: child %r failed to start: %r", self.name, spec.id, exc)
            raise
        finally:
            self._starting.discard(spec.id)
        if children.closed:
            raise trio.ClosedResourceError(f"supervisor {self.name!r} stopped while it started")
        return value

    async def terminate_child(self, child_id: str) -> None:
        """Stop a child (within its shutdown budget, see :class:`ChildSpec`); it is not restarted.

        Raises ``LookupError`` when there is no such child.
        """
        slot = self._children.slots.get(child_id)
        if slot is None:
            raise LookupError(f"supervisor {self.name!r} has no child {child_id!r}")
        self._children.forget(slot)
        await self._children.stop_slot(slot)

    def which_children(self) -> list[LiveChild]:
        """The running children in start order, each with the value it started with."""
        return [
            LiveChild(slot.spec.id, slot.child.value)
            for slot in self._children.slots.values()
            if slot.child is not None
        ]
