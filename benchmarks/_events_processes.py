"""The processes of ``benchmarks/events.py``: its servers and a redis-server, each
started here, stopped and reaped here.

    async with open_redis(home / "redis", mark) as redis_url:
        async with open_servers({"memory": "memory", "redis": redis_url}, home, mark) as servers:
            servers["memory"].url, servers["memory"].token

Every process carries the run's marker variable (``MARK_VARIABLE``), so one left alive
at the end is found. Leaving a block normally sends SIGTERM and waits for exit 0 (a
server that fails to exit 0 is an error naming its stderr); leaving it by an exception
cancels ``trio.run_process``, which terminates and then kills the process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio

from benchmarks._endpoint_common import MARK_VARIABLE, ROOT

__all__ = ["Server", "open_redis", "open_servers", "redis_server_path"]

_READY_SECONDS = 30.0
_STOP_SECONDS = 15.0


@dataclass(frozen=True)
class Server:
    """A running ``benchmarks._events_server``: its base URL and a token for it."""

    url: str
    token: str


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def _environ(mark: str) -> dict[str, str]:
    return {**os.environ, MARK_VARIABLE: mark}


async def _ready_line(process: trio.Process) -> Server:
    assert process.stdout is not None
    buffer = b""
    while b"\n" not in buffer:
        data = await process.stdout.receive_some()
        if not data:
            raise RuntimeError(f"a benchmark server ended before it was ready: {buffer!r}")
        buffer += data
    ready = json.loads(buffer.partition(b"\n")[0])
    return Server(url=ready["url"], token=ready["token"])


@asynccontextmanager
async def open_servers(
    stores: Mapping[str, str], home: Path, mark: str
) -> AsyncIterator[dict[str, Server]]:
    """One server process per ``name → store`` (``hello`` or an ``open_event_log`` spec),
    started side by side; their stderr goes to ``home/<name>.stderr``."""
    processes: dict[str, trio.Process] = {}
    servers: dict[str, Server] = {}
    async with trio.open_nursery() as nursery:
        for name, store in stores.items():
            argv = [sys.executable, "-m", "benchmarks._events_server", store]
            with (home / f"{name}.stderr").open("wb") as stderr:  # the child holds its copy
                processes[name] = await nursery.start(
                    partial(
                        trio.run_process,
                        argv,
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                        env=_environ(mark),
                        cwd=str(ROOT),
                        check=False,
                    )
                )

        async def ready(name: str) -> None:
            servers[name] = await _ready_line(processes[name])

        with trio.fail_after(_READY_SECONDS):
            async with trio.open_nursery() as readers:
                for name in processes:
                    readers.start_soon(ready, name)
        yield {name: servers[name] for name in stores}  # in the order asked for
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        with trio.fail_after(_STOP_SECONDS):
            codes = {name: await process.wait() for name, process in processes.items()}
        for process in processes.values():
            assert process.stdout is not None
            await process.stdout.aclose()
    for name, code in codes.items():
        if code != 0:
            tail = (home / f"{name}.stderr").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the {name} server exited {code}: {tail}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _pong(port: int) -> bool:
    try:
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(b"*1\r\n$4\r\nPING\r\n")
            return (await stream.receive_some()).startswith(b"+PONG")
    except OSError:
        return False


@asynccontextmanager
async def open_redis(directory: Path, mark: str) -> AsyncIterator[str]:
    """A redis-server on a free 127.0.0.1 port as the tests run it (an append-only file
    fsynced on every write, no snapshots), its data in ``directory``; yields its URL."""
    executable = redis_server_path()
    if executable is None:
        raise RuntimeError("redis-server is not on PATH")
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    argv = [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    argv += ["--daemonize", "no", "--logfile", str(directory / "redis.log")]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_environ(mark),
                check=False,
            )
        )
        with trio.fail_after(_READY_SECONDS):
            while not await _pong(port):
                if process.returncode is not None:
                    raise RuntimeError(f"redis-server exited {process.returncode} at start")
                await trio.sleep(0.02)  # a child's listening socket has no event to wait on
        yield f"redis://127.0.0.1:{port}/0"
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(_STOP_SECONDS):
            await process.wait()
