"""``asm serve`` over one real CLI, and the official openai client on a lease of it.

with serve(tmp_path, config_toml, env) as server:
    client = server.lease("claude", "claude-sonnet-4-5")   # an openai.OpenAI
    answer = client.chat.completions.create(model=..., messages=[...])
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import trio

from tests.actors.sessions.sessions import children_environ
from tests.processes import running_descendants

ASM = str(Path(sys.executable).with_name("asm"))
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    base_url: str
    admin_token: str
    process: subprocess.Popen[str]

    def lease(self, provider: str, model: str) -> openai.OpenAI:
        """Ensure an endpoint for (provider, model); the openai client on it."""
        created = httpx.post(
            f"{self.base_url}/api/v1/endpoints",
            json={"request": {"model_preference": {"provider": provider, "id": model}}},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()["endpoint"]
        token = endpoint["headers"]["authorization"].removeprefix("Bearer ")
        return openai.OpenAI(base_url=endpoint["base_url"], api_key=token, max_retries=0)


def provider_toml(
    provider: str,
    executable: Path,
    env: dict[str, str],
    *,
    first_event: float,
    pool: int,
    isolate: bool,
    persona: str = "completion",
) -> str:
    """An asm.toml running ``provider`` from ``executable`` with ``env`` and these settings."""
    lines = [
        "[sessions]",
        f"first_event_timeout = {first_event}",
        f"[providers.{provider}]",
        f"executable = {json.dumps(str(executable))}",
        f"pool_size = {pool}",
        f"isolate_home = {json.dumps(isolate)}",
        f"persona = {json.dumps(persona)}",
        f"[providers.{provider}.env]",
        *(f"{name} = {json.dumps(value)}" for name, value in env.items()),
    ]
    return "\n".join(lines) + "\n"


def operator_environ(tmp_path: Path, *without: str) -> dict[str, str]:
    """asm serve's environment: an empty HOME of its own and none of ``without``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = environ(home)
    for name in without:
        env.pop(name, None)
    return env


def environ(home: Path, **extra: str) -> dict[str, str]:
    env = children_environ()
    env.pop("CLAUDECODE", None)
    env.update({"HOME": str(home)})
    env.update(extra)
    return env


@contextmanager
def serve(tmp_path: Path, config_toml: str, env: dict[str, str]) -> Iterator[Served]:
    """``asm serve`` with ``config_toml`` as its asm.toml, until the block ends; then
    SIGTERM, exit 0, and every process it started reaped."""
    config = tmp_path / "asm.toml"
    config.write_text(config_toml)
    state = tmp_path / "state"
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state)]
    argv += ["--config", str(config), "--store", "memory"]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("asm: serving on "), process.communicate(timeout=30)
        token = (state / "admin.token").read_text().strip()
        yield Served(line.split()[-1], token, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        process.communicate(timeout=30)
    assert process.returncode == 0


LADDER = 2.0 + 3.0
"""The shutdown ladder's budget at the default ``[sessions]`` graces, in seconds."""


@contextmanager
def closed_port() -> Iterator[str]:
    """A 127.0.0.1 URL nobody answers: the port stays bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def settled(server: Served, expected: int = 0, seconds: float = LADDER) -> list[int]:
    """Wait up to ``seconds`` for asm serve to have ``expected`` descendants; those it has."""
    with trio.move_on_after(seconds):
        while len(running_descendants(server.process.pid)) != expected:  # noqa: ASYNC110
            await trio.sleep(0.05)
    return running_descendants(server.process.pid)
