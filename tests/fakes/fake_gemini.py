"""A fake Gemini API (``generativelanguage``) on 127.0.0.1, for the real gemini CLI.

The real ``gemini`` reaches it through ``GOOGLE_GEMINI_BASE_URL``. In a test (a thread
serving on an OS-chosen port)::

    with FakeGemini(GeminiScript(chunks=("Hello", " there"))) as fake:
        ...  # run gemini with GOOGLE_GEMINI_BASE_URL=fake.url
        fake.requests   # every request: method, path, query, body JSON

``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` answers Server-Sent Events:
one ``data:`` line per chunk of ``{"candidates":[{"content":{"parts":[{"text":…}],
"role":"model"},"index":0}]}``, the last with ``finishReason`` and ``usageMetadata``
{promptTokenCount, candidatesTokenCount, totalTokenCount}. ``:generateContent`` (the
CLI's own side questions) answers the same content at once, and ``:countTokens`` a
count. Anything else is recorded and answered with an empty JSON object.

A HOSTILE script answers the first streaming request with ``functionCall`` parts (e.g.
``run_shell_command`` ``{"command": "touch …"}`` and ``write_file``), then the text to
every later one (the CLI sends the tools' refusals back as ``functionResponse`` parts).
Standard library only.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback_server import FakeHTTPServer, ServedInThread, send_json

__all__ = ["FakeGemini", "FunctionCall", "GeminiScript", "Recorded"]


@dataclass(frozen=True)
class FunctionCall:
    """One ``functionCall`` part: the tool the fake model asks the CLI to run."""

    name: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class GeminiScript:
    """What the fake model answers: the text in chunks, the usage and the stop reason."""

    chunks: tuple[str, ...] = ("Hello", " from", " fake", " gemini")
    prompt_tokens: int = 12
    candidates_tokens: int = 4
    cached_tokens: int | None = None
    finish_reason: str = "STOP"
    # HOSTILE: the answers to the first streaming requests, one round of calls each.
    tool_rounds: tuple[tuple[FunctionCall, ...], ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.candidates_tokens

    def usage(self) -> dict[str, int]:
        usage = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.candidates_tokens,
            "totalTokenCount": self.total_tokens,
        }
        if self.cached_tokens is not None:
            usage["cachedContentTokenCount"] = self.cached_tokens
        return usage


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # the JSON body, None when there was none or it was not JSON

    @property
    def action(self) -> str:
        """``streamGenerateContent`` for ``/v1beta/models/m:streamGenerateContent``."""
        return self.path.rpartition(":")[2] if ":" in self.path else ""

    @property
    def model(self) -> str:
        """The model named in a ``/v1beta/models/<model>:<action>`` path, else ``""``."""
        head = self.path.partition(":")[0]
        return head.rpartition("/models/")[2] if "/models/" in head else ""


@dataclass
class FakeGemini(ServedInThread):
    """The server: binds on construction, serves in a thread from :meth:`start` (or ``with``)."""

    script: GeminiScript = field(default_factory=GeminiScript)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._rounds_sent = 0
        self._httpd = FakeHTTPServer((self.host, 0), _Handler, self)

    def recorded(self, action: str) -> list[Recorded]:
        """The requests for one action (``streamGenerateContent``, ``countTokens``…)."""
        with self._lock:
            return [r for r in self.requests if r.action == action]

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def take_round(self) -> tuple[FunctionCall, ...]:
        """The function calls to answer now: the script's next round, then none."""
        with self._lock:
            rounds = self.script.tool_rounds
            if self._rounds_sent >= len(rounds):
                return ()
            self._rounds_sent += 1
            return rounds[self._rounds_sent - 1]


def _part(call: FunctionCall) -> dict[str, Any]:
    return {"functionCall": {"name": call.name, "args": dict(call.args)}}


def stream_chunks(
    script: GeminiScript, calls: tuple[FunctionCall, ...], model: str
) -> list[dict[str, Any]]:
    """The JSON objects of one streamed answer, the last with finishReason and usage."""
    if calls:
        parts_list: list[list[dict[str, Any]]] = [[_part(call) for call in calls]]
    else:
        parts_list = [[{"text": chunk}] for chunk in script.chunks] or [[{"text": ""}]]
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}]}
        for parts in parts_list
    ]
    last = chunks[-1]["candidates"][0]
    last["finishReason"] = script.finish_reason
    chunks[-1]["usageMetadata"] = script.usage()
    chunks[-1]["modelVersion"] = model
    return chunks


def whole_answer(script: GeminiScript, model: str) -> dict[str, Any]:
    """A ``generateContent`` answer: the whole text in one candidate."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": script.text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": script.usage(),
        "modelVersion": model,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded instead."""

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        split = urllib.parse.urlsplit(self.path)
        request = Recorded(self.command, split.path, urllib.parse.parse_qs(split.query), body)
        fake = self.server.fake
        fake.record(request)
        if request.action == "streamGenerateContent":
            self._stream(stream_chunks(fake.script, fake.take_round(), request.model))
        elif request.action == "generateContent":
            self._json(whole_answer(fake.script, request.model))
        elif request.action == "countTokens":
            self._json({"totalTokens": fake.script.prompt_tokens})
        else:
            self._json({})

    def _json(self, body: object) -> None:
        send_json(self, 200, body, "application/json; charset=utf-8")

    def _stream(self, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                data = b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away
            self.close_connection = True
