"""The endpoint transport actor: hypercorn serving the loopback HTTP surface (SPEC §3).

A supervised child like any other: ``await nursery.start(serve_http, app, bind)``
returns the base URL once the socket is bound (port 0 picks a free one), and
cancelling it stops the server::

    base_url = await nursery.start(serve_http, app, "127.0.0.1:0")

A bind that fails (the port is taken) raises :class:`ListenError`, one line that says
where and why (``cannot listen on 127.0.0.1:8787: address already in use``), not the
nurseries' nested groups around hypercorn's ``OSError``.
"""

from __future__ import annotations

import logging

import hypercorn.config
import hypercorn.trio
import trio
from hypercorn.typing import Framework

from contracts.loopback import parse_bind
from transport.http import sole_exception

__all__ = ["ListenError", "serve_http"]

log = logging.getLogger("asm.http")


class ListenError(OSError):
    """The socket could not be bound; ``errno`` is the system's, the message one line."""

    def __str__(self) -> str:
        return str(self.args[-1])


async def serve_http(
    app: Framework, bind: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``app`` on the loopback ``bind`` until cancelled; reports the base URL.

    Raises ``contracts.loopback.BindError`` for a bind that is not loopback: the
    endpoint never listens beyond this machine; :class:`ListenError` when the socket
    cannot be bound.
    """
    host, port = parse_bind(bind)
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None  # request lines could carry lease refs; logs stay ours
    config.errorlog = log  # hypercorn's own messages go through our logging, not stderr
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 75.0

    async def serve(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await hypercorn.trio.serve(app, config, task_status=task_status)

    base_url = None
    try:
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(serve)
            base_url = binds[0]
            log.debug("serving on %s", base_url)
            task_status.started(base_url)
    except BaseExceptionGroup as group:
        error = sole_exception(group)
        if base_url is not None or not isinstance(error, OSError):
            raise
        reason = (error.strerror or str(error)).lower()
        raise ListenError(error.errno, f"cannot listen on {bind}: {reason}") from error
