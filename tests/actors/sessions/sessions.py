"""Building session specs that run the fake CLIs, and collecting what a session says."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path

import trio

from actors.processes import Ladder
from actors.sessions import Session, SessionActor, SessionSpec, Timers, session_spec
from contracts.config import Config, ProviderSettings
from contracts.conversation import Conversation
from contracts.session import SessionEvent

FAKE_BIN = Path(__file__).resolve().parents[2] / "fakes" / "bin"
FAST_LADDER = Ladder(voluntary=0.3, terminate=0.3)
SHORT_TIMERS = Timers(first_event=5.0, idle=5.0, total=20.0)

# A real python3 first on PATH: the fakes run ``python3 -S`` and a shim costs ~70 ms.
_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"


def fake_environ(home: Path) -> dict[str, str]:
    """An operator environment whose ASM_<P>_BIN point at the fakes."""
    environ = {"PATH": _PATH, "HOME": str(home), "LANG": "C.UTF-8"}
    for provider in ("claude", "codex", "gemini", "amp"):
        environ[f"ASM_{provider.upper()}_BIN"] = str(FAKE_BIN / provider)
    return environ


def fake_spec(
    provider: str,
    tmp_path: Path,
    *,
    mode: str = "ok",
    model: str = "fake-model",
    timers: Timers = SHORT_TIMERS,
    ladder: Ladder = FAST_LADDER,
    extra_env: dict[str, str] | None = None,
) -> SessionSpec:
    """A spec that runs ``tests/fakes/bin/<provider>`` in ``mode``."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir(exist_ok=True)
    work_root = tmp_path / "sessions"
    work_root.mkdir(exist_ok=True)
    env = {"FAKE_CLI_MODE": mode, "FAKE_CLI_PID_DIR": str(pid_dir), **(extra_env or {})}
    config = Config(providers={provider: ProviderSettings(env=env)})
    spec = session_spec(
        provider, model, config, work_root=str(work_root), environ=fake_environ(tmp_path)
    )
    return dataclasses.replace(spec, timers=timers, ladder=ladder)


def pid_file(tmp_path: Path, name: str) -> int:
    """The pid a fake wrote to ``<tmp_path>/pids/<name>``."""
    return int((tmp_path / "pids" / name).read_text())


async def collect(session: Session, prompt: str | Conversation) -> list[SessionEvent]:
    """Submit ``prompt`` and read every event until the session ends."""
    events = session.submit(prompt)
    return [event async for event in events]


async def run_once(
    spec: SessionSpec, prompt: str | Conversation
) -> tuple[Session, list[SessionEvent]]:
    """Run one session to its end in a nursery of its own."""
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        events = await collect(session, prompt)
    return session, events


def children_environ() -> dict[str, str]:
    """For tests that spawn outside a session: the same PATH the sessions get."""
    return {**os.environ, "PATH": _PATH}


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait (polling) until ``condition()`` holds; fail after ``seconds``."""
    with trio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - polling state owned by other actors
            await trio.sleep(0.01)
