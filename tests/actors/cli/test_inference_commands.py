"""``asm inference install|model-ensure|status|verify`` run as an operator runs them: the
installed ``asm`` script in a child process, against the real Events API served in the
test, with a scripted provider answering on the bus (SPEC §7, BUS.md §1–§2)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from contracts.events import ListenQuery, PublishEnvelope
from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_PROGRESS,
    MODEL_ENSURE_REQUEST,
    PROGRESS_FOR,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
)
from tests.transport.events.served_events import ServedEvents, serve_events, token
from transport.event_log import MemoryEventLog, open_memory_log

ASM = str(Path(sys.executable).with_name("asm"))
BUS_VARIABLES = ("BUS_EVENTS_API_BASE_URL", "BUS_API_TOKEN", "BUS_EVENTS_TOKEN")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
Answer = Callable[[str, dict[str, Any]], dict[str, Any] | None]


def environ(**variables: str) -> dict[str, str]:
    """The test's environment without any Bus variable but ``variables``."""
    env = {k: v for k, v in os.environ.items() if k not in BUS_VARIABLES}
    return env | variables


def bus_env(served: ServedEvents, bearer: str | None = None) -> dict[str, str]:
    return environ(BUS_EVENTS_API_BASE_URL=served.base_url, BUS_API_TOKEN=bearer or token())


