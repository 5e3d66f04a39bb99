"""What every part of ``benchmarks/endpoint.py`` shares: the fake CLI's configuration,
the request bodies, the relay clocks, and the search for processes a run left behind."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import msgspec
import trio

from benchmarks._measure import quantile
from benchmarks._raw_sse import sse_data_lines
from contracts.config import Config, LeaseSettings, ProviderSettings, SessionSettings

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fakes" / "bin" / "claude"
MODEL = "m"
PROMPT = "Benchmark prompt: say hello."
CLOCK_PROMPT = "[fake:clock] Benchmark prompt: send the clock."
CLOCK_COUNT = 20  # deltas per clock stream
CLOCK_DELAY_MS = 50  # between deltas: each relay is done before the next delta is written
MAX_SESSIONS = 128
_PATH = f"{Path(sys.executable).parent}:/usr/bin:/bin"
MARK_VARIABLE = "ASM_BENCH_RUN"  # in every process this run starts: how leftovers are found

Row = tuple[str, str, str]  # measurement, value, ratio or target
Lease = tuple[httpx.AsyncClient, str, dict[str, str]]  # client, chat completions URL, headers


def environ(home: str, mark: str) -> dict[str, str]:
    return {
        "PATH": _PATH,
        "HOME": home,
        "LANG": "C.UTF-8",
        "ASM_CLAUDE_BIN": str(FAKE),
        MARK_VARIABLE: mark,
    }


def _fake_env(mark: str) -> dict[str, str]:
    """The claude provider's env: ``ok`` unless a prompt says ``[fake:clock]``."""
    return {
        "FAKE_CLI_MODE": "ok",
        "FAKE_CLI_CLOCK_COUNT": str(CLOCK_COUNT),
        "FAKE_CLI_DELAY_MS": str(CLOCK_DELAY_MS),
        MARK_VARIABLE: mark,
    }


def config(mark: str) -> Config:
    return Config(
        providers={"claude": ProviderSettings(env=_fake_env(mark))},
        leases=LeaseSettings(max_sessions=MAX_SESSIONS, pool_size=0),
        sessions=SessionSettings(exit_grace=0.5, terminate_grace=0.5),
    )


def config_toml(mark: str) -> str:
    env = "".join(f'{name} = "{value}"\n' for name, value in _fake_env(mark).items())
    return (
        f"[providers.claude.env]\n{env}\n"
        f"[leases]\nmax_sessions = {MAX_SESSIONS}\npool_size = 0\n\n"
        "[sessions]\nexit_grace = 0.5\nterminate_grace = 0.5\n"
    )


def body(prompt: str, *, stream: bool) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}


def target(value: float, limit: float, what: str = "", unit: str = "ms") -> str:
    verdict = "met" if value <= limit else "MISSED"
    return f"target {what}<= {limit:g} {unit}: {verdict}"


def stamps_ms(arrived: int, text: str) -> list[float]:
    """Milliseconds from each stamp in a clock delta's ``text`` to ``arrived``."""
    return [(arrived - int(stamp)) / 1e6 for stamp in text.split()]


async def relayed_delays(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> list[float]:
    """From the CLI writing each delta to its SSE chunk reaching the client."""
    delays: list[float] = []
    request = body(CLOCK_PROMPT, stream=True)
    async with client.stream("POST", url, json=request, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            arrived = time.monotonic_ns()
            if not line.startswith("data: {"):
                continue
            for choice in msgspec.json.decode(line[len("data: ") :])["choices"]:
                delays += stamps_ms(arrived, choice["delta"].get("content") or "")
    assert len(delays) == CLOCK_COUNT, delays
    return delays


async def raw_relayed_delays(url: str, headers: dict[str, str]) -> list[float]:
    """The same, stamped when the bytes reach the socket (``benchmarks._raw_sse``)."""
    delays: list[float] = []
    async for arrived, data in sse_data_lines(url, headers, body(CLOCK_PROMPT, stream=True)):
        if data.startswith("{"):
            for choice in msgspec.json.decode(data)["choices"]:
                delays += stamps_ms(arrived, choice["delta"].get("content") or "")
    assert len(delays) == CLOCK_COUNT, delays
    return delays


def relay_row(
    name: str, delays: Sequence[float], direct: Sequence[float] | None, *, goal: bool = True
) -> Row:
    """A relay row; ``goal`` says whether the 1 ms target applies to it (or it is context)."""
    p50, p99 = quantile(delays, 0.5), quantile(delays, 0.99)
    verdict = target(p50, 1, "p50 ") if goal else "context: a client library's own share"
    if direct is not None:
        verdict += f" ({p50 - quantile(direct, 0.5):+.2f} ms over direct)"
    return (
        f"stream relay, CLI wrote delta → {name}, p50 / p99",
        f"{p50:.2f} / {p99:.2f} ms",
        verdict,
    )


def marked_processes(mark: str) -> list[int]:
    """Live processes (not zombies: their environ reads empty) started by this run."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            variables = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in variables.split(b"\0"):
            found.append(int(entry.name))
    return found


async def gone(mark: str, within: float) -> list[int]:
    """The run's processes still alive after ``within`` seconds (they may be exiting)."""
    deadline = trio.current_time() + within
    while (left := marked_processes(mark)) and trio.current_time() < deadline:  # noqa: ASYNC110
        await trio.sleep(0.05)  # no event for "a process I did not start is gone"
    return left
