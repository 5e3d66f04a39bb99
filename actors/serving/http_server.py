"""The endpoint transport actor: hypercorn serving the loopback HTTP surface (SPEC §3).

A supervised child like any other: ``await nursery.start(serve_http, app, bind)``
returns the base URL once the socket is bound (port 0 picks a free one), and
cancelling it stops the server::

    base_url = await nursery.start(serve_http, app, "127.0.0.1:0")
"""

from __future__ import annotations

import logging

import hypercorn.config
import hypercorn.trio
import trio
from hypercorn.typing import Framework

from contracts.loopback import parse_bind

__all__ = ["serve_http"]

log = logging.getLogger("asm.http")


async def serve_http(
    app: Framework, bind: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``app`` on the loopback ``bind`` until cancelled; reports the base URL.

    Raises ``contracts.loopback.BindError`` for a bind that is not loopback: the
    endpoint never listens beyond this machine.
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

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve)
        base_url = binds[0]
        log.info("serving on %s", base_url)
        task_status.started(base_url)