async def asm(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = await trio.run_process(
        [ASM, *argv], capture_stdout=True, capture_stderr=True, check=False, env=env
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert "Traceback" not in stderr
    return subprocess.CompletedProcess(result.args, result.returncode, stdout, stderr)


def answered_ok(name: str, request: dict[str, Any]) -> dict[str, Any]:
    """The ok response a ready provider gives to ``request``."""
    common = {
        "ok": True,
        "provider": request["provider"],
        "node_id": request["node_id"],
        "diagnostics": [],
    }
    if name == INSTALL_REQUEST:
        return common | {"actions": ["check-runtime"], "runtime_status": "ready"}
    if name == MODEL_ENSURE_REQUEST:
        return common | {"model": request["model"], "actions": ["pull-model"]}
    if name == STATUS_REQUEST:
        return common | {"runtime_status": "ready", "models": ["tinyllama:1.1b"]}
    checks = request.get("checks", ["runtime-ready", "model-ready"])
    return common | {"checks": [{"name": c, "ok": True, "diagnostic": "ready"} for c in checks]}


@dataclass
class ScriptedProvider:
    """Answers each ``bus.inference.*.request`` on ``log`` with ``answer`` (None: no
    answer), after publishing ``progress`` events under the request's correlation id."""

    log: MemoryEventLog
    answer: Answer = answered_ok
    progress: Sequence[dict[str, Any]] = ()
    requests: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    received: trio.Event = field(default_factory=trio.Event)

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self.log.listen(ListenQuery(pattern="bus.inference.*", since=0)) as stream:
            task_status.started()
            while True:
                event = await stream.receive()
                if not event.name.endswith(".request"):
                    continue
                request = msgspec.json.decode(event.payload)
                self.requests.append((event.name, request, event.correlation_id))
                self.received.set()
                for step in self.progress:
                    await trio.sleep(0.02)  # paced like a pull, so the bar redraws
                    name = PROGRESS_FOR.get(event.name, MODEL_ENSURE_PROGRESS)
                    await self._publish(name, step, event.correlation_id)
                response = self.answer(event.name, request)
                if response is not None:
                    await self._publish(RESPONSE_FOR[event.name], response, event.correlation_id)

    async def _publish(self, name: str, payload: Any, correlation_id: str | None) -> None:
        envelope = PublishEnvelope(
            name=name,
            payload=msgspec.Raw(msgspec.json.encode(payload)),
            correlation_id=correlation_id,
        )
        await self.log.append([envelope], identity_id="provider")


@pytest.fixture
async def log() -> Any:
    async with open_memory_log() as log:
        yield log


@pytest.fixture
async def served(nursery: trio.Nursery, log: MemoryEventLog) -> ServedEvents:
    return await serve_events(nursery, log)


async def start_provider(nursery: trio.Nursery, provider: ScriptedProvider) -> ScriptedProvider:
    await nursery.start(provider.serve)
    return provider


# --- answered ---------------------------------------------------------------------------


async def test_status_prints_the_response_as_one_json_line_and_exits_0_when_ok(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    provider = await start_provider(nursery, ScriptedProvider(log))
    result = await asm(
        "inference", "status", "--provider", "ollama", "--node", "gpu-1", env=bus_env(served)
    )
    assert (result.returncode, result.stderr) == (0, "")
    [line] = result.stdout.splitlines()
    request = {"provider": "ollama", "node_id": "gpu-1"}
    assert msgspec.json.decode(line) == answered_ok(STATUS_REQUEST, request)
    [(name, sent, correlation_id)] = provider.requests
    assert (name, sent) == (STATUS_REQUEST, request)
    assert correlation_id is not None and re.fullmatch(UUID, correlation_id)


@pytest.mark.parametrize(
    ("flags", "dry_run_and_confirm"),
    [
        ((), (True, False)),
        (("--confirm",), (True, True)),
        (("--execute", "--confirm"), (False, True)),
    ],
)
async def test_install_is_a_dry_run_unless_executed_with_confirmation(
    nursery: trio.Nursery,
    served: ServedEvents,
    log: MemoryEventLog,
    flags: tuple[str, ...],
    dry_run_and_confirm: tuple[bool, bool],
) -> None:
    dry_run, confirm = dry_run_and_confirm
    provider = await start_provider(nursery, ScriptedProvider(log))
    result = await asm(
        "inference",
        "install",
        "--provider",
        "ollama",
        "--node",
        "gpu-1",
        *flags,
        "--runtime-listen",
        "127.0.0.1:11434",
        "--context-length",
        "8192",
        "--environment",
        "staging",
        env=bus_env(served),
    )
    assert result.returncode == 0, result.stderr
    assert msgspec.json.decode(result.stdout)["runtime_status"] == "ready"
    [(name, sent, _)] = provider.requests
    assert name == INSTALL_REQUEST
    assert sent == {
        "provider": "ollama",
        "node_id": "gpu-1",
        "runtime": {"listen": "127.0.0.1:11434", "context_length": 8192, "environment": "staging"},
        "dry_run": dry_run,
        "confirm": confirm,
    }


async def test_a_failing_verify_prints_the_response_and_exits_1(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    def failing(name: str, request: dict[str, Any]) -> dict[str, Any]:
        checks = [
            {"name": "loopback-only", "ok": True, "diagnostic": "listens on 127.0.0.1"},
            {"name": "model-ready", "ok": False, "diagnostic": "no model is loaded"},
        ]
        return answered_ok(name, request) | {
            "ok": False,
            "checks": checks,
            "error_class": "verify_failed",
            "diagnostics": ["model-ready: no model is loaded"],
        }

    provider = await start_provider(nursery, ScriptedProvider(log, answer=failing))
    result = await asm(
        "inference",
        "verify",
        "--provider",
        "ollama",
        "--node",
        "gpu-1",
        "--check",
        "loopback-only",
        "--check",
        "model-ready",
        env=bus_env(served),
    )
    assert result.returncode == 1
    assert msgspec.json.decode(result.stdout)["checks"][1]["ok"] is False
    assert "verify_failed: model-ready: no model is loaded" in result.stderr
    [(name, sent, _)] = provider.requests
    assert (name, sent["checks"]) == (VERIFY_REQUEST, ["loopback-only", "model-ready"])


async def test_a_response_that_breaks_the_contract_is_printed_but_exits_1(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    incomplete = {"ok": True, "provider": "ollama", "node_id": "gpu-1"}  # no runtime_status

    def broken(name: str, request: dict[str, Any]) -> dict[str, Any]:
        return incomplete

    await start_provider(nursery, ScriptedProvider(log, answer=broken))
    result = await asm(
        "inference", "status", "--provider", "ollama", "--node", "gpu-1", env=bus_env(served)
    )
    assert result.returncode == 1
    assert msgspec.json.decode(result.stdout) == incomplete
    assert "breaks the contract: required_fields" in result.stderr


# --- model-ensure and its progress bar ------------------------------------------------------

MIB = 1024 * 1024
PULL = [
    {"model": "tinyllama:1.1b", "status": "pulling manifest", "completed": 0, "total": 0},
    {"model": "tinyllama:1.1b", "status": "downloading", "completed": MIB, "total": 4 * MIB},
    {"model": "tinyllama:1.1b", "status": "downloading", "completed": 3 * MIB, "total": 4 * MIB},
    {"model": "tinyllama:1.1b", "status": "success", "completed": 4 * MIB, "total": 4 * MIB},
]
ENSURE = (
    "inference",
    "model-ensure",
    "--provider",
    "ollama",
    "--node",
    "gpu-1",
    "--model",
    "tinyllama:1.1b",
    "--allow-download",
    "--execute",
    "--confirm",
)


async def test_model_ensure_draws_the_pull_progress_on_stderr(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    provider = await start_provider(nursery, ScriptedProvider(log, progress=PULL))
    result = await asm(*ENSURE, "--max-size", str(8 * MIB), "--progress", env=bus_env(served))
    assert result.returncode == 0, result.stderr
    assert msgspec.json.decode(result.stdout)["actions"] == ["pull-model"]
    final = re.split(r"[\r\n]+", result.stderr.strip())[-1]
    assert final.startswith("tinyllama:1.1b: 100%")
    assert "4.00M/4.00M" in final and "success" in final
    [(_, sent, _)] = provider.requests
    assert sent["policy"] == {"allow_model_download": True, "max_model_size_bytes": 8 * MIB}
    assert (sent["dry_run"], sent["confirm"]) == (False, True)


@pytest.mark.parametrize("flags", [(), ("--no-progress",)])
async def test_model_ensure_draws_no_bar_off_a_terminal_or_when_told_not_to(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog, flags: tuple[str, ...]
) -> None:
    await start_provider(nursery, ScriptedProvider(log, progress=PULL))
    result = await asm(*ENSURE, *flags, env=bus_env(served))
    assert (result.returncode, result.stderr) == (0, "")
    assert msgspec.json.decode(result.stdout)["model"] == "tinyllama:1.1b"


# --- install and its step lines -------------------------------------------------------------

DOWNLOADING: dict[str, Any] = {
    "action": "download-runtime",
    "step": 2,
    "steps": 3,
    "status": "running",
}
STEPS: list[dict[str, Any]] = [
    {"action": "check-runtime", "step": 1, "steps": 3, "status": "started"},
    {"action": "check-runtime", "step": 1, "steps": 3, "status": "done", "seconds": 0.0},
    {"action": "download-runtime", "step": 2, "steps": 3, "status": "started"},
    {"action": "download-runtime", "step": 2, "steps": 3, "status": "running", "seconds": 5.0},
    {**DOWNLOADING, "seconds": 6.0, "output": ">>> Downloading Linux amd64 bundle"},
    {**DOWNLOADING, "seconds": 7.0, "output": "#####       42.5%", "percent": 42.5},
    {**DOWNLOADING, "seconds": 8.0, "output": "\x1b[2Jwiped\x07"},  # shown printable only
    {"action": "download-runtime", "step": 2, "steps": 3, "status": "done", "seconds": 12.34},
    {"action": "wait-ready\x1b[2J", "step": 3, "steps": 3, "status": "started"},  # not a word
    {"model": "not install progress"},
    {"action": "wait-ready", "step": 3, "steps": 3, "status": "done", "seconds": 0.2},
]
INSTALL = ("inference", "install", "--provider", "ollama", "--node", "gpu-1")


async def test_install_prints_each_step_on_stderr_as_it_starts_and_ends(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    await start_provider(nursery, ScriptedProvider(log, progress=STEPS))
    result = await asm(*INSTALL, "--execute", "--confirm", env=bus_env(served))
    assert result.returncode == 0, result.stderr
    assert msgspec.json.decode(result.stdout)["runtime_status"] == "ready"
    assert result.stderr.splitlines() == [
        "asm inference install: [1/3] check-runtime started",
        "asm inference install: [1/3] check-runtime done (0.0 s)",
        "asm inference install: [2/3] download-runtime started",
        "asm inference install: [2/3] download-runtime running (5.0 s)",
        "asm inference install: [2/3] download-runtime running (6.0 s):"
        " >>> Downloading Linux amd64 bundle",
        "asm inference install: [2/3] download-runtime running (7.0 s): 42.5%",
        "asm inference install: [2/3] download-runtime running (8.0 s): [2Jwiped",
        "asm inference install: [2/3] download-runtime done (12.3 s)",
        "asm inference install: [3/3] wait-ready done (0.2 s)",
    ]


async def test_install_prints_no_steps_when_told_not_to(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    await start_provider(nursery, ScriptedProvider(log, progress=STEPS))
    result = await asm(*INSTALL, "--execute", "--confirm", "--no-progress", env=bus_env(served))
    assert (result.returncode, result.stderr) == (0, "")


# --- no answer, interrupted -------------------------------------------------------------


async def test_no_response_within_the_timeout_exits_1_naming_the_request(
    served: ServedEvents, log: MemoryEventLog
) -> None:
    result = await asm(
        "inference",
        "status",
        "--provider",
        "ollama",
        "--node",
        "gpu-1",
        "--timeout",
        "1",
        env=bus_env(served),
    )
    assert (result.returncode, result.stdout) == (1, "")
    match = re.search(rf"no response to {STATUS_REQUEST} ({UUID}) within 1 s", result.stderr)
    assert match is not None, result.stderr
    [published] = log.after(0, None)
    assert (published.name, published.correlation_id) == (STATUS_REQUEST, match[1])


async def test_model_ensure_without_a_response_times_out_too(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    await start_provider(nursery, ScriptedProvider(log, answer=lambda name, request: None))
    result = await asm(*ENSURE, "--timeout", "1", env=bus_env(served))
    assert result.returncode == 1
    assert re.search(rf"no response to {MODEL_ENSURE_REQUEST} {UUID} within 1 s", result.stderr)


async def test_an_interrupted_wait_exits_130(
    nursery: trio.Nursery, served: ServedEvents, log: MemoryEventLog
) -> None:
    provider = await start_provider(nursery, ScriptedProvider(log, answer=lambda n, r: None))
    argv = [ASM, "inference", "install", "--provider", "ollama", "--node", "gpu-1"]
    process = await trio.lowlevel.open_process(
        argv, env=bus_env(served), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await provider.received.wait()  # published: the signal handler is in place
        process.send_signal(signal.SIGINT)
        assert await process.wait() == 130
    finally:
        process.kill()
        await process.wait()


# --- refused before or at the server ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "rule"),
    [
        (("status", "--node", "a b"), "node_id_format"),
        (("install", "--node", "gpu-1", "--execute"), "dry_run_and_confirm"),
        (("model-ensure", "--node", "gpu-1", "--model", "two words"), "model_format"),
        (("install", "--node", "gpu-1", "--runtime-listen", "nowhere"), "runtime_listen"),
        (("verify", "--node", "gpu-1", "--check", "warm"), "checks_known"),
        (("verify", "--node", "n", "--check=model-ready", "--check=model-ready"), "checks_unique"),
        (("status", "--node", "gpu-1", "--provider", "vllm"), "provider_registered"),
    ],
)
async def test_a_request_the_contract_refuses_exits_2_and_publishes_nothing(
    served: ServedEvents, log: MemoryEventLog, argv: tuple[str, ...], rule: str
) -> None:
    action, *rest = argv
    provider = () if "--provider" in rest else ("--provider", "ollama")
    result = await asm("inference", action, *provider, *rest, env=bus_env(served))
    assert (result.returncode, result.stdout) == (2, "")
    assert f"invalid request: {rule}:" in result.stderr
    assert list(log.after(0, None)) == []


@pytest.mark.parametrize(
    ("missing", "named"),
    [("BUS_EVENTS_API_BASE_URL", "BUS_EVENTS_API_BASE_URL"), ("BUS_API_TOKEN", "BUS_API_TOKEN")],
)
async def test_a_missing_variable_exits_2_naming_it(
    served: ServedEvents, missing: str, named: str
) -> None:
    env = {k: v for k, v in bus_env(served).items() if k != missing}
    result = await asm("inference", "status", "--provider", "ollama", "--node", "n", env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert named in result.stderr


async def test_a_token_the_server_refuses_exits_1_without_showing_it(
    served: ServedEvents, log: MemoryEventLog
) -> None:
    forged = token(secret=b"not-the-server-secret-0123456789abcdef")
    result = await asm(
        "inference", "status", "--provider", "ollama", "--node", "n", env=bus_env(served, forged)
    )
    assert result.returncode == 1
    assert "invalid_auth" in result.stderr
    assert forged not in result.stdout + result.stderr
    assert list(log.after(0, None)) == []


async def test_a_token_without_the_admin_scope_cannot_install(
    served: ServedEvents, log: MemoryEventLog
) -> None:
    reader = token("inference:read")
    result = await asm(
        "inference", "install", "--provider", "ollama", "--node", "n", env=bus_env(served, reader)
    )
    assert result.returncode == 1
    assert "forbidden" in result.stderr and "inference:admin" in result.stderr
    assert reader not in result.stdout + result.stderr
    assert list(log.after(0, None)) == []
