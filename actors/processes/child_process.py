"""One CLI process group, from spawn to reap: framing, draining and the shutdown ladder.

The session actor (:mod:`actors.sessions.session`) decides *what* a run means; this module owns
the mechanics every run shares, so they are written and tested once:

- :func:`spawn` starts the CLI as the leader of its own process group (SPEC §4.4) and
  opens a pidfd for it at once, so the ladder can see the leader exit *before* it is
  reaped: while the zombie leader still holds the process-group id, signalling the
  group cannot hit an unrelated process that reused the id.
  A command line or environment no exec can pass (a NUL byte, an argument over
  128 KiB) is refused first with :class:`UnsafeCommandLine`, an ``OSError`` that says
  where and never quotes the value, so a bad model id is one failed run, not an
  exception that takes its lease down.
- :func:`read_lines` frames stdout into lines with a hard cap per line, and
  :class:`StderrTail` keeps the last 16 KiB of stderr. Both keep draining while the
  ladder runs, so a CLI blocked on a full pipe can still exit by itself.
- :func:`reap` is the shielded shutdown ladder: stdin closed → a voluntary exit →
  SIGTERM to the group → SIGKILL to the group → reaped. Whatever the leader did, what is
  left of its group (a shell, a node worker, an MCP server) is killed before the leader
  is reaped.

Usage::

    child = await spawn(("cat",), env={}, cwd="/tmp")
    await child.stdin.send_all(b"hi\\n")
    exit_code = await reap(child, Ladder(voluntary=0.5, terminate=0.5))
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import trio

__all__ = [
    "LINE_LIMIT",
    "MAX_ARGUMENT_BYTES",
    "STDERR_TAIL_BYTES",
    "ChildProcess",
    "Ladder",
    "LineTooLong",
    "StderrTail",
    "UnsafeCommandLine",
    "check_command_line",
    "read_lines",
    "reap",
    "signal_group",
    "spawn",
    "sweep_group_on_exit",
]

LINE_LIMIT = 1024 * 1024
"""The longest stdout line a session accepts (SPEC §4.4): longer is output_too_large."""

STDERR_TAIL_BYTES = 16 * 1024
"""How much of the end of stderr a session keeps for diagnostics."""

MAX_ARGUMENT_BYTES = 128 * 1024 - 1
"""The longest string exec passes in argv or the environment (Linux's MAX_ARG_STRLEN
counts the terminating NUL)."""

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Ladder:
    """The budgets of the shutdown ladder, in seconds (defaults from SPEC §4.4)."""

    voluntary: float = 2.0
    terminate: float = 3.0

    @property
    def budget(self) -> float:
        """The longest the ladder waits before SIGKILL; the reap follows at once."""
        return self.voluntary + self.terminate


@dataclass
class ChildProcess:
    """A spawned CLI: its Popen, our ends of its three pipes, its pidfd and group id."""

    popen: subprocess.Popen[bytes]
    stdin: trio.lowlevel.FdStream
    stdout: trio.lowlevel.FdStream
    stderr: trio.lowlevel.FdStream
    pidfd: int
    pgid: int
    reaped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exit_code(self) -> int | None:
        """The leader's exit code once reaped (negative: the signal that ended it), else None."""
        return self.popen.returncode if self.reaped else None

    async def close_output(self) -> None:
        """Close our ends of stdout and stderr, once nothing reads them any more."""
        for stream in (self.stdout, self.stderr):
            await stream.aclose()


class UnsafeCommandLine(OSError):
    """``argv`` or ``env`` holds what exec cannot pass; the message says where, not what."""


