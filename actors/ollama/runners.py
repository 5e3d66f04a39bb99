"""Command runners: run one command on a node, here or over SSH, and reap all of it.

The Ollama provider probes, installs and starts runtimes through a :class:`Runner`; it
does not care where the command runs::

    runner = runner_for(node, SecretResolver(secrets_dir, os.environ), os.environ)
    result = await runner.run(["ollama", "--version"], timeout=30)
    if result.exit_code != 0:
        ...  # a non-zero exit is an answer, not an error

A command runs as the leader of its own process group (:mod:`actors.processes.child_process`).
When it exits, what it left running in its group is killed; a command that must leave a
service behind hands it to systemd. When it outlives ``timeout`` or its caller is
cancelled, the shutdown ladder kills the whole group, and the group is reaped before
:meth:`Runner.run` returns or raises. Each stream keeps its last 64 KiB. A caller that
wants the output while the command runs (an installer's download progress) passes
``on_output``: it is called with each line of stdout and stderr as it arrives, a line
ending at a newline or at a carriage return (a progress bar redrawing itself), and with
the line still being written as it stands whenever the output pauses::

    await runner.run(["sh", "-c", installer], timeout=900, on_output=latest.append)

:class:`SshRunner` runs the system's OpenSSH client as that command, so the remote side
ends when the local ``ssh`` does. Its key comes from a secret reference and lives in a
0600 file only while the command runs; neither the key nor the file's path reaches a
result or an error.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

import msgspec
import trio

from actors.ollama._ssh import hidden_values, key_file, remote_command, ssh_argv
from actors.ollama.secret_resolver import SecretResolver, scrub
from actors.processes import Ladder, StderrTail, reap, spawn
from contracts.nodes import NodeSettings

__all__ = [
    "LINE_LIMIT",
    "OUTPUT_LIMIT",
    "CommandResult",
    "LocalRunner",
    "OutputSink",
    "Runner",
    "RunnerError",
    "SshRunner",
    "runner_for",
]

OUTPUT_LIMIT: Final = 64 * 1024
"""How much of the end of stdout and of stderr a result keeps, in bytes."""

# After a timeout or a cancellation the command gets a moment after stdin closes, then
# SIGTERM, then SIGKILL; a command that exited by itself skips straight to the sweep.
_LADDER: Final = Ladder(voluntary=0.1, terminate=2.0)
# The group is dead by then, but a process that left it may still hold a pipe open.
_DRAIN_GRACE: Final = 1.0


OutputSink = Callable[[str], None]
"""Called with each line of a running command's output (see the module docs)."""

LINE_LIMIT: Final = 400
"""The longest line an :data:`OutputSink` is given, in characters; the rest is cut."""


class CommandResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a command ended: its exit code (negative: killed by that signal) and output."""

    exit_code: int
    stdout: str
    stderr: str


class RunnerError(Exception):
    """The command could not be started, or it timed out and was killed."""


class Runner(Protocol):
    """Runs commands on one node; ``description`` names where, for diagnostics."""

    description: str

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 - a timeout is a RunnerError, not a cancel
        on_output: OutputSink | None = None,
    ) -> CommandResult:
        """Run ``argv`` (a program, not a shell line) to its end; see the module docs."""
        ...


class LocalRunner:
    """Runs commands on this machine, in ``environ`` plus each run's ``env``."""

    def __init__(self, environ: Mapping[str, str], *, cwd: str = "/") -> None:
        self.description = "local"
        self._environ = dict(environ)
        self._cwd = cwd

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 - a timeout is a RunnerError, not a cancel
        on_output: OutputSink | None = None,
    ) -> CommandResult:
        if not argv:
            raise ValueError("argv is empty")
        return await _run(
            argv,
            env=self._environ | dict(env or {}),
            cwd=self._cwd,
            stdin=stdin,
            time_limit=timeout,
            what=f"{argv[0]!r} on {self.description}",
            on_output=on_output,
        )


