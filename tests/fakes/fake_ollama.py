"""A fake Ollama server that speaks the real REST API, for tests of the Ollama provider.

In a test (a thread serving on 127.0.0.1, an OS-chosen port)::

    with FakeOllama(FakeOllamaConfig(models_dir=tmp_path)) as fake:
        async with OllamaClient(fake.url) as client:
            ...

As a process: ``tests/fakes/bin/ollama serve`` (:mod:`tests.fakes.fake_ollama_cli`).
Standard library only, so the bin script starts under ``python3 -S`` like the other fakes.

The endpoints answer as Ollama's server does (``server/routes.go``, ``docs/api.md``):
``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags`` (most recent first),
``POST /api/show`` (404 ``model 'x' not found``), ``POST /api/pull``, ``GET /api/ps``,
``DELETE /api/delete`` (200 with an empty body; 404 ``model 'x' not found``) and
``POST /api/generate`` without a prompt (loads a model into ``/api/ps``; ``keep_alive: 0``
unloads it; the fake does no inference). A bad body is a 400 ``{"error": …}``.

A pull answers HTTP 200 and streams NDJSON whatever happens (:func:`pull_steps`); a failure is
a final ``{"error": …}`` line (:data:`UNKNOWN_MODEL_ERROR` for a name not in the catalogue).
With ``"stream": false`` it is one object, or a 500 with the error. The model is stored just
before ``success``, and only if the client is still connected: a pull the client abandons
stores nothing. :meth:`FakeOllama.pull_outcomes` tells a test how each pull ended.

``GET /fake/env`` (test only) returns ``OLLAMA_HOST``, ``OLLAMA_CONTEXT_LENGTH`` and
``OLLAMA_MODELS`` as the server was started with them (null when unset).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.fake_ollama_models import (
    CatalogModel,
    FakeOllamaConfig,
    ModelStore,
    normalize,
    now,
    pull_steps,
)
from tests.fakes.loopback_server import FakeHTTPServer, ServedInThread

__all__ = ["FakeOllama", "FakeOllamaConfig"]

KEEP_ALIVE = timedelta(minutes=5)


class FakeOllama(ServedInThread):
    """The server: binds on construction, serves in a thread from :meth:`start` (or ``with``)."""

    def __init__(self, config: FakeOllamaConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.store = ModelStore(config.models_dir)
        self._loaded: dict[str, datetime] = {}
        self._outcomes: list[str] = []
        self._changed = threading.Condition()
        self._httpd = FakeHTTPServer((host, port), _Handler, self)

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` (from another thread) and wait until it has."""
        self._httpd.shutdown()

    def record_pull(self, outcome: str) -> None:
        with self._changed:
            self._outcomes.append(outcome)
            self._changed.notify_all()

    def pull_outcomes(self, count: int, timeout: float = 10.0) -> list[str]:
        """Wait until ``count`` pulls have ended; each is success, failed or abandoned."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._outcomes) >= count, timeout)
            return list(self._outcomes)

    def load(self, name: str, keep_alive: object) -> None:
        with self._changed:
            if keep_alive == 0:
                self._loaded.pop(normalize(name), None)
            else:
                self._loaded[normalize(name)] = datetime.now(UTC) + KEEP_ALIVE

    def running(self) -> list[dict[str, Any]]:
        with self._changed:
            loaded = dict(self._loaded)
        models = []
        for name, expires in loaded.items():
            record = self.store.get(name)
            if record is not None:
                models.append(
                    {
                        **_tag(record),
                        "expires_at": expires.astimezone().isoformat(),
                        "size_vram": record["size"],
                        "context_length": record["context_length"],
                    }
                )
        return models


def _tag(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("name", "modified_at", "size", "digest", "details")
    return {"model": record["name"], **{key: record[key] for key in keys}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: an unread stderr pipe must never stall the server."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        handler = _ROUTES.get(("GET" if method == "HEAD" else method, path))
        if handler is None:
            if any(route_path == path for _, route_path in _ROUTES):
                self._send(405, "405 method not allowed", "text/plain")
            else:
                self._send(404, "404 page not found", "text/plain")
        elif method == "HEAD" and path not in ("/", "/api/version", "/api/tags"):
            self._send(405, "405 method not allowed", "text/plain")
        else:
            handler(self)

    @property
    def fake(self) -> FakeOllama:
        fake: FakeOllama = self.server.fake
        return fake

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        if isinstance(body, str) and content_type == "text/plain":
            data = body.encode()
        else:
            data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json_body(self) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering 400 as Ollama does."""
        if not self._body:
            self._send(400, {"error": "missing request body"})
            return None
        try:
            body = json.loads(self._body)
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return None
        if not isinstance(body, dict):
            self._send(400, {"error": "json: cannot unmarshal into Go value of type api.Request"})
            return None
        return body

    def _model_name(self, body: Mapping[str, Any]) -> str:
        name = body.get("model") or body.get("name") or ""
        return name.strip() if isinstance(name, str) else ""

    def _root(self) -> None:
        self._send(200, "Ollama is running", "text/plain")

    def _version(self) -> None:
        self._send(200, {"version": self.fake.config.version})

    def _fake_env(self) -> None:
        self._send(200, dict(self.fake.config.env))

    def _tags(self) -> None:
        self._send(200, {"models": [_tag(record) for record in self.fake.store.all()]})

    def _ps(self) -> None:
        self._send(200, {"models": self.fake.running()})

    def _show(self) -> None:
        body = self._json_body()
        if body is None:
            return
        name = self._model_name(body)
        record = self.fake.store.get(name) if name else None
        if not name:
            self._send(400, {"error": "model is required"})
        elif record is None:
            self._send(404, {"error": f"model '{name}' not found"})
        else:
            family = record["details"]["family"]
            self._send(
                200,
                {
                    "license": "",
                    "modelfile": f'# Modelfile generated by "ollama show"\nFROM {record["name"]}\n',
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": record["details"],
                    "model_info": {
                        "general.architecture": family,
                        f"{family}.context_length": record["context_length"],
                    },
                    "capabilities": ["completion"],
                    "modified_at": record["modified_at"],
                },
            )

    def _delete(self) -> None:
        body = self._json_body()
        if body is None:
            return
        name = self._model_name(body)
        if not name:
            self._send(400, {"error": 'name "" is invalid'})
        elif not self.fake.store.delete(name):
            self._send(404, {"error": f"model '{name}' not found"})
        else:
            self.fake.load(name, keep_alive=0)
            self._send(200, None)

    def _generate(self) -> None:
        """Only the load and unload forms (no prompt): the fake does no inference."""
        body = self._json_body()
        if body is None:
            return
        name = self._model_name(body)
        if body.get("prompt"):
            self._send(400, {"error": "the fake Ollama does no inference"})
        elif not name:
            self._send(400, {"error": "model is required"})
        elif self.fake.store.get(name) is None:
            self._send(404, {"error": f"model '{name}' not found, try pulling it first"})
        else:
            keep_alive = body.get("keep_alive")
            self.fake.load(name, keep_alive)
            reason = "unload" if keep_alive == 0 else "load"
            answer = {"model": name, "created_at": now(), "response": ""}
            self._send(200, {**answer, "done": True, "done_reason": reason})

    def _pull(self) -> None:
        body = self._json_body()
        if body is None:
            return
        name = self._model_name(body)
        if not name:
            self._send(400, {"error": "invalid model name"})
            return
        config = self.fake.config
        model = config.catalog.get(normalize(name))
        steps = pull_steps(model, config.fail_pull_after)
        if body.get("stream", True) is False:
            self._pull_at_once(model, steps)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        outcome = "abandoned"  # unless the last line goes out
        try:
            for index, step in enumerate(steps):
                if step is None:
                    if self._client_gone():
                        raise ConnectionResetError
                    assert model is not None
                    self.fake.store.save(model)
                    continue
                if index and config.pull_delay_ms:
                    time.sleep(config.pull_delay_ms / 1000)
                data = json.dumps(step, separators=(",", ":")).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                if "error" in step or step.get("status") == "success":
                    outcome = "failed" if "error" in step else "success"
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away
            self.close_connection = True
        finally:
            self.fake.record_pull(outcome)

    def _pull_at_once(
        self, model: CatalogModel | None, steps: Iterator[dict[str, Any] | None]
    ) -> None:
        """``"stream": false``: one object, a 500 on failure (Ollama's ``waitForStream``)."""
        for step in steps:
            if step is None:
                assert model is not None
                self.fake.store.save(model)
            elif "error" in step:
                self.fake.record_pull("failed")
                self._send(500, step)
                return
        self.fake.record_pull("success")
        self._send(200, {"status": "success"})

    def _client_gone(self) -> bool:
        """Has the client closed its end? (It sends nothing more while a pull streams.)"""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


_ROUTES: dict[tuple[str, str], Callable[[_Handler], None]] = {
    ("GET", "/"): _Handler._root,
    ("GET", "/api/version"): _Handler._version,
    ("GET", "/api/tags"): _Handler._tags,
    ("GET", "/api/ps"): _Handler._ps,
    ("GET", "/fake/env"): _Handler._fake_env,
    ("POST", "/api/show"): _Handler._show,
    ("POST", "/api/pull"): _Handler._pull,
    ("POST", "/api/generate"): _Handler._generate,
    ("DELETE", "/api/delete"): _Handler._delete,
}
