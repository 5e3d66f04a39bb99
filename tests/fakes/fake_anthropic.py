"""A fake Anthropic Messages API on 127.0.0.1, for running the real ``claude`` offline.

In a test (a thread serving on an OS-chosen port)::

    with FakeAnthropic(Script(text="Hello there", deltas=3)) as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-fake"}
        ...
        fake.messages()[0]["tools"]   # what claude offered the model

``POST /v1/messages`` (with or without ``?beta=true``) answers with the next of the
script's turns (the last one repeats): ``stream: true`` as Anthropic's SSE events
(message_start, content_block_start, content_block_delta…, content_block_stop,
message_delta with stop_reason and usage, message_stop), else one JSON message. A turn
is either text, split into ``deltas`` text_delta pieces, or a tool call
(:func:`bash_call`, :func:`write_call`): a ``tool_use`` block whose input arrives as
input_json_delta pieces, with stop_reason ``tool_use``; message and tool_use ids are
fresh per turn. ``POST /v1/messages/count_tokens`` answers the script's input tokens;
anything else, claude's ``HEAD /`` included, gets a harmless 200 ``{}``.
``Script(status=401)`` answers every request, whatever its path, with that HTTP error in
Anthropic's error envelope: a rejected key (the amp tests use it as an Amp server too).

Every request is recorded (:meth:`FakeAnthropic.requests`): method, path, headers and
JSON body. Standard library only.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback_server import FakeHTTPServer, ServedInThread, send_json

__all__ = ["FakeAnthropic", "Recorded", "Script", "ToolCall", "Turn", "bash_call", "write_call"]


@dataclass(frozen=True)
class ToolCall:
    """A ``tool_use`` block: the model asks to run ``name`` with ``input``."""

    name: str
    input: dict[str, Any]


def bash_call(command: str) -> ToolCall:
    """The model asks for a shell command: ``Bash`` with ``{"command": …}``."""
    return ToolCall("Bash", {"command": command, "description": "run it"})


def write_call(path: str, content: str) -> ToolCall:
    """The model asks to write a file: ``Write`` with ``{"file_path", "content"}``."""
    return ToolCall("Write", {"file_path": path, "content": content})


@dataclass(frozen=True)
class Turn:
    """One answer: text (split into ``deltas`` pieces) or a tool call."""

    text: str = ""
    tool: ToolCall | None = None
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class Script:
    """What the fake answers: ``turns`` in order (the last repeats), with ``usage``.

    ``usage`` is reported on every turn: input, output, cache read and cache creation
    tokens. ``status`` (e.g. 401) turns every answer into that HTTP error.
    """

    text: str = "Hello from the fake upstream"
    deltas: int = 5
    stop_reason: str = "end_turn"
    turns: tuple[Turn, ...] = ()
    input_tokens: int = 21
    output_tokens: int = 5
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    status: int | None = None
    model: str = "claude-sonnet-4-5"

    def turn(self, index: int) -> Turn:
        turns = self.turns or (Turn(text=self.text, stop_reason=self.stop_reason),)
        return turns[min(index, len(turns) - 1)]

    def usage(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(frozen=True)
class Recorded:
    """One request the fake saw."""

    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def pieces(text: str, count: int) -> list[str]:
    """``text`` cut into ``count`` (at most len(text)) non-empty pieces, in order."""
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    out, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        out.append(text[start:end])
        start = end
    return [piece for piece in out if piece]


class FakeAnthropic(ServedInThread):
    """The server: binds on construction, serves in a thread inside ``with``."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._turns = 0
        self._httpd = FakeHTTPServer(("127.0.0.1", 0), _Handler, self)

    def requests(self) -> list[Recorded]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def messages(self) -> list[dict[str, Any]]:
        """The JSON bodies of the ``POST /v1/messages`` requests (token counts excluded)."""
        return [
            r.body
            for r in self.requests()
            if r.method == "POST" and r.path == "/v1/messages" and isinstance(r.body, dict)
        ]

    def record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def next_turn(self) -> tuple[int, Turn]:
        """(its number, the turn) for the next messages request."""
        with self._lock:
            index, self._turns = self._turns, self._turns + 1
        return index, self.script.turn(index)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeAnthropic:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = urllib.parse.urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.record(Recorded(method, path, body, headers))
        script = self.fake.script
        if script.status is not None:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return self._json(script.status, {"type": "error", "error": error})
        if method == "POST" and path == "/v1/messages/count_tokens":
            return self._json(200, {"input_tokens": script.input_tokens})
        if method == "POST" and path == "/v1/messages" and isinstance(body, dict):
            number, turn = self.fake.next_turn()
            if body.get("stream") is True:
                return self._stream(number, turn, script)
            return self._json(200, _whole(number, turn, script))
        return self._json(200, {})

    def _json(self, status: int, payload: object) -> None:
        send_json(self, status, payload)

    def _stream(self, number: int, turn: Turn, script: Script) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in _events(number, turn, script):
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()


def _message(
    number: int, script: Script, content: list[dict[str, Any]], stop: str | None
) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{number}",
        "type": "message",
        "role": "assistant",
        "model": script.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": script.usage(),
    }


def _tool_use(number: int, tool: ToolCall, tool_input: dict[str, Any]) -> dict[str, Any]:
    # A fresh id per turn: claude drops a tool_use whose id it has already answered.
    return {
        "type": "tool_use",
        "id": f"toolu_fake_{number}",
        "name": tool.name,
        "input": tool_input,
    }


def _whole(number: int, turn: Turn, script: Script) -> dict[str, Any]:
    if turn.tool is not None:
        block = _tool_use(number, turn.tool, turn.tool.input)
        return _message(number, script, [block], "tool_use")
    return _message(number, script, [{"type": "text", "text": turn.text}], turn.stop_reason)


def _events(number: int, turn: Turn, script: Script) -> Iterator[tuple[str, dict[str, Any]]]:
    start = _message(number, script, [], None)
    start["usage"] = {**script.usage(), "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    if turn.tool is not None:
        block = _tool_use(number, turn.tool, {})
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        for piece in pieces(json.dumps(turn.tool.input), script.deltas):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        stop = "tool_use"
    else:
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        for piece in pieces(turn.text, script.deltas):
            delta = {"type": "text_delta", "text": piece}
            yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        stop = turn.stop_reason
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": script.output_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}
