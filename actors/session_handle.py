"""The handle of one session: give it one prompt, read its events (SPEC §4.4).

The :class:`~actors.session.SessionActor` reports a :class:`Session` as soon as its
process exists; whoever holds it (a request, a warm pool) submits one prompt and reads
the events, or cancels the run::

    async with session.stream("Say hi") as events:
        async for event in events:
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from contracts.session import SessionEvent

__all__ = ["EVENT_BUFFER", "Session", "SessionEnded"]

EVENT_BUFFER = 16
"""Events a session may run ahead of its consumer before it waits (back-pressure)."""


class SessionEnded(Exception):
    """The session can take no prompt: it was used already, or its process has ended."""


@dataclass(eq=False)
class Session:
    """The handle of one session actor: give it one prompt, read its events.

    ``pid`` is the CLI's pid (also its process-group id), None when it could not start.
    Closing the event channel, or :meth:`cancel`, ends the run; ``reaped`` is set once
    the process group is reaped and the last event sent (the event channel is then
    closed), ``ended`` once the private directory is removed as well.
    """

    provider: str
    model: str
    pid: int | None = None
    reaped: trio.Event = field(default_factory=trio.Event)
    ended: trio.Event = field(default_factory=trio.Event)
    _prompts: tuple[trio.MemorySendChannel[str], trio.MemoryReceiveChannel[str]] = field(
        default_factory=lambda: trio.open_memory_channel[str](1)
    )
    _events: tuple[
        trio.MemorySendChannel[SessionEvent], trio.MemoryReceiveChannel[SessionEvent]
    ] = field(default_factory=lambda: trio.open_memory_channel[SessionEvent](EVENT_BUFFER))
    _scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    _submitted: bool = False
    _answered: bool = False  # the last event (Finished or Failed) has been sent

    @property
    def parked(self) -> bool:
        """True while the process is up and waiting for its prompt."""
        return not self._submitted and not self.ended.is_set()

    def submit(self, prompt: str) -> trio.MemoryReceiveChannel[SessionEvent]:
        """Hand the prompt over; returns the channel the events arrive on."""
        if not self.parked:
            raise SessionEnded(f"{self.provider} session can take no prompt")
        self._submitted = True
        self._prompts[0].send_nowait(prompt)
        return self._events[1]

    def cancel(self) -> None:
        """End the run now; the ladder still reaps the process group."""
        self._scope.cancel()

    @asynccontextmanager
    async def stream(self, prompt: str) -> AsyncIterator[trio.MemoryReceiveChannel[SessionEvent]]:
        """Submit ``prompt`` and read the events; leaving the block early ends the run.

        Leaving before the last event (Finished or Failed) cancels the run, and the
        process group is reaped (within the shutdown ladder) before the block is left.
        After the last event the CLI is exiting by itself; the actor reaps it, under its
        supervisor, without holding the caller.
        """
        events = self.submit(prompt)
        try:
            yield events
        finally:
            if not self._answered:
                self.cancel()
                with trio.CancelScope(shield=True):
                    await self.reaped.wait()
            events.close()
