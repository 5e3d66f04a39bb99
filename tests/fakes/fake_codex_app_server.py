"""A fake ``codex app-server`` (the Codex CLI's long-lived JSON-RPC server over stdio) for tests.

Run as ``python -m tests.fakes.fake_codex_app_server``, as a script path, or through
``tests/fakes/bin/codex-app-server-fake`` (a ``#!/bin/sh`` wrapper usable as the ``codex``
executable: it ignores every argument, e.g. the real ``app-server --config=... --model=...``,
and ``--version`` prints :data:`VERSION_LINE` and exits 0). Standard library only; threads.

Wire (as measured against codex 0.169.0): newline-delimited JSON on stdin/stdout, one object a
line, JSON-RPC 2.0 shapes without the ``"jsonrpc"`` field. Requests ``{"id", "method",
"params"}``, responses ``{"id", "result"}`` or ``{"id", "error": {"code", "message"}}``,
notifications ``{"method", "params"}``. Logs go to stderr. A line that is not JSON (or not an
object) is logged on stderr and ignored.

Methods:

- ``initialize`` -> ``{"userAgent": "fake/0.169.0", "codexHome": $CODEX_HOME (or ""),
  "platformFamily": "unix", "platformOs": "linux"}``. Any other request before it answers the
  error ``Not initialized`` (code -32600); a second one ``Already initialized``. The client's
  ``initialized`` notification (and any notification) is recorded and otherwise ignored.
- ``thread/start`` (``model``, ``baseInstructions``, ``developerInstructions``, ``cwd``,
  ``config``, ...) -> ``{"thread": {"id": <uuid>, ...}, "model", "modelProvider": "fake",
  "cwd", "approvalPolicy": "never", "approvalsReviewer": "user", "sandbox": {"type":
  "readOnly"}}``, then the notification ``thread/started`` ``{"thread": {"id", ...}}``.
- ``thread/inject_items`` (``threadId``, ``items``: Responses API items) -> ``{}``. A
  ``message`` item is kept as ``[role, text]`` (its text parts joined); another item as
  ``[type, its JSON]``. Unknown thread -> error.
- ``turn/start`` (``threadId``, ``input``: ``[{"type": "text", "text"}]``, ``outputSchema``,
  ``effort``) -> ``{"turn": {"id": <uuid>, "status": "inProgress", "items": [], "error":
  null}}``, then, each params with ``threadId`` (and ``turnId`` but for turn/*):
  ``turn/started`` ``{"turn": {"id", "status": "inProgress"}}``; ``item/started``
  ``{"item": {"type": "agentMessage", "id": "msg_1", "text": ""}}``; one
  ``item/agentMessage/delta`` ``{"itemId": "msg_1", "delta"}`` per chunk; ``item/completed``
  (the whole text); ``thread/tokenUsage/updated`` ``{"tokenUsage": {"total", "last"}}``;
  ``turn/completed`` ``{"turn": {"id", "status": "completed", "error": null, "items": []}}``.
  Unknown thread, or a turn already in flight on that thread -> error.
- ``turn/interrupt`` (``threadId``, ``turnId``) -> ``{}``; the turn sends no more deltas and
  ends with ``turn/completed`` status ``interrupted``. Unknown thread -> error; a turn not in
  flight -> ``{}`` and nothing else.
- ``thread/unsubscribe`` (``threadId``) -> ``{}``; the thread is forgotten and its turn in
  flight (if any) stops silently. Unknown thread -> error.
- anything else -> ``{"code": -32601, "message": "method not found"}``.

Several threads' turns run at once (a thread each); a hung turn blocks no other.

Usage (per turn, ``last``): ``inputTokens`` = characters received by the thread so far
(base and developer instructions, injected texts, every turn's input texts) // 4 + 1,
``outputTokens`` = the number of deltas sent, ``cachedInputTokens``,
``cacheWriteInputTokens`` and ``reasoningOutputTokens`` 0, ``totalTokens`` = input + output.
``total`` sums ``last`` over the thread's turns. See :func:`input_tokens`, :func:`chunks`.

Environment:

- ``FAKE_APP_SERVER_ANSWER`` (default :data:`DEFAULT_ANSWER`): the answer of a plain turn.
- ``FAKE_APP_SERVER_CHUNKS`` (default 3): how many deltas it is split into (fewer if the text
  has fewer characters; at least 1).
- ``FAKE_APP_SERVER_DELAY_MS`` (default 0): the pause between consecutive deltas.
- ``FAKE_APP_SERVER_LOG`` (optional): every received message (each parsed JSON object) is
  appended to this file as one JSON line, flushed per line. The fake adds one line of its own
  per ``[[tool]]`` decision: ``{"fake": "approvalDecision", "threadId", "turnId", "id",
  "decision"}`` (``decision`` null if the client answered an error).
- ``FAKE_APP_SERVER_MODE`` (default ``ok``), one of :data:`MODES`:
  ``ok``; ``slow_ready`` (sleep ``FAKE_APP_SERVER_READY_DELAY_MS``, default 2000, before
  answering ``initialize``); ``never_ready`` (never answers ``initialize``, runs until stdin
  closes); ``exit_at_start`` (a line on stderr, exit 3 before reading anything); ``malformed``
  (after the ``initialize`` answer, the line :data:`MALFORMED_LINE`, then as ``ok``);
  ``garbage_then_exit`` (after the ``initialize`` answer, :data:`GARBAGE_LINE` then exit 1).
  An unknown mode exits 2.
- ``FAKE_APP_SERVER_CRASH_DELAY_MS`` (default 200): see ``[[crash]]``.
- ``CODEX_HOME``: echoed by ``initialize``.

Triggers, read from the turn's last ``text`` input (first match in this order):

- ``[[crash]]``: ``turn/started``, ``item/started``, one delta, then after
  ``FAKE_APP_SERVER_CRASH_DELAY_MS`` the whole process exits 70 (every turn in flight dies).
- ``[[hang]]``: ``turn/started``, ``item/started``, one delta, then nothing until
  ``turn/interrupt`` (-> ``turn/completed`` status ``interrupted``).
- ``[[fail]]``: ``turn/started``, the ``error`` notification ``{"threadId", "turnId",
  "willRetry": false, "error": {"message"}}``, ``turn/completed`` status ``failed`` with
  ``"error": {"message"}``; message :data:`FAIL_MESSAGE`.
- ``[[unauthorized]]``: the same with :data:`UNAUTHORIZED_MESSAGE`.
- ``[[tool]]``: after ``turn/started``, the server request ``{"id": "srv-N", "method":
  "item/commandExecution/requestApproval", "params": {"threadId", "turnId", "itemId":
  "call_1", "command": "touch /tmp/pwned"}}`` (N counts from 1 over the process); the turn
  waits for the client's response (or an interrupt). The answer is then ``declined`` if
  ``result.decision`` is ``decline`` or ``cancel`` or the response is an error, else
  ``approved``.
- ``[[big]]``: the answer is one delta of 2 MiB of ``x`` (:data:`BIG_SIZE`).
- ``[[echo]]``: the answer is the JSON text (:func:`echo_text`) ``{"baseInstructions",
  "developerInstructions", "injected": [[role, text], ...], "input", "model", "outputSchema",
  "effort", "config"}`` of what the thread received, split into chunks as usual.

Exit: 0 at stdin EOF (turns in flight are dropped) and on SIGTERM; 0 also when stdout is
closed by the reader. The fake starts no child process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO, TextIO

__all__ = [
    "BIG_SIZE",
    "CRASH_EXIT",
    "DEFAULT_ANSWER",
    "FAIL_MESSAGE",
    "GARBAGE_LINE",
    "MALFORMED_LINE",
    "MODES",
    "UNAUTHORIZED_MESSAGE",
    "VERSION_LINE",
    "chunks",
    "echo_text",
    "input_tokens",
    "main",
]

VERSION = "0.169.0"
VERSION_LINE = f"codex-cli {VERSION}"
DEFAULT_ANSWER = "Hello from the fake app-server"
MODES = ("ok", "slow_ready", "never_ready", "exit_at_start", "malformed", "garbage_then_exit")
MALFORMED_LINE = b"{not json\n"
GARBAGE_LINE = b"\x00\xff not json\n"
FAIL_MESSAGE = "unexpected status 500 Internal Server Error"
UNAUTHORIZED_MESSAGE = "unexpected status 401 Unauthorized: Missing bearer"
BIG_SIZE = 2 * 1024 * 1024
CRASH_EXIT = 70
EXIT_AT_START_CODE = 3
GARBAGE_EXIT = 1
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
APPROVAL_COMMAND = "touch /tmp/pwned"
MESSAGE_ITEM_ID = "msg_1"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _log(message: str) -> None:
    try:
        sys.stderr.write(f"fake-codex-app-server: {message}\n")
        sys.stderr.flush()
    except Exception:  # closed, or reentrant from the SIGTERM handler
        pass


def chunks(text: str, count: int) -> list[str]:
    """``text`` split into ``count`` near-equal non-empty pieces (fewer if it is shorter)."""
    n = max(1, min(count, len(text)))
    if not text:
        return [""]
    return [text[i * len(text) // n : (i + 1) * len(text) // n] for i in range(n)]


def input_tokens(characters: int) -> int:
    """The ``inputTokens`` of a turn whose thread has received ``characters`` characters."""
    return characters // 4 + 1


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass
class _Turn:
    id: str
    thread_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    silent: bool = False  # unsubscribed: stop without a word


@dataclass
class _Thread:
    id: str
    model: Any
    base_instructions: Any
    developer_instructions: Any
    config: Any
    cwd: Any
    injected: list[list[str]] = field(default_factory=list)
    characters: int = 0
    turn: _Turn | None = None
    total: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "totalTokens",
                "inputTokens",
                "cachedInputTokens",
                "cacheWriteInputTokens",
                "outputTokens",
                "reasoningOutputTokens",
            ),
            0,
        )
    )


def echo_text(thread: _Thread, text: str, output_schema: Any, effort: Any) -> str:
    """The ``[[echo]]`` answer: what ``thread`` received, as JSON."""
    return json.dumps(
        {
            "baseInstructions": thread.base_instructions,
            "developerInstructions": thread.developer_instructions,
            "injected": thread.injected,
            "input": text,
            "model": thread.model,
            "outputSchema": output_schema,
            "effort": effort,
            "config": thread.config,
        },
        sort_keys=True,
    )


class _Pending:
    """A server request awaiting the client's response."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None


