"""One process group as a block: spawned, written down, reaped and crossed out.

Every process group the system runs (a CLI session, ``ollama serve``) goes the same way:
:func:`~actors.processes.spawn` it, write it down in the :class:`ProcessLedger` (so a
hard-killed server leaves a trail the next start sweeps), and however the block ends —
done, failed or cancelled — reap it through the shutdown ladder, shielded, and cross it
out. :func:`open_process_group` is that pairing, written once::

    async with open_process_group(argv, env=env, cwd=cwd, ladder=Ladder()) as child:
        await child.stdin.send_all(b"hi\\n")
        ...
    child.exit_code   # the leader's, once reaped (negative: the signal that ended it)

``ledger=None`` writes nothing down. Our ends of stdout and stderr are closed after the
reap, unless ``close_output=False``: a caller whose tasks still drain them while the
ladder runs (the session actor) closes them itself once those tasks have stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import trio

from actors.processes.child_process import ChildProcess, Ladder, reap, spawn
from actors.processes.ledger import ProcessLedger

__all__ = ["open_process_group"]


@asynccontextmanager
async def open_process_group(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    ladder: Ladder,
    ledger: ProcessLedger | None = None,
    close_output: bool = True,
) -> AsyncIterator[ChildProcess]:
    """Spawn ``argv`` as its own process group and record it; on exit, reap and forget it.

    Raises what :func:`~actors.processes.spawn` raises (``OSError``, among them
    :class:`~actors.processes.UnsafeCommandLine`) before the block is entered; nothing
    is recorded then.
    """
    child = await spawn(argv, env=env, cwd=cwd)
    if ledger is not None:
        ledger.record(child.pgid)
    try:
        yield child
    finally:
        with trio.CancelScope(shield=True):
            await reap(child, ladder)
            if close_output:
                await child.close_output()
        if ledger is not None:
            ledger.forget(child.pgid)
