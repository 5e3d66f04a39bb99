"""Workers against spawning: the real codex CLI, one completion per process or per turn.

codex runs each completion either as its own ``codex exec`` process (``[providers.codex]
mode = "spawn"``, the default; cold here: no warm pool) or as one turn of a long-lived
``codex app-server`` (``mode = "worker"``, ``workers = N``). Both talk to the fake OpenAI
Responses upstream (``tests/fakes/fake_openai_responses.py``), served by a process of
its own on 127.0.0.1 so its CPU and memory are not counted, and every completion goes
through ``System.stream`` with a system prompt of its own and two earlier turns. Rounds
alternate (spawn, worker, spawn, …), each with its own system and config; per round:

- one warm-up completion (for workers: it starts the pool; then a wait until the tree is
  idle, so a worker still starting is not counted), then a batch of sequential
  completions: CPU seconds (user + sys) per completion of this process, its reaped
  children and its live descendants (``/proc/<pid>/stat``) — target: worker ≤ 0.2x
  spawn; and the time from asking to the first answer event (a ``TextDelta``; ``codex
  exec`` gives its answer as one ``Message``), p50 — target: worker ≤ 0.3x cold spawn;
- then N clients (Trio tasks) running completions back to back for a fixed window:
  completions per second — target: worker ≥ 3x spawn — and the RSS of this process and
  its descendants (sum of ``VmRSS``) when the window closes.

Every answer is checked against the fake's; failures are counted in the table. Prints one
table. Talks to 127.0.0.1 only; leaves no process (each is found by the run's marker
variable, ``$ASM_BENCH_RUN`` if set).

    python -m benchmarks.workers [--completions 20] [--clients 8] [--seconds 10]
        [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import trio

from actors.system import System, open_system
from benchmarks._endpoint_common import MARK_VARIABLE, gone
from benchmarks._measure import quantile, status_kib
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.conversation import Conversation, Turn
from contracts.session import Failed, Finished, Message, TextDelta

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("ASM_REAL_CLI_BIN") or ROOT / ".cache/real-clis/node_modules/.bin")
CODEX = BIN / "codex"
MODEL = "gpt-5.5"
ANSWER = "Bonne nuit"
COMPLETION_TIMEOUT = 90.0  # seconds; a completion taking longer is counted as failed
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
_FAKE = (
    "import sys\n"
    "from tests.fakes.fake_openai_responses import FakeResponses, Script\n"
    "with FakeResponses(Script(answer=sys.argv[1], chunks=3)) as fake:\n"
    "    print(fake.url, flush=True)\n"
    "    sys.stdin.read()\n"
)

Mode = Literal["spawn", "worker"]
MODES: tuple[Mode, ...] = ("spawn", "worker")


@dataclasses.dataclass
class Round:
    """What one round of one mode measured."""

    cpu: float = 0.0  # seconds over the sequential batch
    sequential: int = 0
    firsts: list[float] = dataclasses.field(default_factory=list)
    concurrent: int = 0  # completions answered in the window
    window: float = 0.0  # seconds from the clients' start to the last one's end
    rss_kib: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    left: int = 0


# --- the process tree: this process and its descendants, less the fake upstream -------


def _parents() -> dict[int, int]:
    """pid → ppid of every process (zombies too)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return found


def descendants(exclude: int) -> set[int]:
    """The live descendants of this process, leaving out ``exclude`` and its own."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child != exclude and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _stat_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid`` in seconds (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(tick) for tick in fields[11:15]) / _CLK_TCK


def tree_cpu(exclude: int) -> float:
    """CPU seconds so far of this process, its reaped children and its live descendants."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(_stat_cpu(pid) for pid in descendants(exclude))


def tree_rss_kib(exclude: int) -> int:
    """Sum of ``VmRSS`` of this process and its live descendants."""
    pids = {os.getpid(), *descendants(exclude)}
    return sum(status_kib(pid, "VmRSS") for pid in pids)


# --- completions --------------------------------------------------------------------


def _conversation(n: int) -> Conversation:
    return Conversation(
        system=f"You are a terse translator #{n}.",
        turns=(Turn("user", "Hello"), Turn("assistant", "Bonjour"), Turn("user", "Good night")),
    )


