"""The warm pool: CLI sessions spawned ahead of time and parked on stdin (SPEC §4.5).

A CLI spends most of its start-up before it reads its prompt, so a request that finds a
parked session pays only for writing the prompt. The pool is a long-lived task under a
supervisor; its sessions are children of the session supervisor like any other, so
the pool only asks for them (``start``) and keeps ``size`` of them parked::

    pool = WarmPool(spec, size=1, start=sessions.start)   # sessions: the door (Sessions)
    await nursery.start(pool.run)
    session = await pool.acquire(chat)      # parked if one can take it, else a cold start
    events = session.submit(chat)

A taken session is replaced at once; a parked one that dies is replaced after an
exponential back-off (so a CLI that cannot start does not spin); when the pool stops
(its lease is released) every parked session is cancelled and reaped before ``run``
returns.

A parked process must be able to take whatever it is asked: claude takes its system
prompt and history on stdin, codex reads them from a transcript written after it
started, so both park. A conversation a parked process cannot take (codex with a JSON
Schema, which is on its command line) gets a fresh session; a CLI that reads its
conversation as it starts (gemini) is never parked.

Some CLIs give up waiting for stdin (claude with text input after 3 s, gemini after
0.5 s: the profile's ``stdin_wait_seconds``). The pool retires such a session a little
before that, and then parks again only once a request takes a session: a lease that is
used often keeps its warm start; an idle one costs nothing, instead of a new CLI every
few seconds. A retired session is withdrawn at once, so it is never handed out while it
shuts down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Protocol

import trio

from actors.sessions.session import Session, SessionSpec
from contracts.conversation import Conversation

__all__ = ["StartSession", "WarmPool"]


class StartSession(Protocol):
    """Starts a session of ``spec``: parked, or for ``conversation`` when one is given."""

    def __call__(
        self, spec: SessionSpec, conversation: Conversation | None = None, /
    ) -> Awaitable[Session]: ...


log = logging.getLogger("asm.pool")

_BACKOFF_START, _BACKOFF_MAX = 0.05, 30.0
_HEALTHY_AFTER = 1.0  # a parked session that lived this long resets the back-off
PARK_MARGIN = 0.5  # retire this long before a CLI's stdin wait runs out


class WarmPool:
    """Keeps ``size`` sessions of one spec parked; hands them out one prompt each."""

    def __init__(
        self,
        spec: SessionSpec,
        size: int,
        start: StartSession,
        *,
        max_park: float | None = None,
    ) -> None:
        self.spec = spec
        self.size = size if spec.driver.parks else 0
        self._start = start
        self._parked: list[Session] = []
        self._retired: set[Session] = set()
        self._wake = trio.Event()
        self._backoff = 0.0
        wait = spec.driver.profile.stdin_wait_seconds
        default = None if wait is None else max(wait - PARK_MARGIN, 0.1)
        self.max_park = max_park if max_park is not None else default
        self._idle = False  # parked ones were retired unused: park again on the next take

    @property
    def parked(self) -> int:
        """How many sessions are parked right now."""
        return sum(1 for session in self._parked if session.parked)

    async def acquire(self, prompt: Conversation | str) -> Session:
        """A parked session that can take ``prompt``, else a freshly started one."""
        conversation = Conversation.of(prompt)
        self._idle = False
        self._parked = [session for session in self._parked if session.parked]
        for session in self._parked:
            if session.takes(conversation):
                self._parked.remove(session)
                self._wake.set()
                return session
        self._wake.set()
        return await self._start(self.spec, conversation)

    async def run(
        self, *, task_status: trio.TaskStatus[WarmPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Fill and refill the pool until cancelled; then reap every parked session."""
        try:
            async with trio.open_nursery() as watchers:
                task_status.started(self)
                while True:
                    self._parked = [session for session in self._parked if session.parked]
                    while len(self._parked) < self.size and not self._idle:
                        await self._park_one(watchers)
                    await self._wake.wait()
                    self._wake = trio.Event()
        finally:
            with trio.CancelScope(shield=True):
                await self._drain()

    async def _park_one(self, watchers: trio.Nursery) -> None:
        if self._backoff:
            await trio.sleep(self._backoff)
        session = await self._start(self.spec)
        self._parked.append(session)
        watchers.start_soon(self._watch, session, trio.current_time())
        if self.max_park is not None:
            watchers.start_soon(self._retire_unused, session, self.max_park)

    async def _retire_unused(self, session: Session, after: float) -> None:
        with trio.move_on_after(after):
            await session.ended.wait()
            return
        if session in self._parked and session.parked:
            self._retired.add(session)
            self._idle = True
            session.withdraw()

    async def _watch(self, session: Session, since: float) -> None:
        await session.ended.wait()
        if session in self._retired:
            self._retired.discard(session)
            if session in self._parked:
                self._parked.remove(session)
            log.debug("%s parked session retired unused", session.provider)
        elif session in self._parked:
            # It died parked: replace it, backing off if it did not live long.
            self._parked.remove(session)
            lived = trio.current_time() - since
            if lived >= _HEALTHY_AFTER:
                self._backoff = 0.0
            else:
                self._backoff = min(max(self._backoff * 2, _BACKOFF_START), _BACKOFF_MAX)
            log.warning(
                "%s parked session ended after %.2f s; replacing in %.2f s",
                session.provider,
                lived,
                self._backoff,
            )
        elif self._backoff and trio.current_time() - since >= _HEALTHY_AFTER:
            self._backoff = 0.0
        self._wake.set()

    async def _drain(self) -> None:
        parked, self._parked = self._parked, []
        for session in parked:
            session.cancel()
        for session in parked:
            await session.ended.wait()
