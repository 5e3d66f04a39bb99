"""The OpenAI-compatible endpoint: what HTTP adds, how fast a stream relays, 64 streams at once.

All numbers come from the fake claude CLI (``tests/fakes/bin/claude``), measured side by
side in one run and printed as one table:

- added latency: a direct ``system.query`` and a non-streaming ``POST …/chat/completions``
  to a lease of the same system, alternating, from a kept-alive client in a process of
  its own (as an application's client is): the stdlib's ``http.client``, the least a
  client adds, for the target; ``httpx`` there and in this process (its CPU then runs on
  the server's loop) for context. p50 and p99 of each, and HTTP minus direct;
- stream relay: the fake's ``clock`` mode writes the monotonic clock into each delta just
  before it writes the line; the client subtracts it from its own clock when the SSE chunk
  arrives (CLOCK_MONOTONIC is one clock for every process on Linux): a minimal reader
  (``benchmarks._raw_sse``) stamps the bytes as its socket returns them, for the target;
  httpx's ``aiter_lines`` for context. Measured against the in-process system,
  alternating with the same through ``system.stream`` (no HTTP), and against ``asm
  serve`` (client and server in separate processes);
- load: ``asm serve`` as its own process (so its RSS is the server's alone; every CLI is
  a process of its own), one claude lease, N concurrent streams for a few rounds:
  completions per second and the server's RSS at idle and under load (VmRSS sampled every
  50 ms, and VmHWM). The server is stopped with SIGTERM, and no process of the run may
  be left: every process it starts carries a marker variable, and any found alive at the
  end is reported, killed, and fails the script.

Everything talks to 127.0.0.1 only. At the defaults the script takes well under two
minutes::

    python -m benchmarks.endpoint [--runs 40] [--streams 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec
import trio

from actors.system import System, open_system
from benchmarks._endpoint_common import (
    CLOCK_COUNT,
    CLOCK_DELAY_MS,
    CLOCK_PROMPT,
    MARK_VARIABLE,
    MODEL,
    PROMPT,
    ROOT,
    Lease,
    Row,
    body,
    config,
    environ,
    gone,
    raw_relayed_delays,
    relay_row,
    relayed_delays,
    stamps_ms,
    target,
)
from benchmarks._endpoint_served import served
from benchmarks._measure import quantile
from contracts.endpoint import InferenceRequest
from contracts.session import Failed, Finished, TextDelta

WARM_UP = 3  # rounds of every client before measuring


# -- 1. Added latency ----------------------------------------------------------------------


async def _direct(system: System) -> float:
    start = time.perf_counter()
    completion = await system.query("claude", MODEL, PROMPT)
    elapsed = time.perf_counter() - start
    assert completion.finish_reason == "stop", completion
    return elapsed


async def _through_http(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = await client.post(url, json=body(PROMPT, stream=False), headers=headers)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["finish_reason"] == "stop", response.text
    return elapsed


class _ClientProcess:
    """``benchmarks._http_client`` in its own process: its CPU is not the server's."""

    def __init__(self, process: trio.Process) -> None:
        self._process = process
        self._buffer = b""

    async def request(self) -> float:
        assert self._process.stdin is not None and self._process.stdout is not None
        await self._process.stdin.send_all(b"go\n")
        while b"\n" not in self._buffer:
            chunk = await self._process.stdout.receive_some()
            assert chunk, "the client process exited"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        elapsed = float(line)
        assert elapsed >= 0, "the client's request failed"
        return elapsed


@asynccontextmanager
async def _client_process(lease: Lease, mark: str, kind: str) -> AsyncIterator[_ClientProcess]:
    _, url, headers = lease
    token = headers["authorization"].removeprefix("Bearer ")
    env = {**os.environ, "ASM_BENCH_TOKEN": token, MARK_VARIABLE: mark}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks._http_client", url, MODEL, PROMPT, kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        yield _ClientProcess(process)
    finally:
        assert process.stdin is not None
        await process.stdin.aclose()
        with trio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


def _latency_row(name: str, times: Sequence[float], direct: Sequence[float], goal: bool) -> Row:
    d50, d99 = quantile(direct, 0.5) * 1000, quantile(direct, 0.99) * 1000
    h50, h99 = quantile(times, 0.5) * 1000, quantile(times, 0.99) * 1000
    verdict = f"{target(h50 - d50, 3, 'p50 ')}; {target(h99 - d99, 15, 'p99 ')}"
    return (
        f"endpoint added over direct, {name}, p50 / p99",
        f"{h50 - d50:+.2f} / {h99 - d99:+.2f} ms",
        verdict if goal else "context: a client library's own share",
    )


