"""``ollama serve`` as a supervised child, for nodes without systemd (BUS.md §4.2).

On a node where systemd runs the runtime is a service; elsewhere the Ollama provider
keeps it alive itself: one ``ollama serve`` process group per node, a transient child of
a dynamic supervisor (restarted if it crashes, stopped with the system, reaped through
the same shutdown ladder as every CLI)::

    runtimes = RuntimeSupervisor()
    await nursery.start(runtimes.run)
    await runtimes.start("gpu-1", "/usr/local/bin/ollama", {"OLLAMA_HOST": "127.0.0.1:11434"})
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping

import trio

from actors.processes import Ladder, ProcessLedger, StderrTail, open_process_group
from actors.supervisor import (
    ChildSpec,
    DynamicSupervisor,
    Restart,
    SupervisorOptions,
    supervise_dynamic,
)

__all__ = ["RuntimeExited", "RuntimeProcess", "RuntimeSupervisor"]

log = logging.getLogger("asm.ollama")
LADDER = Ladder(voluntary=0.0, terminate=5.0)  # `ollama serve` stops on SIGTERM


class RuntimeExited(Exception):
    """``ollama serve`` ended by itself; its supervisor restarts it."""


class RuntimeProcess:
    """One ``ollama serve`` process group, alive until cancelled."""

    def __init__(
        self,
        executable: str,
        environment: Mapping[str, str],
        ledger: ProcessLedger | None = None,
    ) -> None:
        self.executable = executable
        self.environment = dict(environment)
        self.stderr = StderrTail()
        self._ledger = ledger

    async def run(self, *, task_status: trio.TaskStatus[RuntimeProcess]) -> None:
        with tempfile.TemporaryDirectory(prefix="asm-ollama-") as cwd:
            # Written down (swept at the next start if asm dies hard); ended, crashed or
            # cancelled, the whole group goes.
            group = open_process_group(
                [self.executable, "serve"],
                env=self.environment,
                cwd=cwd,
                ladder=LADDER,
                ledger=self._ledger,
            )
            async with group as child:
                await child.stdin.aclose()
                task_status.started(self)
                async with trio.open_nursery() as drains:
                    drains.start_soon(self.stderr.drain, child.stderr)
                    drains.start_soon(StderrTail().drain, child.stdout)
            code = child.exit_code
        tail = self.stderr.text().strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeExited(f"ollama serve exited {code}: {tail[0][:200]}")


class RuntimeSupervisor:
    """The ``ollama serve`` children of the nodes that have no systemd."""

    def __init__(self, ledger: ProcessLedger | None = None) -> None:
        self._ledger = ledger
        self._supervisor: DynamicSupervisor | None = None
        self._running: dict[str, RuntimeProcess] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise until cancelled; every runtime is stopped and reaped on the way out."""
        async with trio.open_nursery() as nursery:
            options = SupervisorOptions(name="ollama-runtimes")
            self._supervisor = await nursery.start(supervise_dynamic, options)
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._supervisor, self._running = None, {}

    def environment_of(self, node_id: str) -> dict[str, str] | None:
        """The environment the node's runtime was started with, if one runs."""
        process = self._running.get(node_id)
        return None if process is None else process.environment

    async def start(self, node_id: str, executable: str, environment: Mapping[str, str]) -> None:
        """(Re)start the runtime of ``node_id`` with ``environment``."""
        if self._supervisor is None:
            raise RuntimeError("the runtime supervisor is not running")
        await self.stop(node_id)
        process = RuntimeProcess(executable, environment, self._ledger)
        child = ChildSpec(
            id=f"ollama-{node_id}",
            start=process.run,
            restart=Restart.TRANSIENT,
            shutdown=LADDER.budget + 1.0,
        )
        await self._supervisor.start_child(child)
        self._running[node_id] = process
        log.info("started ollama serve for node %s", node_id)

    async def stop(self, node_id: str) -> None:
        """Stop and reap the runtime of ``node_id`` (nothing if none runs)."""
        if self._running.pop(node_id, None) is not None and self._supervisor is not None:
            await self._supervisor.terminate_child(f"ollama-{node_id}")
