"""What a session's consumer sees: its events, Started first, the last one exactly once.

The session actor decides what happened; the outbox delivers it to whoever holds the
:class:`~actors.sessions.Session` handle and counts each run's start and end for
the metrics. Every event goes out through the session's
:class:`~actors.sessions.Redactor`, so no secret the CLI printed leaves with it::

    outbox = Outbox(session, model="m", metrics=metrics, redactor=Redactor.of(env))
    await outbox.emit(TextDelta(text="Hi"))           # a Started goes first, once
    await outbox.send_closing([Finished(finish_reason="stop", text="Hi")])

A consumer that went away cancels the run; after a cancellation nobody may be reading,
so the closing events then go only if there is room.

Each run that ends says so in one line on ``asm.session``: the provider, the outcome
(``finished`` or the Failed kind), the time since its conversation came
(:meth:`Outbox.begin`) and the model; never the prompt, the answer or the failure's
message (the actor logs that at DEBUG)::

    claude session finished after 1.42s (model 'claude-sonnet-4-5')
    codex session timeout after 60.01s (model 'gpt-5')

The line is INFO whatever the outcome: the consumer gets the Failed and decides what
it means (``asm query`` prints it; a server answers it), so nothing here warns on an
embedder's stderr. A parked session that never ran says nothing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

import trio

from actors.sessions.handle import Session
from actors.sessions.redaction import DeltaGuard, Redactor
from contracts.session import Failed, Finished, SessionEvent, Started, TextDelta
from transport.http import Metrics

__all__ = ["Outbox"]

log = logging.getLogger("asm.session")


class Outbox:
    """The events of one session, on their way to its consumer."""

    def __init__(
        self,
        session: Session,
        *,
        model: str,
        metrics: Metrics | None,
        redactor: Redactor | None = None,
    ) -> None:
        self._session = session
        self._redactor = redactor or Redactor(())
        self._deltas = DeltaGuard(self._redactor)
        self._model = model
        self._metrics = metrics
        self._counted: Literal["no", "live", "ended"] = "no"
        self.started = False  # a Started went out (or nothing started: see fail_alone)
        self._began: float | None = None  # when the conversation came
        self._said = False  # the outcome line went out

    def begin(self) -> None:
        """The conversation came: the run's duration counts from now."""
        self._began = trio.current_time()

    async def emit(self, event: SessionEvent) -> None:
        """Send one event, Started first; a consumer that left cancels the run."""
        if isinstance(event, TextDelta):
            text = self._deltas.feed(event.text)
            if not text:
                return  # held back: it may begin a secret
            event = TextDelta(text=text)
        elif isinstance(event, Finished | Failed) and (held := self._deltas.flush()):
            await self._send(TextDelta(text=held))
        await self._send(event)

    async def _send(self, event: SessionEvent) -> None:
        session, event = self._session, self._redactor.event(event)
        if isinstance(event, Started):
            if self.started:
                return
            self.started = True
            self._count(event)
        elif not self.started:
            await self.emit(Started(provider=session.provider, model=self._model))
        if isinstance(event, Finished | Failed):
            session.mark_answered()
            self._count(event)
            self._say(event)
        try:
            await session.send_event(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("%s session: consumer went away", session.provider)
            session.cancel()
            await trio.lowlevel.checkpoint()

    async def fail_alone(self, failed: Failed, wait: float) -> None:
        """Nothing started (the executable could not run): ``failed`` is the only event."""
        self.started = True
        await self.send_closing([failed], wait)

    async def send_closing(self, events: list[SessionEvent], wait: float) -> None:
        """Deliver the last events: up to ``wait`` seconds for a slow consumer, never for
        a gone one."""
        cancelled = any(isinstance(e, Failed) and e.kind == "cancelled" for e in events)
        with trio.CancelScope(shield=True), trio.move_on_after(wait):
            for event in events:
                if not cancelled:
                    await self.emit(event)
                    continue
                if self._counted == "live":
                    self._count(event)
                if self.started or self._began is not None:  # a run, not a parked session
                    self._say(event)
                with contextlib.suppress(
                    trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
                ):
                    self._session.send_event_nowait(self._redactor.event(event))

    def _say(self, event: SessionEvent) -> None:
        """The run's one outcome line (see the module docstring)."""
        if self._said or not isinstance(event, Finished | Failed):
            return
        self._said = True
        outcome = event.kind if isinstance(event, Failed) else "finished"
        took = 0.0 if self._began is None else trio.current_time() - self._began
        log.info(
            "%s session %s after %.2fs (model %r)",
            self._session.provider,
            outcome,
            took,
            self._model,
        )

    def _count(self, event: SessionEvent) -> None:
        """Count the run's start and its end (finished or the Failed kind), each once."""
        if self._metrics is None:
            return
        provider = self._session.provider
        if isinstance(event, Started):
            self._counted = "live"
            self._metrics.session_started(provider)
        elif isinstance(event, Finished | Failed) and self._counted != "ended":
            outcome = event.kind if isinstance(event, Failed) else "finished"
            live, self._counted = self._counted == "live", "ended"
            self._metrics.session_ended(provider, outcome, was_live=live)
