"""What reaches the model, and how soon: the real CLIs against fake upstream APIs.

Each CLI is the pinned npm release the real-CLI tier installs (``make test-real-clis``,
``.cache/real-clis``; ``$ASM_REAL_CLI_BIN`` elsewhere), talking to a fake upstream on
127.0.0.1 that records every request and answers at once (``tests/fakes/fake_*.py``), so
what is measured is the CLI and asm, not a model. For claude, codex and gemini, in one
run:

- upstream bytes of the one model request for the reference chat (a system prompt and
  three turns, 119 bytes of content), with ``persona = "agent"`` (the CLI's own prompt)
  and with the default (``completion``), the ratio of the two (target ≤ 0.1×), and what
  the CLI added beyond the smallest body that API accepts for the same chat;
- time from asking to the first answer event (claude and gemini: the first token delta;
  codex: its whole message), warm (a session a pool parked) against cold (spawned for
  the request), alternating, with requests 0.5 s and 3 s apart (claude gives up on text
  input after 3 s; on stream-json input it waits), each request with a system prompt of
  its own (target: warm ≤ 0.3× cold). gemini reads its conversation as it starts, so it
  is never parked: both of its columns are cold starts.

Prints one table. Talks to 127.0.0.1 only.

    python -m benchmarks.upstream [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import trio

from actors.sessions import Session, WarmPool
from actors.system import System, open_system
from benchmarks._measure import print_table, quantile
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.conversation import Conversation, Turn
from contracts.providers import Persona
from contracts.session import Failed, Finished, Message, TextDelta
from tests.fakes.fake_anthropic import FakeAnthropic, Script
from tests.fakes.fake_gemini import FakeGemini, GeminiScript
from tests.fakes.fake_openai_responses import FakeResponses
from tests.fakes.fake_openai_responses import Script as ResponsesScript
from tests.real_cli.faithful import (
    REFERENCE,
    added_bytes,
    compact,
    minimal_anthropic,
    minimal_gemini,
    minimal_responses,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("ASM_REAL_CLI_BIN") or ROOT / ".cache/real-clis/node_modules/.bin")
CLIS = ("claude", "codex", "gemini")
MODELS = {"claude": "claude-sonnet-4-5", "codex": "gpt-5.5", "gemini": "gemini-2.5-flash"}
SPACINGS = (0.5, 3.0)
_FIRST = (TextDelta, Message)

Row = tuple[str, str, str]


@dataclasses.dataclass
class Upstreams:
    """The fakes, and the model requests each recorded so far."""

    providers: dict[str, ProviderSettings]
    requests: dict[str, Callable[[], list[Any]]]


def _reference() -> Conversation:
    return Conversation(
        system=str(REFERENCE[0]["content"]),
        turns=tuple(Turn(str(m["role"]), str(m["content"])) for m in REFERENCE[1:]),  # type: ignore[arg-type]
    )


def _numbered(n: int) -> Conversation:
    return Conversation(
        system=f"You answer request {n} in one word.", turns=(Turn("user", f"Say hello {n}"),)
    )


@contextmanager
def _upstreams(home: Path) -> Iterator[Upstreams]:
    with ExitStack() as stack:
        anthropic = stack.enter_context(FakeAnthropic(Script(text="Bonne nuit", deltas=2)))
        responses = stack.enter_context(FakeResponses(ResponsesScript(answer="Bonne nuit")))
        gemini = stack.enter_context(FakeGemini(GeminiScript(chunks=("Bonne", " nuit"))))
        settings = {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
        }
        (home / ".gemini").mkdir()
        (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
        fake_provider = (
            "--config=model_provider=fake",
            '--config=model_providers.fake.name="fake"',
            f'--config=model_providers.fake.base_url="{responses.url}"',
            '--config=model_providers.fake.wire_api="responses"',
            '--config=model_providers.fake.env_key="FAKE_KEY"',
        )
        yield Upstreams(
            providers={
                "claude": ProviderSettings(
                    executable=str(BIN / "claude"),
                    env={"ANTHROPIC_BASE_URL": anthropic.url, "ANTHROPIC_API_KEY": "sk-fake"},
                ),
                "codex": ProviderSettings(
                    executable=str(BIN / "codex"),
                    extra_args=fake_provider,
                    env={"FAKE_KEY": "sk-fake"},
                ),
                "gemini": ProviderSettings(
                    executable=str(BIN / "gemini"),
                    isolate_home=True,
                    env={"GEMINI_API_KEY": "k" * 24, "GOOGLE_GEMINI_BASE_URL": gemini.url},
                ),
            },
            requests={
                "claude": anthropic.messages,
                "codex": lambda: [r.body for r in responses.responses_requests()],
                "gemini": lambda: [r.body for r in gemini.recorded("streamGenerateContent")],
            },
        )


async def _run(
    session: Session, conversation: Conversation, provider: str, start: float | None = None
) -> float | None:
    """Submit and read to the end; seconds from ``start`` (default: now) to the first
    answer event."""
    start, first = start or time.perf_counter(), None
    async with session.stream(conversation) as events:
        async for event in events:
            if first is None and isinstance(event, _FIRST):
                first = time.perf_counter() - start
            if isinstance(event, Failed):
                raise RuntimeError(f"{provider}: {event.kind}: {event.message}")
            if isinstance(event, Finished):
                break
    return first


async def _bytes(system: System, upstreams: Upstreams, provider: str) -> list[Row]:
    sizes: dict[Persona, int] = {}
    added = 0
    chat = _reference()
    for persona in ("agent", "completion"):
        spec = dataclasses.replace(system.spec(provider, MODELS[provider]), persona=persona)
        before = len(upstreams.requests[provider]())
        await _run(await system.start_session(spec, chat), chat, provider)
        bodies = upstreams.requests[provider]()[before:]
        assert len(bodies) == 1, f"{provider}: {len(bodies)} model calls for one completion"
        sizes[persona] = compact(bodies[0])
        if persona == "completion":
            minimal = {
                "claude": minimal_anthropic(MODELS[provider], REFERENCE),
                "codex": minimal_responses(MODELS[provider], REFERENCE),
                "gemini": minimal_gemini(REFERENCE),
            }[provider]
            added = added_bytes(bodies[0], minimal)
    return [
        (
            f"{provider}: upstream bytes, reference chat, agent / completion",
            f"{sizes['agent']:,} / {sizes['completion']:,} B (added: {added:,} B)",
            f"{sizes['completion'] / sizes['agent']:.3f}x",
        )
    ]


async def _first_tokens(system: System, provider: str, runs: int) -> list[Row]:
    spec = system.spec(provider, MODELS[provider])
    pool = WarmPool(spec, 1, system.start_session)
    rows: list[Row] = []
    number = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        for spacing in SPACINGS:
            cold: list[float] = []
            warm: list[float] = []
            for _ in range(runs):  # alternating: both see the same machine
                for into, take in ((warm, "warm"), (cold, "cold")):
                    await trio.sleep(spacing)
                    number += 1
                    chat = _numbered(number)
                    start = time.perf_counter()
                    if take == "warm":
                        session = await pool.acquire(chat)
                    else:
                        session = await system.start_session(spec, chat)
                    first = await _run(session, chat, provider, start)
                    assert first is not None, f"{provider} answered nothing"
                    into.append(first)
            c50, w50 = quantile(cold, 0.5) * 1000, quantile(warm, 0.5) * 1000
            parked = "never parked" if pool.size == 0 else f"warm = {w50 / c50:.2f}x cold"
            rows.append(
                (
                    f"{provider}: first token, {spacing:g} s apart, cold / warm, p50",
                    f"{c50:.0f} / {w50:.0f} ms",
                    parked,
                )
            )
        nursery.cancel_scope.cancel()
    return rows


async def _measure(runs: int) -> list[Row]:
    with (
        tempfile.TemporaryDirectory(prefix="asm-bench-upstream-") as home,
        _upstreams(Path(home)) as upstreams,
    ):
        config = Config(
            providers=upstreams.providers,
            sessions=SessionSettings(first_event_timeout=30.0, exit_grace=1.0),
        )
        environ = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
        }
        rows: list[Row] = []
        async with open_system(config, bind=None, environ=environ) as system:
            for provider in CLIS:
                rows += await _bytes(system, upstreams, provider)
            for provider in CLIS:
                rows += await _first_tokens(system, provider, runs)
        return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="warm/cold pairs per spacing")
    args = parser.parse_args(argv)
    for name in CLIS:
        if not (BIN / name).exists():
            sys.exit(f"upstream benchmark: {BIN / name} is missing (make test-real-clis)")
    rows = trio.run(_measure, args.runs)
    print_table(
        f"upstream benchmark ({args.runs} warm/cold pairs per spacing; fake upstreams)", rows
    )


if __name__ == "__main__":
    main()