async def _complete(system: System, n: int, failures: list[str]) -> float | None:
    """Run completion ``n``; seconds to its first answer event, or None when it failed
    (and why, appended to ``failures``)."""
    start, first, text = time.perf_counter(), None, None
    try:
        with trio.move_on_after(COMPLETION_TIMEOUT) as scope:
            async with system.stream("codex", MODEL, _conversation(n)) as events:
                async for event in events:
                    if first is None and isinstance(event, TextDelta | Message):
                        first = time.perf_counter() - start
                    if isinstance(event, Failed):
                        failures.append(f"#{n}: {event.kind}: {event.message}")
                        return None
                    if isinstance(event, Finished):
                        text = event.text
                        break
    except Exception as error:  # counted and printed, never dropped
        failures.append(f"#{n}: {type(error).__name__}: {error}")
        return None
    if scope.cancelled_caught:
        failures.append(f"#{n}: no answer within {COMPLETION_TIMEOUT:g} s")
    elif text != ANSWER:
        failures.append(f"#{n}: answered {text!r}, not {ANSWER!r}")
    elif first is None:
        failures.append(f"#{n}: finished without a text event")
    else:
        return first
    return None


async def _settle(pids: set[int], exclude: int) -> None:
    """Wait (up to 5 s) until the descendants are back to ``pids`` (spawned CLIs exited)."""
    with trio.move_on_after(5):
        while descendants(exclude) - pids:  # noqa: ASYNC110 - no event for another's exit
            await trio.sleep(0.02)


async def _quiet(exclude: int) -> None:
    """Wait (up to 10 s) until the tree is idle: under 10 ms of CPU in 200 ms."""
    with trio.move_on_after(10):
        while True:
            start = tree_cpu(exclude)
            await trio.sleep(0.2)
            if tree_cpu(exclude) - start < 0.01:
                return


async def _sequential(system: System, result: Round, count: int, exclude: int) -> None:
    await _complete(system, 0, result.failures)  # warm-up: starts the workers
    await _quiet(exclude)  # every worker started, not only the one that answered
    before = descendants(exclude)
    start = tree_cpu(exclude)
    for n in range(1, count + 1):
        first = await _complete(system, n, result.failures)
        if first is not None:
            result.firsts.append(first)
    await _settle(before, exclude)  # a spawned CLI's exit is part of its completion
    result.cpu, result.sequential = tree_cpu(exclude) - start, count


async def _concurrent(
    system: System, result: Round, clients: int, seconds: float, exclude: int
) -> None:
    numbers = iter(range(1_000_000, 2_000_000))
    deadline = trio.current_time() + seconds

    async def client() -> None:
        while trio.current_time() < deadline:
            if await _complete(system, next(numbers), result.failures) is not None:
                result.concurrent += 1

    async def sample() -> None:
        await trio.sleep_until(deadline)
        result.rss_kib = tree_rss_kib(exclude)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(client)
        nursery.start_soon(sample)
    result.window = trio.current_time() - start


# --- rounds -------------------------------------------------------------------------


def _config(mode: Mode, url: str, workers: int, mark: str) -> Config:
    fake_provider = (
        "--config=model_provider=fake",
        '--config=model_providers.fake.name="fake"',
        f'--config=model_providers.fake.base_url="{url}"',
        '--config=model_providers.fake.wire_api="responses"',
        '--config=model_providers.fake.env_key="FAKE_KEY"',
    )
    codex = ProviderSettings(
        executable=str(CODEX),
        extra_args=fake_provider,
        env={"FAKE_KEY": "sk-fake", MARK_VARIABLE: mark},
        pool_size=0,
        mode=mode,
        workers=workers,
    )
    return Config(
        providers={"codex": codex},
        sessions=SessionSettings(first_event_timeout=30.0, exit_grace=1.0),
    )


async def _round(mode: Mode, args: argparse.Namespace, url: str, fake: int, mark: str) -> Round:
    result = Round()
    with tempfile.TemporaryDirectory(prefix="asm-bench-workers-") as home:
        environ = {"PATH": _PATH, "HOME": home, "LANG": "C.UTF-8", MARK_VARIABLE: mark}
        config = _config(mode, url, args.workers, mark)
        async with open_system(config, bind=None, environ=environ) as system:
            await _sequential(system, result, args.completions, fake)
            await _concurrent(system, result, args.clients, args.seconds, fake)
        result.left = len([pid for pid in await gone(mark, within=5) if pid != fake])
    return result


