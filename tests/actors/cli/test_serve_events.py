"""The Bus Events API of ``asm serve`` as operators use it: curl, kill -9, two servers.

Each test runs real ``asm serve`` processes on 127.0.0.1 (sqlite in the state dir by
default, or a real redis-server), and talks to them with curl or httpx.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.actors.sessions.sessions import children_environ

ASM = str(Path(sys.executable).parent / "asm")
ROOT = Path(__file__).resolve().parents[3]
SECRET = "s" * 64  # BUS_API_JWT_SECRET shared by the servers of one test
NAME = "ops.deploy.step"


class Server:
    """One ``asm serve`` process: its base URL, and a way to kill it."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=30)


def _environ(home: Path) -> dict[str, str]:
    env = children_environ()
    env.update({"HOME": str(home), "BUS_API_JWT_SECRET": SECRET})
    return env


@contextmanager
def serving(
    state: Path, *store: str, environ: dict[str, str] | None = None, config: Path | None = None
) -> Iterator[Server]:
    """``asm serve --bind 127.0.0.1:0 --state-dir STATE [--store S]`` until the block ends.

    ``environ`` is added to the server's environment (e.g. the fake CLIs' variables);
    ``config`` is passed as ``--config``.
    """
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state)]
    argv += ["--store", *store] if store else []
    argv += ["--config", str(config)] if config else []
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environ(state.parent) | (environ or {}),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("asm: serving on "), process.communicate(timeout=30)
        yield Server(process, line.split()[-1])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate(timeout=30)


