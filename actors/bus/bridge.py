"""The inference bridge: answers ``bus.inference.*`` requests from the event log (BUS.md §3).

One request's life, in the order this module reads::

    bridge = InferenceBridge(log, ProviderRegistry([ollama]))
    specs = [ChildSpec("inference-bridge", bridge.run, Restart.PERMANENT)]

1. **It arrives** (:meth:`InferenceBridge.run`): the four request names are listened to
   (unicast, group ``asm-inference``, explicit ack), one task per request.
2. **The answer book** (:meth:`InferenceBridge._answer_of`): a repeat of a request
   answered within the window, by (name, correlation id) and the same payload, gets the
   stored response (:mod:`actors.bus._answer_book`, which has the trust rule); a
   different request under a correlation id already answered gets a ``conflict``.
3. **Otherwise act** (:meth:`InferenceBridge._act`): validate the payload, look up the
   provider that serves its node (:class:`ProviderRegistry`), hold the node for an
   install or model.ensure, and call the provider within the request's deadline,
   publishing its progress reports (:mod:`actors.bus.progress`) under the correlation id.
4. **The response** (:meth:`InferenceBridge._publish`) goes out under the request's
   correlation id, and only then is the request acked.

Every response is valid (:mod:`contracts.inference.responses` checks a provider's answer
and writes the ok:false ones). Whose stored responses count: only the bridge's own
(``identity_id``, or the identity the log stamps on what it publishes — a remote API
stamps the token's subject, so pass that); anyone else's is ignored and the request acted
on.

The log may be the embedded one or a remote Bus Events API: whatever its ``listen``
raises (a lost connection, a 401) ends :meth:`InferenceBridge.run`, so the supervisor
restarts the bridge, and unacked requests return to the group. Why the ack waits are
long: a request not acked within ``ack_wait`` is handed out again, possibly to another
process, so each name is listened to with ``ack_wait`` = its deadline + ``ack_margin``,
which no answer outlives; a crash between publish and ack is repaired by the redelivery,
which finds the stored response instead of acting twice.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Final, assert_never

import msgspec
import trio

from actors.bus._answer_book import Answer, AnswerBook
from actors.bus.progress import ProgressSink, progress_to
from actors.bus.registry import InferenceProvider, ProviderRefusal, ProviderRegistry
from contracts.events import Event, ListenQuery, PublishEnvelope
from contracts.inference import (
    BRIDGE_IDENTITY,
    INSTALL_REQUEST,
    MODEL_ENSURE_PROGRESS,
    MODEL_ENSURE_REQUEST,
    PROGRESS_FOR,
    REQUEST_NAMES,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    InstallRequest,
    Invalid,
    ModelEnsureRequest,
    RequestPayload,
    StatusRequest,
    Subject,
    VerifyRequest,
    checked_answer,
    failure_json,
    subject_of,
    subject_of_raw,
    validate,
)
from transport.event_log import EventLog, StoreError

__all__ = ["DEFAULT_DEADLINES", "GROUP", "InferenceBridge"]

log = logging.getLogger("asm.bridge")

GROUP: Final = "asm-inference"
#: Seconds each request may take before it is answered ``timeout`` (BUS.md §3).
DEFAULT_DEADLINES: Final[Mapping[str, float]] = {
    INSTALL_REQUEST: 600.0,
    MODEL_ENSURE_REQUEST: 600.0,
    STATUS_REQUEST: 30.0,
    VERIFY_REQUEST: 30.0,
}
#: One of these per node at a time; a second one meanwhile is a conflict.
EXCLUSIVE: Final = frozenset({INSTALL_REQUEST, MODEL_ENSURE_REQUEST})
_OPERATION: Final = {
    INSTALL_REQUEST: "install",
    MODEL_ENSURE_REQUEST: "model.ensure",
    STATUS_REQUEST: "status",
    VERIFY_REQUEST: "verify",
}


class InferenceBridge:
    """Answers inference requests from ``log`` with the providers of ``registry``.

    ``deadlines`` overrides :data:`DEFAULT_DEADLINES` per request name; at most
    ``concurrency`` requests are handled at once; a repeated (name, correlation id) within
    ``idempotency_seconds`` gets the stored response.
    """

    def __init__(
        self,
        log: EventLog,
        registry: ProviderRegistry,
        *,
        deadlines: Mapping[str, float] | None = None,
        group: str = GROUP,
        consumer: str | None = None,
        identity_id: str = BRIDGE_IDENTITY,
        idempotency_seconds: float = 86400.0,
        ack_margin: float = 30.0,
        concurrency: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unknown = set(deadlines or ()) - set(REQUEST_NAMES)
        if unknown:
            raise ValueError(f"deadlines are for request names only, not {sorted(unknown)}")
        self._log = log
        self._registry = registry
        self._deadlines = {**DEFAULT_DEADLINES, **(deadlines or {})}
        self._group = group
        self._consumer = consumer or default_consumer()
        self._identity_id = identity_id
        self._ack_margin = ack_margin
        self._limiter = trio.CapacityLimiter(concurrency)
        self._book = AnswerBook(
            log,
            window=idempotency_seconds,
            clock=clock,
            publisher=identity_id,
            request_slack=max(self._deadlines.values()) + ack_margin,
        )
        self._busy: set[tuple[str, str]] = set()

    @property
    def consumer(self) -> str:
        return self._consumer

    # --- 1. a request arrives -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and answer until cancelled; started once all four names are listened to."""
        async with trio.open_nursery() as nursery:
            for name in REQUEST_NAMES:
                await nursery.start(self._listen, name, nursery)
            log.info(
                "inference bridge %s in group %r answers for %s",
                self._consumer,
                self._group,
                ", ".join(self._registry.names()) or "no provider",
            )
            task_status.started()

    async def _listen(
        self,
        name: str,
        handlers: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        query = ListenQuery(
            pattern=name,
            delivery="unicast",
            group=self._group,
            consumer=self._consumer,
            ack="explicit",
            ack_wait=self._deadlines[name] + self._ack_margin,
        )
        async with self._log.listen(query) as stream:
            task_status.started()
            while True:
                # A slot first, then a request: a full bridge leaves requests in the group
                # for the other consumers instead of taking them and making them wait.
                token = object()
                await self._limiter.acquire_on_behalf_of(token)
                try:
                    event = await stream.receive()
                except BaseException:
                    self._limiter.release_on_behalf_of(token)
                    raise
                handlers.start_soon(self._handle, event, token)

    async def _handle(self, event: Event, token: object) -> None:
        try:
            await self._answer(event)
        finally:
            self._limiter.release_on_behalf_of(token)

    async def _answer(self, event: Event) -> None:
        """One request's life: its answer (2, 3), the response published (4), the ack."""
        answer, acted = await self._answer_of(event)
        outcome = _OUTCOME.decode(answer.payload)
        log.info(
            "%s correlation_id=%s request=%s: %s%s",
            event.name,
            event.correlation_id,
            event.id,
            "ok" if outcome.ok else outcome.error_class,
            "" if acted else " (stored answer)",
        )
        try:
            if event.id not in answer.answered:
                await self._publish(event, answer)
                answer.answered.add(event.id)
            if not await self._log.ack(self._group, self._consumer, event.id):
                log.info("%s %s was no longer pending when acked", event.name, event.id)
        except StoreError as error:
            # Nothing stored or acked: the request comes back after ack_wait and is
            # answered from memory then. Only the class: a store's message may hold a URL.
            log.warning(
                "%s %s: the event log failed (%s)", event.name, event.id, type(error).__name__
            )

    # --- 2. the answer book ---------------------------------------------------------------

    async def _answer_of(self, event: Event) -> tuple[Answer, bool]:
        """The answer to ``event`` and whether it was made now: the stored one for a
        repeat, a conflict for a different request under a used correlation id, else
        what acting on it gives."""
        name, correlation_id = event.name, event.correlation_id
        if correlation_id is None:
            log.warning("%s %s has no correlation id; answering without one", name, event.id)
            return Answer(await self._act(event), 0.0, event.id), True
        async with self._book.hold((name, correlation_id)) as held:
            answer, acted = held.answer, held.answer is None
            if answer is None:  # neither in memory nor the bridge's own in the log
                answer = held.record(await self._act(event), event)
        if not answer.answers(bytes(event.payload)):
            answer = self._conflict(event, answer)
        return answer, acted

    def _conflict(self, request: Event, earlier: Answer) -> Answer:
        """The answer to a request whose correlation id an earlier, different request
        holds (see :mod:`actors.bus._answer_book`): a conflict, remembered for nothing."""
        diagnostics = [
            f"correlation id {request.correlation_id!r} already names a different request "
            f"({earlier.made_for}) answered within the idempotency window; "
            "publish this request with a new correlation id"
        ]
        data = bytes(request.payload)
        payload = failure_json(request.name, subject_of_raw(data), "conflict", diagnostics)
        return Answer(payload, 0.0, request.id, request=data)

    # --- 3. acting on it: validate, look up the provider, dispatch ------------------------

    async def _act(self, event: Event) -> bytes:
        """The JSON of the response to ``event``: validate it, look up the provider that
        serves its node, dispatch it to that provider."""
        name, data = event.name, bytes(event.payload)
        match validate(name, data):
            case Invalid(diagnostics=diagnostics):
                return failure_json(name, subject_of_raw(data), "bad_request", diagnostics)
            case request:
                assert isinstance(request, RequestPayload)  # a request name gives a request
        subject = subject_of(request)
        match self._registry.resolve(subject.provider, subject.node_id):
            case ProviderRefusal(error_class=error_class, diagnostic=diagnostic):
                return failure_json(name, subject, error_class, [diagnostic])
            case provider:
                return await self._dispatch(event, subject, provider, request)

    async def _dispatch(
        self, event: Event, subject: Subject, provider: InferenceProvider, request: RequestPayload
    ) -> bytes:
        """Hold the node for an install or model.ensure (a second one meanwhile is a
        conflict), then call the provider."""
        node = (subject.provider, subject.node_id)
        exclusive = event.name in EXCLUSIVE
        if exclusive:
            if node in self._busy:
                return failure_json(
                    event.name,
                    subject,
                    "conflict",
                    [
                        f"conflict: node {subject.node_id!r} is busy with another install or"
                        " model.ensure; send the request again once that one is answered"
                    ],
                )
            self._busy.add(node)
        try:
            return await self._call(event, subject, provider, request)
        finally:
            if exclusive:
                self._busy.discard(node)

    async def _call(
        self, event: Event, subject: Subject, provider: InferenceProvider, request: RequestPayload
    ) -> bytes:
        """The provider's checked answer within the deadline (else ``timeout``, or
        ``provider_error`` when it raised); its progress reports are published meanwhile."""
        name = event.name
        deadline = self._deadlines[name]
        operation = _OPERATION[name]
        try:
            with trio.move_on_after(deadline), progress_to(self._progress_sink(event)):
                return checked_answer(name, subject, await _operation(provider, request))
        except Exception as error:
            # The exception's text may quote a secret (a URL with a token, a key path):
            # only its class goes to the log and into the diagnostic.
            kind = type(error).__name__
            log.warning("%s on node %r: provider raised %s", operation, subject.node_id, kind)
            return failure_json(
                name,
                subject,
                "provider_error",
                [f"provider_error: {subject.provider} failed during {operation} ({kind})"],
            )
        return failure_json(
            name,
            subject,
            "timeout",
            [f"timeout: {operation} on node {subject.node_id!r} took longer than {deadline:g} s"],
        )

    # --- 4. publishing: the response, and the progress meanwhile --------------------------

    async def _publish(self, request: Event, answer: Answer) -> None:
        """Publish ``answer`` as the response to ``request``, under its correlation id."""
        metadata = {"request_id": request.id}
        if answer.made_for != request.id:
            metadata["answer_of"] = answer.made_for  # a repeat: the window is the original's
        envelope = PublishEnvelope(
            name=RESPONSE_FOR[request.name],
            payload=msgspec.Raw(answer.payload),
            correlation_id=request.correlation_id,
            metadata=metadata,
        )
        await self._append(envelope)

    def _progress_sink(self, request: Event) -> ProgressSink:
        """Where the provider's progress reports of ``request`` go: published under its
        correlation id, as a courtesy (a store that fails them does not stop the work)."""

        async def publish_progress(progress: Mapping[str, object]) -> None:
            envelope = PublishEnvelope(
                name=PROGRESS_FOR.get(request.name, MODEL_ENSURE_PROGRESS),
                payload=msgspec.Raw(msgspec.json.encode(progress)),
                correlation_id=request.correlation_id,
                metadata={"request_id": request.id},
            )
            try:
                await self._append(envelope)
            except StoreError as error:
                log.warning("progress of %s not published (%s)", request.id, type(error).__name__)

        return publish_progress

    async def _append(self, envelope: PublishEnvelope) -> None:
        """Publish as the bridge, and note the identity the log stamped on it."""
        for event in await self._log.append([envelope], identity_id=self._identity_id):
            self._book.published_as(event.identity_id)


class _Outcome(msgspec.Struct):
    """Just enough of a response to log how a request ended."""

    ok: bool = False
    error_class: str = ""


_OUTCOME: Final = msgspec.json.Decoder(_Outcome)


def default_consumer() -> str:
    """``<host>:<pid>``: one consumer name per process (within the 128-character limit)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


async def _operation(provider: InferenceProvider, request: RequestPayload) -> object:
    """The provider's answer to ``request``: the operation its kind names."""
    match request:
        case InstallRequest():
            return await provider.install(request)
        case ModelEnsureRequest():
            return await provider.ensure_model(request)
        case StatusRequest():
            return await provider.status(request)
        case VerifyRequest():
            return await provider.verify(request)
        case _:
            assert_never(request)
