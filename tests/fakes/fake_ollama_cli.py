"""The fake ``ollama`` command (``tests/fakes/bin/ollama``): ``--version`` and ``serve``.

- ``ollama --version``: as Ollama's ``versionHandler``, asks the server at ``OLLAMA_HOST``:
  ``ollama version is X`` when it answers, else ``Warning: could not connect to a running
  Ollama instance``; then ``Warning: client version is Y`` when the two differ (Y is
  ``FAKE_OLLAMA_VERSION``, default 0.12.3). Exit 0 either way.
- ``ollama serve``: the fake server (:mod:`tests.fakes.fake_ollama`) on ``OLLAMA_HOST``
  (default ``127.0.0.1:11434``; port 0 picks a free one), configured from the environment
  (:mod:`tests.fakes.fake_ollama_models`). Once listening it writes Ollama's startup line on
  stderr, ``time=… level=INFO source=routes.go:1331 msg="Listening on HOST:PORT (version X)"``,
  and nothing more. SIGTERM or SIGINT stops it with exit 0; an address in use exits 1 with
  ``Error: listen tcp HOST:PORT: bind: address already in use``.
- anything else: exit 1 with a message on stderr (no arguments: the usage, exit 0).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from types import FrameType

from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_ollama_models import DEFAULT_VERSION, FakeOllamaConfig

DEFAULT_PORT = 11434


def parse_host(value: str) -> tuple[str, int]:
    """``OLLAMA_HOST`` → (host, port), as Ollama's ``envconfig.Host`` reads it."""
    scheme, sep, rest = value.strip().partition("://")
    default = {"http": 80, "https": 443}.get(scheme, DEFAULT_PORT) if sep else DEFAULT_PORT
    hostport = (rest if sep else value.strip()).split("/", 1)[0]
    if hostport.startswith("[") and "]:" in hostport:
        host, _, port = hostport[1:].partition("]:")
        return host, int(port)
    if hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
        return host, int(port)
    return hostport.strip("[]") or "127.0.0.1", default


def _log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    print(f'time={stamp} level=INFO source=routes.go:1331 msg="{message}"', file=sys.stderr)


def _serve(environ: Mapping[str, str]) -> int:
    stopping = threading.Event()
    fake: FakeOllama | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        # Never raise from here: socketserver would swallow it while accepting a connection.
        stopping.set()
        if fake is not None:
            threading.Thread(target=fake.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    config = FakeOllamaConfig.from_env(environ)
    host, port = parse_host(environ.get("OLLAMA_HOST", ""))
    try:
        fake = FakeOllama(config, host, port)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        print(f"Error: listen tcp {host}:{port}: bind: {reason}", file=sys.stderr)
        return 1
    try:
        bound_host, bound_port = fake.address
        _log(f"Listening on {bound_host}:{bound_port} (version {config.version})")
        if not stopping.is_set():  # a signal before ``fake`` was set started no shutdown
            fake.serve_forever()
    finally:
        fake.close()
    return 0


def _server_version(environ: Mapping[str, str]) -> str | None:
    host, port = parse_host(environ.get("OLLAMA_HOST", ""))
    connection = http.client.HTTPConnection(
        host if host not in ("", "0.0.0.0") else "127.0.0.1", port, timeout=2
    )
    try:
        connection.request("GET", "/api/version")
        version = json.loads(connection.getresponse().read())["version"]
        return str(version)
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def main(argv: list[str]) -> int:
    """``ollama --version``, ``ollama serve``; any other command exits 1."""
    environ = dict(os.environ)
    client_version = environ.get("FAKE_OLLAMA_VERSION") or DEFAULT_VERSION
    match argv:
        case ["--version" | "-v"]:
            # Ollama's versionHandler: asks the server, says so when nobody answers.
            server_version = _server_version(environ)
            if server_version is None:
                print("Warning: could not connect to a running Ollama instance")
            else:
                print(f"ollama version is {server_version}")
            if server_version != client_version:
                print(f"Warning: client version is {client_version}")
            return 0
        case ["serve"]:
            return _serve(environ)
        case []:
            print("Usage:\n  ollama [flags]\n  ollama [command]\n\nAvailable Commands:\n  serve")
            return 0
        case [command, *_]:
            print(f'Error: the fake ollama has no "{command}" command', file=sys.stderr)
            return 1
    return 1