def check_command_line(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Raise :class:`UnsafeCommandLine` for a NUL byte, a string that is not encodable or
    over :data:`MAX_ARGUMENT_BYTES`, or a variable name that is empty or holds ``=``."""
    for number, argument in enumerate(argv):
        if problem := _unpassable(argument):
            raise UnsafeCommandLine(f"argument {number} of its command line {problem}")
    for name, value in env.items():
        if not name or "=" in name or not name.isprintable() or _unpassable(name):
            raise UnsafeCommandLine("an environment variable has an unusable name")
        if problem := _unpassable(f"{name}={value}"):
            raise UnsafeCommandLine(f"environment variable {name[:64]} {problem}")


def _unpassable(text: str) -> str | None:
    if "\0" in text:
        return "holds a NUL byte"
    try:
        size = len(os.fsencode(text))
    except UnicodeEncodeError:
        return "is not encodable text"
    return f"is over {MAX_ARGUMENT_BYTES} bytes" if size > MAX_ARGUMENT_BYTES else None


async def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: str) -> ChildProcess:
    """Start ``argv`` in a new session (its own process group) with all three pipes.

    Raises ``FileNotFoundError`` / ``PermissionError`` when the executable cannot run
    (the caller classifies that as not_installed), :class:`UnsafeCommandLine` before
    trying when ``argv`` or ``env`` cannot be passed. No parent-death signal (SPEC §4.4).

    Why not ``trio.lowlevel.open_process``: it forks from a worker thread, which costs
    about 2 ms more per spawn here than forking on the loop's own thread (measured by
    ``benchmarks/sessions.py``); Popen returns as soon as the child has exec'd, so the
    loop is held for well under a millisecond. The pipes are our own, wrapped as trio
    streams, and the pidfd replaces a blocking wait.
    """
    await trio.lowlevel.checkpoint()
    check_command_line(argv, env)
    ends = [os.pipe(), os.pipe(), os.pipe()]  # close-on-exec: only dup2'd copies pass
    (stdin_r, stdin_w), (stdout_r, stdout_w), (stderr_r, stderr_w) = ends
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=stdin_r,
            stdout=stdout_w,
            stderr=stderr_w,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except BaseException:
        for pair in ends:
            for fd in pair:
                os.close(fd)
        raise
    for fd in (stdin_r, stdout_w, stderr_w):
        os.close(fd)
    # Nothing reaps the leader before reap() calls popen.wait(), so the pid is still ours.
    pidfd = os.pidfd_open(popen.pid)
    return ChildProcess(
        popen=popen,
        stdin=trio.lowlevel.FdStream(stdin_w),
        stdout=trio.lowlevel.FdStream(stdout_r),
        stderr=trio.lowlevel.FdStream(stderr_r),
        pidfd=pidfd,
        pgid=popen.pid,
    )


def signal_group(child: ChildProcess, signum: int) -> None:
    """Send ``signum`` to the child's whole process group, if any member is left.

    Only called while the leader is unreaped (alive or a zombie), so the group id cannot
    have been reused.
    """
    if child.reaped:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pgid, signum)


async def _leader_exited_within(child: ChildProcess, seconds: float) -> bool:
    with trio.move_on_after(seconds) as scope:
        await trio.lowlevel.wait_readable(child.pidfd)
    return not scope.cancelled_caught


async def reap(child: ChildProcess, ladder: Ladder) -> int:
    """Run the shutdown ladder and reap the leader; returns its exit code.

    Shielded: a cancelled caller still gets the child reaped, within ``ladder.budget``
    plus the time SIGKILL takes. Negative exit codes are signals, as Python reports.
    """
    with trio.CancelScope(shield=True):
        return await _ladder(child, ladder)
    raise AssertionError("unreachable: a shielded scope is never cancelled")  # pragma: no cover


async def _ladder(child: ChildProcess, ladder: Ladder) -> int:
    if child.reaped:
        code = child.popen.returncode
        return code if code is not None else -signal.SIGKILL
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await child.stdin.aclose()
    if not await _leader_exited_within(child, ladder.voluntary):
        signal_group(child, signal.SIGTERM)
        if not await _leader_exited_within(child, ladder.terminate):
            signal_group(child, signal.SIGKILL)
    await trio.lowlevel.wait_readable(child.pidfd)
    # The leader is a zombie and still holds the group id: sweep what it left behind.
    signal_group(child, signal.SIGKILL)
    code = child.popen.wait()  # the leader is a zombie: this returns at once
    child.reaped = True
    os.close(child.pidfd)
    return code


async def sweep_group_on_exit(child: ChildProcess) -> None:
    """Once the leader exits, kill what is left of its group: a helper still holding
    stdout open would otherwise keep the end of stdout from coming."""
    await trio.lowlevel.wait_readable(child.pidfd)
    signal_group(child, signal.SIGKILL)


class LineTooLong(Exception):
    """A stdout line passed :data:`LINE_LIMIT` bytes without a newline."""


async def read_lines(
    stream: trio.abc.ReceiveStream,
    send: trio.MemorySendChannel[bytes | LineTooLong],
    limit: int = LINE_LIMIT,
) -> None:
    """Frame ``stream`` into lines (without newlines) and send them until EOF.

    A line longer than ``limit`` is sent as a :class:`LineTooLong` and ends framing. When
    the receiver goes away (the session is shutting down), the rest of the stream is
    read and dropped, so the writer never blocks on a full pipe.
    """
    buffer = bytearray()
    receiver_gone = False
    async with send:
        while chunk := await stream.receive_some(_CHUNK):
            if receiver_gone:
                continue
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                if end - start > limit:
                    break
                try:
                    await send.send(bytes(buffer[start:end]))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    receiver_gone = True
                    break
                start = end + 1
            del buffer[:start]
            if not receiver_gone and (len(buffer) > limit or buffer.find(b"\n") > limit):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await send.send(LineTooLong(f"a stdout line passed {limit} bytes"))
                receiver_gone = True
            if receiver_gone:
                buffer.clear()
        if buffer and not receiver_gone:
            # The last line had no newline; it is still a line.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await send.send(bytes(buffer))


class StderrTail:
    """Keeps the last :data:`STDERR_TAIL_BYTES` of a stream while draining all of it."""

    def __init__(self, limit: int = STDERR_TAIL_BYTES) -> None:
        self._limit = limit
        self._tail = bytearray()

    async def drain(
        self,
        stream: trio.abc.ReceiveStream,
        on_chunk: Callable[[bytes | bytearray], None] | None = None,
    ) -> None:
        """Read ``stream`` to EOF, keeping only its tail; ``on_chunk`` sees every chunk."""
        while chunk := await stream.receive_some(_CHUNK):
            if on_chunk is not None:
                on_chunk(chunk)
            self._tail += chunk
            if len(self._tail) > self._limit:
                del self._tail[: len(self._tail) - self._limit]

    def text(self) -> str:
        """The tail as text (undecodable bytes replaced)."""
        return self._tail.decode("utf-8", errors="replace")
