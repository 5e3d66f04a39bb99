"""Open an event log by its store name: ``memory``, ``sqlite:PATH`` or ``redis://…``.

This is the ``--store`` of ``asm serve`` (SPEC §7, BUS.md §2.4)::

    async with open_event_log("sqlite:.asm/events.db") as log:
        ...

:func:`store_label` is what may be shown of a store (``server.json``, logs, errors): a
Redis URL loses its password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from transport.event_log.base import EventLog
from transport.event_log.memory import open_memory_log
from transport.event_log.sqlite import open_sqlite_log

__all__ = ["StoreSpecError", "check_store", "open_event_log", "store_label"]

_REDIS_SCHEMES = ("redis://", "rediss://")


class StoreSpecError(ValueError):
    """A ``--store`` value that names no backend; the message says which forms exist."""


def check_store(spec: str) -> str:
    """The backend ``spec`` names (``memory``, ``sqlite`` or ``redis``), or StoreSpecError."""
    if spec == "memory":
        return "memory"
    if spec.startswith("sqlite:") and spec.removeprefix("sqlite:").strip():
        return "sqlite"
    if spec.startswith(_REDIS_SCHEMES) and urlsplit(spec).hostname:
        return "redis"
    raise StoreSpecError(
        f"unknown store {store_label(spec)!r}: use memory, sqlite:PATH or redis://HOST:PORT/DB"
    )


def store_label(spec: str) -> str:
    """``spec`` as it may be shown: a password in a Redis URL is replaced by ``***``."""
    if not spec.startswith(_REDIS_SCHEMES):
        return spec
    parts = urlsplit(spec)
    if parts.password is None:
        return spec
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))


@asynccontextmanager
async def open_event_log(spec: str, *, namespace: str = "asm") -> AsyncIterator[EventLog]:
    """The event log ``spec`` names, open until the block exits.

    ``namespace`` prefixes the Redis keys, so several buses may share one server.
    Raises :class:`StoreSpecError` for an unknown spec and
    :class:`~transport.event_log.StoreError` when the store cannot be opened.
    """
    backend = check_store(spec)
    if backend == "memory":
        async with open_memory_log() as memory:
            yield memory
    elif backend == "sqlite":
        async with open_sqlite_log(spec.removeprefix("sqlite:")) as sqlite:
            yield sqlite
    else:
        from transport.event_log.redis import open_redis_log  # noqa: PLC0415 - optional extra

        async with open_redis_log(spec, namespace=namespace) as redis:
            yield redis
