"""``hypercorn -k trio actors.asgi:app``: the same service under an outside hypercorn.

Hypercorn owns the socket here, so the system runs without its own HTTP child: the
ASGI lifespan starts it (``startup``) and stops it (``shutdown``), and every HTTP
request goes to the system's HTTP surface (endpoint routes and the Bus Events API). The
configuration is ``$ASM_CONFIG`` or ``./asm.toml``; the state directory is
``$ASM_STATE_DIR`` or ``./.asm`` (its ``admin.token`` guards the admin routes, its
``events.secret`` signs the Events API's tokens); the event store is ``$ASM_STORE`` or
the state directory's ``events.db``::

    hypercorn -k trio --bind 127.0.0.1:8787 actors.asgi:app

The lifespan task holds the supervision tree for the server's whole life; it is the
root of the tree, not a background task. It holds the state directory's lock too
(:mod:`actors.processes.state_lock`), taken before anything there is touched: a second server
(``asm serve`` or another hypercorn, or a second worker) on the same directory fails
its startup and changes nothing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from actors.processes import StateDirLock, hold_state_dir
from actors.serving import admin_token, config_path, load_config, serve_bus
from actors.system import System, open_system

__all__ = ["app"]

Scope = dict[str, Any]
Message = dict[str, Any]


class AsmApplication:
    """An ASGI application whose lifespan runs the asm system."""

    def __init__(self) -> None:
        self._system: System | None = None
        self._http: Any = None
        self._origin_known = False
        self._lock: StateDirLock | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._system is None or self._http is None:
            raise RuntimeError("asm: the lifespan has not started the system")
        if not self._origin_known and scope.get("server"):
            # Hypercorn owns the socket: learn the origin the descriptors must name.
            host, port = scope["server"]
            host = f"[{host}]" if ":" in host else host
            self._system.leases.origin = f"http://{host}:{port}"
            self._origin_known = True
            if self._lock is not None:
                self._lock.announce(self._system.leases.origin)
        await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        message: Message = await receive()
        assert message["type"] == "lifespan.startup"
        with contextlib.ExitStack() as stack:
            try:
                state_dir = Path(os.environ.get("ASM_STATE_DIR", ".asm"))
                state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                lock = stack.enter_context(hold_state_dir(state_dir))
                config = load_config(os.environ.get("ASM_CONFIG"))
                token = admin_token(state_dir)
                store, file = os.environ.get("ASM_STORE"), config_path(os.environ.get("ASM_CONFIG"))
                bus = serve_bus(state_dir, store, None, os.environ, config, config_file=file)
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": f"asm: {exc}"})
                return
            async with open_system(
                config, bind=None, state_dir=state_dir, admin_token=token, bus=bus
            ) as system:
                self._system, self._http, self._lock = system, system.http_app(), lock
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                self._system = self._http = self._lock = None
        await send({"type": "lifespan.shutdown.complete"})


app = AsmApplication()
"""The ASGI application for ``hypercorn -k trio actors.asgi:app``."""
