"""OTP supervision on Trio nurseries: restart types, strategies, intensity, ordered stops.

Every long-lived task of the system runs as a child of one of these supervisors, never
as a system task; a child that fails is restarted by its spec, and one that fails too
often escalates to its parent::

    specs = [ChildSpec("log", run_log), ChildSpec("bridge", run_bridge)]
    await supervise(specs, SupervisorOptions(strategy=Strategy.REST_FOR_ONE))

:func:`supervise_dynamic` starts a supervisor whose children (one per session) are
added while it runs.
"""

from __future__ import annotations

from actors.supervisor.tree import (
    ChildSpec,
    DynamicSupervisor,
    LiveChild,
    Restart,
    Strategy,
    SupervisorEscalation,
    SupervisorOptions,
    supervise,
    supervise_dynamic,
)

__all__ = [
    "ChildSpec",
    "DynamicSupervisor",
    "LiveChild",
    "Restart",
    "Strategy",
    "SupervisorEscalation",
    "SupervisorOptions",
    "supervise",
    "supervise_dynamic",
]
