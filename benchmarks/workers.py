"""Workers against spawning: the real codex and gemini CLIs, one completion per process
or per turn of a long-lived one.

Each CLI runs each completion either as its own process (``mode = "spawn"``: ``codex
exec``, ``gemini``; cold here: ``pool_size = 0``, no warm pool) or as one turn of a
long-lived server (``mode = "worker"``, ``workers = N``: ``codex app-server``, ``gemini
--acp``). codex talks to the fake OpenAI Responses upstream
(``tests/fakes/fake_openai_responses.py``), gemini to the fake Gemini API
(``tests/fakes/fake_gemini.py``; setup in ``benchmarks/_workers_setup.py``), each
served by a process of its own on 127.0.0.1 so its CPU and memory are not counted.
Every completion goes through ``System.stream`` with a system prompt of its own and two
earlier turns. Rounds alternate (codex spawn, codex worker, gemini spawn, gemini worker,
codex spawn, …), each with its own system, config and HOME; per round:

- one warm-up completion (for workers: it starts the pool; then a wait until the tree is
  idle, so a worker still starting is not counted), then a batch of sequential
  completions: CPU seconds (user + sys) per completion of this process, its reaped
  children and its live descendants (``/proc/<pid>/stat``) — target: worker ≤ 0.2x
  spawn; and the time from asking to the first answer event (a ``TextDelta``; ``codex
  exec`` gives its answer as one ``Message``), p50 — target: worker ≤ 0.3x cold spawn;
- then N clients (Trio tasks) running completions back to back for a fixed window:
  completions per second — target: worker ≥ 3x spawn with 8 clients — and the RSS of
  this process and its descendants (sum of ``VmRSS``) when the window closes.

A gemini worker opens one conversation at a time, each holding the process's lock until
its first token (docs/gemini-acp.md): its turns overlap in their answers only. That is
measured as it is, not worked around.

Every answer is checked against the fake's; failures are counted in the table. Prints one
table, a row per CLI and measurement. Talks to 127.0.0.1 only; leaves no process (each
is found by the run's marker variable, ``$ASM_BENCH_RUN`` if set).

    python -m benchmarks.workers [--providers codex,gemini] [--completions 20]
        [--clients 8] [--seconds 10] [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio

from actors.system import open_system
from benchmarks._endpoint_common import MARK_VARIABLE, gone
from benchmarks._workers_measure import Bench, Round, concurrent, rows, sequential
from benchmarks._workers_setup import ANSWER, CLIS, Cli, Mode, environ, fake_upstream, version
from contracts.config import Config, SessionSettings

__all__ = ["main"]

MODES: tuple[Mode, ...] = ("spawn", "worker")
Rounds = dict[tuple[str, Mode], list[Round]]


def _config(cli: Cli, mode: Mode, url: str, workers: int, mark: str) -> Config:
    return Config(
        providers={cli.name: cli.settings(url, mode, workers, mark)},
        sessions=SessionSettings(first_event_timeout=30.0, exit_grace=1.0),
    )


async def _round(
    cli: Cli, mode: Mode, args: argparse.Namespace, *, url: str, fakes: frozenset[int], mark: str
) -> Round:
    result = Round()
    with tempfile.TemporaryDirectory(prefix=f"asm-bench-workers-{cli.name}-") as home:
        config = _config(cli, mode, url, args.workers, mark)
        operator = environ(cli, Path(home), mark)
        async with open_system(config, bind=None, environ=operator) as system:
            bench = Bench(system, cli.name, cli.model, ANSWER, fakes)
            await sequential(bench, result, args.completions)
            await concurrent(bench, result, args.clients, args.seconds)
        result.left = len([pid for pid in await gone(mark, within=5) if pid not in fakes])
    return result


async def _measure(
    clis: Sequence[Cli],
    args: argparse.Namespace,
    urls: dict[str, str],
    fakes: frozenset[int],
    mark: str,
) -> Rounds:
    rounds: Rounds = {(cli.name, mode): [] for cli in clis for mode in MODES}
    for _ in range(args.rounds):  # alternating: both modes see the same machine
        for cli in clis:
            for mode in MODES:
                url = urls[cli.name]
                rounds[cli.name, mode].append(
                    await _round(cli, mode, args, url=url, fakes=fakes, mark=mark)
                )
    return rounds


def _providers(text: str) -> list[Cli]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CLIS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"not one of {', '.join(CLIS)}: {', '.join(unknown) or text!r}"
        )
    return [CLIS[name] for name in dict.fromkeys(names)]


def _run(clis: Sequence[Cli], args: argparse.Namespace, mark: str) -> Rounds:
    """Start every CLI's fake upstream, then run the rounds."""
    urls: dict[str, str] = {}
    fakes: set[int] = set()
    with contextlib.ExitStack() as stack:
        for cli in clis:
            urls[cli.name], pid = stack.enter_context(fake_upstream(cli, mark))
            fakes.add(pid)
        return trio.run(_measure, clis, args, urls, frozenset(fakes), mark)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--providers", type=_providers, default="codex,gemini", help="CLIs, comma-separated"
    )
    parser.add_argument("--completions", type=int, default=20, help="sequential, per round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="concurrent window")
    parser.add_argument("--rounds", type=int, default=2, help="spawn/worker round pairs")
    parser.add_argument("--workers", type=int, default=2, help="[providers.<cli>] workers")
    args = parser.parse_args(argv)
    clis: list[Cli] = args.providers
    missing = [str(cli.executable) for cli in clis if not cli.executable.exists()]
    if missing:
        print(
            f"workers benchmark: {', '.join(missing)} missing (make test-real-clis)",
            file=sys.stderr,
        )
        sys.exit(2)
    mark = os.environ.get(MARK_VARIABLE) or secrets.token_hex(8)
    rounds = _run(clis, args, mark)
    left = trio.run(gone, mark, 5.0)
    against = "; ".join(f"{version(cli)} against the {cli.upstream}" for cli in clis)
    print(
        f"workers benchmark: {against} (127.0.0.1); {args.rounds} rounds alternating"
        f" spawn / worker per CLI; per round 1 warm-up + {args.completions} sequential"
        f" completions, then {args.clients} clients for {args.seconds:g} s;"
        f" workers = {args.workers}; spawn is cold (pool_size = 0); {os.cpu_count()} CPUs"
    )
    print("| cli | measurement | spawn | worker | worker / spawn |")
    print("|---|---|---|---|---|")
    for cli in clis:
        spawn, worker = rounds[cli.name, "spawn"], rounds[cli.name, "worker"]
        for row in rows(cli.name, spawn, worker, args.clients, args.workers):
            print("| " + " | ".join(row) + " |")
    for (name, mode), done in rounds.items():
        for failure in [f for r in done for f in r.failures][:10]:
            print(f"workers benchmark: {name} {mode}: {failure}", file=sys.stderr)
    if left:
        for pid in left:  # carries this run's marker: started by this run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sys.exit(f"workers benchmark: processes left behind (killed): {left}")


if __name__ == "__main__":
    main()
