"""Process checks for tests, read from /proc: is a pid running, what descends from it."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import trio


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, not yet reaped) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class ProcessRow(NamedTuple):
    """One process of :func:`process_table`."""

    parent: int
    state: str  # R, S, D, Z (zombie: dead, not yet reaped), …
    session: int


def process_table() -> dict[int, ProcessRow]:
    """pid → (parent pid, state, session id) of every process."""
    table: dict[int, ProcessRow] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = ProcessRow(int(fields[1]), fields[0], int(fields[3]))
    return table


def descendants(pid: int) -> dict[int, ProcessRow]:
    """Every descendant of ``pid``, zombies included, with its row."""
    table = process_table()
    found: dict[int, ProcessRow] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, row in table.items():
            if row.parent == parent and child not in found:
                found[child] = row
                frontier.append(child)
    return found


def running_descendants(pid: int) -> list[int]:
    """The descendants of ``pid`` that still run (zombies left out)."""
    return [child for child, row in descendants(pid).items() if row.state not in ("Z", "X")]


def group_members(pgid: int) -> list[int]:
    """The running processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


async def gone_within(pids: list[int], seconds: float) -> bool:
    """Wait up to ``seconds`` for every pid to stop running; True if they all did.

    Signals are delivered asynchronously, so a SIGKILLed process may run for a moment.
    """
    with trio.move_on_after(seconds):
        # Polling is the only way: there is no event for a non-child's death.
        while any(alive(pid) for pid in pids):  # noqa: ASYNC110
            await trio.sleep(0.01)
        return True
    return False
