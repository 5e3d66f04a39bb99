"""``asm serve`` and ``hypercorn -k trio actors.asgi:app`` as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from tests.actors.sessions.sessions import children_environ, fake_environ
from tests.processes import alive, running_descendants

BIN = Path(sys.executable).parent
ASM = str(BIN / "asm")
ROOT = Path(__file__).resolve().parents[3]


def _environ(tmp_path: Path) -> dict[str, str]:
    env = children_environ()
    env.pop("CLAUDECODE", None)
    env.update(fake_environ(tmp_path))
    return env


@contextmanager
def _running(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _stop(process: subprocess.Popen[str], signum: int) -> list[int]:
    """Signal the server; return the descendants it had (all must be gone after)."""
    before = running_descendants(process.pid)
    process.send_signal(signum)
    assert process.wait(timeout=30) == 0
    return before


def test_serve_refuses_a_non_loopback_bind(tmp_path: Path) -> None:
    result = subprocess.run(
        [ASM, "serve", "--bind", "0.0.0.0:0", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "loopback only" in result.stderr
    assert not (tmp_path / "server.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_serves_then_stops_on_a_signal_reaping_every_cli(tmp_path: Path, signum: int) -> None:
    state = tmp_path / "state"
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state)]
    with _running(argv, _environ(tmp_path)) as server:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("asm: serving on http://127.0.0.1:")
        base_url = line.split()[-1]
        info = json.loads((state / "server.json").read_text())
        store = f"sqlite:{state / 'events.db'}"  # the embedded default
        assert info == {"base_url": base_url, "pid": server.pid, "store": store}
        assert stat.S_IMODE((state / "admin.token").stat().st_mode) == 0o600
        assert stat.S_IMODE((state / "events.secret").stat().st_mode) == 0o600
        assert httpx.get(f"{base_url}/healthz").json() == {"ok": True, "service": "asm"}
        ensure = subprocess.run(
            [
                ASM,
                "endpoint",
                "ensure",
                "--provider",
                "claude",
                "--model",
                "m",
                "--state-dir",
                str(state),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=_environ(tmp_path),
        )
        assert ensure.returncode == 0, ensure.stderr
        endpoint = json.loads(ensure.stdout)["endpoint"]
        token = endpoint["headers"]["authorization"].removeprefix("Bearer ")
        client = openai.OpenAI(base_url=endpoint["base_url"], api_key=token, max_retries=0)
        answer = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "Hello from fake claude. You said: hi"
        _wait_for(lambda: len(running_descendants(server.pid)) >= 1)  # the lease's parked session
        before = _stop(server, signum)
    assert before
    # A process in the middle of exiting still shows in /proc for a moment.
    _wait_for(lambda: not any(alive(pid) for pid in before), timeout=5.0)
    assert not (state / "server.json").exists()


def test_hypercorn_serves_the_asgi_app(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "state"
    env = {**_environ(tmp_path), "ASM_STATE_DIR": str(state)}
    argv = [str(BIN / "hypercorn"), "-k", "trio", "--bind", f"127.0.0.1:{port}", "actors.asgi:app"]
    base_url = f"http://127.0.0.1:{port}"
    with _running(argv, env) as server:
        _wait_for(lambda: _healthy(base_url))
        token = (state / "admin.token").read_text().strip()
        created = httpx.post(
            f"{base_url}/api/v1/endpoints",
            headers={"authorization": f"Bearer {token}"},
            json={"request": {"model_preference": {"provider": "gemini", "id": "g"}}},
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()["endpoint"]
        assert endpoint["base_url"].startswith(base_url)
        lease_token = endpoint["headers"]["authorization"].removeprefix("Bearer ")
        client = openai.OpenAI(base_url=endpoint["base_url"], api_key=lease_token, max_retries=0)
        answer = client.chat.completions.create(
            model="g", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "Hello from fake gemini. You said: hi"
        before = _stop(server, signal.SIGTERM)
    _wait_for(lambda: not any(alive(pid) for pid in before), timeout=5.0)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
