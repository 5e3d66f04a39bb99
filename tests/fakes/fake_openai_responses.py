"""A fake OpenAI Responses API on 127.0.0.1, for running the real codex CLI offline.

``POST /v1/responses`` with ``"stream": true`` answers the standard server-sent events
(``response.created``, ``response.in_progress``, ``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta`` …,
``response.output_text.done``, ``response.content_part.done``,
``response.output_item.done``, ``response.completed`` with usage); ``GET /v1/models``
answers an empty list. Every request is recorded (method, path, headers, JSON body) so a
test can assert what the CLI sent, e.g. which tools it offered::

    with FakeResponses(Script(answer="Hello there", chunks=3)) as fake:
        ...  # point codex at fake.url
        fake.requests[0].body["tools"]

A script can be hostile: its ``turns`` are answered first, one per ``/v1/responses``
request, each a list of :class:`FunctionCall` output items (a tool call the model asks
for); once they are used up every request gets the text answer. With ``api_key`` set, a
request without ``Authorization: Bearer <api_key>`` gets OpenAI's 401.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback_server import FakeHTTPServer, ServedInThread, send_json

__all__ = ["FakeResponses", "FunctionCall", "Recorded", "Script", "tool_names", "tool_outputs"]


@dataclass(frozen=True)
class FunctionCall:
    """A ``function_call`` output item: the model asks codex to run tool ``name``.

    ``custom`` makes it a ``custom_tool_call`` (a freeform tool such as apply_patch)
    whose ``arguments`` are its raw input.
    """

    name: str
    arguments: str
    call_id: str = "call_1"
    custom: bool = False


@dataclass(frozen=True)
class Script:
    """What the fake answers; usage as the Responses API reports it."""

    answer: str = "Hello from the fake Responses API"
    chunks: int = 3
    input_tokens: int = 30
    cached_tokens: int = 4
    output_tokens: int = 6
    reasoning_tokens: int = 0
    turns: tuple[tuple[FunctionCall, ...], ...] = ()
    api_key: str | None = None
    incomplete: str | None = None
    """End with ``response.incomplete`` for this reason (``max_output_tokens``,
    ``content_filter``) instead of ``response.completed``."""


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


def tool_names(body: dict[str, Any]) -> list[str]:
    """Every tool a Responses request offered: ``tools``, and the ``additional_tools``
    input item codex sends GPT-6 models; a namespace's tools as ``namespace.name``."""
    names: list[str] = []

    def walk(tools: object, prefix: str) -> None:
        for tool in tools if isinstance(tools, list) else []:
            if not isinstance(tool, dict):
                continue
            name = str(tool.get("name") or tool.get("type"))
            if tool.get("type") == "namespace":
                walk(tool.get("tools"), f"{prefix}{name}.")
            else:
                names.append(prefix + name)

    walk(body.get("tools"), "")
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            walk(item.get("tools"), "")
    return names


def tool_outputs(body: dict[str, Any]) -> dict[str, str]:
    """What codex answered each tool call in a request's input: call id → output (as JSON
    text when the output is a list of content items)."""
    outputs = {}
    for item in body.get("input") or []:
        if isinstance(item, dict) and str(item.get("type")).endswith("call_output"):
            output = item.get("output")
            outputs[str(item.get("call_id"))] = (
                output if isinstance(output, str) else json.dumps(output)
            )
    return outputs


