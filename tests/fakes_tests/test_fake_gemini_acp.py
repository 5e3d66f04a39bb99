"""The fake ``gemini --acp``: its handshake, sessions, records, prompts, triggers and modes.

Each test runs ``tests/fakes/bin/gemini-acp-fake`` by path from a scrubbed environment (as
a supervisor would start ``gemini --acp``) and speaks its JSON lines through pipes, with a
reader thread and bounded waits; every process is killed and reaped at the end.
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

from tests.fakes.fake_gemini_acp import (
    DEFAULT_ANSWER,
    MALFORMED_LINE,
    NO_KEY_MESSAGE,
    UNREACHABLE_MESSAGE,
    VERSION,
    chunks,
    input_tokens,
    project_dir,
)

FAKE = Path(__file__).resolve().parent.parent / "fakes" / "bin" / "gemini-acp-fake"
ARGV = [str(FAKE), "--acp", "--model=gemini-2.5-flash", "--skip-trust"]
TIMEOUT = 5.0


def _env(**extra: str) -> dict[str, str]:
    """PATH (this interpreter's directory first), LANG, TMPDIR, and ``extra``."""
    env = {name: os.environ[name] for name in ("PATH", "LANG", "TMPDIR") if name in os.environ}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(extra)
    return env


class Client:
    """A line client of the fake: raw lines arrive on a queue filled by a reader thread."""

    def __init__(self, argv: list[str], **env: str) -> None:
        self.process = subprocess.Popen(
            argv,
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
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
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
        assert message.pop("jsonrpc") == "2.0"
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

    def call(
        self, method: str, params: dict[str, Any], into: list[dict[str, Any]] | None = None
    ) -> Any:
        reply = self.response(self.request(method, params), into)
        assert "result" in reply, reply
        return reply["result"]

    def handshake(self) -> dict[str, Any]:
        params = {
            "protocolVersion": 1,
            "clientCapabilities": {"fs": {"readTextFile": False, "writeTextFile": False}},
        }
        return dict(self.call("initialize", params))

    def new_session(self, cwd: str) -> str:
        notes: list[dict[str, Any]] = []
        result = self.call("session/new", {"cwd": cwd, "mcpServers": []}, notes)
        session_id = str(result["sessionId"])
        commands = notes[0] if notes else self.recv()
        assert commands["params"]["update"]["sessionUpdate"] == "available_commands_update"
        return session_id

    def prompt(self, session_id: str, text: str) -> int:
        params = {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}
        return self.request("session/prompt", params)

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
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()

    def _start(argv: list[str] = ARGV, **env: str) -> Client:
        client = Client(argv, **{"HOME": str(tmp_path / "home"), **env})
        clients.append(client)
        return client

    yield _start
    for client in clients:
        client.close()


def texts(messages: list[dict[str, Any]], kind: str = "agent_message_chunk") -> list[str]:
    return [
        m["params"]["update"]["content"]["text"]
        for m in messages
        if m.get("method") == "session/update" and m["params"]["update"]["sessionUpdate"] == kind
    ]


def write_record(chats: Path, session_id: str, turns: list[tuple[str, str]]) -> None:
    """A record as the worker writes it (contracts.providers.gemini_acp.history_record)."""
    messages = [
        {"id": f"asm-{i}", "type": "user" if role == "user" else "gemini", "content": [{"text": t}]}
        for i, (role, t) in enumerate(turns)
    ]
    record = {"sessionId": session_id, "projectHash": "", "messages": messages}
    name = f"session-2000-01-01T00-00-{session_id[:8]}.json"
    (chats / name).write_text(json.dumps(record))


def test_version_and_acp_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(FAKE), "--version"], capture_output=True, env=_env(), timeout=TIMEOUT, check=False
    )
    assert (done.returncode, done.stdout.decode().strip()) == (0, VERSION)
    plain = subprocess.run(
        [str(FAKE), "-p", "hi"], capture_output=True, env=_env(), timeout=TIMEOUT, check=False
    )
    assert plain.returncode == 2 and b"--acp" in plain.stderr


def test_handshake_and_unknown_methods(start: Any) -> None:
    client = start()
    early = client.response(client.request("session/new", {"cwd": "/", "mcpServers": []}))
    assert early["error"]["message"] == "Not initialized"
    client.write(b"this is not json\n")
    result = client.handshake()
    assert result["protocolVersion"] == 1
    assert result["agentCapabilities"]["loadSession"] is True
    assert result["agentInfo"]["version"] == VERSION
    unknown = client.response(client.request("session/list", {}))
    assert unknown["error"]["code"] == -32601
    missing = client.response(client.prompt("nope", "hi"))
    assert "error" in missing
    client.process.stdin.close()
    assert client.wait() == 0
    client.stderr_reader.join(TIMEOUT)
    assert b"not JSON" in client.stderr


