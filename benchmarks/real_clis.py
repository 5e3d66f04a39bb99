"""Time to first token with the real claude and codex: cold start against a warm pool.

Each CLI is the pinned npm release the real-CLI tier installs (``make test-real-clis``,
``.cache/real-clis``; ``$ASM_REAL_CLI_BIN`` elsewhere), answering through a fake upstream
API on 127.0.0.1 (``tests/fakes/fake_anthropic.py``, ``tests/fakes/fake_openai_responses.py``)
that answers at once, so what is measured is the CLI and asm, not a model. For each CLI,
alternating in one run:

- cold: a session is started (spawn, start-up) and the prompt written at once; the time
  from asking for the session to the first answer event (claude: the first token delta;
  codex: its first whole message, it sends no deltas);
- warm: the same from a session a warm pool parked on stdin :data:`PARK_SETTLE_S`
  earlier (its start-up already paid, as ``asm serve`` keeps one per lease; within
  claude's park limit, since claude gives up on stdin after 3 s).

Prints one table (p50 and the ratio warm / cold per CLI). Talks to 127.0.0.1 only.

    python -m benchmarks.real_clis [--runs 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import trio

from actors.pool import WarmPool
from actors.session import Session
from actors.system import System, open_system
from benchmarks._measure import quantile
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.session import Failed, Finished, Message, TextDelta
from tests.fakes.fake_anthropic import FakeAnthropic, Script
from tests.fakes.fake_openai_responses import FakeResponses
from tests.fakes.fake_openai_responses import Script as ResponsesScript

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("ASM_REAL_CLI_BIN") or ROOT / ".cache/real-clis/node_modules/.bin")
PROMPT = "Benchmark prompt: say hello."
PARK_SETTLE_S = 1.5  # past start-up, and within claude's 2.5 s park limit (its stdin wait: 3 s)
_FIRST = (TextDelta, Message)

Row = tuple[str, str, str]


def _codex_args(url: str) -> tuple[str, ...]:
    """The custom model provider that points codex at the fake (PROVIDERS.md)."""
    return (
        "-c", "model_provider=fake",
        "-c", 'model_providers.fake.name="fake"',
        "-c", f'model_providers.fake.base_url="{url}/v1"',
        "-c", 'model_providers.fake.wire_api="responses"',
        "-c", 'model_providers.fake.env_key="FAKE_KEY"',
    )  # fmt: skip


@contextmanager
def _upstreams(home: Path) -> Iterator[dict[str, ProviderSettings]]:
    with ExitStack() as stack:
        anthropic = stack.enter_context(FakeAnthropic(Script(text="Hello there", deltas=3)))
        responses = stack.enter_context(FakeResponses(ResponsesScript(answer="Hello there")))
        codex_home = home / "codex-home"
        codex_home.mkdir()
        yield {
            "claude": ProviderSettings(
                executable=str(BIN / "claude"),
                env={"ANTHROPIC_BASE_URL": anthropic.url, "ANTHROPIC_API_KEY": "sk-ant-fake"},
            ),
            "codex": ProviderSettings(
                executable=str(BIN / "codex"),
                extra_args=_codex_args(responses.url),
                env={"FAKE_KEY": "sk-fake", "CODEX_HOME": str(codex_home)},
            ),
        }


async def _first_answer(
    system: System, provider: str, take: Callable[[], Awaitable[Session]]
) -> float:
    start = time.perf_counter()
    session = await take()
    first: float | None = None
    async with session.stream(PROMPT) as events:
        async for event in events:
            if first is None and isinstance(event, _FIRST):
                first = time.perf_counter() - start
            if isinstance(event, Failed):
                raise RuntimeError(f"{provider}: {event.kind}: {event.message}")
            if isinstance(event, Finished):
                break
    assert first is not None, f"{provider} answered nothing"
    return first


async def _warm(system: System, provider: str) -> float:
    """One warm run: a pool of one, its session parked :data:`PARK_SETTLE_S`, then taken."""
    pool = WarmPool(system.spec(provider, "bench-model"), 1, system.start_session)
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        while pool.parked < 1:  # noqa: ASYNC110 - no event for "parked"
            await trio.sleep(0.01)
        await trio.sleep(PARK_SETTLE_S)
        elapsed = await _first_answer(system, provider, lambda: pool.acquire(PROMPT))
        nursery.cancel_scope.cancel()
    return elapsed


async def _measure_cli(system: System, provider: str, runs: int) -> Row:
    spec = system.spec(provider, "bench-model")
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(runs):  # alternating: both see the same machine
        cold.append(await _first_answer(system, provider, lambda: system.start_session(spec)))
        warm.append(await _warm(system, provider))
    c50, w50 = quantile(cold, 0.5) * 1000, quantile(warm, 0.5) * 1000
    return (
        f"{provider}: first token, cold / warm pool, p50",
        f"{c50:.0f} / {w50:.0f} ms",
        f"warm = {w50 / c50:.2f}x cold",
    )


async def _measure(runs: int) -> list[Row]:
    with (
        tempfile.TemporaryDirectory(prefix="asm-bench-real-") as home,
        _upstreams(Path(home)) as providers,
    ):
        config = Config(
            providers=providers,
            sessions=SessionSettings(first_event_timeout=30.0, exit_grace=1.0),
        )
        environ = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
        }
        async with open_system(config, bind=None, environ=environ) as system:
            return [await _measure_cli(system, name, runs) for name in ("claude", "codex")]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=8, help="cold/warm pairs per CLI")
    args = parser.parse_args(argv)
    for name in ("claude", "codex"):
        if not (BIN / name).exists():
            sys.exit(f"real_clis benchmark: {BIN / name} is missing (make test-real-clis)")
    rows = trio.run(_measure, args.runs)
    print(f"real-CLI benchmark ({args.runs} cold/warm pairs per CLI; fake upstreams)")
    print("| measurement | value | ratio |")
    print("|---|---|---|")
    for name, value, ratio in rows:
        print(f"| {name} | {value} | {ratio} |")


if __name__ == "__main__":
    main()
