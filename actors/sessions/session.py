"""The session actor: one CLI run, owned from spawn to reap (SPEC §4.4).

A :class:`SessionActor` is a temporary child of the session supervisor. It spawns the
CLI in a private directory with a scrubbed environment, reports a :class:`Session`
handle as soon as the process exists (so a warm pool can park it before anyone asks it
anything), waits for a conversation, gives it to the CLI the way the provider's driver
says (files in the private directory, stdin writes, waiting for the CLI's
acknowledgement between two), then turns stdout lines into session events with the
provider's decoder under three timers. A CLI that reads its conversation as it starts
(gemini) is spawned only once the conversation is there. However the run ends — a
result, a timer, a broken line, the consumer going away, the system stopping — the
shielded shutdown ladder reaps the whole process group before the actor returns, and
exactly one ``Finished`` or ``Failed`` is the last event the consumer sees (if it is
still there). Nothing leaves with a secret the CLI was handed, whatever stream it
printed it on (:mod:`actors.sessions.redaction`)::

    async with trio.open_nursery() as nursery:
        session = await nursery.start(SessionActor(spec).run)
        events = session.submit(Conversation.from_prompt("Say hi"))
        async for event in events:
            print(event)

Timers (each ends the run with ``Failed(kind="timeout")``): the first-event deadline
runs from the prompt to the first *answer* event (text, a whole message, usage or the
result; a start line or a retry warning is not an answer, so a CLI retrying an
unreachable vendor times out here); the idle timer runs between stdout lines after
that; the whole-run timer runs from the prompt.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

import msgspec
import trio

from actors.processes import (
    ChildProcess,
    LineTooLong,
    ProcessLedger,
    StderrTail,
    UnsafeCommandLine,
    open_process_group,
    read_lines,
    sweep_group_on_exit,
)
from actors.sessions.handle import EVENT_BUFFER, Session, SessionEnded
from actors.sessions.outbox import Outbox
from actors.sessions.probes import PROBES
from actors.sessions.redaction import Redactor
from actors.sessions.sandbox import Sandbox
from actors.sessions.spec import SessionSpec, Timers
from contracts.conversation import Conversation
from contracts.providers import Delivery, Launch, LaunchRequest, Workspace
from contracts.session import (
    Failed,
    Finished,
    Message,
    TextDelta,
    Usage,
    connection_trouble,
)
from contracts.session import Warning as Notice
from transport.http import Metrics, resume_request

__all__ = ["Session", "SessionActor", "SessionEnded", "SessionSpec", "Timers"]

log = logging.getLogger("asm.session")

_ANSWER_EVENTS = (TextDelta, Message, Usage, Finished)


class SessionActor:
    """Runs one :class:`SessionSpec`; start it with ``nursery.start(actor.run)``."""

    def __init__(
        self,
        spec: SessionSpec,
        ledger: ProcessLedger | None = None,
        metrics: Metrics | None = None,
        *,
        conversation: Conversation | None = None,
    ) -> None:
        self.spec = spec
        self._for = conversation  # started for this conversation (none: it may park)
        self._ledger = ledger
        self.session = Session(provider=spec.driver.profile.id, model=spec.model)
        # Whatever leaves the session (events, their logs) goes without its secrets.
        self._redactor = Redactor.of(spec.env, spec.driver.profile.auth_env)
        self._outbox = Outbox(
            self.session, model=spec.model, metrics=metrics, redactor=self._redactor
        )
        self._decoder = spec.driver.decoder()
        self._acked = trio.Event()  # set (and renewed) each time the CLI acknowledges
        self._stderr = StderrTail()
        self._closed = False
        self._written = False  # every stdin step of the delivery went out

    async def run(
        self, *, task_status: trio.TaskStatus[Session] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Spawn, report the handle, converse, reap. Never raises for a CLI's failure."""
        session = self.session
        sandbox = Sandbox.create(self.spec.work_root, session.provider)
        workspace = Workspace(str(sandbox.root), str(uuid.uuid4()))
        try:
            with session.run_scope():
                await self._run_in(sandbox, workspace, task_status)
        finally:
            await sandbox.remove()
            session.close_events()
            session.reaped.set()
            session.ended.set()

    async def _run_in(
        self, sandbox: Sandbox, workspace: Workspace, task_status: trio.TaskStatus[Session]
    ) -> None:
        session, driver = self.session, self.spec.driver
        conversation, chosen = None, self._for
        if chosen is not None:
            # Started for one conversation: launched for it, and it takes no other.
            session.takes = lambda chat: chat == chosen
        elif not driver.parks:
            # It reads its conversation as it starts: spawn once there is one.
            task_status.started(session)
            conversation = await self._next_conversation()
            if conversation is None:
                return
        request = self.spec.launch_request(workspace, conversation or chosen)
        provider = session.provider
        try:
            request, launch = await self._launch(request, sandbox)
        except OSError as exc:
            reason = f"{provider}: cannot prepare its private directory: {exc.strerror or exc}"
            failed = Failed(kind="crashed", message=reason)
            await self._fail_before_start(failed, conversation, task_status)
            return
        # Entered here, left early in the run's finally: the drains must run while it reaps.
        group = contextlib.AsyncExitStack()
        try:
            child = await group.enter_async_context(
                open_process_group(
                    launch.argv,
                    env=self.spec.environment(sandbox, launch),
                    cwd=sandbox.cwd,
                    ladder=self.spec.ladder,
                    ledger=self._ledger,
                    close_output=False,  # closed below, once the drains stop reading
                )
            )
        except UnsafeCommandLine as exc:  # e.g. a NUL byte in a model id: no exec takes it
            failed = Failed(kind="crashed", message=f"{provider}: cannot start: {exc}")
            await self._fail_before_start(failed, conversation, task_status)
            return
        except OSError as exc:
            reason = f"{provider}: cannot run {request.executable!r}: {exc.strerror or exc}"
            failed = Failed(kind="not_installed", message=reason)
            await self._fail_before_start(failed, conversation, task_status)
            return
        session.pid = child.pid
        log.debug("%s session spawned, pid %d", session.provider, child.pid)
        if conversation is None:
            if chosen is None:  # parked: it can take what needs no other launch
                session.takes = lambda chat: not driver.needs_launch(chat)
            task_status.started(session)
        tail = self._stderr = StderrTail()
        lines_send, lines = trio.open_memory_channel[bytes | LineTooLong](EVENT_BUFFER)
        drains = trio.CancelScope(shield=True)  # drains outlive a cancellation until reaped
        ending: Failed | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._drain, drains, child, lines_send, tail)
                try:
                    ending = await self._converse(child, lines, request, sandbox, conversation)
                except BaseException as exc:
                    if _is_cancellation(exc):
                        ending = Failed(
                            kind="cancelled", message=f"{session.provider} session cancelled"
                        )
                    raise
                finally:
                    lines.close()
                    await group.aclose()  # reaped (shielded) and crossed out of the ledger
                    drains.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await child.close_output()
                if child.exit_code is not None:
                    await self._close(ending, child.exit_code, tail.text())
                # Done for the consumer; removing the private directory can take a while.
                session.close_events()
                session.reaped.set()

    async def _launch(
        self, request: LaunchRequest, sandbox: Sandbox
    ) -> tuple[LaunchRequest, Launch]:
        """The driver's launch, its probe answered, placed in the sandbox."""
        driver, copy = self.spec.driver, self.spec.isolate_home
        launch = driver.launch(request)
        probe = driver.probe_argv(request.executable)
        if probe is not None:
            sandbox.place(launch, copy_links=copy)
            output = await PROBES.output(
                probe, env=self.spec.environment(sandbox, launch), cwd=sandbox.cwd
            )
            if output is not None:
                request = msgspec.structs.replace(request, probe=output)
                launch = driver.launch(request)
        sandbox.place(launch, copy_links=copy)
        return request, launch

    async def _drain(
        self,
        scope: trio.CancelScope,
        child: ChildProcess,
        lines: trio.MemorySendChannel[bytes | LineTooLong],
        tail: StderrTail,
    ) -> None:
        with scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_lines, child.stdout, lines)
                nursery.start_soon(tail.drain, child.stderr)

    async def _next_conversation(self) -> Conversation | None:
        """The submitted conversation, or None when the session ends before it comes."""
        with contextlib.suppress(trio.EndOfChannel):
            conversation = await self.session.receive_conversation()
            resume_request(self.session.submitted_by)  # log as part of the submitter's request
            self._outbox.begin()
            return conversation
        return None

    async def _await_prompt(self, child: ChildProcess) -> Conversation | None:
        """The conversation, or None when the parked process exits (or is cancelled) first."""
        conversation: Conversation | None = None
        async with trio.open_nursery() as race:

            async def watch_exit() -> None:
                await trio.lowlevel.wait_readable(child.pidfd)
                race.cancel_scope.cancel()

            race.start_soon(watch_exit)
            conversation = await self._next_conversation()
            race.cancel_scope.cancel()
        return conversation

    async def _converse(
        self,
        child: ChildProcess,
        lines: trio.MemoryReceiveChannel[bytes | LineTooLong],
        request: LaunchRequest,
        sandbox: Sandbox,
        conversation: Conversation | None,
    ) -> Failed | None:
        """Conversation in, events out. Returns our own Failed, or None to let the decoder end."""
        provider = self.session.provider
        if conversation is None:
            conversation = await self._await_prompt(child)
        if conversation is None:
            return Failed(kind="crashed", message=f"{provider} exited before it got a prompt")
        delivery = self.spec.driver.deliver(conversation, request)
        sandbox.write(delivery.files)
        self._decoder = self.spec.driver.decoder(delivery.acks)
        submitted = trio.current_time()
        async with trio.open_nursery() as nursery:
            # The leader may exit while a helper it left still holds stdout open; sweep
            # the group at once so stdout ends and the decoder can classify the exit.
            nursery.start_soon(sweep_group_on_exit, child)
            nursery.start_soon(self._write_input, child, delivery)
            ending = await self._read_events(lines, submitted)
            nursery.cancel_scope.cancel()
        return ending

    async def _write_input(self, child: ChildProcess, delivery: Delivery) -> None:
        """Write the delivery's steps to stdin, each after the CLI acknowledged the last.

        A CLI that never reads its stdin does not hold the run: the first-event deadline
        ends it (and says the prompt was never read).
        """
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            for number, step in enumerate(delivery.steps):
                while self._decoder.acks < number:
                    await self._acked.wait()
                await child.stdin.send_all(step)
            self._written = True
            if not delivery.hold_stdin:
                await child.stdin.aclose()

    async def _read_events(
        self, lines: trio.MemoryReceiveChannel[bytes | LineTooLong], now: float
    ) -> Failed | None:
        """Lines in, events out, under the three timers (``now``: when the prompt went in)."""
        provider, timers, decoder = self.session.provider, self.spec.timers, self._decoder
        first_deadline, answered = now + timers.first_event, False
        retrying: Notice | None = None  # the last retry notice before any answer
        with trio.move_on_at(now + timers.total) as whole:
            while True:
                deadline = first_deadline if not answered else trio.current_time() + timers.idle
                item: bytes | LineTooLong | None = None
                with trio.move_on_at(deadline), contextlib.suppress(trio.EndOfChannel):
                    item = await lines.receive()
                if item is None:
                    if trio.current_time() < deadline:
                        return None  # stdout closed: the decoder classifies the end
                    if not answered and retrying is not None:
                        return self.spec.unreachable(timers.first_event, retrying.message)
                    trouble = connection_trouble(self._stderr.text()) if not answered else None
                    if trouble is not None:  # some CLIs retry on stderr only (gemini)
                        return self.spec.unreachable(timers.first_event, trouble)
                    if not self._written:
                        return Failed(
                            kind="timeout",
                            message=f"{provider} did not read its prompt within"
                            f" {timers.first_event:g} s",
                        )
                    which = "first-event" if not answered else "idle"
                    limit = timers.first_event if not answered else timers.idle
                    return Failed(
                        kind="timeout",
                        message=f"{provider}: {which} deadline of {limit:g} s passed",
                    )
                if isinstance(item, LineTooLong):
                    return Failed(kind="output_too_large", message=f"{provider}: {item}")
                acks = decoder.acks
                for event in decoder.feed(self._redactor.line(item)):
                    if isinstance(event, Failed):
                        return event
                    if isinstance(event, Notice) and not answered:
                        retrying = event
                    answered = answered or isinstance(event, _ANSWER_EVENTS)
                    await self._outbox.emit(event)
                if decoder.acks != acks:
                    self._acked.set()
                    self._acked = trio.Event()
                if decoder.done:
                    if decoder.succeeded:
                        # The answer is decided: send it now, reap after.
                        self._closed = True
                        for event in decoder.finish(None, ""):
                            await self._outbox.emit(event)
                    return None
        assert whole.cancelled_caught
        return Failed(kind="timeout", message=f"{provider}: run passed {timers.total:g} s")

    async def _fail_before_start(
        self, failed: Failed, known: Conversation | None, task_status: trio.TaskStatus[Session]
    ) -> None:
        """Nothing could start (the executable does not run, ``not_installed``): the
        conversation, once submitted, gets ``failed`` as its only event."""
        if known is None:
            task_status.started(self.session)
            if await self._next_conversation() is None:
                return
        await self._outbox.fail_alone(failed, self.spec.timers.idle)

    async def _close(self, ending: Failed | None, exit_code: int, stderr_tail: str) -> None:
        """Send the closing events: ours, or the decoder's classification of the exit."""
        if self._closed:
            return  # the reported success went out before the reap
        tail = self._redactor.tail(stderr_tail)
        closing = [ending] if ending is not None else self._decoder.finish(exit_code, tail)
        events = [
            self._redactor.event(
                msgspec.structs.replace(
                    event,
                    exit_code=exit_code if event.exit_code is None else event.exit_code,
                    stderr_tail=tail or None,
                )
                if isinstance(event, Failed)
                else event
            )
            for event in closing
        ]
        for event in events:
            if isinstance(event, Failed):
                log.debug(  # the outcome line itself is the outbox's
                    "%s session failed: %s: %s", self.session.provider, event.kind, event.message
                )
        await self._outbox.send_closing(events, self.spec.timers.idle)


def _is_cancellation(exc: BaseException) -> bool:
    """True for Cancelled, alone or as the only kind in a group (nurseries wrap it)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)
