"""Process checks for tests: is a pid still running, read from /proc."""

from __future__ import annotations

from pathlib import Path

import trio


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, not yet reaped) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


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
