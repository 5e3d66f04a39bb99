"""CLI sessions: one supervised run of a provider CLI per completion (SPEC §4).

:class:`Sessions` is the one door: it owns the session supervisor, builds each run's
:class:`SessionSpec` from configuration, and keeps the warm pools of parked sessions;
the system and the lease registry both go through it::

    pool = await sessions.warm("claude", "claude-sonnet-4-5", 1)
    session = await sessions.open(pool, conversation)  # a parked one, else a fresh one
    async with session.stream(conversation) as events:
        async for event in events:
            ...

A session's secrets never leave it (:class:`Redactor`); its private home is seeded by
:func:`seed_home`.
"""

from __future__ import annotations

from actors.sessions.door import Sessions
from actors.sessions.launch import UnknownProvider, resolve_executable, session_spec
from actors.sessions.pool import StartSession, WarmPool
from actors.sessions.redaction import MIN_SECRET, REDACTED, DeltaGuard, Redactor
from actors.sessions.sandbox import redact, seed_home
from actors.sessions.session import Session, SessionActor, SessionEnded, SessionSpec, Timers

__all__ = [
    "MIN_SECRET",
    "REDACTED",
    "DeltaGuard",
    "Redactor",
    "Session",
    "SessionActor",
    "SessionEnded",
    "SessionSpec",
    "Sessions",
    "StartSession",
    "Timers",
    "UnknownProvider",
    "WarmPool",
    "redact",
    "resolve_executable",
    "seed_home",
    "session_spec",
]