def test_a_prompt_streams_chunks_and_ends_with_usage(start: Any, tmp_path: Path) -> None:
    log = tmp_path / "received.jsonl"
    system_md = tmp_path / "system.md"
    system_md.write_text("Be brief.")
    client = start(FAKE_ACP_LOG=str(log), FAKE_ACP_CHUNKS="4", GEMINI_SYSTEM_MD=str(system_md))
    client.handshake()
    cwd = str(tmp_path / "work")
    session_id = client.new_session(cwd)
    project = Path(project_dir(str(tmp_path / "home"), cwd))
    assert (project / ".project_root").read_text() == cwd and (project / "chats").is_dir()
    notes: list[dict[str, Any]] = []
    answer = client.response(client.prompt(session_id, "How are you?"), notes)
    pieces = chunks(DEFAULT_ANSWER, 4)
    assert texts(notes) == pieces
    assert all(n["params"]["sessionId"] == session_id for n in notes)
    tokens = {
        "input_tokens": input_tokens(len("Be brief.") + len("How are you?")),
        "output_tokens": 4,
    }
    assert answer["result"]["stopReason"] == "end_turn"
    assert answer["result"]["_meta"]["quota"]["token_count"] == tokens
    # The turn joined the session's history.
    echoed: list[dict[str, Any]] = []
    client.response(client.prompt(session_id, "[[echo]]"), echoed)
    seen = json.loads("".join(texts(echoed)))
    assert seen["history"] == [["user", "How are you?"], ["assistant", DEFAULT_ANSWER]]
    client.process.stdin.close()
    assert client.wait() == 0
    recorded = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r.get("method") for r in recorded[:3]] == [
        "initialize",
        "session/new",
        "session/prompt",
    ]


def test_every_session_rereads_the_system_prompt_when_one_opens(start: Any, tmp_path: Path) -> None:
    system_md = tmp_path / "system.md"
    client = start(GEMINI_SYSTEM_MD=str(system_md))
    client.handshake()
    cwd = str(tmp_path / "work")
    system_md.write_text("PROMPT A")
    first = client.new_session(cwd)
    system_md.write_text("PROMPT B")
    second = client.new_session(cwd)
    for session_id in (first, second):
        notes: list[dict[str, Any]] = []
        client.response(client.prompt(session_id, "[[echo]]"), notes)
        assert json.loads("".join(texts(notes)))["system"] == "PROMPT B"
    system_md.write_text("PROMPT C")  # not read until a session opens
    notes = []
    client.response(client.prompt(first, "[[echo]]"), notes)
    assert json.loads("".join(texts(notes)))["system"] == "PROMPT B"


def test_load_replays_the_record_partly_after_its_answer(start: Any, tmp_path: Path) -> None:
    client = start(FAKE_ACP_CHUNKS="1")
    client.handshake()
    cwd = str(tmp_path / "work")
    client.new_session(cwd)  # registers the project
    chats = Path(project_dir(str(tmp_path / "home"), cwd)) / "chats"
    session_id = "0123abcd-0000-4000-8000-000000000000"
    turns = [("user", "Hello"), ("assistant", "Bonjour"), ("user", "  "), ("assistant", "Hi")]
    write_record(chats, session_id, turns)
    before: list[dict[str, Any]] = []
    params = {"sessionId": session_id, "cwd": cwd, "mcpServers": []}
    assert "modes" in client.call("session/load", params, before)
    after = [client.recv() for _ in range(3)]
    assert texts(before, "user_message_chunk") == ["Hello"]
    assert texts(before) == []
    assert texts(after) == ["Bonjour", "Hi"]
    assert after[-1]["params"]["update"]["sessionUpdate"] == "available_commands_update"
    notes: list[dict[str, Any]] = []
    client.response(client.prompt(session_id, "Again [[echo]]"), notes)
    seen = json.loads("".join(texts(notes)))
    assert seen == {"system": None, "history": [list(t) for t in turns], "prompt": "Again [[echo]]"}
    unknown = {"sessionId": "ffffffff-0000-4000-8000-000000000000", "cwd": cwd, "mcpServers": []}
    assert "error" in client.response(client.request("session/load", unknown))


