"""Child processes from spawn to reap, the ledger of live groups, the state directory's lock.

Both CLI sessions (:mod:`actors.sessions`) and ``ollama serve`` (:mod:`actors.ollama`)
run a process group; :func:`open_process_group` spawns one, records it in the
:class:`ProcessLedger` (so a crash leaves a trail a restart sweeps), and reaps and
forgets it on the way out, shielded from cancellation::

    async with open_process_group(argv, env=env, cwd=cwd, ladder=Ladder(), ledger=ledger) as child:
        await child.stdin.send_all(b"hi\n")
        ...

A state directory belongs to one server at a time (:func:`hold_state_dir`), so no other
process sweeps its live children as orphans.
"""

from __future__ import annotations

from actors.processes.child_process import (
    MAX_ARGUMENT_BYTES,
    ChildProcess,
    Ladder,
    LineTooLong,
    StderrTail,
    UnsafeCommandLine,
    check_command_line,
    read_lines,
    reap,
    spawn,
    sweep_group_on_exit,
)
from actors.processes.group import open_process_group
from actors.processes.ledger import ProcessLedger
from actors.processes.state_lock import StateDirBusy, StateDirLock, hold_state_dir

__all__ = [
    "MAX_ARGUMENT_BYTES",
    "ChildProcess",
    "Ladder",
    "LineTooLong",
    "ProcessLedger",
    "StateDirBusy",
    "StateDirLock",
    "StderrTail",
    "UnsafeCommandLine",
    "check_command_line",
    "hold_state_dir",
    "open_process_group",
    "read_lines",
    "reap",
    "spawn",
    "sweep_group_on_exit",
]
