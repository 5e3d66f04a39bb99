"""The output of a driver's probe command, run once per executable and kept.

Some drivers need a fact only the installed CLI can tell before they can write its
command line: codex's model catalog (``codex debug models``), which the driver rewrites
without tools. A probe runs like a session (its own process group, reaped by the
shutdown ladder), at most once per executable file at a time; its output is kept until
the file changes (another version installed)::

    output = await PROBES.output(("codex", "debug", "models"), env=env, cwd=workdir)

A probe that fails, times out or prints more than :data:`LIMIT` bytes gives None: the
driver then launches without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import trio

from actors.processes import Ladder, reap, spawn

__all__ = ["LIMIT", "PROBES", "ProbeCache"]

log = logging.getLogger("asm.session")

LIMIT = 16 * 1024 * 1024
_TIMEOUT = 15.0
_LADDER = Ladder(voluntary=0.5, terminate=1.0)

_Key = tuple[tuple[str, ...], int, int]


class ProbeCache:
    """Probe outputs by (argv, executable's mtime and size)."""

    def __init__(self) -> None:
        self._outputs: dict[_Key, bytes | None] = {}
        self._locks: dict[tuple[str, ...], trio.Lock] = {}

    async def output(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str
    ) -> bytes | None:
        """The probe's stdout (exit 0), from the cache when the executable is unchanged."""
        command = tuple(argv)
        lock = self._locks.setdefault(command, trio.Lock())
        async with lock:
            key = _key(command)
            if key is not None and key in self._outputs:
                return self._outputs[key]
            output = await _run(command, env, cwd)
            if key is not None:
                self._outputs[key] = output
            return output


def _key(command: tuple[str, ...]) -> _Key | None:
    try:
        stat = os.stat(command[0])
    except OSError:
        return None
    return command, stat.st_mtime_ns, stat.st_size


async def _run(command: tuple[str, ...], env: Mapping[str, str], cwd: str) -> bytes | None:
    try:
        child = await spawn(command, env=env, cwd=cwd)
    except OSError as exc:
        log.warning("probe %s could not run: %s", command[:3], exc.strerror or exc)
        return None
    output = bytearray()
    try:
        with trio.move_on_after(_TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, child.stderr)
                while chunk := await child.stdout.receive_some(65536):
                    output += chunk
                    if len(output) > LIMIT:
                        break
                nursery.cancel_scope.cancel()
    finally:
        code = await reap(child, _LADDER)
        with trio.CancelScope(shield=True):
            await child.close_output()
    if code != 0 or len(output) > LIMIT:
        log.warning("probe %s gave no usable output (exit %s)", command[:3], code)
        return None
    return bytes(output)


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    while await stream.receive_some(65536):
        pass


PROBES = ProbeCache()
"""The process-wide cache every session actor asks."""