def issue(state: Path, scope: str) -> str:
    result = subprocess.run(
        [ASM, "token", "issue", "--subject", "ops", "--scope", scope, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_environ(state.parent),
    )
    return result.stdout.strip()


def replay(base_url: str, token: str, *, after: str | None = None) -> list[dict[str, object]]:
    """Every retained event of NAME (after ``after``), read to the end of the backlog."""
    params = {"name": NAME, "follow": "false"}
    params.update({"after": after} if after else {"replay": "true"})
    with httpx.stream(
        "GET",
        f"{base_url}/api/v1/events/stream",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.read()
        return [json.loads(line) for line in response.iter_lines() if line.strip()]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not on PATH")
def test_the_seed_flow_runs_verbatim_with_curl_and_prints_the_response_line(
    tmp_path: Path,
) -> None:
    """BUS.md §6, the two curl commands as written, against ``asm serve``."""
    state = tmp_path / "state"
    with serving(state) as server:
        deploy = tmp_path / "deploy"
        deploy.mkdir()
        event = {
            "name": "bus.inference.model.ensure.request",
            "correlation_id": "deploy-001-inference-model",
            "payload": {"provider": "ollama", "node_id": "node-1", "model": "llama3.2:1b"},
        }
        (deploy / "inference-model-event.json").write_text(json.dumps(event))
        script = """
curl -fsS -X POST "$BUS_EVENTS_API_BASE_URL/api/v1/events" \\
  -H "Authorization: Bearer $BUS_EVENTS_TOKEN" -H "Content-Type: application/json" \\
  --data @./deploy/inference-model-event.json
curl -fsS -N "$BUS_EVENTS_API_BASE_URL/api/v1/events/stream?name=bus.inference.model.ensure.response&delivery=broadcast" \\
  -H "Authorization: Bearer $BUS_EVENTS_TOKEN" | grep 'deploy-001-inference-model'
"""  # noqa: E501 - the seed's own lines, unchanged
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BUS_EVENTS_API_BASE_URL": server.base_url,
            "BUS_EVENTS_TOKEN": issue(state, "inference:admin"),
        }
        # The stream follows forever, as the seed's does; grep prints to a terminal (line
        # by line, as for the operator), and the test stops it once the line is there.
        master, terminal = os.openpty()
        shell = subprocess.Popen(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=terminal,
            start_new_session=True,
        )
        os.close(terminal)
        try:
            printed = read_until(master, b"deploy-001-inference-model")
        finally:
            os.killpg(shell.pid, signal.SIGTERM)
            shell.wait(timeout=30)
            os.close(master)
        # curl prints the receipt without a newline; grep's line follows it.
        decoder = json.JSONDecoder()
        receipt, end = decoder.raw_decode(printed)
        response = json.loads(printed[end:])
    assert receipt["accepted"] is True
    assert response["name"] == "bus.inference.model.ensure.response"
    assert response["correlation_id"] == response["correlationId"] == "deploy-001-inference-model"
    assert response["payload"]["ok"] is False
    assert response["payload"]["error_class"] == "unknown_node"  # no [nodes.node-1] here


def test_an_unknown_node_answer_names_the_config_file_the_server_read(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[nodes.cpu]\nollama_url = "http://127.0.0.1:9"\n')
    state = tmp_path / "state"
    with serving(state, config=config) as server:
        token = issue(state, "inference:admin")
        headers = {"Authorization": f"Bearer {token}"}
        event = {
            "name": "bus.inference.status.request",
            "correlation_id": "where-is-gpu",
            "payload": {"provider": "ollama", "node_id": "gpu"},
        }
        published = httpx.post(f"{server.base_url}/api/v1/events", json=event, headers=headers)
        assert published.status_code == 202, published.text
        params = {"name": "bus.inference.status.response", "replay": "true", "follow": "false"}
        for _ in range(100):
            response = httpx.get(
                f"{server.base_url}/api/v1/events/stream", params=params, headers=headers
            )
            lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            if lines:
                break
            time.sleep(0.1)
    payload = lines[0]["payload"]
    assert payload["error_class"] == "unknown_node"
    diagnostics = " ".join(payload["diagnostics"])
    assert str(config.resolve()) in diagnostics
    assert "[nodes.gpu]" in diagnostics


def listen_until_gone(base_url: str, token: str, seen: list[dict[str, object]]) -> None:
    """Follow NAME from the oldest event, appending to ``seen``, until the server dies."""
    params = {"name": NAME, "replay": "true"}
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base_url}/api/v1/events/stream"
    try:
        with httpx.stream("GET", url, params=params, headers=headers, timeout=30) as response:
            for line in response.iter_lines():
                if line.strip():
                    seen.append(json.loads(line))
    except httpx.TransportError:
        pass  # the kill -9


def read_until(descriptor: int, needle: bytes, *, timeout: float = 60) -> str:
    """What a terminal showed until a whole line holding ``needle`` was printed."""
    shown = b""
    deadline = time.monotonic() + timeout
    while not (needle in shown and shown.rstrip(b"\r").endswith(b"\n")):
        left = deadline - time.monotonic()
        assert left > 0, f"the terminal never showed {needle!r}: {shown!r}"
        ready, _, _ = select.select([descriptor], [], [], left)
        if ready:
            shown += os.read(descriptor, 65536)
    return shown.decode().replace("\r\n", "\n")


def publish_until_killed(
    server: Server, token: str, kill_after: int, seen: list[dict[str, object]]
) -> list[str]:
    """Publish NAME events one after another, a listener following them into ``seen``;
    kill -9 the server after ``kill_after`` acks while both go on. The ids that got a
    202, in order."""
    acked: list[str] = []
    killed = threading.Event()
    listener = threading.Thread(target=listen_until_gone, args=(server.base_url, token, seen))
    listener.start()

    def publisher() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            for number in range(100_000):
                try:
                    response = client.post(
                        f"{server.base_url}/api/v1/events",
                        json={"name": NAME, "payload": {"n": number}},
                    )
                except httpx.TransportError:
                    return  # the server is gone: what was not acknowledged may be lost
                if response.status_code != 202:
                    return
                acked.append(response.json()["id"])
                if len(acked) == kill_after:
                    killed.set()

    thread = threading.Thread(target=publisher)
    thread.start()
    assert killed.wait(timeout=60), "the publisher never reached the kill point"
    server.kill()
    thread.join(timeout=60)
    listener.join(timeout=60)
    assert not thread.is_alive() and not listener.is_alive()
    return acked


def check_nothing_acknowledged_was_lost(
    before: list[dict[str, object]], base_url: str, token: str, acked: list[str]
) -> None:
    """Every acked id is stored; a listener resuming after what it saw gets the rest once."""
    everything = [str(event["id"]) for event in replay(base_url, token)]
    assert set(acked) <= set(everything), set(acked) - set(everything)
    seen = [str(event["id"]) for event in before]
    resumed = [str(event["id"]) for event in replay(base_url, token, after=seen[-1])]
    assert len(seen + resumed) == len(set(seen + resumed)), "an event came twice"
    assert set(acked) <= set(seen + resumed), "a listener resuming with after missed one"


def test_kill_9_during_a_publish_loop_loses_no_acknowledged_event_sqlite(tmp_path: Path) -> None:
    state = tmp_path / "state"
    seen: list[dict[str, object]] = []
    with serving(state) as server:
        token = issue(state, "events:send events:listen")
        acked = publish_until_killed(server, token, 150, seen)
        assert server.process.returncode == -signal.SIGKILL
    assert seen, "the listener saw nothing before the crash"
    with serving(state) as restarted:
        check_nothing_acknowledged_was_lost(seen, restarted.base_url, token, acked)
    assert len(acked) >= 150


@pytest.mark.redis
def test_two_servers_on_one_redis_deliver_each_others_events_and_survive_kill_9(
    tmp_path: Path, redis_url: str
) -> None:
    first_state, second_state = tmp_path / "first", tmp_path / "second"
    first_state.mkdir()
    second_state.mkdir()
    store = redis_url  # the session's server; the other tests keep to namespaces of their own
    with serving(second_state, store) as second:
        token = issue(second_state, "events:send events:listen")
        with serving(first_state, store) as first:
            published = httpx.post(
                f"{first.base_url}/api/v1/events",
                json={"name": NAME, "payload": {"from": "first"}, "correlation_id": "c-1"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert published.status_code == 202, published.text
            delivered = replay(second.base_url, token)
            assert [event["correlation_id"] for event in delivered] == ["c-1"]
            seen: list[dict[str, object]] = []
            acked = publish_until_killed(first, token, 100, seen)
        assert seen, "the listener saw nothing before the crash"
        check_nothing_acknowledged_was_lost(seen, second.base_url, token, acked)
        with serving(first_state, store) as restarted:  # and the killed one, restarted
            check_nothing_acknowledged_was_lost(seen, restarted.base_url, token, acked)


def test_a_store_that_does_not_open_stops_serve_with_one_line_and_no_password(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [
            ASM,
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path / "state"),
            "--store",
            f"redis://:hunter2secret@127.0.0.1:{port}/0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_environ(tmp_path),
    )
    assert result.returncode == 1
    assert f"asm serve: stopped: redis at redis://127.0.0.1:{port}/0 does not answer" in (
        result.stderr
    )
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "server.json").exists()


def test_an_unknown_store_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [ASM, "serve", "--state-dir", str(tmp_path / "state"), "--store", "postgres://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_environ(tmp_path),
    )
    assert result.returncode == 2
    assert "use memory, sqlite:PATH or redis://HOST:PORT/DB" in result.stderr
