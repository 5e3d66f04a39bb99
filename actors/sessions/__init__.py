"""CLI sessions: one supervised run of a provider CLI per completion (SPEC §4).

:class:`Sessions` is the one door: it owns the session supervisor, builds each run's
:class:`SessionSpec` from configuration, and keeps the warm pools of parked sessions;
the system and the lease registry both go through it::

    pool = await sessions.warm("claude", "claude-sonnet-4-5", 1)
    session = await sessions.open(pool, conversation)  # a parked one, else a fresh one
    async with session.stream(conversation) as events:
        async for event in events:
            ...

Where the CLI has a server mode (``codex app-server``) and ``[providers.<id>] mode =
"worker"`` asks for it, a :class:`WorkerPool` of long-lived :class:`Worker` actors runs
each completion as one turn of a long-lived process instead of a fresh run; the handle
and its events are the same (``sessions.source(provider, model)`` picks).

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
from actors.sessions.worker import Worker, WorkerExited
from actors.sessions.worker_pool import WorkerPool

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
    "Worker",
    "WorkerExited",
    "WorkerPool",
    "redact",
    "resolve_executable",
    "seed_home",
    "session_spec",
]
