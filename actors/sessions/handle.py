"""The handle of one session: give it one prompt, read its events (SPEC §4.4).

The :class:`~actors.sessions.SessionActor` reports a :class:`Session` as soon as its
process exists (or, for a CLI that reads its conversation as it starts, as soon as it is
ready to start one); whoever holds it (a request, a warm pool) submits one conversation
and reads the events, or cancels the run::

    async with session.stream(Conversation.from_prompt("Say hi")) as events:
        async for event in events:
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from contracts.conversation import Conversation
from contracts.session import SessionEvent
from transport.http import RequestIds, request_snapshot

__all__ = ["EVENT_BUFFER", "Session", "SessionEnded"]

EVENT_BUFFER = 16
"""Events a session may run ahead of its consumer before it waits (back-pressure)."""


class SessionEnded(Exception):
    """The session can take no prompt: it was used already, withdrawn, or has ended."""


def _takes_any(conversation: Conversation) -> bool:
    return True


@dataclass(eq=False)
class Session:
    """The handle of one session actor: give it one conversation, read its events.

    ``pid`` is the CLI's pid (also its process-group id), None until it starts (or when
    it could not). Closing the event channel, or :meth:`cancel`, ends the run; ``reaped``
    is set once the process group is reaped and the last event sent (the event channel
    is then closed), ``ended`` once the private directory is removed as well.
    ``takes`` says which conversations a parked process can still be given (a codex
    started without a JSON Schema cannot take one that has one).
    """

    provider: str
    model: str
    pid: int | None = None
    reaped: trio.Event = field(default_factory=trio.Event)
    ended: trio.Event = field(default_factory=trio.Event)
    takes: Callable[[Conversation], bool] = _takes_any
    #: Whose request the conversation serves: the run's log lines carry its ids.
    submitted_by: RequestIds = (None, None)
    _prompts: tuple[
        trio.MemorySendChannel[Conversation], trio.MemoryReceiveChannel[Conversation]
    ] = field(default_factory=lambda: trio.open_memory_channel[Conversation](1))
    _events: tuple[
        trio.MemorySendChannel[SessionEvent], trio.MemoryReceiveChannel[SessionEvent]
    ] = field(default_factory=lambda: trio.open_memory_channel[SessionEvent](EVENT_BUFFER))
    _scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    _submitted: bool = False
    _withdrawn: bool = False
    _answered: bool = False  # the last event (Finished or Failed) has been sent

    @property
    def parked(self) -> bool:
        """True while the session waits for its conversation (and may still be given one)."""
        return not (self._submitted or self._withdrawn or self.ended.is_set())

    def submit(self, prompt: Conversation | str) -> trio.MemoryReceiveChannel[SessionEvent]:
        """Hand the conversation (or a bare prompt) over; returns the events' channel."""
        conversation = Conversation.of(prompt)
        if not self.parked or not self.takes(conversation):
            raise SessionEnded(f"{self.provider} session can take no prompt")
        self._submitted = True
        self.submitted_by = request_snapshot()
        self._prompts[0].send_nowait(conversation)
        return self._events[1]

    def withdraw(self) -> None:
        """Take a parked session out of service now (it is reaped soon after).

        From this call on it is not :attr:`parked`, so nobody can be handed a session
        that is already shutting down.
        """
        self._withdrawn = True
        self.cancel()

    def cancel(self) -> None:
        """End the run now; the ladder still reaps the process group."""
        self._scope.cancel()

    # The actor's side of the handle: only the session actor and its outbox call these.

    def run_scope(self) -> trio.CancelScope:
        """The cancel scope the actor runs in; :meth:`cancel` and :meth:`withdraw` cancel it."""
        return self._scope

    async def receive_conversation(self) -> Conversation:
        """The conversation :meth:`submit` hands over, once it is submitted."""
        return await self._prompts[1].receive()

    async def send_event(self, event: SessionEvent) -> None:
        """Send one event to the consumer, waiting while its buffer is full.

        Raises ``trio.BrokenResourceError`` when the consumer closed its channel.
        """
        await self._events[0].send(event)

    def send_event_nowait(self, event: SessionEvent) -> None:
        """Send one event only if there is room (``trio.WouldBlock`` otherwise)."""
        self._events[0].send_nowait(event)

    def mark_answered(self) -> None:
        """The last event (Finished or Failed) is on its way: leaving :meth:`stream` after
        it no longer cancels the run."""
        self._answered = True

    def close_events(self) -> None:
        """No more events: the consumer's channel ends after those already sent."""
        self._events[0].close()

    @asynccontextmanager
    async def stream(
        self, prompt: Conversation | str
    ) -> AsyncIterator[trio.MemoryReceiveChannel[SessionEvent]]:
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