class _Server:
    def __init__(self, stdout: BinaryIO, mode: str) -> None:
        self.stdout = stdout
        self.mode = mode
        self.out_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.threads: dict[str, _Thread] = {}
        self.pending: dict[str, _Pending] = {}
        self.request_counter = 0
        self.initialized = False
        self.answer = os.environ.get("FAKE_APP_SERVER_ANSWER", DEFAULT_ANSWER)
        self.chunk_count = _env_int("FAKE_APP_SERVER_CHUNKS", 3)
        self.delay_s = _env_int("FAKE_APP_SERVER_DELAY_MS", 0) / 1000
        self.crash_delay_s = _env_int("FAKE_APP_SERVER_CRASH_DELAY_MS", 200) / 1000
        self.ready_delay_s = _env_int("FAKE_APP_SERVER_READY_DELAY_MS", 2000) / 1000
        log_path = os.environ.get("FAKE_APP_SERVER_LOG")
        self.log_lock = threading.Lock()
        self.log_file: TextIO | None = (
            open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        )

    # -- output -------------------------------------------------------------------------

    def write_raw(self, data: bytes) -> None:
        with self.out_lock:
            try:
                self.stdout.write(data)
                self.stdout.flush()
            except (BrokenPipeError, ValueError):
                _log("stdout closed; exiting")
                os._exit(0)

    def send(self, message: dict[str, Any]) -> None:
        self.write_raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def error(self, request_id: Any, code: int, message: str) -> None:
        self.send({"id": request_id, "error": {"code": code, "message": message}})

    def record(self, message: dict[str, Any]) -> None:
        if self.log_file is None:
            return
        with self.log_lock:
            self.log_file.write(json.dumps(message) + "\n")
            self.log_file.flush()

    # -- input --------------------------------------------------------------------------

    def handle_line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError:
            _log(f"ignoring a line that is not JSON: {line[:200]!r}")
            return
        if not isinstance(message, dict):
            _log(f"ignoring a JSON line that is not an object: {line[:200]!r}")
            return
        self.record(message)
        method = message.get("method")
        if method is None:
            self.handle_response(message)
            return
        params = message.get("params")
        if not isinstance(params, dict):
            params = {}
        if "id" not in message:
            return  # a notification: "initialized" and the like
        self.handle_request(message["id"], str(method), params)

    def handle_response(self, message: dict[str, Any]) -> None:
        key = str(message.get("id"))
        with self.state_lock:
            pending = self.pending.pop(key, None)
        if pending is None:
            _log(f"ignoring a response to no request: {key}")
            return
        pending.response = message
        pending.done.set()

    def handle_request(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        if method == "initialize":
            self.initialize(request_id)
            return
        if not self.initialized:
            self.error(request_id, INVALID_REQUEST, "Not initialized")
            return
        handlers = {
            "thread/start": self.thread_start,
            "thread/inject_items": self.inject_items,
            "turn/start": self.turn_start,
            "turn/interrupt": self.turn_interrupt,
            "thread/unsubscribe": self.unsubscribe,
        }
        handler = handlers.get(method)
        if handler is None:
            self.error(request_id, METHOD_NOT_FOUND, "method not found")
            return
        handler(request_id, params)

    def initialize(self, request_id: Any) -> None:
        if self.initialized:
            self.error(request_id, INVALID_REQUEST, "Already initialized")
            return
        if self.mode == "never_ready":
            _log("never_ready: not answering initialize")
            return
        if self.mode == "slow_ready":
            time.sleep(self.ready_delay_s)
        self.initialized = True
        result = {
            "userAgent": f"fake/{VERSION}",
            "codexHome": os.environ.get("CODEX_HOME", ""),
            "platformFamily": "unix",
            "platformOs": "linux",
        }
        self.send({"id": request_id, "result": result})
        if self.mode == "malformed":
            self.write_raw(MALFORMED_LINE)
        elif self.mode == "garbage_then_exit":
            self.write_raw(GARBAGE_LINE)
            _log("garbage_then_exit: exiting 1")
            os._exit(GARBAGE_EXIT)

    def find_thread(self, request_id: Any, params: dict[str, Any]) -> _Thread | None:
        thread_id = params.get("threadId")
        with self.state_lock:
            thread = self.threads.get(str(thread_id))
        if thread is None:
            self.error(request_id, INVALID_REQUEST, f"thread not found: {thread_id}")
        return thread

    def thread_start(self, request_id: Any, params: dict[str, Any]) -> None:
        thread = _Thread(
            id=str(uuid.uuid4()),
            model=params.get("model"),
            base_instructions=params.get("baseInstructions"),
            developer_instructions=params.get("developerInstructions"),
            config=params.get("config"),
            cwd=params.get("cwd") or os.getcwd(),
        )
        for text in (thread.base_instructions, thread.developer_instructions):
            if isinstance(text, str):
                thread.characters += len(text)
        with self.state_lock:
            self.threads[thread.id] = thread
        now = int(time.time())
        described = {
            "id": thread.id,
            "preview": "",
            "ephemeral": bool(params.get("ephemeral", True)),
            "modelProvider": "fake",
            "createdAt": now,
            "updatedAt": now,
            "status": {"type": "idle"},
            "path": None,
            "cwd": thread.cwd,
            "cliVersion": VERSION,
            "source": "appServer",
            "turns": [],
        }
        result = {
            "thread": described,
            "model": thread.model,
            "modelProvider": "fake",
            "cwd": thread.cwd,
            "approvalPolicy": "never",
            "approvalsReviewer": "user",
            "sandbox": {"type": "readOnly"},
        }
        self.send({"id": request_id, "result": result})
        self.notify("thread/started", {"thread": described})

    def inject_items(self, request_id: Any, params: dict[str, Any]) -> None:
        thread = self.find_thread(request_id, params)
        if thread is None:
            return
        items = params.get("items")
        if not isinstance(items, list):
            self.error(request_id, INVALID_REQUEST, "items must be a list")
            return
        for item in items:
            if isinstance(item, dict) and item.get("type") == "message":
                pair = [str(item.get("role")), _text_of(item.get("content"))]
            else:
                kind = item.get("type") if isinstance(item, dict) else None
                pair = [str(kind), json.dumps(item)]
            thread.injected.append(pair)
            thread.characters += len(pair[1])
        self.send({"id": request_id, "result": {}})

    def turn_start(self, request_id: Any, params: dict[str, Any]) -> None:
        thread = self.find_thread(request_id, params)
        if thread is None:
            return
        inputs = params.get("input")
        if not isinstance(inputs, list):
            self.error(request_id, INVALID_REQUEST, "input must be a list")
            return
        texts = [
            item["text"]
            for item in inputs
            if isinstance(item, dict)
            and item.get("type") == "text"
            and isinstance(item.get("text"), str)
        ]
        turn = _Turn(id=str(uuid.uuid4()), thread_id=thread.id)
        with self.state_lock:
            if thread.turn is not None:
                busy = thread.turn.id
            else:
                busy = None
                thread.turn = turn
        if busy is not None:
            self.error(request_id, INVALID_REQUEST, f"a turn is already in progress: {busy}")
            return
        thread.characters += sum(len(text) for text in texts)
        described: dict[str, Any] = {
            "id": turn.id,
            "status": "inProgress",
            "items": [],
            "error": None,
        }
        self.send({"id": request_id, "result": {"turn": described}})
        text = texts[-1] if texts else ""
        worker = threading.Thread(
            target=self.run_turn,
            args=(thread, turn, text, params.get("outputSchema"), params.get("effort")),
            name=f"turn-{turn.id}",
            daemon=True,
        )
        worker.start()

    def turn_interrupt(self, request_id: Any, params: dict[str, Any]) -> None:
        thread = self.find_thread(request_id, params)
        if thread is None:
            return
        with self.state_lock:
            turn = thread.turn
        self.send({"id": request_id, "result": {}})
        if turn is not None and turn.id == params.get("turnId"):
            turn.stop.set()

    def unsubscribe(self, request_id: Any, params: dict[str, Any]) -> None:
        thread = self.find_thread(request_id, params)
        if thread is None:
            return
        with self.state_lock:
            self.threads.pop(thread.id, None)
            turn = thread.turn
        if turn is not None:
            turn.silent = True
            turn.stop.set()
        self.send({"id": request_id, "result": {}})

    # -- turns --------------------------------------------------------------------------

    def finish(self, thread: _Thread, turn: _Turn, status: str, error: Any = None) -> None:
        with self.state_lock:
            if thread.turn is turn:
                thread.turn = None
        if turn.silent:
            return
        described = {"id": turn.id, "status": status, "error": error, "items": []}
        self.notify("turn/completed", {"threadId": thread.id, "turn": described})

    def interrupted(self, thread: _Thread, turn: _Turn) -> None:
        self.finish(thread, turn, "interrupted")

    def ask_approval(self, thread: _Thread, turn: _Turn) -> str | None:
        """The server request of ``[[tool]]``; "declined"/"approved", None if interrupted."""
        with self.state_lock:
            self.request_counter += 1
            key = f"srv-{self.request_counter}"
            pending = self.pending[key] = _Pending()
        params = {
            "threadId": thread.id,
            "turnId": turn.id,
            "itemId": "call_1",
            "command": APPROVAL_COMMAND,
        }
        self.send({"id": key, "method": "item/commandExecution/requestApproval", "params": params})
        while not pending.done.wait(0.05):
            if turn.stop.is_set():
                with self.state_lock:
                    self.pending.pop(key, None)
                return None
        response = pending.response or {}
        result = response.get("result")
        decision = result.get("decision") if isinstance(result, dict) else None
        self.record(
            {
                "fake": "approvalDecision",
                "threadId": thread.id,
                "turnId": turn.id,
                "id": key,
                "decision": decision,
            }
        )
        if "error" in response or decision in ("decline", "cancel"):
            return "declined"
        return "approved"

    def run_turn(
        self, thread: _Thread, turn: _Turn, text: str, output_schema: Any, effort: Any
    ) -> None:
        ids = {"threadId": thread.id, "turnId": turn.id}
        self.notify(
            "turn/started",
            {"threadId": thread.id, "turn": {"id": turn.id, "status": "inProgress"}},
        )
        for trigger, message in (
            ("[[fail]]", FAIL_MESSAGE),
            ("[[unauthorized]]", UNAUTHORIZED_MESSAGE),
        ):
            if trigger in text:
                error = {"message": message}
                self.notify("error", {**ids, "willRetry": False, "error": error})
                self.finish(thread, turn, "failed", error)
                return
        answer = self.answer
        pieces: list[str] | None = None
        if "[[crash]]" not in text and "[[hang]]" not in text:
            if "[[tool]]" in text:
                verdict = self.ask_approval(thread, turn)
                if verdict is None:
                    self.interrupted(thread, turn)
                    return
                answer = verdict
            elif "[[big]]" in text:
                answer = "x" * BIG_SIZE
                pieces = [answer]
            elif "[[echo]]" in text:
                answer = echo_text(thread, text, output_schema, effort)
        if pieces is None:
            pieces = chunks(answer, self.chunk_count)
        item = {"type": "agentMessage", "id": MESSAGE_ITEM_ID, "text": ""}
        self.notify("item/started", {**ids, "item": item})
        if "[[crash]]" in text or "[[hang]]" in text:
            self.notify(
                "item/agentMessage/delta", {**ids, "itemId": MESSAGE_ITEM_ID, "delta": pieces[0]}
            )
            if "[[crash]]" in text:
                time.sleep(self.crash_delay_s)
                _log(f"[[crash]]: exiting {CRASH_EXIT}")
                with self.out_lock:
                    os._exit(CRASH_EXIT)
            turn.stop.wait()
            self.interrupted(thread, turn)
            return
        for index, piece in enumerate(pieces):
            if index and self.delay_s:
                turn.stop.wait(self.delay_s)
            if turn.stop.is_set():
                self.interrupted(thread, turn)
                return
            self.notify(
                "item/agentMessage/delta", {**ids, "itemId": MESSAGE_ITEM_ID, "delta": piece}
            )
        if turn.stop.is_set():
            self.interrupted(thread, turn)
            return
        self.notify("item/completed", {**ids, "item": {**item, "text": answer}})
        inputs = input_tokens(thread.characters)
        last = {
            "totalTokens": inputs + len(pieces),
            "inputTokens": inputs,
            "cachedInputTokens": 0,
            "cacheWriteInputTokens": 0,
            "outputTokens": len(pieces),
            "reasoningOutputTokens": 0,
        }
        for key, value in last.items():
            thread.total[key] += value
        self.notify(
            "thread/tokenUsage/updated",
            {**ids, "tokenUsage": {"total": dict(thread.total), "last": last}},
        )
        self.finish(thread, turn, "completed")

    # -- main loop ----------------------------------------------------------------------

    def serve(self, stdin: BinaryIO) -> int:
        while True:
            line = stdin.readline()
            if not line:
                break
            self.handle_line(line)
        _log("stdin closed; exiting")
        return 0


def _exit_now(code: int) -> None:
    """Exit at once, the daemon turn threads with it (no interpreter teardown).

    Every stdout line is flushed as it is written, so nothing is pending there; stderr is
    flushed if it can be (the SIGTERM handler may interrupt a write in progress).
    """
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    _log("SIGTERM; exiting")
    _exit_now(0)


def main(argv: list[str] | None = None) -> int:
    """Serve stdin/stdout until EOF; ``--version`` prints :data:`VERSION_LINE`."""
    args = sys.argv[1:] if argv is None else argv
    if "--version" in args:
        print(VERSION_LINE)
        return 0
    mode = os.environ.get("FAKE_APP_SERVER_MODE") or "ok"
    if mode not in MODES:
        _log(f"unknown FAKE_APP_SERVER_MODE {mode!r}; one of {', '.join(MODES)}")
        return 2
    if mode == "exit_at_start":
        _log("error: failed to start the app server (exit_at_start)")
        return EXIT_AT_START_CODE
    signal.signal(signal.SIGTERM, _on_sigterm)
    server = _Server(sys.stdout.buffer, mode)
    code = server.serve(sys.stdin.buffer)
    _exit_now(code)
    return code  # not reached


if __name__ == "__main__":
    sys.exit(main())