def split(text: str, chunks: int) -> list[str]:
    """``text`` in ``chunks`` non-empty pieces (fewer when the text is shorter)."""
    size = max(1, -(-len(text) // max(1, chunks)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FakeResponses(ServedInThread):
    """The server: binds on construction, serves in a thread inside ``with``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._turn = 0
        self._httpd = FakeHTTPServer(("127.0.0.1", 0), _Handler, self)

    @property
    def url(self) -> str:
        """The base URL codex's model provider takes (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.address[1]}/v1"

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def responses_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/responses")]

    def next_calls(self) -> tuple[FunctionCall, ...]:
        """The tool calls of the next turn, or ``()`` once the script's turns are used up."""
        with self._lock:
            if self._turn < len(self.script.turns):
                self._turn += 1
                return self.script.turns[self._turn - 1]
            return ()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:  # codex may compress its body (zstd); keep the request anyway
            body = {"_undecoded": len(raw)}
        path = self.path.split("?", 1)[0]
        headers = {key.lower(): value for key, value in self.headers.items()}
        fake = self.server.fake
        fake.record(Recorded(method, path, headers, body if isinstance(body, dict) else {}))
        key = fake.script.api_key
        if key is not None and headers.get("authorization") != f"Bearer {key}":
            error = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            self._json(401, {"error": {**error, "param": None, "code": "invalid_api_key"}})
        elif method == "GET" and path.endswith("/models"):
            self._json(200, {"object": "list", "data": []})
        elif method == "POST" and path.endswith("/responses"):
            self._stream(body if isinstance(body, dict) else {})
        else:
            self._json(404, {"error": {"message": f"no route {method} {path}"}})

    def _json(self, status: int, body: object) -> None:
        send_json(self, status, body)

    def _stream(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        events = _events(fake.script, fake.next_calls(), str(body.get("model") or "fake"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for number, event in enumerate(events):
            event["sequence_number"] = number
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


def _events(script: Script, calls: tuple[FunctionCall, ...], model: str) -> list[dict[str, Any]]:
    """The server-sent events of one response: tool calls if any, else the text answer."""
    response: dict[str, Any] = {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1700000000,
        "status": "in_progress",
        "model": model,
        "output": [],
        "usage": None,
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": dict(response)},
        {"type": "response.in_progress", "response": dict(response)},
    ]
    output: list[dict[str, Any]] = []
    if calls:
        for index, call in enumerate(calls):
            item = _call_item(call)
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress"},
                }
            )
            events.append(
                {"type": "response.output_item.done", "output_index": index, "item": item}
            )
            output.append(item)
    else:
        events.extend(_message_events(script))
        output.append(events[-1]["item"])
    usage = {
        "input_tokens": script.input_tokens,
        "input_tokens_details": {"cached_tokens": script.cached_tokens},
        "output_tokens": script.output_tokens,
        "output_tokens_details": {"reasoning_tokens": script.reasoning_tokens},
        "total_tokens": script.input_tokens + script.output_tokens,
    }
    if script.incomplete is not None:
        cut = {**response, "status": "incomplete", "output": output, "usage": usage}
        cut["incomplete_details"] = {"reason": script.incomplete}
        events.append({"type": "response.incomplete", "response": cut})
        return events
    done = {**response, "status": "completed", "output": output, "usage": usage}
    events.append({"type": "response.completed", "response": done})
    return events


def _call_item(call: FunctionCall) -> dict[str, Any]:
    if call.custom:
        return {
            "type": "custom_tool_call",
            "id": f"ctc_{call.call_id}",
            "status": "completed",
            "call_id": call.call_id,
            "name": call.name,
            "input": call.arguments,
        }
    return {
        "type": "function_call",
        "id": f"fc_{call.call_id}",
        "status": "completed",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments,
    }


def _message_events(script: Script) -> list[dict[str, Any]]:
    item_id = "msg_fake"
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    empty = {"type": "output_text", "text": "", "annotations": []}
    message = {"type": "message", "id": item_id, "role": "assistant"}
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": empty},
    ]
    for piece in split(script.answer, script.chunks):
        events.append({"type": "response.output_text.delta", **where, "delta": piece})
    part = {**empty, "text": script.answer}
    events.append({"type": "response.output_text.done", **where, "text": script.answer})
    events.append({"type": "response.content_part.done", **where, "part": part})
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**message, "status": "completed", "content": [part]},
        }
    )
    return events
