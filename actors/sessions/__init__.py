"""CLI sessions: one supervised run of a provider CLI per completion (SPEC §4).

:class:`Sessions` is the one door: it owns the session supervisor, builds each run's
:class:`SessionSpec` from configuration, and keeps the warm pools of parked sessions;
the system and the lease registry both go through it::

    session = await sessions.open("claude", conversation)
    async for event in session.events():
        ...

A session's secrets never leave it (:class:`Redactor`); its private home is seeded by
:func:`seed_home`.
"""

from __future__ import annotations

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
    "StartSession",
    "Timers",
    "UnknownProvider",
    "WarmPool",
    "redact",
    "resolve_executable",
    "seed_home",
    "session_spec",
]
