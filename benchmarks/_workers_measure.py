"""What ``benchmarks/workers.py`` measures in one round of one CLI and one mode: the CPU
and memory of this process's tree (``/proc``), completions with their first-token
times and failures, a sequential batch and a window of concurrent clients; and the
rows of the table the rounds add up to.

The tree is this process, its reaped children and its live descendants, less the fake
upstreams (``exclude``: their pids, and their own descendants).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import trio

from actors.system import System
from benchmarks._measure import quantile, status_kib
from contracts.conversation import Conversation, Turn
from contracts.session import Failed, Finished, Message, TextDelta

__all__ = ["Bench", "Round", "concurrent", "descendants", "rows", "sequential"]

COMPLETION_TIMEOUT = 90.0  # seconds; a completion taking longer is counted as failed
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Round:
    """What one round of one CLI in one mode measured."""

    cpu: float = 0.0  # seconds over the sequential batch
    sequential: int = 0
    firsts: list[float] = dataclasses.field(default_factory=list)
    concurrent: int = 0  # completions answered in the window
    window: float = 0.0  # seconds from the clients' start to the last one's end
    rss_kib: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    left: int = 0


@dataclasses.dataclass(frozen=True)
class Bench:
    """One round's system and what it asks: the provider, its model, the expected answer."""

    system: System
    provider: str
    model: str
    answer: str
    exclude: frozenset[int]  # the fake upstreams' pids


# --- the process tree: this process and its descendants, less the fake upstreams ------


def _parents() -> dict[int, int]:
    """pid → ppid of every process (zombies too)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return found


def descendants(exclude: Collection[int]) -> set[int]:
    """The live descendants of this process, leaving out ``exclude`` and their own."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in exclude and child not in found:
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


def tree_cpu(exclude: Collection[int]) -> float:
    """CPU seconds so far of this process, its reaped children and its live descendants."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(_stat_cpu(pid) for pid in descendants(exclude))


def tree_rss_kib(exclude: Collection[int]) -> int:
    """Sum of ``VmRSS`` of this process and its live descendants."""
    pids = {os.getpid(), *descendants(exclude)}
    return sum(status_kib(pid, "VmRSS") for pid in pids)


# --- completions --------------------------------------------------------------------


def _conversation(n: int) -> Conversation:
    return Conversation(
        system=f"You are a terse translator #{n}.",
        turns=(Turn("user", "Hello"), Turn("assistant", "Bonjour"), Turn("user", "Good night")),
    )


async def _complete(bench: Bench, n: int, failures: list[str]) -> float | None:
    """Run completion ``n``; seconds to its first answer event, or None when it failed
    (and why, appended to ``failures``)."""
    start, first, text = time.perf_counter(), None, None
    try:
        with trio.move_on_after(COMPLETION_TIMEOUT) as scope:
            conversation = _conversation(n)
            async with bench.system.stream(bench.provider, bench.model, conversation) as events:
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
    elif text != bench.answer:
        failures.append(f"#{n}: answered {text!r}, not {bench.answer!r}")
    elif first is None:
        failures.append(f"#{n}: finished without a text event")
    else:
        return first
    return None


async def _settle(pids: set[int], exclude: Collection[int]) -> None:
    """Wait (up to 5 s) until the descendants are back to ``pids`` (spawned CLIs exited)."""
    with trio.move_on_after(5):
        while descendants(exclude) - pids:  # noqa: ASYNC110 - no event for another's exit
            await trio.sleep(0.02)


async def _quiet(exclude: Collection[int]) -> None:
    """Wait (up to 10 s) until the tree is idle: under 10 ms of CPU in 200 ms."""
    with trio.move_on_after(10):
        while True:
            start = tree_cpu(exclude)
            await trio.sleep(0.2)
            if tree_cpu(exclude) - start < 0.01:
                return


async def sequential(bench: Bench, result: Round, count: int) -> None:
    """One warm-up completion, then ``count`` in a row: their CPU and first tokens."""
    await _complete(bench, 0, result.failures)  # warm-up: starts the workers
    await _quiet(bench.exclude)  # every worker started, not only the one that answered
    before = descendants(bench.exclude)
    start = tree_cpu(bench.exclude)
    for n in range(1, count + 1):
        first = await _complete(bench, n, result.failures)
        if first is not None:
            result.firsts.append(first)
    await _settle(before, bench.exclude)  # a spawned CLI's exit is part of its completion
    result.cpu, result.sequential = tree_cpu(bench.exclude) - start, count


async def concurrent(bench: Bench, result: Round, clients: int, seconds: float) -> None:
    """``clients`` tasks completing back to back for ``seconds``; the RSS at the end."""
    numbers = iter(range(1_000_000, 2_000_000))
    deadline = trio.current_time() + seconds

    async def client() -> None:
        while trio.current_time() < deadline:
            if await _complete(bench, next(numbers), result.failures) is not None:
                result.concurrent += 1

    async def sample() -> None:
        await trio.sleep_until(deadline)
        result.rss_kib = tree_rss_kib(bench.exclude)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(client)
        nursery.start_soon(sample)
    result.window = trio.current_time() - start


# --- the table ----------------------------------------------------------------------


def _ratio(spawn: float, worker: float) -> str:
    return f"{worker / spawn:.2f}x" if spawn else "n/a"


def _summary(done: Sequence[Round]) -> tuple[float, float, float, float, int, int]:
    """CPU s per completion, first token ms p50, completions/s, RSS MiB, failed, left."""
    cpu = sum(r.cpu for r in done) / max(1, sum(r.sequential for r in done))
    firsts = [first for r in done for first in r.firsts]
    first = quantile(firsts, 0.5) * 1000 if firsts else float("nan")
    rate = sum(r.concurrent for r in done) / max(1e-9, sum(r.window for r in done))
    rss = quantile([r.rss_kib for r in done], 0.5) / 1024 if done else float("nan")
    failed = sum(len(r.failures) for r in done)
    return cpu, first, rate, rss, failed, sum(r.left for r in done)


def rows(
    cli: str, spawn: Sequence[Round], worker: Sequence[Round], clients: int, workers: int
) -> list[tuple[str, ...]]:
    """The table's rows of one CLI: (cli, measurement, spawn, worker, worker / spawn)."""
    s, w = _summary(spawn), _summary(worker)
    measured = [
        ("CPU s per completion, asm + its processes (target ≤ 0.2x)", "{:.3f}"),
        ("first token ms, p50, spawn cold (target ≤ 0.3x)", "{:.0f}"),
        (f"completions/s, {clients} clients, workers = {workers} (target ≥ 3x)", "{:.2f}"),
        (f"RSS MiB, asm + its processes, end of the {clients}-client window", "{:.0f}"),
    ]
    found = [
        (cli, name, shape.format(s[i]), shape.format(w[i]), _ratio(s[i], w[i]))
        for i, (name, shape) in enumerate(measured)
    ]
    return [
        *found,
        (cli, "failed completions (all phases)", str(s[4]), str(w[4]), "target 0"),
        (cli, "processes of this run left at the end", str(s[5]), str(w[5]), "target 0"),
    ]
