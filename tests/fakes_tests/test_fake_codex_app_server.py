"""The fake ``codex app-server``: its handshake, turns, concurrency, triggers and fault modes.

Each test runs ``tests/fakes/bin/codex-app-server-fake`` by path from a scrubbed environment
(as a supervisor would start ``codex app-server``) and speaks its JSON lines through pipes,
with a reader thread and bounded waits; every process is killed and reaped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fake_codex_app_server import (
    BIG_SIZE,
    DEFAULT_ANSWER,
    FAIL_MESSAGE,
    GARBAGE_LINE,
    MALFORMED_LINE,
    UNAUTHORIZED_MESSAGE,
    VERSION_LINE,
    chunks,
    input_tokens,
)

FAKE = Path(__file__).resolve().parent.parent / "fakes" / "bin" / "codex-app-server-fake"
ARGV = [str(FAKE), "app-server", "--config=model_reasoning_effort=low", "--model=gpt-5"]
TIMEOUT = 5.0


def _env(**extra: str) -> dict[str, str]:
    """PATH (this interpreter's directory first), HOME, LANG, TMPDIR, and ``extra``."""
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(extra)
    return env


class Client:
    """A line client of the fake: raw lines arrive on a queue filled by a reader thread."""

    def __init__(self, **env: str) -> None:
        self.process = subprocess.Popen(
            ARGV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(**env),
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.next_id = 0
        self.stderr = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.stderr_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(b"")  # EOF

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def send(self, message: dict[str, Any]) -> None:
        self.write(json.dumps(message).encode() + b"\n")

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.next_id

    def raw(self, timeout: float = TIMEOUT) -> bytes:
        line = self.lines.get(timeout=timeout)
        assert line, "the fake closed stdout"
        return line

    def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.raw(timeout))
        return message

    def nothing_for(self, seconds: float) -> None:
        with pytest.raises(queue.Empty):
            line = self.lines.get(timeout=seconds)
            raise AssertionError(f"unexpected line: {line[:200]!r}")

    def response(self, request_id: int, into: list[dict[str, Any]] | None = None) -> Any:
        """The response to ``request_id``; other messages meanwhile go to ``into``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if message.get("id") == request_id and "method" not in message:
                return message
            assert into is not None, f"unexpected message: {message}"
            into.append(message)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.response(self.request(method, params))
        assert "result" in reply, reply
        return reply["result"]

    def handshake(self) -> dict[str, Any]:
        result = self.call(
            "initialize",
            {
                "clientInfo": {"name": "asm-tests", "version": "0"},
                "capabilities": {"experimentalApi": True},
            },
        )
        self.send({"method": "initialized"})
        return dict(result)

    def start_thread(self, **params: Any) -> str:
        extra: list[dict[str, Any]] = []
        request_id = self.request(
            "thread/start",
            {
                "model": "gpt-5",
                "ephemeral": True,
                "cwd": "/tmp",
                "sandbox": "read-only",
                "approvalPolicy": "never",
                **params,
            },
        )
        reply = self.response(request_id, extra)
        thread_id = str(reply["result"]["thread"]["id"])
        started = extra[0] if extra else self.recv()
        assert started["method"] == "thread/started"
        assert started["params"]["thread"]["id"] == thread_id
        return thread_id

    def start_turn(
        self, thread_id: str, text: str, into: list[dict[str, Any]] | None = None, **params: Any
    ) -> str:
        """Start a turn; notifications of other turns meanwhile go to ``into``."""
        request_id = self.request(
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": text}], **params},
        )
        reply = self.response(request_id, into)
        assert reply["result"]["turn"]["status"] == "inProgress", reply
        return str(reply["result"]["turn"]["id"])

    def until_completed(self, turn_id: str, into: list[dict[str, Any]]) -> dict[str, Any]:
        """Read into ``into`` until ``turn_id``'s turn/completed; return that turn."""
        while True:
            message = self.recv()
            into.append(message)
            if message.get("method") == "turn/completed":
                turn: dict[str, Any] = message["params"]["turn"]
                if turn["id"] == turn_id:
                    return turn

    def wait(self, timeout: float = TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.reader.join(TIMEOUT)
        self.stderr_reader.join(TIMEOUT)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    clients: list[Client] = []

    def _start(**env: str) -> Client:
        client = Client(**{"CODEX_HOME": str(tmp_path / "codex-home"), **env})
        clients.append(client)
        return client

    yield _start
    for client in clients:
        client.close()


def _of(turn_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("params", {}).get("turnId") == turn_id]


def test_version() -> None:
    done = subprocess.run(
        [str(FAKE), "--version"], capture_output=True, env=_env(), timeout=TIMEOUT, check=False
    )
    assert (done.returncode, done.stdout.decode().strip()) == (0, VERSION_LINE)


def test_handshake(start: Any, tmp_path: Path) -> None:
    client = start()
    early = client.response(client.request("thread/start", {}))
    assert early["error"]["message"] == "Not initialized"
    client.write(b"this is not json\n")
    assert client.handshake() == {
        "userAgent": "fake/0.169.0",
        "codexHome": str(tmp_path / "codex-home"),
        "platformFamily": "unix",
        "platformOs": "linux",
    }
    unknown = client.response(client.request("thread/fork", {}))
    assert unknown["error"] == {"code": -32601, "message": "method not found"}
    missing = client.response(client.request("turn/start", {"threadId": "nope", "input": []}))
    assert "error" in missing
    client.process.stdin.close()
    assert client.wait() == 0
    client.stderr_reader.join(TIMEOUT)
    assert b"not JSON" in client.stderr


def test_whole_turn(start: Any, tmp_path: Path) -> None:
    log = tmp_path / "received.jsonl"
    client = start(FAKE_APP_SERVER_LOG=str(log), FAKE_APP_SERVER_CHUNKS="4")
    client.handshake()
    thread_id = client.start_thread(baseInstructions="Be brief.", developerInstructions="Dev.")
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Bonjour"}],
        },
    ]
    assert client.call("thread/inject_items", {"threadId": thread_id, "items": items}) == {}
    turn_id = client.start_turn(thread_id, "How are you?")
    messages: list[dict[str, Any]] = []
    turn = client.until_completed(turn_id, messages)
    assert turn == {"id": turn_id, "status": "completed", "error": None, "items": []}
    pieces = chunks(DEFAULT_ANSWER, 4)
    assert [m["method"] for m in messages] == [
        "turn/started",
        "item/started",
        *["item/agentMessage/delta"] * len(pieces),
        "item/completed",
        "thread/tokenUsage/updated",
        "turn/completed",
    ]
    assert all(m["params"]["threadId"] == thread_id for m in messages)
    assert messages[0]["params"]["turn"] == {"id": turn_id, "status": "inProgress"}
    assert messages[1]["params"]["item"] == {"type": "agentMessage", "id": "msg_1", "text": ""}
    deltas = [m["params"] for m in messages if m["method"] == "item/agentMessage/delta"]
    assert [d["delta"] for d in deltas] == pieces
    assert {d["itemId"] for d in deltas} == {"msg_1"}
    assert len(_of(turn_id, messages)) == len(messages) - 2  # but turn/started, turn/completed
    completed = messages[-3]["params"]["item"]
    assert completed == {"type": "agentMessage", "id": "msg_1", "text": DEFAULT_ANSWER}
    characters = (
        len("Be brief.") + len("Dev.") + len("Hello") + len("Bonjour") + len("How are you?")
    )
    last = {
        "totalTokens": input_tokens(characters) + len(pieces),
        "inputTokens": input_tokens(characters),
        "cachedInputTokens": 0,
        "cacheWriteInputTokens": 0,
        "outputTokens": len(pieces),
        "reasoningOutputTokens": 0,
    }
    assert messages[-2]["params"]["tokenUsage"] == {"total": last, "last": last}
    # A second turn: the total adds up.
    second = client.start_turn(thread_id, "Again")
    more: list[dict[str, Any]] = []
    client.until_completed(second, more)
    usage = more[-2]["params"]["tokenUsage"]
    assert usage["last"]["inputTokens"] == input_tokens(characters + len("Again"))
    assert usage["total"]["inputTokens"] == last["inputTokens"] + usage["last"]["inputTokens"]
    assert client.call("thread/unsubscribe", {"threadId": thread_id}) == {}
    gone = client.response(client.request("turn/start", {"threadId": thread_id, "input": []}))
    assert "error" in gone
    client.process.stdin.close()
    assert client.wait() == 0
    recorded = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r.get("method") for r in recorded[:2]] == ["initialize", "initialized"]
    assert recorded[3]["params"]["items"] == items