def test_cancel_ends_a_hung_prompt_while_another_completes(start: Any, tmp_path: Path) -> None:
    client = start(FAKE_ACP_DELAY_MS="20")
    client.handshake()
    cwd = str(tmp_path / "work")
    hung_session, good_session = client.new_session(cwd), client.new_session(cwd)
    hung = client.prompt(hung_session, "please [[hang]]")
    notes: list[dict[str, Any]] = []
    assert client.response(client.prompt(good_session, "hi"), notes)["result"]["stopReason"] == (
        "end_turn"
    )
    while not [n for n in notes if n["params"]["sessionId"] == hung_session]:
        notes.append(client.recv())
    client.nothing_for(0.3)
    client.send(
        {"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": hung_session}}
    )
    assert client.response(hung)["result"] == {"stopReason": "cancelled"}
    client.nothing_for(0.2)
    again = client.response(client.prompt(hung_session, "hello again"), [])
    assert again["result"]["stopReason"] == "end_turn"


def test_crash_exits_70(start: Any, tmp_path: Path) -> None:
    client = start(FAKE_ACP_CRASH_DELAY_MS="100")
    client.handshake()
    session_id = client.new_session(str(tmp_path / "work"))
    client.prompt(session_id, "[[crash]]")
    assert texts([client.recv()]) == [chunks(DEFAULT_ANSWER, 3)[0]]
    assert client.wait() == 70
    assert client.lines.get(timeout=TIMEOUT) == b""


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ({"result": {"outcome": {"outcome": "cancelled"}}}, "refused"),
        ({"result": {"outcome": {"outcome": "selected", "optionId": "cancel"}}}, "refused"),
        ({"error": {"code": -32601, "message": "no"}}, "refused"),
        ({"result": {"outcome": {"outcome": "selected", "optionId": "proceed_once"}}}, "allowed"),
    ],
)
def test_permission_waits_for_the_clients_answer(
    start: Any, tmp_path: Path, answer: dict[str, Any], text: str
) -> None:
    client = start()
    client.handshake()
    session_id = client.new_session(str(tmp_path / "work"))
    prompt = client.prompt(session_id, "run it [[permission]]")
    tool_call = client.recv()
    assert tool_call["params"]["update"]["sessionUpdate"] == "tool_call"
    ask = client.recv()
    assert ask["method"] == "session/request_permission"
    assert ask["params"]["sessionId"] == session_id
    assert {o["kind"] for o in ask["params"]["options"]} >= {"allow_once", "reject_once"}
    client.nothing_for(0.2)
    client.send({"jsonrpc": "2.0", "id": ask["id"], **answer})
    notes: list[dict[str, Any]] = []
    assert client.response(prompt, notes)["result"]["stopReason"] == "end_turn"
    assert "".join(texts(notes)) == text


def test_unreachable_answers_the_prompt_with_an_error(start: Any, tmp_path: Path) -> None:
    client = start()
    client.handshake()
    session_id = client.new_session(str(tmp_path / "work"))
    answer = client.response(client.prompt(session_id, "[[unreachable]]"))
    assert answer["error"] == {"code": 500, "message": UNREACHABLE_MESSAGE}
    assert client.response(client.prompt(session_id, "hi"), [])["result"]["stopReason"] == (
        "end_turn"
    )


def test_no_key_refuses_sessions_and_goes_on(start: Any, tmp_path: Path) -> None:
    client = start(FAKE_ACP_MODE="no_key")
    client.handshake()
    for _ in range(2):
        refused = client.response(
            client.request("session/new", {"cwd": str(tmp_path / "work"), "mcpServers": []})
        )
        assert refused["error"] == {"code": -32000, "message": NO_KEY_MESSAGE}
    assert client.process.poll() is None


def test_slow_never_malformed_and_exit_at_start(start: Any) -> None:
    slow = start(FAKE_ACP_MODE="slow_ready", FAKE_ACP_READY_DELAY_MS="300")
    began = time.monotonic()
    slow.handshake()
    assert time.monotonic() - began >= 0.25
    never = start(FAKE_ACP_MODE="never_ready")
    never.request("initialize", {"protocolVersion": 1})
    never.nothing_for(0.3)
    assert never.process.poll() is None
    malformed = start(FAKE_ACP_MODE="malformed")
    malformed.request("initialize", {"protocolVersion": 1})
    assert json.loads(malformed.raw())["result"]["protocolVersion"] == 1
    assert malformed.raw() == MALFORMED_LINE
    gone = start(FAKE_ACP_MODE="exit_at_start")
    assert gone.wait() == 1


def test_eof_with_a_prompt_in_flight_and_sigterm_exit_0(start: Any, tmp_path: Path) -> None:
    client = start()
    client.handshake()
    client.prompt(client.new_session(str(tmp_path / "work")), "[[hang]]")
    client.process.stdin.close()
    assert client.wait() == 0
    other = start()
    other.handshake()
    other.process.send_signal(signal.SIGTERM)
    assert other.wait() == 0
