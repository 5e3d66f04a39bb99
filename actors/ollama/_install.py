"""An Ollama install on one node, top to bottom: probe → plan → execute → verify.

:meth:`Installer.run` is the whole install in the order it happens:

1. **probe** the node (``check-runtime``): is ``ollama`` installed, does its API answer,
   does systemd run it, and with which OLLAMA_HOST and OLLAMA_CONTEXT_LENGTH;
2. **plan** the actions from what the probe found
   (:func:`contracts.inference.install_actions`, pure), so a dry run lists exactly the
   actions an execution would take;
3. **execute** them in order through the node's runner (or, without systemd, the
   :class:`~actors.ollama.RuntimeSupervisor`);
4. **verify**: the plan's last action, ``wait-ready``, polls the API until it answers.

A failing action ends the install with :class:`InstallFailed` naming the action and the
command's last words; the node's state says ``installing``, ``failed`` or ``ready``. Each
executed action is reported as it starts and ends (:func:`actors.bus.report_progress`,
published as ``bus.inference.install.progress``), and a long one (the download) every
:data:`PROGRESS_EVERY` seconds while it runs, so the operator sees it is alive. What the
download prints as it goes (the installer's status lines, curl's progress bar) is
reported too, at most every :data:`OUTPUT_EVERY` seconds: the latest line as ``output``,
and the percentage in it as ``percent``::

    installer = Installer(access, runtimes, request, environ)
    actions = await installer.run(state)  # or: plan = await installer.plan()
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

import trio

from actors.bus import report_progress
from actors.ollama._node import PROBE_TIMEOUT, NodeAccess, NodeState
from actors.ollama.runners import OutputSink, RunnerError
from actors.ollama.runtime import RuntimeSupervisor
from contracts.inference import (
    Action,
    InstallRequest,
    RuntimeProbe,
    RuntimeWish,
    install_actions,
    listen_of_url,
    service_override,
    service_unit,
)
from transport.ollama_client import OllamaError

__all__ = ["InstallFailed", "Installer"]

UNIT_PATH: Final = "/etc/systemd/system/ollama.service"
OVERRIDE_DIR: Final = "/etc/systemd/system/ollama.service.d"
INSTALL_TIMEOUT: Final = 900.0
STEP_TIMEOUT: Final = 60.0
READY_POLL: Final = 0.2
PROGRESS_EVERY: Final = 5.0
"""Seconds between the ``running`` reports of an action still under way."""
OUTPUT_EVERY: Final = 1.0
"""At most this often, a ``running`` report carries the download's latest output line."""
NOTHING_TO_DO: Final[list[Action]] = ["check-runtime"]
_RUNTIME_KEYS: Final = ("OLLAMA_HOST", "OLLAMA_CONTEXT_LENGTH")


class InstallFailed(Exception):
    """An action failed; ``diagnostic`` says which and why (no secret in it)."""

    def __init__(self, diagnostic: str) -> None:
        super().__init__(diagnostic)
        self.diagnostic = diagnostic