async def _added_latency(system: System, lease: Lease, runs: int, mark: str) -> list[Row]:
    direct: list[float] = []
    stdlib: list[float] = []
    separate: list[float] = []
    shared: list[float] = []
    async with (
        _client_process(lease, mark, "stdlib") as stdlib_client,
        _client_process(lease, mark, "httpx") as httpx_client,
    ):
        for _ in range(WARM_UP):  # the imports, the page cache, the kept-alive connections
            await _direct(system)
            await stdlib_client.request()
            await httpx_client.request()
            await _through_http(*lease)
        for _ in range(runs):  # alternating: each sees the same machine
            direct.append(await _direct(system))
            stdlib.append(await stdlib_client.request())
            separate.append(await httpx_client.request())
            shared.append(await _through_http(*lease))
    d50, d99 = quantile(direct, 0.5) * 1000, quantile(direct, 0.99) * 1000
    return [
        ("direct session (`system.query`), p50 / p99", f"{d50:.1f} / {d99:.1f} ms", ""),
        _latency_row("`http.client` in its own process", stdlib, direct, goal=True),
        _latency_row("httpx in its own process", separate, direct, goal=False),
        _latency_row("httpx in the server's process", shared, direct, goal=False),
    ]


# -- 2. Stream relay -----------------------------------------------------------------------


async def _direct_delays(system: System) -> list[float]:
    """From the CLI writing each delta to its ``TextDelta`` reaching the caller."""
    delays: list[float] = []
    async with system.stream("claude", MODEL, CLOCK_PROMPT) as events:
        async for event in events:
            arrived = time.monotonic_ns()
            if isinstance(event, TextDelta):
                delays += stamps_ms(arrived, event.text)
            if isinstance(event, Finished | Failed):
                break
    assert len(delays) == CLOCK_COUNT, delays
    return delays


async def _relay_latency(system: System, lease: Lease, streams: int) -> list[Row]:
    _, url, headers = lease
    await _direct_delays(system)  # warm-up
    await raw_relayed_delays(url, headers)
    await relayed_delays(*lease)
    direct: list[float] = []
    raw: list[float] = []
    relayed: list[float] = []
    for _ in range(streams):
        direct += await _direct_delays(system)
        raw += await raw_relayed_delays(url, headers)
        relayed += await relayed_delays(*lease)
    d50, d99 = quantile(direct, 0.5), quantile(direct, 0.99)
    return [
        (
            "stream relay, CLI wrote delta → direct session event, p50 / p99",
            f"{d50:.2f} / {d99:.2f} ms",
            "",
        ),
        relay_row("bytes at the client's socket (in-process system)", raw, direct),
        relay_row("line out of httpx's `aiter_lines` (in-process)", relayed, direct, goal=False),
    ]


async def _in_process(runs: int, clock_streams: int, home: str, mark: str) -> list[Row]:
    async with open_system(config(mark), environ=environ(home, mark)) as system:
        request = msgspec.convert(
            {"model_preference": {"provider": "claude", "id": MODEL}}, InferenceRequest
        )
        descriptor, _ = await system.ensure_endpoint(request)
        url = f"{descriptor.base_url}/chat/completions"
        async with httpx.AsyncClient(timeout=60) as client:
            lease = (client, url, descriptor.headers)
            rows = await _added_latency(system, lease, runs, mark)
            rows += await _relay_latency(system, lease, clock_streams)
    return rows


async def _measure(
    runs: int, streams: int, rounds: int, clock_streams: int
) -> tuple[list[Row], list[int]]:
    """The table's rows, and the pids of this run's processes still alive at the end."""
    mark = secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="asm-bench-") as home:
        rows = await _in_process(runs, clock_streams, home, mark)
        rows += await served(streams, rounds, clock_streams, Path(home), mark)
        left = await gone(mark, within=5)
    rows.append(("processes of this run left at the end", str(len(left)), "target 0"))
    return rows, left


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40, help="direct/HTTP pairs (default 40)")
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of them (default 3)")
    args = parser.parse_args(argv)
    clock_streams = max(1, args.runs // 4)
    rows, left = trio.run(_measure, args.runs, args.streams, args.rounds, clock_streams)
    print(
        f"endpoint benchmark (fake claude CLI; {args.runs} runs, {clock_streams} clock streams"
        f" x {CLOCK_COUNT} deltas {CLOCK_DELAY_MS} ms apart; one run of this script)"
    )
    print("| measurement | value | ratio / target |")
    print("|---|---|---|")
    for name, value, ratio in rows:
        print(f"| {name} | {value} | {ratio} |")
    if left:
        for pid in left:  # carries this run's marker: started by this run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sys.exit(f"endpoint benchmark: processes left behind (killed): {left}")


if __name__ == "__main__":
    main()
