"""The OpenAI-compatible endpoint: what HTTP adds, how fast a stream relays, 64 streams at once.

All numbers come from the fake claude CLI (``tests/fakes/bin/claude``), measured side by
side in one run and printed as one table:

- added latency: a direct ``system.query`` and a non-streaming ``POST …/chat/completions``
  to a lease of the same system, alternating, from a kept-alive ``httpx`` client in this
  process (its CPU runs on the server's loop) and from one in a process of its own (as
  an application's client is); p50 and p99 of each, and HTTP minus direct;
- stream relay: the fake's ``clock`` mode writes the monotonic clock into each delta just
  before it writes the line; the client subtracts it from its own clock when the SSE chunk
  arrives (CLOCK_MONOTONIC is one clock for every process on Linux). Measured against the
  in-process system, alternating with the same through ``system.stream`` (no HTTP), and
  against ``asm serve`` (client and server in separate processes);
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
from functools import partial
from pathlib import Path

import httpx
import msgspec
import trio

from actors.system import System, open_system
from benchmarks._measure import quantile, status_kib
from contracts.config import Config, LeaseSettings, ProviderSettings, SessionSettings
from contracts.endpoint import InferenceRequest
from contracts.session import Failed, Finished, TextDelta

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fakes" / "bin" / "claude"
MODEL = "m"
PROMPT = "Benchmark prompt: say hello."
CLOCK_PROMPT = "[fake:clock] Benchmark prompt: send the clock."
CLOCK_COUNT = 20  # deltas per clock stream
CLOCK_DELAY_MS = 50  # between deltas: each relay is done before the next delta is written
MAX_SESSIONS = 128
WARM_UP = 3  # direct/HTTP pairs before measuring
RSS_SAMPLE_S = 0.05
TARGET_RSS_MB = 150
_PATH = f"{Path(sys.executable).parent}:/usr/bin:/bin"
_MARK_VARIABLE = "ASM_BENCH_RUN"  # in every process this run starts: how leftovers are found

Row = tuple[str, str, str]  # measurement, value, ratio or target
_Lease = tuple[httpx.AsyncClient, str, dict[str, str]]  # client, chat completions URL, headers


def _environ(home: str, mark: str) -> dict[str, str]:
    return {
        "PATH": _PATH,
        "HOME": home,
        "LANG": "C.UTF-8",
        "ASM_CLAUDE_BIN": str(FAKE),
        _MARK_VARIABLE: mark,
    }


def _fake_env(mark: str) -> dict[str, str]:
    """The claude provider's env: ``ok`` unless a prompt says ``[fake:clock]``."""
    return {
        "FAKE_CLI_MODE": "ok",
        "FAKE_CLI_CLOCK_COUNT": str(CLOCK_COUNT),
        "FAKE_CLI_DELAY_MS": str(CLOCK_DELAY_MS),
        _MARK_VARIABLE: mark,
    }


def _config(mark: str) -> Config:
    return Config(
        providers={"claude": ProviderSettings(env=_fake_env(mark))},
        leases=LeaseSettings(max_sessions=MAX_SESSIONS, pool_size=0),
        sessions=SessionSettings(exit_grace=0.5, terminate_grace=0.5),
    )


def _config_toml(mark: str) -> str:
    env = "".join(f'{name} = "{value}"\n' for name, value in _fake_env(mark).items())
    return (
        f"[providers.claude.env]\n{env}\n"
        f"[leases]\nmax_sessions = {MAX_SESSIONS}\npool_size = 0\n\n"
        "[sessions]\nexit_grace = 0.5\nterminate_grace = 0.5\n"
    )


def _body(prompt: str, *, stream: bool) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}


def _target(value: float, limit: float, what: str = "", unit: str = "ms") -> str:
    verdict = "met" if value <= limit else "MISSED"
    return f"target {what}<= {limit:g} {unit}: {verdict}"


# -- 1. Added latency ----------------------------------------------------------------------


async def _direct(system: System) -> float:
    start = time.perf_counter()
    completion = await system.query("claude", MODEL, PROMPT)
    elapsed = time.perf_counter() - start
    assert completion.finish_reason == "stop", completion
    return elapsed