class Installer:
    """One install request on one node (see the module docstring)."""

    def __init__(
        self,
        access: NodeAccess,
        runtimes: RuntimeSupervisor,
        request: InstallRequest,
        environ: Mapping[str, str],
    ) -> None:
        self._access = access
        self._runtimes = runtimes
        self._node_id = request.node_id
        self._dry_run = request.dry_run
        self._environ = environ
        self.wish = _wish(request, listen_of_url(access.node.ollama_url))
        self._systemd = False

    async def run(self, state: NodeState) -> list[Action]:
        """The install, in order; the actions planned (dry run) or taken.

        Raises :class:`InstallFailed` (and marks the node ``failed``) when an action fails.
        """
        plan = await self.plan()  # 1. probe, 2. plan
        if plan == NOTHING_TO_DO:
            state.status, state.listen = "ready", self.wish.listen
        if self._dry_run or plan == NOTHING_TO_DO:
            return plan
        state.status = "installing"
        try:
            taken = await self.execute(plan)  # 3. execute, ending with 4. verify (wait-ready)
        except InstallFailed:
            state.status = "failed"
            raise
        state.status, state.listen = "ready", self.wish.listen
        return taken

    # --- 1. probe, 2. plan --------------------------------------------------------------

    async def plan(self) -> list[Action]:
        """Probe the node (``check-runtime``) and plan the install."""
        self._systemd = await self._runs_systemd()
        probe = RuntimeProbe(
            installed=await self._access.installed(),
            answering=await self._answering(),
            systemd=self._systemd,
            configured=await self._configured(),
        )
        return install_actions(probe, self.wish)

    async def _runs_systemd(self) -> bool:
        """Whether the runtime runs as a systemd service on this node (BUS.md §4.2)."""
        node = self._access.node
        if node.service != "auto":
            return node.service == "systemd"
        try:
            result = await self._access.runner.run(
                ["sh", "-c", "test -d /run/systemd/system"], timeout=PROBE_TIMEOUT
            )
        except RunnerError:
            return False
        return result.exit_code == 0

    async def _answering(self) -> bool:
        async with self._access.client(self.wish.listen, timeout=2.0) as client:
            try:
                await client.version()
            except OllamaError:
                return False
        return True

    async def _configured(self) -> dict[str, str] | None:
        """The runtime's OLLAMA_* environment, when it is known (else None)."""
        if not self._systemd:
            running = self._runtimes.environment_of(self._node_id)
            if running is None:
                return None
            return {k: v for k, v in running.items() if k in _RUNTIME_KEYS}
        try:
            result = await self._access.runner.run(
                ["cat", f"{OVERRIDE_DIR}/override.conf"], timeout=STEP_TIMEOUT
            )
        except RunnerError:
            return None
        return self.wish.environment() if result.stdout == service_override(self.wish) else None

    # --- 3. execute, 4. verify ----------------------------------------------------------

    async def execute(self, plan: Sequence[Action]) -> list[Action]:
        """Take the planned actions in order; the actions taken."""
        if not self._systemd and self._access.runner.description != "local":
            raise InstallFailed(
                f"node {self._node_id!r} has no systemd: a runtime supervised by asm needs"
                " runner = local"
            )
        taken: list[Action] = []
        for step, action in enumerate(plan, start=1):
            progress = {"action": action, "step": step, "steps": len(plan)}
            started = trio.current_time()
            await report_progress({**progress, "status": "started"})
            failure: InstallFailed | None = None
            watch = _Watch(progress, started)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.keep_reporting)
                try:
                    await self._take(action, watch.saw)
                except InstallFailed as error:
                    failure = error  # raised below, not wrapped in the nursery's group
                finally:
                    nursery.cancel_scope.cancel()
            if failure is not None:
                await report_progress({**progress, "status": "failed", **_elapsed(started)})
                raise failure
            await report_progress({**progress, "status": "done", **_elapsed(started)})
            taken.append(action)
        return taken

    async def _take(self, action: Action, output: OutputSink) -> None:
        node, wish = self._access.node, self.wish
        match action:
            case "download-runtime":
                command = ["sh", "-c", node.installer()]
                await self._run(action, command, limit=INSTALL_TIMEOUT, on_output=output)
            case "install-runtime":
                if not await self._access.installed():
                    raise InstallFailed(f"install-runtime: {node.ollama_executable} does not run")
            case "create-service-user":
                user = wish.service_user
                script = (
                    f"id -u {user} >/dev/null 2>&1 ||"
                    f" useradd -r -s /bin/false -U -m -d /usr/share/ollama {user}"
                )
                await self._run(action, ["sh", "-c", script])
            case "write-service-unit":
                unit = service_unit(node.ollama_executable, wish.service_user).encode()
                await self._write(action, UNIT_PATH, unit)
            case "configure-listen" if self._systemd:
                override = service_override(wish).encode()
                await self._write(action, f"{OVERRIDE_DIR}/override.conf", override)
            case "start-service":
                await self._start()
            case "wait-ready":
                await self._verify()
            case _:
                # check-runtime was the probe; the override carries the context length;
                # without systemd, the listen is in the environment the runtime starts with.
                pass

    async def _start(self) -> None:
        if self._systemd:
            script = "systemctl daemon-reload && systemctl enable ollama"
            script += " && systemctl restart ollama"
            await self._run("start-service", ["sh", "-c", script])
            return
        environment = {k: v for k, v in self._environ.items() if not k.startswith("BUS_")}
        environment.update(self.wish.environment())
        await self._runtimes.start(self._node_id, self._access.node.ollama_executable, environment)

    async def _verify(self) -> None:
        """``wait-ready``: the runtime answers at the wished listen within the node's
        ``ready_timeout``."""
        timeout = self._access.node.ready_timeout
        with trio.move_on_after(timeout):
            while not await self._answering():  # noqa: ASYNC110 - polling another process
                await trio.sleep(READY_POLL)
            return
        raise InstallFailed(
            f"wait-ready: the runtime did not answer at {self.wish.listen} within {timeout:g} s"
        )

    async def _write(self, action: Action, path: str, content: bytes) -> None:
        directory = path.rsplit("/", 1)[0]
        script = f"mkdir -p '{directory}' && cat > '{path}' && chmod 644 '{path}'"
        await self._run(action, ["sh", "-c", script], stdin=content)

    async def _run(
        self,
        action: Action,
        argv: list[str],
        *,
        stdin: bytes | None = None,
        limit: float = STEP_TIMEOUT,
        on_output: OutputSink | None = None,
    ) -> None:
        runner = self._access.runner
        try:
            result = await runner.run(argv, stdin=stdin, timeout=limit, on_output=on_output)
        except RunnerError as error:
            raise InstallFailed(f"{action}: {error}") from None
        if result.exit_code != 0:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
            raise InstallFailed(f"{action}: exited {result.exit_code}: {last[0][:300]}")