def test_concurrent_threads_hang_and_interrupt(start: Any) -> None:
    client = start(FAKE_APP_SERVER_DELAY_MS="20")
    client.handshake()
    hung_thread = client.start_thread()
    good_thread = client.start_thread()
    messages: list[dict[str, Any]] = []
    hung = client.start_turn(hung_thread, "please [[hang]]")
    good = client.start_turn(good_thread, "hi", messages)
    turn = client.until_completed(good, messages)
    assert turn["status"] == "completed"
    while len(_of(hung, messages)) < 2:  # the hung turn's first lines, if not in yet
        messages.append(client.recv())
    hung_methods = [m["method"] for m in _of(hung, messages)]
    assert hung_methods == ["item/started", "item/agentMessage/delta"]
    client.nothing_for(0.3)
    assert client.call("turn/interrupt", {"threadId": hung_thread, "turnId": hung}) == {}
    ended = client.recv()
    assert ended["method"] == "turn/completed"
    assert ended["params"]["turn"]["id"] == hung
    assert ended["params"]["turn"]["status"] == "interrupted"
    client.nothing_for(0.2)
    # The thread takes a new turn.
    again = client.start_turn(hung_thread, "hello again")
    assert client.until_completed(again, [])["status"] == "completed"


def test_crash_exits_70(start: Any) -> None:
    client = start(FAKE_APP_SERVER_CRASH_DELAY_MS="100")
    client.handshake()
    thread_id = client.start_thread()
    turn_id = client.start_turn(thread_id, "[[crash]]")
    methods = [client.recv()["method"] for _ in range(3)]
    assert methods == ["turn/started", "item/started", "item/agentMessage/delta"]
    assert client.wait() == 70
    assert client.lines.get(timeout=TIMEOUT) == b""
    assert turn_id