async def _through_http(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = await client.post(url, json=_body(PROMPT, stream=False), headers=headers)
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
async def _client_process(lease: _Lease, mark: str) -> AsyncIterator[_ClientProcess]:
    _, url, headers = lease
    token = headers["authorization"].removeprefix("Bearer ")
    env = {**os.environ, "ASM_BENCH_TOKEN": token, _MARK_VARIABLE: mark}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks._http_client", url, MODEL, PROMPT],
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


async def _added_latency(system: System, lease: _Lease, runs: int, mark: str) -> list[Row]:
    direct: list[float] = []
    http: list[float] = []
    separate: list[float] = []
    async with _client_process(lease, mark) as client:
        for _ in range(WARM_UP):  # the imports, the page cache, the kept-alive connections
            await _direct(system)
            await _through_http(*lease)
            await client.request()
        for _ in range(runs):
            direct.append(await _direct(system))
            http.append(await _through_http(*lease))
            separate.append(await client.request())
    d50, d99 = quantile(direct, 0.5) * 1000, quantile(direct, 0.99) * 1000
    h50, h99 = quantile(http, 0.5) * 1000, quantile(http, 0.99) * 1000
    s50, s99 = quantile(separate, 0.5) * 1000, quantile(separate, 0.99) * 1000
    return [
        ("direct session (`system.query`), p50 / p99", f"{d50:.1f} / {d99:.1f} ms", ""),
        (
            "through the endpoint, client in this process (its CPU shares the loop), p50 / p99",
            f"{h50:.1f} / {h99:.1f} ms",
            f"{h50 / d50:.2f}x direct at p50",
        ),
        (
            "endpoint added, client in this process, p50 / p99",
            f"{h50 - d50:+.2f} / {h99 - d99:+.2f} ms",
            f"{_target(h50 - d50, 3, 'p50 ')}; {_target(h99 - d99, 15, 'p99 ')}",
        ),
        (
            "through the endpoint, client in its own process, p50 / p99",
            f"{s50:.1f} / {s99:.1f} ms",
            f"{s50 / d50:.2f}x direct at p50",
        ),
        (
            "endpoint added, client in its own process, p50 / p99",
            f"{s50 - d50:+.2f} / {s99 - d99:+.2f} ms",
            f"{_target(s50 - d50, 3, 'p50 ')}; {_target(s99 - d99, 15, 'p99 ')}",
        ),
    ]


# -- 2. Stream relay -----------------------------------------------------------------------


def _stamps_ms(arrived: int, text: str) -> list[float]:
    """Milliseconds from each stamp in a clock delta's ``text`` to ``arrived``."""
    return [(arrived - int(stamp)) / 1e6 for stamp in text.split()]


async def _direct_delays(system: System) -> list[float]:
    """From the CLI writing each delta to its ``TextDelta`` reaching the caller."""
    delays: list[float] = []
    async with system.stream("claude", MODEL, CLOCK_PROMPT) as events:
        async for event in events:
            arrived = time.monotonic_ns()
            if isinstance(event, TextDelta):
                delays += _stamps_ms(arrived, event.text)
            if isinstance(event, Finished | Failed):
                break
    assert len(delays) == CLOCK_COUNT, delays
    return delays


async def _relayed_delays(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> list[float]:
    """From the CLI writing each delta to its SSE chunk reaching the client."""
    delays: list[float] = []
    body = _body(CLOCK_PROMPT, stream=True)
    async with client.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            arrived = time.monotonic_ns()
            if not line.startswith("data: {"):
                continue
            for choice in msgspec.json.decode(line[len("data: ") :])["choices"]:
                delays += _stamps_ms(arrived, choice["delta"].get("content") or "")
    assert len(delays) == CLOCK_COUNT, delays
    return delays


def _relay_row(name: str, delays: Sequence[float], direct: Sequence[float] | None) -> Row:
    p50, p99 = quantile(delays, 0.5), quantile(delays, 0.99)
    target = _target(p50, 1, "p50 ")
    if direct is not None:
        target += f" ({p50 - quantile(direct, 0.5):+.2f} ms over direct)"
    return (
        f"stream relay, CLI wrote delta → {name}, p50 / p99",
        f"{p50:.2f} / {p99:.2f} ms",
        target,
    )


async def _relay_latency(system: System, lease: _Lease, streams: int) -> list[Row]:
    await _direct_delays(system)  # warm-up
    await _relayed_delays(*lease)
    direct: list[float] = []
    relayed: list[float] = []
    for _ in range(streams):
        direct += await _direct_delays(system)
        relayed += await _relayed_delays(*lease)
    d50, d99 = quantile(direct, 0.5), quantile(direct, 0.99)
    return [
        (
            "stream relay, CLI wrote delta → direct session event, p50 / p99",
            f"{d50:.2f} / {d99:.2f} ms",
            "",
        ),
        _relay_row("SSE chunk at the client (in-process system)", relayed, direct),
    ]


async def _in_process(runs: int, clock_streams: int, home: str, mark: str) -> list[Row]:
    async with open_system(_config(mark), environ=_environ(home, mark)) as system:
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


# -- 3. asm serve under load ---------------------------------------------------------------


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
    (home / "asm.toml").write_text(_config_toml(mark))
    argv = [sys.executable, "-m", "actors.cli", "serve", "--bind", "127.0.0.1:0"]
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
                    env=_environ(str(home), mark),
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


async def _ensure_lease(client: httpx.AsyncClient, base_url: str, token: str) -> _Lease:
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
    body = _body(PROMPT, stream=True)
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return False
        finished = False
        async for line in response.aiter_lines():
            finished = finished or '"finish_reason":"stop"' in line
            if line == "data: [DONE]":
                return finished
    return False


async def _load(lease: _Lease, streams: int, rounds: int) -> tuple[int, int, float]:
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


async def _served(
    streams: int, rounds: int, clock_streams: int, home: Path, mark: str
) -> list[Row]:
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with (
        _serving(home, mark) as (process, base_url, token),
        httpx.AsyncClient(timeout=60, limits=limits) as client,
    ):
        lease = await _ensure_lease(client, base_url, token)
        await _relayed_delays(*lease)  # warm-up
        relayed: list[float] = []
        for _ in range(clock_streams):
            relayed += await _relayed_delays(*lease)
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
        _relay_row("SSE chunk at the client (asm serve, its own process)", relayed, None),
        (
            f"{streams} concurrent streams x {rounds} rounds via asm serve: completions/s",
            f"{finished / seconds:.1f} /s",
            f"{finished} finished, {failed} failed in {seconds:.2f} s",
        ),
        ("asm serve RSS at idle (lease made, one completion run)", _mib(idle_kib), ""),
        (
            f"asm serve RSS under load: peak VmRSS (every {RSS_SAMPLE_S * 1000:.0f} ms) / VmHWM",
            f"{_mib(peak[0])} / {_mib(hwm_kib)}",
            _target(top_mb, TARGET_RSS_MB, unit="MB"),
        ),
    ]


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


# -- Leftovers -----------------------------------------------------------------------------


def _marked_processes(mark: str) -> list[int]:
    """Live processes (not zombies: their environ reads empty) started by this run."""
    needle = f"{_MARK_VARIABLE}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


async def _gone(mark: str, within: float) -> list[int]:
    """The run's processes still alive after ``within`` seconds (they may be exiting)."""
    deadline = trio.current_time() + within
    while (left := _marked_processes(mark)) and trio.current_time() < deadline:  # noqa: ASYNC110
        await trio.sleep(0.05)  # no event for "a process I did not start is gone"
    return left


async def _measure(
    runs: int, streams: int, rounds: int, clock_streams: int
) -> tuple[list[Row], list[int]]:
    """The table's rows, and the pids of this run's processes still alive at the end."""
    mark = secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="asm-bench-") as home:
        rows = await _in_process(runs, clock_streams, home, mark)
        rows += await _served(streams, rounds, clock_streams, Path(home), mark)
        left = await _gone(mark, within=5)
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
