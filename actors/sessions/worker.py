"""The worker actor: one long-lived ``codex app-server`` serving many completions.

A :class:`Worker` owns one CLI process in its server mode, from spawn to reap, as a
session actor owns a one-shot run: a private directory and home, a scrubbed
environment, its process group recorded in the ledger and reaped (shielded) however it
ends. It is ready once the server has answered ``initialize``. Each completion borrows
a conversation (:meth:`Worker.open`): an ephemeral thread whose instructions are the
client's system prompt, the earlier turns appended to its history, one turn run with
the last user message, and the same :class:`~actors.sessions.Session` handle a
one-shot run gives, with the same events, the same three timers and the same outcome
line::

    worker = await nursery.start(Worker(spec, ledger).run)
    session = worker.open()
    async with session.stream(conversation) as events:
        async for event in events:
            ...

Leaving the stream early (a client that disconnected) interrupts the turn, not the
worker. A turn past a deadline is interrupted and fails ``timeout``; the worker's other
conversations go on. When the process dies, exactly the turns in flight fail
(``crashed``), and :meth:`Worker.run` raises :class:`WorkerExited` so that its pool
starts another (:mod:`actors.sessions.worker_pool`).

A worker is recycled after ``max_turns`` completions: a long-lived ``codex app-server``
keeps about 1.4 MiB per thread it served (measured on 0.169.0, ``thread/unsubscribe``
notwithstanding), so after that many it takes no new turn, lets those in flight finish,
and exits; :meth:`Worker.run` then returns and its pool starts a fresh one.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

import msgspec
import trio

from actors.processes import (
    LineTooLong,
    ProcessLedger,
    StderrTail,
    open_process_group,
    read_lines,
)
from actors.sessions.handle import EVENT_BUFFER, Session
from actors.sessions.outbox import Outbox
from actors.sessions.probes import PROBES
from actors.sessions.redaction import Redactor
from actors.sessions.rpc import Notification, RpcClosed, RpcError, RpcPeer, TurnRefused
from actors.sessions.sandbox import Sandbox
from actors.sessions.server_modes import SERVER_MODES, OpenTurn, TurnDecoder
from actors.sessions.spec import SessionSpec
from contracts.conversation import Conversation
from contracts.providers import Launch, LaunchRequest, Workspace
from contracts.session import Failed, FailedKind, Finished, TextDelta, Usage, Warning
from transport.http import Metrics, resume_request

__all__ = ["INTERRUPT_WAIT", "MAX_TURNS", "Worker", "WorkerExited"]

log = logging.getLogger("asm.workers")

INTERRUPT_WAIT = 2.0
"""Seconds a turn that ends early waits for the server to take its interrupt."""

MAX_TURNS = 200
"""Completions a worker serves before it is recycled (see the module docs)."""


class WorkerExited(Exception):
    """The worker's process ended, or never became ready; the message says how."""


