"""One server per state directory: an exclusive ``flock`` held for the server's life::

    with hold_state_dir(Path(".asm")) as lock:   # StateDirBusy if a server holds it
        ...                                      # sweep orphans, open events.db, …
        lock.announce("http://127.0.0.1:8787")   # what a second start will be told

Why: everything in a state directory belongs to one running server. A second server
started on it would sweep the first one's ``process-groups/`` (killing its live CLIs),
rewrite its ``server.json`` and delete it on exit. So ``asm serve`` takes the lock
before it touches anything else there, and a second start is refused with the holder's
pid and port (read from the lock file, which the holder writes them into).

``flock`` (not a pid file) because the kernel drops it when the holder dies, even by
SIGKILL: a stale lock cannot survive its server. The lock file's descriptor is not
inherited (Python opens files close-on-exec), so an orphaned CLI never keeps it. The
file itself stays in place: unlinking a lock file races with the next taker.

The lock is re-entrant within a process: the orphan sweep
(:meth:`actors.processes.ProcessLedger.sweep`) takes it too, which is a no-op
under a server that holds it, and a refusal if another process does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["LOCK_FILE", "StateDirBusy", "StateDirLock", "hold_state_dir", "holder"]

LOCK_FILE: Final = "serve.lock"

_held: dict[tuple[int, int], StateDirLock] = {}
"""The locks this process holds, by the state directory's (device, inode)."""


class StateDirBusy(Exception):
    """Another process holds the state directory; the message names it, in one line."""


class StateDirLock:
    """The held lock on one state directory: its open lock file."""

    def __init__(self, state_dir: Path, descriptor: int) -> None:
        self.state_dir = state_dir
        self._descriptor = descriptor
        self._depth = 1

    def announce(self, base_url: str | None) -> None:
        """Write this server's pid (and ``base_url`` once known) into the lock file."""
        record = json.dumps({"pid": os.getpid(), "base_url": base_url}).encode() + b"\n"
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, record, 0)


def _key(state_dir: Path) -> tuple[int, int]:
    status = state_dir.stat()
    return status.st_dev, status.st_ino


@contextlib.contextmanager
def hold_state_dir(state_dir: Path) -> Iterator[StateDirLock]:
    """Hold ``state_dir``'s lock until the block exits; :class:`StateDirBusy` if another
    process holds it (then nothing in the directory is changed)."""
    key = _key(state_dir)
    held = _held.get(key)
    if held is not None:
        held._depth += 1
        try:
            yield held
        finally:
            held._depth -= 1
        return
    path = state_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise StateDirBusy(
            f"{state_dir} is in use by {holder(state_dir)}; "
            "stop it first, or give this one another --state-dir"
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    lock = _held[key] = StateDirLock(state_dir, descriptor)
    try:
        os.fchmod(descriptor, 0o600)  # a lock file an older version made 0644
        lock.announce(None)
        yield lock
    finally:
        del _held[key]
        os.close(descriptor)  # releases the flock


def holder(state_dir: Path) -> str:
    """Who holds ``state_dir``: "the server with pid P on port N (URL)" as far as known."""
    record = _record(state_dir / LOCK_FILE) or _record(state_dir / "server.json")
    pid, base_url = record.get("pid"), record.get("base_url")
    if not isinstance(pid, int):
        return "another asm server (pid unknown)"
    if not isinstance(base_url, str):
        return f"the asm server with pid {pid} (still starting, or port unknown)"
    port = base_url.rsplit(":", 1)[-1].rstrip("/")
    return f"the asm server with pid {pid} on port {port} ({base_url})"


def _record(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_bytes() or b"{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
