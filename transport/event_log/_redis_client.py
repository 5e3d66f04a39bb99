"""The coredis client as the Redis event log uses it: entered, and failing as StoreError.

coredis keeps each client's connections in an anyio task group; under Trio that is a
nursery, which wraps whatever the body of ``async with client`` raises in an
:class:`ExceptionGroup`. :func:`open_client` hands the body's exception back as it was
raised, so a :class:`CursorError` or a :class:`trio.Cancelled` leaves an
``async with log.listen(...)`` unchanged::

    async with open_client("redis://127.0.0.1:6379/0") as client:
        async with store_errors("redis does not answer"):
            await client.ping()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import coredis
import trio
from coredis.exceptions import RedisError
from coredis.retry import NoRetryPolicy

from transport.event_log.base import StoreError
from transport.http import sole_exception

__all__ = ["Client", "open_client", "store_errors"]

Client = coredis.Redis[bytes]

_CONNECT_SECONDS: Final = 5.0


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    """An entered client for ``url`` that never retries by itself (a retried EXEC could
    store a batch twice)."""
    client = coredis.Redis.from_url(
        url, retry_policy=NoRetryPolicy(), connect_timeout=_CONNECT_SECONDS
    )
    try:
        async with client:
            yield client
    except BaseExceptionGroup as group:
        sole = sole_exception(group)
        if sole is None:
            raise
        raise sole from sole.__cause__


@asynccontextmanager
async def store_errors(what: str) -> AsyncIterator[None]:
    """Turn the driver's and the network's failures into :class:`StoreError`.

    A connection the client lost because the caller is being cancelled (coredis runs
    its connections in the caller's nursery) raises that cancellation instead.
    """
    try:
        yield
    except (RedisError, OSError, trio.TooSlowError) as error:
        await trio.lowlevel.checkpoint_if_cancelled()
        raise StoreError(f"{what}: {error}") from error
