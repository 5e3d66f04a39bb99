"""A ledger of live CLI process groups in the state directory, for sweeping orphans.

Every process group the system runs (a CLI session, ``ollama serve``) is written down
when it spawns and crossed out once reaped (:func:`~actors.processes.open_process_group`
does both). If the server dies hard (SIGKILL, power loss of the parent only), the ledger
still lists the groups it left running; the next start sweeps them before serving
(SPEC §4.4: "at start, no orphan of a previous run is left behind")::

    ledger = ProcessLedger.open(state_dir / "process-groups")
    ledger.sweep()          # kill what a previous run left behind (under the state lock)
    ledger.record(pgid)     # at spawn
    ledger.forget(pgid)     # once reaped

Scratch directories (the sessions' work root in ``$TMPDIR``) are written down the same
way, and a sweep removes those a hard-killed run could not.

An entry also stores the leader's start time (``/proc/<pid>/stat`` field 22), so a
sweep kills only processes of that group that started no earlier than the leader did,
never an unrelated process that reused the number.

The sweep runs only under the state directory's lock (:mod:`actors.processes.state_lock`): the
groups listed while another server holds it are that server's live CLIs, not orphans,
so a sweep there raises :class:`~actors.processes.StateDirBusy` and kills nothing.
Entries are written 0600: they name the server's processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path

from actors.processes.state_lock import hold_state_dir

__all__ = ["ProcessLedger"]

log = logging.getLogger("asm.processes")

_DIRECTORY_PREFIX = "dir-"


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _write_private(entry: Path, text: str) -> None:
    """``text`` into ``entry`` (0600), whole or not at all."""
    temporary = entry.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    temporary.replace(entry)


def _start_time(fields: list[str]) -> int:
    return int(fields[19])  # field 22 of stat; fields here start at field 3


class ProcessLedger:
    """Process groups spawned by this state directory's server, one file per group."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @classmethod
    def open(cls, directory: Path) -> ProcessLedger:
        """The ledger in ``directory`` (created 0700 if missing)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(directory)

    def record(self, pgid: int) -> None:
        """Write ``pgid`` down with its leader's start time."""
        fields = _stat_fields(pgid)
        if fields is None:
            return
        entry = self._directory / str(pgid)
        _write_private(entry, str(_start_time(fields)))

    def forget(self, pgid: int) -> None:
        """Cross ``pgid`` out: it has been reaped."""
        with contextlib.suppress(FileNotFoundError):
            (self._directory / str(pgid)).unlink()

    def record_directory(self, path: Path) -> None:
        """Write down a scratch directory (the sessions' work root) this run owns."""
        entry = self._directory / f"{_DIRECTORY_PREFIX}{path.name}"
        _write_private(entry, str(path))

    def forget_directory(self, path: Path) -> None:
        """Cross a scratch directory out: it has been removed."""
        (self._directory / f"{_DIRECTORY_PREFIX}{path.name}").unlink(missing_ok=True)

    def sweep(self) -> list[int]:
        """Kill every process left in a recorded group and remove every recorded scratch
        directory (a hard-killed run's session work dirs); returns the pids killed.

        Raises :class:`~actors.processes.StateDirBusy` if another process holds the
        state directory (the ledger's parent): its groups are live, not left behind.
        """
        with hold_state_dir(self._directory.parent):
            return self._sweep()

    def _sweep(self) -> list[int]:
        killed: list[int] = []
        for entry in self._directory.iterdir():
            if entry.name.startswith(_DIRECTORY_PREFIX) and entry.suffix != ".tmp":
                with contextlib.suppress(OSError):
                    shutil.rmtree(entry.read_text(), ignore_errors=True)
                entry.unlink(missing_ok=True)
                continue
            if not entry.name.isdigit():
                entry.unlink(missing_ok=True)
                continue
            pgid = int(entry.name)
            try:
                started = int(entry.read_text())
            except (OSError, ValueError):
                started = 0
            killed += self._kill_group(pgid, started)
            entry.unlink(missing_ok=True)
        if killed:
            log.warning("killed %d processes a previous run left behind", len(killed))
        return killed

    @staticmethod
    def _kill_group(pgid: int, started: int) -> list[int]:
        killed = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            fields = _stat_fields(int(proc.name))
            # fields[0] is the state, fields[2] the process group, fields[3] the session.
            if fields is None or fields[0] == "Z" or int(fields[2]) != pgid:
                continue
            if int(fields[3]) != pgid or _start_time(fields) < started:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
        return killed