def test_echo_returns_what_was_sent(start: Any) -> None:
    client = start()
    client.handshake()
    thread_id = client.start_thread(
        model="gpt-5-mini", baseInstructions="base", developerInstructions="dev"
    )
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi"}],
        },
    ]
    client.call("thread/inject_items", {"threadId": thread_id, "items": items})
    schema = {"type": "object"}
    turn_id = client.start_turn(thread_id, "tell me [[echo]]", outputSchema=schema, effort="low")
    messages: list[dict[str, Any]] = []
    client.until_completed(turn_id, messages)
    text = next(m for m in messages if m["method"] == "item/completed")["params"]["item"]["text"]
    deltas = "".join(
        m["params"]["delta"] for m in messages if m["method"] == "item/agentMessage/delta"
    )
    assert deltas == text
    assert json.loads(text) == {
        "baseInstructions": "base",
        "developerInstructions": "dev",
        "injected": [["user", "Hello"], ["assistant", "Hi"]],
        "input": "tell me [[echo]]",
        "model": "gpt-5-mini",
        "outputSchema": schema,
        "effort": "low",
        "config": None,
    }


@pytest.mark.parametrize(("decision", "answer"), [("decline", "declined"), ("accept", "approved")])
def test_tool_waits_for_the_decision(
    start: Any, tmp_path: Path, decision: str, answer: str
) -> None:
    log = tmp_path / "received.jsonl"
    client = start(FAKE_APP_SERVER_LOG=str(log))
    client.handshake()
    thread_id = client.start_thread()
    turn_id = client.start_turn(thread_id, "run it [[tool]]")
    assert client.recv()["method"] == "turn/started"
    ask = client.recv()
    assert ask == {
        "id": "srv-1",
        "method": "item/commandExecution/requestApproval",
        "params": {
            "threadId": thread_id,
            "turnId": turn_id,
            "itemId": "call_1",
            "command": "touch /tmp/pwned",
        },
    }
    client.nothing_for(0.3)
    client.send({"id": "srv-1", "result": {"decision": decision}})
    messages: list[dict[str, Any]] = []
    client.until_completed(turn_id, messages)
    completed = next(m for m in messages if m["method"] == "item/completed")
    assert completed["params"]["item"]["text"] == answer
    recorded = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"id": "srv-1", "result": {"decision": decision}} in recorded
    noted = [r for r in recorded if r.get("fake") == "approvalDecision"]
    assert [r["decision"] for r in noted] == [decision]


