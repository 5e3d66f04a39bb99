"""A fake ``gemini --acp`` (the Gemini CLI's Agent Client Protocol server over stdio) for tests.

Run as ``python -m tests.fakes.fake_gemini_acp``, as a script path, or through
``tests/fakes/bin/gemini-acp-fake`` (a ``#!/bin/sh`` wrapper usable as the ``gemini``
executable: ``--version`` prints :data:`VERSION`; without ``--acp`` among its arguments it
exits 2). Standard library only (it imports no project code); threads.

Wire (as measured against gemini 0.61.0, docs/gemini-acp.md): newline-delimited JSON-RPC
2.0 on stdin/stdout, one object a line; what the fake writes carries ``"jsonrpc": "2.0"``,
what it reads need not. Logs go to stderr. A line that is not a JSON object is logged on
stderr and ignored.

Methods:

- ``initialize`` -> ``{"protocolVersion": 1, "agentCapabilities": {"loadSession": true,
  "promptCapabilities": {...}, "mcpCapabilities": {...}}, "authMethods": [...],
  "agentInfo": {"name": "gemini-cli", "version": VERSION}}``. Any other request before it
  answers the error -32600 ``Not initialized``.
- ``session/new`` (``cwd``, ``mcpServers``) -> ``{"sessionId": <uuid>, "modes", "models"}``,
  then the notification ``available_commands_update``. The first session of a ``cwd``
  registers its project as gemini does: ``$HOME/.gemini/tmp/<project>/.project_root``
  holding the cwd, and an empty ``chats/`` beside it (:func:`project_dir`).
- ``session/load`` (``sessionId``, ``cwd``, ``mcpServers``) reads the conversation record
  ``chats/session-*-<first 8 of sessionId>.json`` (its ``sessionId`` must match) of the
  cwd's project; the session's history is its ``messages`` (``type`` "user" -> user, else
  assistant; ``content`` texts joined). It replays each message whose text is not blank as
  one ``user_message_chunk`` / ``agent_message_chunk`` notification: the first half
  before answering ``{"modes", "models"}``, the rest after it (gemini does not await its
  replay), then ``available_commands_update``. No project or no record -> error -32603.
- ``session/prompt`` (``sessionId``, ``prompt``: ``[{"type": "text", "text"}]``) streams
  ``session/update`` ``{"sessionId", "update": {"sessionUpdate": "agent_message_chunk",
  "content": {"type": "text", "text"}}}`` per chunk and is answered at the END of the turn
  ``{"stopReason": "end_turn", "_meta": {"quota": {"token_count": {"input_tokens",
  "output_tokens"}, "model_usage": [...]}}}``; ``input_tokens`` = the characters of the
  system prompt, history and prompt // 4 + 1 (:func:`input_tokens`), ``output_tokens`` =
  the number of chunks. The turn then joins the session's history. Unknown session, or a
  prompt already running in it -> error.
- ``session/cancel`` (a notification, ``sessionId``): the running prompt sends no more
  chunks and is answered ``{"stopReason": "cancelled"}``.
- anything else -> error -32601 ``Method not found``; a notification is only recorded.

The system prompt, as gemini does it: a session reads the file ``$GEMINI_SYSTEM_MD`` names
when it opens (``session/new``, ``session/load``), and whenever ANY session opens every live
session reads it again (sessions are never freed). A turn takes its session's system prompt
at its first chunk (when the upstream has the request). So a client that writes the file
and opens a session while another session's turn has not begun to answer gives that turn
the wrong prompt; ``[[echo]]`` shows it. Unset or empty ``GEMINI_SYSTEM_MD``: no system
prompt (``null``).

Environment:

- ``FAKE_ACP_ANSWER`` (default :data:`DEFAULT_ANSWER`): the answer of a plain prompt.
- ``FAKE_ACP_CHUNKS`` (default 3): how many chunks it is split into (:func:`chunks`).
- ``FAKE_ACP_DELAY_MS`` (default 0): the pause before each chunk (the first one too: the
  upstream's time to first token).
- ``FAKE_ACP_LOG`` (optional): every received message (each parsed JSON object) is
  appended to this file as one JSON line, flushed per line.
- ``FAKE_ACP_MODE`` (default ``ok``), one of :data:`MODES`: ``ok``; ``slow_ready`` (sleep
  ``FAKE_ACP_READY_DELAY_MS``, default 2000, before answering ``initialize``);
  ``never_ready`` (never answers ``initialize``); ``exit_at_start`` (a line on stderr,
  exit 1 before reading anything); ``malformed`` (after the ``initialize`` answer, the line
  :data:`MALFORMED_LINE`, then as ``ok``); ``no_key`` (``session/new`` and
  ``session/load`` answer the error -32000 :data:`NO_KEY_MESSAGE`; the process goes on).
  An unknown mode exits 2.
- ``FAKE_ACP_CRASH_DELAY_MS`` (default 200): see ``[[crash]]``.
- ``GEMINI_SYSTEM_MD``, ``HOME``: see above.

Triggers, read from the prompt's text (first match in this order):

- ``[[unreachable]]``: the prompt is answered at once with the error ``{"code": 500,
  "message": UNREACHABLE_MESSAGE}``.
- ``[[crash]]``: one chunk, then after ``FAKE_ACP_CRASH_DELAY_MS`` the whole process exits
  70 (every prompt in flight dies).
- ``[[hang]]``: one chunk, then nothing until ``session/cancel``.
- ``[[permission]]``: a ``tool_call`` update (status pending), then the request
  ``session/request_permission`` ``{"sessionId", "toolCall", "options"}``; once the client
  answers, the answer text is ``allowed`` when it selected an ``allow_*`` option, else
  ``refused`` (a ``cancelled`` outcome, another option, an error).
- ``[[echo]]``: the answer is the JSON text (:func:`echo_text`) ``{"system", "history":
  [[role, text], ...], "prompt"}`` of what the session saw at its first chunk.

Exit: 0 at stdin EOF (prompts in flight are dropped) and on SIGTERM; 0 also when stdout is
closed by the reader. The fake starts no child process.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
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
    "CRASH_EXIT",
    "DEFAULT_ANSWER",
    "MALFORMED_LINE",
    "MODES",
    "NO_KEY_MESSAGE",
    "UNREACHABLE_MESSAGE",
    "VERSION",
    "chunks",
    "echo_text",
    "input_tokens",
    "main",
    "project_dir",
]

VERSION = "0.61.0"
DEFAULT_ANSWER = "Hello from the fake gemini"
MODES = ("ok", "slow_ready", "never_ready", "exit_at_start", "malformed", "no_key")
MALFORMED_LINE = b"{not json\n"
NO_KEY_MESSAGE = "Gemini API key is missing or not configured."
UNREACHABLE_MESSAGE = "exception TypeError: fetch failed sending request"
CRASH_EXIT = 70
EXIT_AT_START_CODE = 1
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
AUTH_REQUIRED = -32000


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _log(message: str) -> None:
    try:
        sys.stderr.write(f"fake-gemini-acp: {message}\n")
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
    """The ``input_tokens`` of a prompt whose session holds ``characters`` characters."""
    return characters // 4 + 1


def project_dir(home: str, cwd: str) -> str:
    """Where the fake registers ``cwd``'s project: ``<home>/.gemini/tmp/<hash of cwd>``."""
    return os.path.join(home, ".gemini", "tmp", hashlib.sha256(cwd.encode()).hexdigest()[:16])


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _text_of([content])
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass
class _Prompt:
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Session:
    id: str
    cwd: str
    system: str | None
    history: list[list[str]] = field(default_factory=list)
    prompt: _Prompt | None = None


