"""CLI sessions: cold versus warm start, the session actor's overhead, memory when parked.

All numbers come from the fake claude CLI (``tests/fakes/bin/claude``), measured side
by side in one run and printed as one table:

- time from asking for a session to its first event, cold (spawn, then the prompt) and
  warm (a session parked by the pool), with the fake's start-up cost set to 300 ms;
- time to the answer (spawn → the result line decoded) through the session actor versus
  a bare ``subprocess.Popen`` of the same fake with the same prompt reading stdout up
  to its result line (start-up cost 0), runs alternating, p50 and p99;
- memory per parked session: the CLI process's RSS, and what the actor adds in Python.

    python -m benchmarks.sessions [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from pathlib import Path

import trio

from actors.sessions import WarmPool
from actors.system import System, open_system
from benchmarks._measure import print_table, quantile, status_kib
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.conversation import Conversation
from contracts.providers import Workspace

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fakes" / "bin" / "claude"
PROMPT = "Benchmark prompt: say hello."
STARTUP_MS = 300
_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"


def _environ(home: str) -> dict[str, str]:
    return {"PATH": _PATH, "HOME": home, "LANG": "C.UTF-8", "ASM_CLAUDE_BIN": str(FAKE)}


def _config(startup_ms: int) -> Config:
    env = {"FAKE_CLI_STARTUP_MS": str(startup_ms)}
    return Config(
        providers={"claude": ProviderSettings(env=env)},
        sessions=SessionSettings(exit_grace=0.5, terminate_grace=0.5),
    )


async def _first_event_cold(system: System) -> float:
    start = time.perf_counter()
    session = await system.start_session(system.spec("claude", "m"))
    events = session.submit(PROMPT)
    await events.receive()
    elapsed = time.perf_counter() - start
    async for _ in events:
        pass
    return elapsed


async def _first_event_warm(pool: WarmPool) -> float:
    # The replacement must be past its start-up and parked on stdin, as in service.
    while pool.parked < pool.size:  # noqa: ASYNC110 - no event for "parked"
        await trio.sleep(0.01)
    await trio.sleep(STARTUP_MS / 1000 + 0.1)
    start = time.perf_counter()
    session = await pool.acquire(PROMPT)
    events = session.submit(PROMPT)
    await events.receive()
    elapsed = time.perf_counter() - start
    async for _ in events:
        pass
    return elapsed


async def _whole_run_actor(system: System) -> float:
    start = time.perf_counter()
    completion = await system.query("claude", "m", PROMPT)
    elapsed = time.perf_counter() - start
    assert completion.finish_reason == "stop"
    return elapsed


def _whole_run_bare(argv: Sequence[str], stdin: bytes, env: dict[str, str], cwd: str) -> float:
    """Spawn, write the prompt, read stdout lines up to the result line: the answer.

    ``stdin`` is what the driver writes for the prompt (claude: stream-json lines, so
    stdin stays open until the answer, as the session actor keeps it)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(stdin)
    process.stdin.flush()
    for line in process.stdout:
        if line.startswith(b'{"type":"result"'):
            break
    elapsed = time.perf_counter() - start
    process.stdin.close()
    process.stdout.read()
    process.wait()
    return elapsed


async def _parked_memory(system: System, count: int) -> tuple[float, float]:
    """(RSS of one parked CLI in MiB, Python bytes the actor holds per parked session)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    pool = await system.warm("claude", "m", size=count)
    while pool.parked < count:  # noqa: ASYNC110 - no event for "parked"
        await trio.sleep(0.01)
    await trio.sleep(STARTUP_MS / 1000 + 0.2)
    per_session = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    rss = [status_kib(session.pid, "VmRSS") for session in pool._parked if session.pid is not None]
    await system.cool("claude", "m")
    return statistics.mean(rss) / 1024, per_session


async def _measure(runs: int) -> list[tuple[str, str, str]]:
    home = tempfile.mkdtemp(prefix="asm-bench-")
    rows: list[tuple[str, str, str]] = []
    async with open_system(_config(STARTUP_MS), environ=_environ(home)) as system:
        pool = await system.warm("claude", "m", size=1)
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(runs):
            cold.append(await _first_event_cold(system))
            warm.append(await _first_event_warm(pool))
        await system.cool("claude", "m")
        c50, w50 = statistics.median(cold), statistics.median(warm)
        rows += [
            ("first event, cold (start-up 300 ms), p50", f"{c50 * 1000:.1f} ms", ""),
            ("first event, warm pool, p50", f"{w50 * 1000:.1f} ms", f"{w50 / c50:.2f}x cold"),
        ]
        rss_mib, python_bytes = await _parked_memory(system, 4)
        rows += [
            ("parked session: CLI process RSS (fake)", f"{rss_mib:.1f} MiB", ""),
            ("parked session: actor memory in Python", f"{python_bytes / 1024:.1f} KiB", ""),
        ]
    async with open_system(_config(0), environ=_environ(home)) as system:
        spec = system.spec("claude", "m")
        chat = Conversation.from_prompt(PROMPT)
        request = spec.launch_request(Workspace(home, str(uuid.uuid4())), chat)
        argv = spec.driver.launch(request).argv
        stdin = spec.driver.deliver(chat, request).steps[0]
        actor: list[float] = []
        bare: list[float] = []
        await _whole_run_actor(system)  # warm the page cache and the imports
        for _ in range(runs * 2):
            actor.append(await _whole_run_actor(system))
            # On the loop's thread, as a user's script would (forking from a worker
            # thread costs more here); nothing else runs meanwhile.
            bare.append(_whole_run_bare(argv, stdin, dict(spec.env), home))
        a50, b50 = statistics.median(actor), statistics.median(bare)
        a99, b99 = quantile(actor, 0.99), quantile(bare, 0.99)
        rows += [
            (
                "to the answer, bare subprocess, p50 / p99",
                f"{b50 * 1000:.1f} / {b99 * 1000:.1f} ms",
                "",
            ),
            (
                "to the answer, session actor, p50 / p99",
                f"{a50 * 1000:.1f} / {a99 * 1000:.1f} ms",
                f"{a50 / b50:.2f}x bare",
            ),
            ("session actor added, p50", f"{(a50 - b50) * 1000:+.1f} ms", "target <= 2 ms"),
        ]
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement")
    args = parser.parse_args(argv)
    rows = trio.run(_measure, args.runs)
    print_table(
        f"sessions benchmark (fake claude CLI, {args.runs} runs each, one run of this script)", rows
    )


if __name__ == "__main__":
    main()