class Worker:
    """Runs one server-mode CLI for ``spec``; start it with ``nursery.start(worker.run)``."""

    def __init__(
        self,
        spec: SessionSpec,
        ledger: ProcessLedger | None = None,
        metrics: Metrics | None = None,
        *,
        name: str = "worker",
        on_ready: Callable[[], None] | None = None,
        max_turns: int = MAX_TURNS,
    ) -> None:
        self.spec = spec
        self.name = name
        self.max_turns = max_turns
        self._on_ready = on_ready
        self._opened = 0
        self._retiring = False
        self._drained = trio.Event()  # retiring, and no turn in flight
        self.pid: int | None = None
        self.in_flight = 0
        self.served = 0
        self.became_ready = False
        self._ledger = ledger
        self._metrics = metrics
        self._provider = spec.driver.profile.id
        self._mode = SERVER_MODES[self._provider]
        self._redactor = Redactor.of(spec.env, spec.driver.profile.auth_env)
        self._peer: RpcPeer | None = None
        self._nursery: trio.Nursery | None = None
        self._cwd = "/"

    @property
    def ready(self) -> bool:
        """Whether it takes conversations now."""
        peer = self._peer
        live = peer is not None and not peer.closed.is_set() and self._nursery is not None
        return live and not self._retiring

    @property
    def malformed_lines(self) -> int:
        """Lines from the server that were not JSON objects (skipped)."""
        return self._peer.malformed if self._peer is not None else 0

    async def run(self, *, task_status: trio.TaskStatus[Worker] = trio.TASK_STATUS_IGNORED) -> None:
        """Spawn, wait until ready, serve; raises :class:`WorkerExited` when the process
        ends (the turns in flight have failed by then). Returns once recycled (after
        ``max_turns``, its last turn done), or cancelled (its turns interrupted); the
        group is reaped either way."""
        sandbox = Sandbox.create(self.spec.work_root, self._provider)
        workspace = Workspace(str(sandbox.root), str(uuid.uuid4()))
        try:
            launch = await self._launch(self.spec.launch_request(workspace, None), sandbox)
            await self._serve(launch, sandbox, task_status)
        finally:
            self._peer, self._nursery = None, None
            with trio.CancelScope(shield=True):
                await sandbox.remove()

    async def _launch(self, request: LaunchRequest, sandbox: Sandbox) -> Launch:
        """The server's command line, with the probe (codex's model catalog) answered."""
        launch = self._mode.launch(request)
        probe = self.spec.driver.probe_argv(request.executable)
        if probe is not None:
            sandbox.place(launch, copy_links=self.spec.isolate_home)
            env = self.spec.environment(sandbox, launch)
            output = await PROBES.output(probe, env=env, cwd=sandbox.cwd)
            if output is not None:
                launch = self._mode.launch(msgspec.structs.replace(request, probe=output))
        sandbox.place(launch, copy_links=self.spec.isolate_home)
        return launch

    async def _serve(
        self, launch: Launch, sandbox: Sandbox, task_status: trio.TaskStatus[Worker]
    ) -> None:
        tail = StderrTail()
        group = open_process_group(
            launch.argv,
            env=self.spec.environment(sandbox, launch),
            cwd=sandbox.cwd,
            ladder=self.spec.ladder,
            ledger=self._ledger,
        )
        async with contextlib.AsyncExitStack() as stack:
            try:
                child = await stack.enter_async_context(group)  # reaped, shielded, on exit
            except OSError as exc:
                what = exc.strerror or str(exc)
                raise WorkerExited(
                    f"{self._provider}: cannot run {launch.argv[0]!r}: {what}"
                ) from None
            self.pid, self._cwd = child.pid, sandbox.cwd
            mode = self._mode
            peer = RpcPeer(
                child.stdin, name=mode.name, route_key=mode.route_key, answer=mode.answer
            )
            lines_send, lines = trio.open_memory_channel[bytes | LineTooLong](EVENT_BUFFER)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_lines, child.stdout, lines_send)
                nursery.start_soon(tail.drain, child.stderr)
                nursery.start_soon(peer.serve, lines)
                why = await self._handshake(peer)
                if why is None:
                    self._peer, self._nursery = peer, nursery
                    self.became_ready = True
                    log.info("%s %s ready, pid %d", self._provider, self.name, child.pid)
                    if self._on_ready is not None:
                        self._on_ready()
                    task_status.started(self)
                    await _first(peer.closed.wait, self._drained.wait)
                    why = None if self._drained.is_set() else peer.why_closed
                    if why is None:  # recycled: end of input lets the server exit now
                        with contextlib.suppress(
                            trio.BrokenResourceError, trio.ClosedResourceError
                        ):
                            await child.stdin.aclose()
                self._nursery = None  # no new turns; those in flight end now
                nursery.cancel_scope.deadline = trio.current_time() + INTERRUPT_WAIT
        if why is None:
            log.info("%s %s recycled after %d turns", self._provider, self.name, self.served)
            return
        last = self._redactor.tail(tail.text()).strip().splitlines()[-1:] or [""]
        ending = f"{why} (exit code {child.exit_code})"
        raise WorkerExited(f"{ending}: {last[0][:300]}" if last[0] else ending)

    async def _handshake(self, peer: RpcPeer) -> str | None:
        """``initialize`` answered within the first-event deadline, then ``initialized``;
        why not, or None."""
        limit = self.spec.timers.first_event
        with trio.move_on_after(limit):
            try:
                await self._mode.handshake(peer)
            except (RpcError, RpcClosed) as exc:
                return f"{peer.name} did not start: {exc}"
            return None
        return f"{peer.name} was not ready within {limit:g} s"

    def open(self) -> Session:
        """A session handle whose conversation this worker runs as one turn."""
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError(f"{self.name} is not ready")
        session = Session(provider=self._provider, model=self.spec.model, pid=self.pid)
        self.in_flight += 1
        self._opened += 1
        self._retiring = self._opened >= self.max_turns
        nursery.start_soon(self._turn, session)
        return session

    async def _turn(self, session: Session) -> None:
        outbox = Outbox(
            session, model=self.spec.model, metrics=self._metrics, redactor=self._redactor
        )
        ending: Failed | None = None
        try:
            with session.run_scope():
                try:
                    conversation = await session.receive_conversation()
                    resume_request(session.submitted_by)
                    outbox.begin()
                    ending = await self._converse(session, conversation, outbox)
                except BaseException:
                    ending = Failed(kind="cancelled", message=f"{self._provider} turn cancelled")
                    raise
        finally:
            self.in_flight -= 1
            self.served += 1
            if self._retiring and self.in_flight == 0:
                self._drained.set()
            with trio.CancelScope(shield=True):
                if ending is not None:
                    await outbox.send_closing([ending], self.spec.timers.idle)
                session.close_events()
                session.reaped.set()
                session.ended.set()

    async def _converse(
        self, session: Session, conversation: Conversation, outbox: Outbox
    ) -> Failed | None:
        """One turn of a fresh conversation on the server; returns our own Failed, or None
        once it ended."""
        peer, submitted = self._peer, trio.current_time()
        if peer is None:
            return self._crashed("the worker stopped before the turn began")
        spec = self.spec
        turn: OpenTurn | None = None
        try:
            with trio.move_on_at(submitted + spec.timers.first_event):
                turn = await self._mode.open(
                    peer, conversation, model=spec.model, cwd=self._cwd, persona=spec.persona
                )
            if turn is None:  # the server did not open a conversation in time
                passed = f"{self._provider}: first-event deadline of {spec.timers.first_event:g} s"
                return Failed(kind="timeout", message=f"{passed} passed")
        except TurnRefused as refused:
            return refused.failed
        except (RpcError, RpcClosed) as exc:
            return self._crashed(f"cannot open a conversation: {exc}")
        notes = peer.subscribe(turn.key)
        try:
            await turn.start(peer)
            return await self._read(turn.decoder, notes, outbox, submitted)
        except (RpcError, RpcClosed) as exc:
            return self._crashed(str(exc))
        finally:
            with trio.CancelScope(shield=True):
                peer.unsubscribe(turn.key)
                if not peer.closed.is_set():
                    with trio.move_on_after(INTERRUPT_WAIT), contextlib.suppress(RpcClosed):
                        await turn.stop(peer)

    async def _read(
        self,
        turn: TurnDecoder,
        notes: trio.MemoryReceiveChannel[Notification],
        outbox: Outbox,
        submitted: float,
    ) -> Failed | None:
        """Notifications in, events out, under the three timers of a session."""
        timers, provider = self.spec.timers, self._provider
        answered = False
        retrying: Warning | None = None  # the last retry notice before any answer
        with trio.move_on_at(submitted + timers.total) as whole:
            first_deadline = submitted + timers.first_event  # however many notices come
            while not turn.done:
                limit = timers.idle if answered else timers.first_event
                deadline = trio.current_time() + timers.idle if answered else first_deadline
                note: Notification | None = None
                with trio.move_on_at(deadline), contextlib.suppress(trio.EndOfChannel):
                    note = await notes.receive()
                if note is None:
                    if turn.done:
                        break
                    if self._peer is None or self._peer.closed.is_set():
                        return self._crashed("the worker exited with this turn in flight")
                    if not answered and retrying is not None:
                        return self.spec.unreachable(timers.first_event, retrying.message)
                    which = "idle" if answered else "first-event"
                    return Failed(
                        kind="timeout",
                        message=f"{provider}: {which} deadline of {limit:g} s passed",
                    )
                for event in turn.feed(*note):
                    if isinstance(event, Failed):
                        return event
                    if isinstance(event, Warning) and not answered:
                        retrying = event
                    answered = answered or isinstance(event, TextDelta | Usage | Finished)
                    await outbox.emit(event)
            return None
        assert whole.cancelled_caught
        return Failed(kind="timeout", message=f"{provider}: run passed {timers.total:g} s")

    def _crashed(self, what: str) -> Failed:
        kind: FailedKind = "crashed"
        return Failed(kind=kind, message=self._redactor.tail(f"{self._provider}: {what}"))


async def _first(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as one of ``waits`` returns."""
    async with trio.open_nursery() as nursery:
        for wait in waits:

            async def one(wait: Callable[[], Awaitable[object]] = wait) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(one)