def echo_text(system: str | None, history: list[list[str]], prompt: str) -> str:
    """The ``[[echo]]`` answer: what the session saw, as JSON."""
    return json.dumps({"system": system, "history": history, "prompt": prompt}, sort_keys=True)


class _Pending:
    """A request of the fake awaiting the client's response."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None


class _Server:
    def __init__(self, stdout: BinaryIO, mode: str) -> None:
        self.stdout = stdout
        self.mode = mode
        self.out_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.sessions: dict[str, _Session] = {}
        self.pending: dict[int, _Pending] = {}
        self.request_counter = 0
        self.initialized = False
        self.home = os.environ.get("HOME") or os.getcwd()
        self.system_md = os.environ.get("GEMINI_SYSTEM_MD") or ""
        self.answer = os.environ.get("FAKE_ACP_ANSWER", DEFAULT_ANSWER)
        self.chunk_count = _env_int("FAKE_ACP_CHUNKS", 3)
        self.delay_s = _env_int("FAKE_ACP_DELAY_MS", 0) / 1000
        self.crash_delay_s = _env_int("FAKE_ACP_CRASH_DELAY_MS", 200) / 1000
        self.ready_delay_s = _env_int("FAKE_ACP_READY_DELAY_MS", 2000) / 1000
        log_path = os.environ.get("FAKE_ACP_LOG")
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
        line = {"jsonrpc": "2.0", **message}
        self.write_raw(json.dumps(line, separators=(",", ":")).encode() + b"\n")

    def result(self, request_id: Any, result: dict[str, Any]) -> None:
        self.send({"id": request_id, "result": result})

    def error(self, request_id: Any, code: int, message: str) -> None:
        self.send({"id": request_id, "error": {"code": code, "message": message}})

    def update(self, session_id: str, update: dict[str, Any]) -> None:
        self.send(
            {"method": "session/update", "params": {"sessionId": session_id, "update": update}}
        )

    def chunk(self, session_id: str, kind: str, text: str) -> None:
        self.update(session_id, {"sessionUpdate": kind, "content": {"type": "text", "text": text}})

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
            if method == "session/cancel":
                self.cancel(params)
            return
        self.handle_request(message["id"], str(method), params)

    def handle_response(self, message: dict[str, Any]) -> None:
        key = message.get("id")
        with self.state_lock:
            pending = self.pending.pop(key, None) if isinstance(key, int) else None
        if pending is None:
            _log(f"ignoring a response to no request: {key!r}")
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
            "session/new": self.session_new,
            "session/load": self.session_load,
            "session/prompt": self.session_prompt,
        }
        handler = handlers.get(method)
        if handler is None:
            self.error(request_id, METHOD_NOT_FOUND, f'"Method not found": {method}')
            return
        handler(request_id, params)

    def initialize(self, request_id: Any) -> None:
        if self.mode == "never_ready":
            _log("never_ready: not answering initialize")
            return
        if self.mode == "slow_ready":
            time.sleep(self.ready_delay_s)
        self.initialized = True
        self.result(
            request_id,
            {
                "protocolVersion": 1,
                "authMethods": [
                    {"id": "gemini-api-key", "name": "Use Gemini API key", "description": None}
                ],
                "agentCapabilities": {
                    "loadSession": True,
                    "promptCapabilities": {"image": True, "audio": True, "embeddedContext": True},
                    "mcpCapabilities": {"http": True, "sse": True},
                },
                "agentInfo": {"name": "gemini-cli", "title": "Gemini CLI", "version": VERSION},
            },
        )
        if self.mode == "malformed":
            self.write_raw(MALFORMED_LINE)

    # -- sessions -----------------------------------------------------------------------

    def read_system(self) -> str | None:
        if not self.system_md:
            return None
        try:
            with open(self.system_md, encoding="utf-8") as file:
                return file.read()
        except OSError as exc:
            _log(f"cannot read GEMINI_SYSTEM_MD: {exc}")
            return None

    def open_session(self, session_id: str, cwd: str, history: list[list[str]]) -> _Session:
        """A new live session; every live session re-reads the system prompt (gemini's
        MemoryChanged refresh at each session/new and session/load)."""
        system = self.read_system()
        session = _Session(id=session_id, cwd=cwd, system=system, history=history)
        with self.state_lock:
            self.sessions[session_id] = session
            for live in self.sessions.values():
                live.system = system
        return session

    def modes(self) -> dict[str, Any]:
        return {
            "modes": {
                "availableModes": [{"id": "default", "name": "Default", "description": None}],
                "currentModeId": "default",
            },
            "models": {"availableModels": [], "currentModelId": "fake"},
        }

    def commands(self, session_id: str) -> None:
        self.update(
            session_id,
            {"sessionUpdate": "available_commands_update", "availableCommands": []},
        )

    def refused(self, request_id: Any) -> bool:
        if self.mode == "no_key":
            self.error(request_id, AUTH_REQUIRED, NO_KEY_MESSAGE)
            return True
        return False

    def session_new(self, request_id: Any, params: dict[str, Any]) -> None:
        if self.refused(request_id):
            return
        cwd = str(params.get("cwd") or os.getcwd())
        project = project_dir(self.home, cwd)
        if not os.path.isdir(project):
            os.makedirs(os.path.join(project, "chats"), exist_ok=True)
            with open(os.path.join(project, ".project_root"), "w", encoding="utf-8") as file:
                file.write(cwd)
        session = self.open_session(str(uuid.uuid4()), cwd, [])
        self.result(request_id, {"sessionId": session.id, **self.modes()})
        self.commands(session.id)

    def session_load(self, request_id: Any, params: dict[str, Any]) -> None:
        if self.refused(request_id):
            return
        session_id = str(params.get("sessionId") or "")
        cwd = str(params.get("cwd") or os.getcwd())
        history = self.find_record(session_id, cwd)
        if history is None:
            self.error(request_id, INTERNAL_ERROR, f"Internal error: no session {session_id}")
            return
        self.open_session(session_id, cwd, history)
        replay = [(role, text) for role, text in history if text.strip()]
        half = len(replay) // 2
        for role, text in replay[:half]:
            self.replay(session_id, role, text)
        self.result(request_id, self.modes())
        for role, text in replay[half:]:
            self.replay(session_id, role, text)
        self.commands(session_id)

    def replay(self, session_id: str, role: str, text: str) -> None:
        kind = "user_message_chunk" if role == "user" else "agent_message_chunk"
        self.chunk(session_id, kind, text)

    def find_record(self, session_id: str, cwd: str) -> list[list[str]] | None:
        """The history in ``session_id``'s record, or None when there is none."""
        if len(session_id) < 8 or not all(c.isalnum() or c == "-" for c in session_id):
            return None
        pattern = os.path.join(
            project_dir(self.home, cwd), "chats", f"session-*-{session_id[:8]}.json"
        )
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path, encoding="utf-8") as file:
                    record = json.load(file)
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict) or record.get("sessionId") != session_id:
                continue
            messages = record.get("messages")
            return [
                ["user" if m.get("type") == "user" else "assistant", _text_of(m.get("content"))]
                for m in (messages if isinstance(messages, list) else [])
                if isinstance(m, dict)
            ]
        return None

    def cancel(self, params: dict[str, Any]) -> None:
        with self.state_lock:
            session = self.sessions.get(str(params.get("sessionId")))
            prompt = session.prompt if session is not None else None
        if prompt is not None:
            prompt.stop.set()

    # -- prompts ------------------------------------------------------------------------

    def session_prompt(self, request_id: Any, params: dict[str, Any]) -> None:
        session_id = str(params.get("sessionId"))
        prompt = _Prompt()
        with self.state_lock:
            session = self.sessions.get(session_id)
            busy = session is not None and session.prompt is not None
            if session is not None and not busy:
                session.prompt = prompt
        if session is None:
            self.error(request_id, INTERNAL_ERROR, f"Session not found: {session_id}")
            return
        if busy:
            self.error(request_id, INVALID_REQUEST, "a prompt is already running")
            return
        text = _text_of(params.get("prompt"))
        worker = threading.Thread(
            target=self.run_prompt,
            args=(request_id, session, prompt, text),
            name=f"prompt-{session_id}",
            daemon=True,
        )
        worker.start()

    def ask_permission(self, session: _Session, prompt: _Prompt) -> str | None:
        """``[[permission]]``: "allowed" or "refused", None if cancelled meanwhile."""
        call = {"toolCallId": "call-1", "title": "touch /tmp/pwned", "kind": "execute"}
        self.update(session.id, {"sessionUpdate": "tool_call", "status": "pending", **call})
        options = [
            {"optionId": "proceed_always", "name": "Allow always", "kind": "allow_always"},
            {"optionId": "proceed_once", "name": "Allow", "kind": "allow_once"},
            {"optionId": "cancel", "name": "Reject", "kind": "reject_once"},
        ]
        with self.state_lock:
            key = self.request_counter
            self.request_counter += 1
            pending = self.pending[key] = _Pending()
        params = {"sessionId": session.id, "toolCall": call, "options": options}
        self.send({"id": key, "method": "session/request_permission", "params": params})
        while not pending.done.wait(0.05):
            if prompt.stop.is_set():
                with self.state_lock:
                    self.pending.pop(key, None)
                return None
        result = (pending.response or {}).get("result")
        outcome = result.get("outcome") if isinstance(result, dict) else None
        chosen = outcome.get("optionId") if isinstance(outcome, dict) else None
        selected = isinstance(outcome, dict) and outcome.get("outcome") == "selected"
        allowed = {o["optionId"] for o in options if o["kind"].startswith("allow")}
        return "allowed" if selected and chosen in allowed else "refused"

    def end(self, request_id: Any, session: _Session, result: dict[str, Any]) -> None:
        with self.state_lock:
            session.prompt = None
        self.result(request_id, result)

    def cancelled(self, request_id: Any, session: _Session) -> None:
        self.end(request_id, session, {"stopReason": "cancelled"})

    def run_prompt(self, request_id: Any, session: _Session, prompt: _Prompt, text: str) -> None:
        if "[[unreachable]]" in text:
            with self.state_lock:
                session.prompt = None
            self.error(request_id, 500, UNREACHABLE_MESSAGE)
            return
        answer: str | None = self.answer
        if "[[permission]]" in text:
            answer = self.ask_permission(session, prompt)
            if answer is None:
                self.cancelled(request_id, session)
                return
        if prompt.stop.wait(self.delay_s):  # the upstream's time to first token
            self.cancelled(request_id, session)
            return
        with self.state_lock:  # the request reaches the upstream with what it holds now
            system, history = session.system, [list(turn) for turn in session.history]
        if "[[echo]]" in text:
            answer = echo_text(system, history, text)
        pieces = chunks(answer or "", self.chunk_count)
        if "[[crash]]" in text or "[[hang]]" in text:
            self.chunk(session.id, "agent_message_chunk", pieces[0])
            if "[[crash]]" in text:
                time.sleep(self.crash_delay_s)
                _log(f"[[crash]]: exiting {CRASH_EXIT}")
                with self.out_lock:
                    os._exit(CRASH_EXIT)
            prompt.stop.wait()
            self.cancelled(request_id, session)
            return
        for index, piece in enumerate(pieces):
            if index and prompt.stop.wait(self.delay_s):
                self.cancelled(request_id, session)
                return
            self.chunk(session.id, "agent_message_chunk", piece)
        if prompt.stop.is_set():
            self.cancelled(request_id, session)
            return
        characters = len(system or "") + sum(len(t) for _, t in history) + len(text)
        tokens = {"input_tokens": input_tokens(characters), "output_tokens": len(pieces)}
        with self.state_lock:
            session.history += [["user", text], ["assistant", answer or ""]]
        quota = {"token_count": tokens, "model_usage": [{"model": "fake", "token_count": tokens}]}
        self.end(request_id, session, {"stopReason": "end_turn", "_meta": {"quota": quota}})

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
    """Exit at once, the daemon prompt threads with it (no interpreter teardown)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    _log("SIGTERM; exiting")
    _exit_now(0)


def main(argv: list[str] | None = None) -> int:
    """Serve stdin/stdout until EOF; ``--version`` prints :data:`VERSION`."""
    args = sys.argv[1:] if argv is None else argv
    if "--version" in args:
        print(VERSION)
        return 0
    mode = os.environ.get("FAKE_ACP_MODE") or "ok"
    if mode not in MODES:
        _log(f"unknown FAKE_ACP_MODE {mode!r}; one of {', '.join(MODES)}")
        return 2
    if mode == "exit_at_start":
        _log("error: failed to start (exit_at_start)")
        return EXIT_AT_START_CODE
    signal.signal(signal.SIGTERM, _on_sigterm)
    server = _Server(sys.stdout.buffer, mode)
    code = server.serve(sys.stdin.buffer)
    _exit_now(code)
    return code  # not reached


if __name__ == "__main__":
    sys.exit(main())
