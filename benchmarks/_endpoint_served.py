"""``asm serve`` as its own process, for ``benchmarks/endpoint.py``: the stream relay to
a client in another process, and N concurrent streams with the server's RSS."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import httpx
import trio

from benchmarks._endpoint_common import (
    MODEL,
    PROMPT,
    ROOT,
    Lease,
    Row,
    body,
    config_toml,
    environ,
    raw_relayed_delays,
    relay_row,
    relayed_delays,
    target,
)
from benchmarks._measure import status_kib

__all__ = ["served"]

RSS_SAMPLE_S = 0.05
TARGET_RSS_MB = 150


async def _sample_peak_rss(pid: int, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], status_kib(pid, "VmRSS"))
        await trio.sleep(RSS_SAMPLE_S)


async def _ready_base_url(stdout: trio.abc.ReceiveStream) -> str:
    """The base URL from the server's ``asm: serving on <base_url>`` line."""
    buffer = b""
    while b"\n" not in buffer:
        data = await stdout.receive_some()
        if not data:
            raise RuntimeError(f"asm serve ended before it was ready: {buffer!r}")
        buffer += data
    line = buffer.split(b"\n", 1)[0].decode()
    prefix = "asm: serving on "
    assert line.startswith(prefix), line
    return line[len(prefix) :].rstrip("/")


@asynccontextmanager
async def _serving(home: Path, mark: str) -> AsyncIterator[tuple[trio.Process, str, str]]:
    """Run ``asm serve`` until the block ends: (process, base URL, admin token).

    Leaving normally sends SIGTERM and waits for exit 0; leaving by an exception kills
    the server (``run_process`` is cancelled), so no server outlives the script.
    """
    (home / "asm.toml").write_text(config_toml(mark))
    argv = [sys.executable, "-m", "actors.cli.main", "serve", "--bind", "127.0.0.1:0"]
    argv += ["--state-dir", str(home / "state"), "--config", str(home / "asm.toml")]
    stderr_path = home / "serve.stderr"
    with stderr_path.open("wb") as stderr:
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    env=environ(str(home), mark),
                    cwd=str(ROOT),
                    check=False,
                )
            )
            assert process.stdout is not None
            with trio.fail_after(30):
                base_url = await _ready_base_url(process.stdout)
            token = (home / "state" / "admin.token").read_text().strip()
            yield process, base_url, token
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(15):
                code = await process.wait()
            await process.stdout.aclose()
    if code != 0:
        raise RuntimeError(f"asm serve exited {code}: {stderr_path.read_text()[-2000:]}")


async def _ensure_lease(client: httpx.AsyncClient, base_url: str, token: str) -> Lease:
    created = await client.post(
        f"{base_url}/api/v1/endpoints",
        json={"request": {"model_preference": {"provider": "claude", "id": MODEL}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["endpoint"]
    return client, f"{endpoint['base_url']}/chat/completions", endpoint["headers"]


async def _one_stream(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> bool:
    """One streamed completion read to ``data: [DONE]``; True when it finished."""
    request = body(PROMPT, stream=True)
    async with client.stream("POST", url, json=request, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return False
        finished = False
        async for line in response.aiter_lines():
            finished = finished or '"finish_reason":"stop"' in line
            if line == "data: [DONE]":
                return finished
    return False


async def _load(lease: Lease, streams: int, rounds: int) -> tuple[int, int, float]:
    """(finished, failed, seconds) of ``rounds`` rounds of ``streams`` concurrent streams."""
    outcomes: list[bool] = []

    async def one() -> None:
        outcomes.append(await _one_stream(*lease))

    start = time.perf_counter()
    for _ in range(rounds):
        async with trio.open_nursery() as nursery:
            for _ in range(streams):
                nursery.start_soon(one)
    return outcomes.count(True), outcomes.count(False), time.perf_counter() - start


async def served(streams: int, rounds: int, clock_streams: int, home: Path, mark: str) -> list[Row]:
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with (
        _serving(home, mark) as (process, base_url, token),
        httpx.AsyncClient(timeout=60, limits=limits) as client,
    ):
        lease = await _ensure_lease(client, base_url, token)
        _, url, headers = lease
        await relayed_delays(*lease)  # warm-up
        await raw_relayed_delays(url, headers)
        raw: list[float] = []
        relayed: list[float] = []
        for _ in range(clock_streams):  # alternating: the same conditions for both
            raw += await raw_relayed_delays(url, headers)
            relayed += await relayed_delays(*lease)
        assert await _one_stream(*lease)
        await trio.sleep(0.5)
        idle_kib = status_kib(process.pid, "VmRSS")
        peak = [idle_kib]
        async with trio.open_nursery() as sampling:
            sampling.start_soon(_sample_peak_rss, process.pid, peak)
            finished, failed, seconds = await _load(lease, streams, rounds)
            sampling.cancel_scope.cancel()
        hwm_kib = status_kib(process.pid, "VmHWM")
    top_mb = max(peak[0], hwm_kib) * 1024 / 1e6
    return [
        relay_row("bytes at the client's socket (asm serve, its own process)", raw, None),
        relay_row("line out of httpx's `aiter_lines` (asm serve)", relayed, None, goal=False),
        (
            f"{streams} concurrent streams x {rounds} rounds via asm serve: completions/s",
            f"{finished / seconds:.1f} /s",
            f"{finished} finished, {failed} failed in {seconds:.2f} s",
        ),
        ("asm serve RSS at idle (lease made, one completion run)", _mib(idle_kib), ""),
        (
            f"asm serve RSS under load: peak VmRSS (every {RSS_SAMPLE_S * 1000:.0f} ms) / VmHWM",
            f"{_mib(peak[0])} / {_mib(hwm_kib)}",
            target(top_mb, TARGET_RSS_MB, unit="MB"),
        ),
    ]


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"
