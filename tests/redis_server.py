"""A real ``redis-server`` for the redis tier of the tests (a pytest plugin).

Load it with ``pytest_plugins = ["tests.redis_server"]`` (or import ``redis_url`` into a
conftest); then a test asks for ``redis_url``. Tests share the server's data, so each
keeps to a namespace of its own::

    async def test_something(redis_url: str) -> None:
        async with open_redis_log(redis_url, namespace=f"test-{uuid.uuid4().hex}") as log:
            ...

One server runs for the whole session, on a free 127.0.0.1 port,
with an append-only file fsynced on every write (an acknowledged write survives a
restart) and no RDB snapshots, in a temporary directory. Without ``redis-server`` on
PATH the tests that need it are skipped, with the reason printed under ``-rs``.

A test that must stop or restart a server (durability, outages) starts its own with
``redis_server_factory`` and leaves the shared one alone. Every server is stopped and
reaped when its fixture ends: SIGTERM, then SIGKILL if it does not exit in time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest

__all__ = [
    "RedisServer",
    "free_port",
    "redis_executable",
    "redis_server_factory",
    "redis_url",
]

SKIP_REASON: Final = (
    "redis-server is not on PATH: the redis tier did not run (install Debian's redis-server)"
)
_READY_SECONDS: Final = 10.0
_STOP_SECONDS: Final = 10.0


REQUIRE_VARIABLE = "ASM_REQUIRE_REDIS"


def redis_executable() -> str:
    """The path of ``redis-server``; skips the calling test when there is none."""
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get(REQUIRE_VARIABLE):  # the redis tier of CI: absence is a failure
            pytest.fail(f"{SKIP_REASON} (and ${REQUIRE_VARIABLE} demands it)")
        pytest.skip(SKIP_REASON)
    return executable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _command(address: tuple[str, int], *words: str, timeout: float = 1.0) -> bytes:
    """Send one command in RESP and return the first reply line (``+PONG``, ``+OK``)."""
    request = f"*{len(words)}\r\n".encode()
    for word in words:
        request += f"${len(word.encode())}\r\n{word}\r\n".encode()
    with socket.create_connection(address, timeout=timeout) as connection:
        connection.sendall(request)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.strip()


class RedisServer:
    """One ``redis-server`` process with its data in ``directory``.

    ``stop()`` then ``start()`` restarts it on the same port over the same data, so a
    client's URL stays valid across the restart::

        server = RedisServer(redis_executable(), tmp_path)
        server.start()
        try:
            ...  # talk to server.url
        finally:
            server.stop()
    """

    def __init__(self, executable: str, directory: Path, port: int | None = None) -> None:
        self.executable = executable
        self.directory = directory
        self.port = free_port() if port is None else port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once it answers PING."""
        if self.running:
            raise RuntimeError("this redis-server is already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "redis.log"
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "protected-mode": "yes",
            "dir": str(self.directory),
            "save": "",  # no RDB snapshots: the append-only file is the store
            "appendonly": "yes",
            "appendfsync": "always",  # an acknowledged write is on disk
            "daemonize": "no",
            "logfile": str(log),
        }
        arguments = [self.executable]
        for option, value in options.items():
            arguments += [f"--{option}", value]
        self._process = subprocess.Popen(
            arguments,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _READY_SECONDS
        while True:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"redis-server exited at start:\n{_tail(log)}")
            with contextlib.suppress(OSError):
                if self.ping():
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING:\n{_tail(log)}")
            time.sleep(0.02)  # waiting for a child process to listen: polling is the way

    def ping(self) -> bool:
        """Whether the server answers PING now (raises OSError when it is not there)."""
        return _command(("127.0.0.1", self.port), "PING") == b"+PONG"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period) and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of the server shared by the session (skips when
    there is none). Tests share its data: each keeps to a namespace of its own."""
    executable = redis_executable()
    with RedisServer(executable, tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[[], RedisServer]]:
    """Start independent servers of one's own (e.g. to restart or kill them).

    Each call starts a server with its data under ``tmp_path``; all are stopped and
    reaped when the test ends.
    """
    executable = redis_executable()
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        server = RedisServer(executable, tmp_path / f"redis-{len(servers)}")
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
