"""What a supervisor runs and how it treats it: child specs, options, the restart rule.

Pure data and one pure rule (:func:`should_restart`); the lifetimes live in
``_supervisor_children`` and the entry points in :mod:`actors.supervisor.tree`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = [
    "ChildSpec",
    "ChildStart",
    "LiveChild",
    "Restart",
    "Strategy",
    "SupervisorEscalation",
    "SupervisorOptions",
    "describe",
    "should_restart",
]

ChildStart = Callable[..., Awaitable[object]]
"""``await start(task_status=status)``; the child calls ``status.started(value)`` once up."""


class Restart(enum.Enum):
    """When a child that has finished is started again."""

    PERMANENT = "permanent"  # always, after a crash or a normal return
    TRANSIENT = "transient"  # only after it raised
    TEMPORARY = "temporary"  # never


class Strategy(enum.Enum):
    """Which children a restart takes down and brings back with the failed one."""

    ONE_FOR_ONE = "one_for_one"  # only the failed child
    ONE_FOR_ALL = "one_for_all"  # every child
    REST_FOR_ONE = "rest_for_one"  # the failed child and those started after it


@dataclass(frozen=True)
class ChildSpec:
    """How to run one child: ``ChildSpec("event-log", event_log.run, Restart.PERMANENT)``.

    ``shutdown`` is the child's shutdown budget in seconds: how long the supervisor waits,
    after cancelling the child, before logging that the child overran it. Trio cannot
    abandon a task, so an overrunning child is still waited for; the budget makes a slow
    shutdown visible, it does not cut it short. Use ``math.inf`` for a nested supervisor
    whose own children need their budgets.
    """

    id: str
    start: ChildStart
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0


@dataclass(frozen=True)
class SupervisorOptions:
    """How a supervisor restarts: ``SupervisorOptions(name="root", strategy=...)``.

    More than ``max_restarts`` restarts within ``max_seconds`` makes the supervisor give up.

    The n-th restart within the window waits ``backoff_base * 2 ** (n - 1)`` seconds, at most
    ``backoff_cap``, before starting the child again.
    """

    name: str = "supervisor"
    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = 3
    max_seconds: float = 5.0
    backoff_base: float = 0.05
    backoff_cap: float = 2.0

    def backoff(self, restarts_in_window: int) -> float:
        """The delay before the ``restarts_in_window``-th restart (counted from 1)."""
        return min(self.backoff_cap, self.backoff_base * 2.0 ** (restarts_in_window - 1))


class SupervisorEscalation(Exception):
    """A supervisor gave up: it stopped its children and fails to its parent."""

    def __init__(
        self, supervisor: str, child_id: str, cause: BaseException | None, reason: str
    ) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gave up ({reason}); "
            f"child {child_id!r} last ended with {describe(cause)}"
        )
        self.supervisor = supervisor
        self.child_id = child_id
        self.cause = cause


@dataclass(frozen=True)
class LiveChild:
    """A running child of a dynamic supervisor and the value it started with."""

    id: str
    value: object


def should_restart(restart: Restart, error: BaseException | None) -> bool:
    """Whether a child that ended (``error`` is None for a normal return) is started again."""
    match restart:
        case Restart.PERMANENT:
            return True
        case Restart.TRANSIENT:
            return error is not None
        case Restart.TEMPORARY:
            return False


def describe(cause: BaseException | None) -> str:
    """How a child's end appears in logs: the exception's repr, never its traceback."""
    return "a normal exit" if cause is None else repr(cause)
