"""One server per state dir: a second ``asm serve`` there exits 1 and touches nothing.

Real ``asm serve`` processes with the fake CLIs, as an operator runs them (issue 15 §8):
the first holds a lease with a parked CLI and a streaming completion in flight while a
second start on the same state dir is refused; a SIGKILLed server's lock goes with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
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

from actors.processes import ProcessLedger, StateDirBusy
from tests.actors.sessions.sessions import children_environ, fake_environ
from tests.fakes.fake_cli import answer_text
from tests.processes import alive, running_descendants

BIN = Path(sys.executable).parent
ASM = str(BIN / "asm")
ROOT = Path(__file__).resolve().parents[3]
SLOW_PROMPT = "[fake:slow] " + " ".join(f"word{n}" for n in range(24))  # ~6 s of deltas


def _environ(home: Path) -> dict[str, str]:
    env = children_environ()
    env.pop("CLAUDECODE", None)
    env.update(fake_environ(home))
    return env


class Served:
    """A running ``asm serve``: its process and base URL."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.port = int(base_url.rsplit(":", 1)[1])


@contextmanager
def _serving(state: Path, env: dict[str, str], *options: str) -> Iterator[Served]:
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state), *options]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("asm: serving on "), process.communicate(timeout=30)
        yield Served(process, line.split()[-1])
    finally:
        descendants = running_descendants(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate(timeout=30)
        _wait_for(lambda: not any(alive(pid) for pid in descendants))


def _lease(state: Path, env: dict[str, str]) -> openai.OpenAI:
    """``asm endpoint ensure`` for the fake claude; a client on the endpoint it gives."""
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
        env=env,
    )
    assert ensure.returncode == 0, ensure.stderr
    endpoint = json.loads(ensure.stdout)["endpoint"]
    token = endpoint["headers"]["authorization"].removeprefix("Bearer ")
    return openai.OpenAI(base_url=endpoint["base_url"], api_key=token, max_retries=0)


def _ask(client: openai.OpenAI, prompt: str) -> str | None:
    answer = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": prompt}]
    )
    return answer.choices[0].message.content