async def _measure(
    args: argparse.Namespace, url: str, fake: int, mark: str
) -> dict[Mode, list[Round]]:
    rounds: dict[Mode, list[Round]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):  # alternating: both see the same machine
        for mode in MODES:
            rounds[mode].append(await _round(mode, args, url, fake, mark))
    return rounds


@contextlib.contextmanager
def _fake_upstream(mark: str) -> Iterator[tuple[str, int]]:
    """The fake Responses API in a process of its own: (its URL, its pid)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _FAKE, ANSWER],
        cwd=ROOT,
        env={**os.environ, MARK_VARIABLE: mark},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the fake upstream did not start (exit {process.wait()})")
        yield url, process.pid
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


# --- the table ----------------------------------------------------------------------


def _ratio(spawn: float, worker: float) -> str:
    return f"{worker / spawn:.2f}x" if spawn else "n/a"


def _rows(rounds: dict[Mode, list[Round]], clients: int, workers: int) -> list[tuple[str, ...]]:
    def each(mode: Mode) -> tuple[float, float, float, float, int, int]:
        done = rounds[mode]
        cpu = sum(r.cpu for r in done) / max(1, sum(r.sequential for r in done))
        firsts = [first for r in done for first in r.firsts]
        first = quantile(firsts, 0.5) * 1000 if firsts else float("nan")
        rate = sum(r.concurrent for r in done) / max(1e-9, sum(r.window for r in done))
        rss = quantile([r.rss_kib for r in done], 0.5) / 1024
        failed = sum(len(r.failures) for r in done)
        return cpu, first, rate, rss, failed, sum(r.left for r in done)

    s, w = each("spawn"), each("worker")
    measured = [
        ("CPU s per completion, asm + its processes (target ≤ 0.2x)", "{:.3f}"),
        ("first token ms, p50, spawn cold (target ≤ 0.3x)", "{:.0f}"),
        (f"completions/s, {clients} clients, workers = {workers} (target ≥ 3x)", "{:.2f}"),
        (f"RSS MiB, asm + its processes, end of the {clients}-client window", "{:.0f}"),
    ]
    rows = [
        (name, shape.format(s[i]), shape.format(w[i]), _ratio(s[i], w[i]))
        for i, (name, shape) in enumerate(measured)
    ]
    return [
        *rows,
        ("failed completions (all phases)", str(s[4]), str(w[4]), "target 0"),
        ("processes of this run left at the end", str(s[5]), str(w[5]), "target 0"),
    ]


def _version() -> str:
    try:
        done = subprocess.run(
            [str(CODEX), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"codex (version unknown: {error})"
    return done.stdout.strip() or "codex (version unknown)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--completions", type=int, default=20, help="sequential, per round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="concurrent window")
    parser.add_argument("--rounds", type=int, default=2, help="spawn/worker round pairs")
    parser.add_argument("--workers", type=int, default=2, help="[providers.codex] workers")
    args = parser.parse_args(argv)
    if not CODEX.exists():
        print(f"workers benchmark: {CODEX} is missing (make test-real-clis)", file=sys.stderr)
        sys.exit(2)
    mark = os.environ.get(MARK_VARIABLE) or secrets.token_hex(8)
    with _fake_upstream(mark) as (url, fake):
        rounds = trio.run(_measure, args, url, fake, mark)
    left = trio.run(gone, mark, 5.0)
    print(
        f"workers benchmark: {_version()} against the fake Responses upstream (127.0.0.1);"
        f" {args.rounds} rounds alternating spawn / worker; per round 1 warm-up +"
        f" {args.completions} sequential completions, then {args.clients} clients for"
        f" {args.seconds:g} s; workers = {args.workers}; spawn is cold (pool_size = 0);"
        f" {os.cpu_count()} CPUs"
    )
    print("| measurement | spawn | worker | worker / spawn |")
    print("|---|---|---|---|")
    for row in _rows(rounds, args.clients, args.workers):
        print("| " + " | ".join(row) + " |")
    for mode in MODES:
        for failure in [f for r in rounds[mode] for f in r.failures][:10]:
            print(f"workers benchmark: {mode}: {failure}", file=sys.stderr)
    if left:
        for pid in left:  # carries this run's marker: started by this run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sys.exit(f"workers benchmark: processes left behind (killed): {left}")


if __name__ == "__main__":
    main()