class SshRunner:
    """Runs commands on ``[user@]host:port`` through the OpenSSH client.

    ``key_secret`` (a secret reference) is resolved for each run; without it ssh uses
    the agent and the default keys of ``environ``'s user. :meth:`run` raises
    :class:`actors.ollama.SecretNotFound` when the key does not resolve; an ssh that
    cannot connect is a result with exit code 255 and ssh's stderr (scrubbed).
    """

    def __init__(
        self,
        host: str,
        user: str | None,
        port: int,
        key_secret: str | None,
        resolver: SecretResolver,
        *,
        ssh_executable: str = "ssh",
        environ: Mapping[str, str],
    ) -> None:
        self.description = f"ssh {user + '@' if user else ''}{host}:{port}"
        self._host = host
        self._user = user
        self._port = port
        self._key_secret = key_secret
        self._resolver = resolver
        self._ssh = ssh_executable
        self._environ = dict(environ)

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 - a timeout is a RunnerError, not a cancel
        on_output: OutputSink | None = None,
    ) -> CommandResult:
        command = remote_command(argv, env or {})
        what = f"{argv[0]!r} on {self.description}"
        if self._key_secret is None:
            return await self._ssh_run(None, command, stdin, timeout, what, on_output=on_output)
        private_key = self._resolver.resolve(self._key_secret)
        with key_file(private_key) as identity:
            hidden = hidden_values(private_key, identity)
            scrubbed = _scrubbing(on_output, hidden)
            try:
                result = await self._ssh_run(
                    identity, command, stdin, timeout, what, on_output=scrubbed
                )
            except RunnerError as error:
                raise RunnerError(scrub(str(error), hidden)) from None
        return CommandResult(
            exit_code=result.exit_code,
            stdout=scrub(result.stdout, hidden),
            stderr=scrub(result.stderr, hidden),
        )

    async def _ssh_run(
        self,
        identity: Path | None,
        command: str,
        stdin: bytes | None,
        seconds: float,
        what: str,
        *,
        on_output: OutputSink | None,
    ) -> CommandResult:
        argv = ssh_argv(
            self._ssh,
            self._host,
            user=self._user,
            port=self._port,
            identity=identity,
            command=command,
        )
        return await _run(
            argv,
            env=self._environ,
            cwd="/",
            stdin=stdin,
            time_limit=seconds,
            what=what,
            on_output=on_output,
        )


def runner_for(node: NodeSettings, resolver: SecretResolver, environ: Mapping[str, str]) -> Runner:
    """The runner ``node`` asks for: :class:`LocalRunner` or :class:`SshRunner`."""
    if node.runner == "local":
        return LocalRunner(environ)
    if node.host is None:  # NodeSettings refuses this; kept for the type checker
        raise ValueError('runner = "ssh" needs host')
    return SshRunner(node.host, node.user, node.port, node.ssh_key, resolver, environ=environ)


async def _run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    stdin: bytes | None,
    time_limit: float,
    what: str,
    on_output: OutputSink | None = None,
) -> CommandResult:
    """Spawn ``argv``, feed and drain it, and reap its group: on exit, timeout or cancel."""
    try:
        child = await spawn(argv, env=env, cwd=cwd)
    except OSError as error:
        # Only the program is named: the rest of argv may be a key file's path.
        raise RunnerError(f"{what}: cannot start {argv[0]!r}: {error.strerror}") from None
    stdout, stderr = StderrTail(OUTPUT_LIMIT), StderrTail(OUTPUT_LIMIT)
    out_lines = None if on_output is None else _Lines(on_output).feed
    err_lines = None if on_output is None else _Lines(on_output).feed
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stdout.drain, child.stdout, out_lines)
            nursery.start_soon(stderr.drain, child.stderr, err_lines)
            nursery.start_soon(_feed, child.stdin, stdin)
            with trio.move_on_after(time_limit) as deadline:
                await trio.lowlevel.wait_readable(child.pidfd)
            exit_code = await reap(child, _LADDER)
            nursery.cancel_scope.deadline = trio.current_time() + _DRAIN_GRACE
    finally:
        await reap(child, _LADDER)  # shielded; at once when already reaped
        with trio.CancelScope(shield=True):
            await child.close_output()
    if deadline.cancelled_caught:
        raise RunnerError(
            f"{what}: did not finish within {time_limit:g} s; its process group was killed"
        )
    return CommandResult(exit_code=exit_code, stdout=stdout.text(), stderr=stderr.text())


class _Lines:
    """Cuts a stream's chunks into lines for an :data:`OutputSink`.

    A line ends at ``\\n`` or ``\\r``; the line still being written is given as it stands
    at the end of each chunk too (curl redraws its bar as ``\\r####  42.0%`` and ends
    that line only with the next redraw), and again once it ends. Each line is decoded as
    UTF-8 (bad bytes replaced), stripped of terminal escapes and other unprintable
    characters and cut to :data:`LINE_LIMIT`; blank lines are skipped.
    """

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self._partial = bytearray()

    def feed(self, chunk: bytes | bytearray) -> None:
        self._partial += chunk
        *lines, rest = _LINE_END.split(bytes(self._partial))
        self._partial = bytearray(rest[-4 * LINE_LIMIT :])
        for raw in lines:
            self._give(raw.decode("utf-8", errors="replace"))
        # The line being written may stop inside a character: leave that one out for now.
        self._give(codecs.getincrementaldecoder("utf-8")("replace").decode(rest))

    def _give(self, text: str) -> None:
        line = "".join(c for c in _ESCAPE.sub("", text) if c.isprintable()).strip()
        if line:
            self._sink(line[:LINE_LIMIT])


_LINE_END: Final = re.compile(rb"\r\n?|\n")
_ESCAPE: Final = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


def _scrubbing(sink: OutputSink | None, hidden: Sequence[str]) -> OutputSink | None:
    """``sink``, given each line with ``hidden`` values scrubbed out."""
    if sink is None:
        return None
    return lambda line: sink(scrub(line, hidden))


async def _feed(stream: trio.abc.SendStream, data: bytes | None) -> None:
    """Write ``data`` to the command's stdin and close it (at once when there is none)."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        async with stream:
            if data:
                await stream.send_all(data)