def _second_serve(state: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Without the lock this one serves until the timeout: run() kills it then.
    return subprocess.run(
        [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        env=env,
        cwd=ROOT,
    )


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


def test_a_second_serve_on_a_running_servers_state_dir_exits_1_and_touches_nothing(
    tmp_path: Path,
) -> None:
    state, env = tmp_path / "state", _environ(tmp_path)
    with _serving(state, env) as first:
        client = _lease(state, env)
        assert _ask(client, "hi") == answer_text("claude", "hi")
        _wait_for(lambda: len(running_descendants(first.process.pid)) >= 1)
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": SLOW_PROMPT}], stream=True
        )
        chunks = iter(stream)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in [next(chunks)])
        clis = running_descendants(first.process.pid)
        groups = sorted(path.name for path in (state / "process-groups").iterdir())
        before = _snapshot(state)

        second = _second_serve(state, env)

        assert second.returncode == 1, second.stderr
        lines = second.stderr.splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.process.pid}" in lines[0]
        assert f"port {first.port}" in lines[0]
        assert second.stdout == ""
        assert all(alive(pid) for pid in clis)  # no sweep: the CLIs live on
        assert _snapshot(state) == before  # server.json, the lock, the secrets untouched
        after = {path.name for path in (state / "process-groups").iterdir()}
        assert set(groups) <= after
        # The in-flight completion finishes; the lease still answers (no 404).
        text += "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
        assert text == answer_text("claude", SLOW_PROMPT)
        assert _ask(client, "again") == answer_text("claude", "again")
        assert httpx.get(f"{first.base_url}/healthz").status_code == 200
        # The Python API's sweep refuses too, and commands that read the state dir work.
        clis = running_descendants(first.process.pid)
        assert clis  # the lease's parked CLI
        with pytest.raises(StateDirBusy, match=f"pid {first.process.pid}"):
            ProcessLedger.open(state / "process-groups").sweep()
        assert all(alive(pid) for pid in clis)
        issued = subprocess.run(
            [
                ASM,
                "token",
                "issue",
                "--subject",
                "s",
                "--scope",
                "events:send",
                "--state-dir",
                str(state),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert issued.returncode == 0, issued.stderr
        assert json.loads((state / "server.json").read_text())["pid"] == first.process.pid
    assert not (state / "server.json").exists()  # the first one's, removed by the first


def test_hypercorn_on_a_running_servers_state_dir_fails_its_startup(tmp_path: Path) -> None:
    state, env = tmp_path / "state", _environ(tmp_path)
    with _serving(state, env) as first:
        before = _snapshot(state)
        argv = [str(BIN / "hypercorn"), "-k", "trio", "--bind", "127.0.0.1:0", "actors.asgi:app"]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={**env, "ASM_STATE_DIR": str(state)},
            cwd=ROOT,
        )
        # Hypercorn stops (with status 0, its choice) when the lifespan startup fails.
        assert "startup" in result.stderr
        assert f"pid {first.process.pid} on port {first.port}" in result.stderr
        assert _snapshot(state) == before
        assert httpx.get(f"{first.base_url}/healthz").status_code == 200


def test_files_with_secrets_or_pids_are_0600_even_if_an_older_run_left_them_open(
    tmp_path: Path,
) -> None:
    state, env = tmp_path / "state", _environ(tmp_path)
    state.mkdir(mode=0o700)
    sqlite3.connect(state / "events.db").close()  # as an older version left it: 0644
    (state / "server.tmp").write_text("{}")
    for name in ("events.db", "server.tmp"):
        os.chmod(state / name, 0o644)
    with _serving(state, env) as first:
        client = _lease(state, env)
        assert _ask(client, "hi") == answer_text("claude", "hi")
        _wait_for(lambda: len(running_descendants(first.process.pid)) >= 1)
        private = ["events.db", "events.db-wal", "events.db-shm", "server.json", "serve.lock"]
        private += ["admin.token", "events.secret"]
        private += [f"process-groups/{p.name}" for p in (state / "process-groups").iterdir()]
        assert any(name.startswith("process-groups/") for name in private)
        modes = {name: stat.S_IMODE((state / name).stat().st_mode) for name in private}
        assert modes == dict.fromkeys(private, 0o600)
        assert json.loads((state / "serve.lock").read_text()) == {
            "pid": first.process.pid,
            "base_url": first.base_url,
        }


def test_after_a_sigkilled_server_the_next_one_starts_and_sweeps_its_orphans(
    tmp_path: Path,
) -> None:
    state, env = tmp_path / "state", _environ(tmp_path)
    # The parked CLI sleeps before it reads stdin: it outlives its server, as a stuck one.
    config = tmp_path / "asm.toml"
    config.write_text('[providers.claude.env]\nFAKE_CLI_STARTUP_MS = "60000"\n')
    with _serving(state, env, "--config", str(config)) as first:
        _lease(state, env)
        _wait_for(lambda: len(running_descendants(first.process.pid)) >= 1)
        _wait_for(lambda: any(p.name.isdigit() for p in (state / "process-groups").iterdir()))
        orphans = running_descendants(first.process.pid)
        first.process.kill()  # the kernel releases the flock with the process
        first.process.wait(timeout=30)
        assert all(alive(pid) for pid in orphans)
        with _serving(state, env) as second:
            _wait_for(lambda: not any(alive(pid) for pid in orphans), timeout=5.0)
            for pid in orphans:  # adopted by this run (a subreaper): reap them
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            info = json.loads((state / "server.json").read_text())
            assert info["pid"] == second.process.pid
            assert httpx.get(f"{second.base_url}/healthz").status_code == 200


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