@pytest.mark.parametrize(
    ("trigger", "message"), [("[[fail]]", FAIL_MESSAGE), ("[[unauthorized]]", UNAUTHORIZED_MESSAGE)]
)
def test_failed_turn(start: Any, trigger: str, message: str) -> None:
    client = start()
    client.handshake()
    thread_id = client.start_thread()
    turn_id = client.start_turn(thread_id, trigger)
    messages: list[dict[str, Any]] = []
    turn = client.until_completed(turn_id, messages)
    assert turn["status"] == "failed"
    assert turn["error"] == {"message": message}
    error = next(m for m in messages if m["method"] == "error")["params"]
    assert error == {
        "threadId": thread_id,
        "turnId": turn_id,
        "willRetry": False,
        "error": {"message": message},
    }


def test_big_delta(start: Any) -> None:
    client = start()
    client.handshake()
    thread_id = client.start_thread()
    turn_id = client.start_turn(thread_id, "[[big]]")
    messages: list[dict[str, Any]] = []
    client.until_completed(turn_id, messages)
    deltas = [m["params"]["delta"] for m in messages if m["method"] == "item/agentMessage/delta"]
    assert deltas == ["x" * BIG_SIZE]


def test_slow_ready(start: Any) -> None:
    client = start(FAKE_APP_SERVER_MODE="slow_ready", FAKE_APP_SERVER_READY_DELAY_MS="400")
    began = time.monotonic()
    client.handshake()
    assert time.monotonic() - began >= 0.35


def test_never_ready(start: Any) -> None:
    client = start(FAKE_APP_SERVER_MODE="never_ready")
    client.request("initialize", {"clientInfo": {"name": "t", "version": "0"}})
    client.nothing_for(0.5)
    assert client.process.poll() is None
    client.process.stdin.close()
    assert client.wait() == 0


def test_malformed(start: Any) -> None:
    client = start(FAKE_APP_SERVER_MODE="malformed")
    client.handshake()
    assert client.raw() == MALFORMED_LINE
    assert client.start_thread()


def test_garbage_then_exit(start: Any) -> None:
    client = start(FAKE_APP_SERVER_MODE="garbage_then_exit")
    client.call("initialize", {"clientInfo": {"name": "t", "version": "0"}})  # then it exits
    assert client.raw() == GARBAGE_LINE
    assert client.wait() == 1


def test_exit_at_start(start: Any) -> None:
    client = start(FAKE_APP_SERVER_MODE="exit_at_start")
    assert client.wait() == 3
    client.stderr_reader.join(TIMEOUT)
    assert client.stderr.strip()


def test_eof_exits_0_with_a_turn_in_flight(start: Any) -> None:
    client = start()
    client.handshake()
    thread_id = client.start_thread()
    client.start_turn(thread_id, "[[hang]]")
    client.process.stdin.close()
    assert client.wait() == 0


def test_sigterm_exits_0(start: Any) -> None:
    client = start()
    client.handshake()
    client.process.send_signal(signal.SIGTERM)
    assert client.wait() == 0