class _Watch:
    """One action under way: the last line it printed, and the ``running`` reports."""

    def __init__(self, progress: Mapping[str, object], started: float) -> None:
        self._progress = progress
        self._started = started
        self._latest: str | None = None
        self._reported: str | None = None

    def saw(self, line: str) -> None:
        """An :data:`~actors.ollama.runners.OutputSink`: remember the latest line."""
        self._latest = line

    async def keep_reporting(self) -> None:
        """Report ``running`` when there is a new line (at most every
        :data:`OUTPUT_EVERY` s), and every :data:`PROGRESS_EVERY` s anyway, until
        cancelled."""
        last = trio.current_time()
        while True:
            await trio.sleep(min(OUTPUT_EVERY, PROGRESS_EVERY))
            fresh = self._latest != self._reported
            if not fresh and trio.current_time() - last < PROGRESS_EVERY:
                continue
            report = {**self._progress, "status": "running", **_elapsed(self._started)}
            if self._latest is not None:
                report |= _output(self._latest)
            self._reported, last = self._latest, trio.current_time()
            await report_progress(report)


def _output(line: str) -> dict[str, object]:
    """``line`` as ``output``, with the last percentage in it (0-100) as ``percent``."""
    found: dict[str, object] = {"output": line}
    percents = [float(p) for p in _PERCENT.findall(line) if float(p) <= 100]
    return found | {"percent": percents[-1]} if percents else found


_PERCENT: Final = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?%")


def _elapsed(started: float) -> dict[str, float]:
    return {"seconds": round(trio.current_time() - started, 1)}


def _wish(request: InstallRequest, default_listen: str) -> RuntimeWish:
    """How the runtime should run: the request's ``runtime``, else the node's defaults."""
    runtime = request.runtime
    listen = runtime.listen if isinstance(runtime.listen, str) else default_listen
    context = runtime.context_length if isinstance(runtime.context_length, int) else None
    user = runtime.service_user if isinstance(runtime.service_user, str) else "ollama"
    return RuntimeWish(listen=listen, context_length=context, service_user=user)
