"""A store outage never takes ``asm serve`` down (issue 15, item 3), tried as it happens.

A real ``asm serve`` streams a slow completion through the official openai client, a
steady publisher posts events, and a curl-like listener follows them, while the store
goes away: a real ``redis-server`` stopped for 30 s and started again over its data, or
the sqlite file's disk filled up and freed. Throughout, the process runs on; the
completion streams to its end; publishes answer 503 with ``retry-after`` (and are
retried, as a client should); the listener keeps its connection and sees every
acknowledged event once; afterwards the lease answers again and the bridge answers a
request. Nothing acknowledged is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest

from tests.actors.sessions.sessions import children_environ, fake_environ
from tests.redis_server import RedisServer

ASM = str(Path(sys.executable).parent / "asm")
ROOT = Path(__file__).resolve().parents[3]
NAME = "ops.outage.tick"
REDIS_OUTAGE_SECONDS = 30.0


def _environ(home: Path) -> dict[str, str]:
    env = children_environ()
    env.pop("CLAUDECODE", None)
    env.update(fake_environ(home))
    env["BUS_API_JWT_SECRET"] = "o" * 64
    return env


@dataclass
class Served:
    process: subprocess.Popen[str]
    base_url: str
    state: Path
    env: dict[str, str]

    def token(self, scope: str) -> str:
        argv = [ASM, "token", "issue", "--subject", "ops", "--scope", scope]
        argv += ["--state-dir", str(self.state)]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, check=False, env=self.env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@contextmanager
def serving(tmp_path: Path, store: str, *, deltas: int, delay_ms: int) -> Iterator[Served]:
    """``asm serve`` on ``store``, its claude answering ``deltas`` pieces ``delay_ms`` apart."""
    config = tmp_path / "asm.toml"
    config.write_text(
        "[providers.claude]\n"
        f'env = {{ FAKE_CLI_MODE = "clock", FAKE_CLI_CLOCK_COUNT = "{deltas}", '
        f'FAKE_CLI_DELAY_MS = "{delay_ms}" }}\n'
    )
    state = tmp_path / "state"
    env = _environ(tmp_path)
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state)]
    argv += ["--store", store, "--config", str(config)]
    # Its log (a line per request, and this run makes thousands) goes to a file: a pipe
    # nobody reads until the end would fill, and the server would block writing to it.
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=ROOT
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("asm: serving on "), log.read_text()
        yield Served(process, line.split()[-1], state, env)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate(timeout=30)


@dataclass
class Traffic:
    """The three clients of one run and what each saw."""

    served: Served
    token: str
    acked: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # the retry-after of each 503
    failures: list[str] = field(default_factory=list)  # anything else: must stay empty
    seen: list[str] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    finish: list[str | None] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, endpoint: dict[str, object]) -> None:
        self.threads = [
            threading.Thread(target=self._listen),
            threading.Thread(target=self._publish),
            threading.Thread(target=self._complete, args=(endpoint,)),
        ]
        for thread in self.threads:
            thread.start()

    def _publish(self) -> None:
        with httpx.Client(headers=self.auth, timeout=10) as client:
            number = 0
            while not self.stop.is_set():
                number += 1
                try:
                    response = client.post(
                        f"{self.served.base_url}/api/v1/events",
                        json={"name": NAME, "payload": {"n": number}},
                    )
                except httpx.HTTPError as error:
                    self.failures.append(f"publish: {error!r}")
                    return
                if response.status_code == 202:
                    self.acked.append(response.json()["id"])
                    time.sleep(0.02)
                elif response.status_code == 503:
                    self.refusals.append(response.headers.get("retry-after", ""))
                    time.sleep(0.2)
                else:
                    self.failures.append(f"publish: {response.status_code} {response.text}")
                    return
        self._publish_last()

    def _publish_last(self) -> None:
        response = httpx.post(
            f"{self.served.base_url}/api/v1/events",
            json={"name": NAME, "payload": {"last": True}},
            headers=self.auth,
            timeout=10,
        )
        assert response.status_code == 202, response.text
        self.acked.append(response.json()["id"])

    def _listen(self) -> None:
        params = {"name": NAME, "replay": "true"}
        try:
            with httpx.stream(
                "GET",
                f"{self.served.base_url}/api/v1/events/stream",
                params=params,
                headers=self.auth,
                timeout=60,
            ) as response:
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    self.seen.append(event["id"])
                    if event["payload"] == {"last": True}:
                        return
        except httpx.HTTPError as error:
            self.failures.append(f"listen: {error!r}")

    def _complete(self, endpoint: dict[str, object]) -> None:
        headers = endpoint["headers"]
        assert isinstance(headers, dict)
        client = openai.OpenAI(
            base_url=str(endpoint["base_url"]),
            api_key=headers["authorization"].removeprefix("Bearer "),
            max_retries=0,
            timeout=300,
        )
        try:
            for chunk in client.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": "tick"}]
            ):
                for choice in chunk.choices:
                    if choice.delta.content:
                        self.pieces.append(choice.delta.content)
                    if choice.finish_reason:
                        self.finish.append(choice.finish_reason)
        except openai.OpenAIError as error:
            self.failures.append(f"completion: {error!r}")

    def finish_all(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in self.threads)


def ensure(served: Served) -> dict[str, object]:
    admin = (served.state / "admin.token").read_text().strip()
    created = httpx.post(
        f"{served.base_url}/api/v1/endpoints",
        headers={"authorization": f"Bearer {admin}"},
        json={"request": {"model_preference": {"provider": "claude", "id": "m"}}},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    endpoint: dict[str, object] = created.json()["endpoint"]
    return endpoint


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def check_after_the_outage(traffic: Traffic, endpoint: dict[str, object], deltas: int) -> None:
    served = traffic.served
    assert served.process.poll() is None, "the server exited"
    assert traffic.failures == []
    assert traffic.refusals and all(value.isdigit() for value in traffic.refusals)
    assert traffic.finish == ["stop"] and len(traffic.pieces) == deltas
    assert len(traffic.seen) == len(set(traffic.seen)), "an event came twice"
    assert set(traffic.acked) <= set(traffic.seen), "the listener missed an acked event"
    stored = replay_ids(served.base_url, traffic.token)
    assert set(traffic.acked) <= stored, "an acknowledged event was lost"
    # The lease lived through it (its next completion starts streaming); the bridge
    # listens again.
    headers = endpoint["headers"]
    assert isinstance(headers, dict)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "again"}]}
    with httpx.stream(
        "POST", f"{endpoint['base_url']}/chat/completions", headers=headers, json=body, timeout=60
    ) as answer:
        assert answer.status_code == 200, answer.read()
        assert any('"content"' in line for line in answer.iter_lines())
    assert bridge_answers(served)


def replay_ids(base_url: str, token: str) -> set[str]:
    with httpx.stream(
        "GET",
        f"{base_url}/api/v1/events/stream",
        params={"name": NAME, "replay": "true", "follow": "false"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        return {json.loads(line)["id"] for line in response.iter_lines() if line.strip()}


def bridge_answers(served: Served) -> bool:
    """A status request for an unknown node gets the bridge's failure response."""
    token = served.token("inference:read")
    auth = {"Authorization": f"Bearer {token}"}
    request = {
        "name": "bus.inference.status.request",
        "correlation_id": "after-the-outage",
        "payload": {"provider": "ollama", "node_id": "nowhere"},
    }
    published = httpx.post(f"{served.base_url}/api/v1/events", json=request, headers=auth)
    assert published.status_code == 202, published.text
    params = {
        "name": "bus.inference.status.response",
        "replay": "true",
        "correlation_id": "after-the-outage",
    }
    with httpx.stream(
        "GET", f"{served.base_url}/api/v1/events/stream", params=params, headers=auth, timeout=60
    ) as response:
        for line in response.iter_lines():
            if line.strip():
                return bool(json.loads(line)["payload"]["error_class"] == "unknown_node")
    return False


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_30_s_redis_outage_leaves_the_endpoints_alone_and_loses_no_acknowledged_event(
    tmp_path: Path, redis_server_factory: Callable[[], RedisServer]
) -> None:
    redis = redis_server_factory()
    deltas = 50  # a 50 s completion: the outage falls inside it
    with serving(tmp_path, redis.url, deltas=deltas, delay_ms=1000) as served:
        endpoint = ensure(served)
        traffic = Traffic(served, served.token("events:send events:listen"))
        traffic.start(endpoint)
        wait_for(lambda: len(traffic.pieces) >= 2 and len(traffic.acked) >= 20, "traffic")
        redis.stop()
        time.sleep(REDIS_OUTAGE_SECONDS)
        assert served.process.poll() is None, "the server exited during the outage"
        during = len(traffic.acked)
        redis.start()
        wait_for(lambda: len(traffic.acked) >= during + 20, "publishes after the outage")
        wait_for(lambda: bool(traffic.finish), "the completion's end", seconds=120)
        traffic.finish_all()
        check_after_the_outage(traffic, endpoint, deltas)


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("filling a disk needs a tmpfs mount, which needs root")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")


@pytest.mark.timeout(180)
def test_a_full_disk_under_sqlite_answers_503_and_the_server_goes_on(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "4m")
    deltas = 12
    try:
        with serving(
            tmp_path, f"sqlite:{disk / 'events.db'}", deltas=deltas, delay_ms=500
        ) as served:
            endpoint = ensure(served)
            traffic = Traffic(served, served.token("events:send events:listen"))
            traffic.start(endpoint)
            wait_for(lambda: len(traffic.pieces) >= 1 and len(traffic.acked) >= 10, "traffic")
            filler = disk / "filler"
            subprocess.run(
                ["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, check=False
            )
            wait_for(lambda: len(traffic.refusals) >= 5, "publishes refused on a full disk")
            filler.unlink()
            during = len(traffic.acked)
            wait_for(lambda: len(traffic.acked) >= during + 10, "publishes after space came back")
            wait_for(lambda: bool(traffic.finish), "the completion's end", seconds=120)
            traffic.finish_all()
            check_after_the_outage(traffic, endpoint, deltas)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
