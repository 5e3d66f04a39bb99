"""The inference bridge: answers ``bus.inference.*`` requests from the event log (BUS.md §3).

It listens to the four request names (unicast, group ``asm-inference``, explicit ack),
validates each request, dispatches it to the provider that serves its node, publishes the
response under the request's correlation id, and only then acks::

    bridge = InferenceBridge(log, ProviderRegistry([ollama]))
    specs = [ChildSpec("inference-bridge", bridge.run, Restart.PERMANENT)]

The log may be the embedded one or a remote Bus Events API: whatever its ``listen``
raises (a lost connection, a 401) ends :meth:`InferenceBridge.run`, so the supervisor
restarts the bridge, and unacked requests return to the group.

Why the ack waits are long: a request stays pending until its ack, and one not acked
within ``ack_wait`` is handed out again, possibly to another process. So each request
name is listened to with ``ack_wait`` = its deadline + ``ack_margin``, which no answer
outlives; a crash between publish and ack is repaired by the redelivery, which finds the
stored response (:mod:`actors.bus._answers`) instead of acting twice.

Whose stored responses count: only the bridge's own (``identity_id``, or the identity the
log stamps on what it publishes — a remote API stamps the token's subject, so pass that),
answering a request of the same name and correlation id found in the log. Anyone who may
read an inference name may publish under it, so a response from anyone else is ignored and
the request is acted on (:mod:`actors.bus._answers` has the rule). Every response the
bridge publishes is valid (:mod:`contracts.inference.responses`): one it could not make valid
is published as an ok:false response that is.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import msgspec
import trio

from actors.bus._answers import Answer, AnswerBook
from actors.bus.progress import progress_to
from actors.bus.registry import InferenceProvider, ProviderRegistry, Refusal
from contracts.events import Event, ListenQuery, PublishEnvelope
from contracts.inference import (
    BRIDGE_IDENTITY,
    INSTALL_REQUEST,
    MODEL_ENSURE_PROGRESS,
    MODEL_ENSURE_REQUEST,
    REQUEST_NAMES,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    ErrorClass,
    InstallRequest,
    Invalid,
    ModelEnsureRequest,
    RequestPayload,
    StatusRequest,
    Subject,
    VerifyRequest,
    checked_answer,
    failure,
    subject_of,
    subject_of_raw,
    validate,
)
from transport.event_log import EventLog, StoreError

__all__ = ["DEFAULT_DEADLINES", "GROUP", "InferenceBridge"]

logger = logging.getLogger("asm.bridge")

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


class _Outcome(msgspec.Struct):
    """Just enough of a response to log how a request ended."""

    ok: bool = False
    error_class: str = ""


_OUTCOME: Final = msgspec.json.Decoder(_Outcome)


def default_consumer() -> str:
    """``<host>:<pid>``: one consumer name per process (within the 128-character limit)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


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
        self._answers = AnswerBook(
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

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and answer until cancelled; started once all four names are listened to."""
        async with trio.open_nursery() as nursery:
            for name in REQUEST_NAMES:
                await nursery.start(self._listen, name, nursery)
            logger.info(
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
        """Answer one request (from memory when it was answered before), then ack it."""
        name, correlation_id = event.name, event.correlation_id
        if correlation_id is None:
            logger.warning("%s %s has no correlation id; answering without one", name, event.id)
            answer, acted = Answer(await self._act(event), 0.0, event.id), True
        else:
            answer, acted = await self._answers.settle(
                (name, correlation_id), event, lambda: self._act(event)
            )
            if not answer.answers(bytes(event.payload)):
                answer = self._conflict(event, answer)
        outcome = _OUTCOME.decode(answer.payload)
        logger.info(
            "%s correlation_id=%s request=%s: %s%s",
            name,
            correlation_id,
            event.id,
            "ok" if outcome.ok else outcome.error_class,
            "" if acted else " (stored answer)",
        )
        try:
            if event.id not in answer.answered:
                await self._publish(event, answer)
                answer.answered.add(event.id)
            if not await self._log.ack(self._group, self._consumer, event.id):
                logger.info("%s %s was no longer pending when acked", name, event.id)
        except StoreError as error:
            # Nothing stored or acked: the request comes back after ack_wait and is
            # answered from memory then. Only the class: a store's message may hold a URL.
            logger.warning("%s %s: the event log failed (%s)", name, event.id, type(error).__name__)

    def _conflict(self, request: Event, earlier: Answer) -> Answer:
        """The answer to a request whose correlation id an earlier, different request
        holds (see :mod:`actors.bus._answers`): a conflict, remembered for nothing."""
        diagnostics = [
            f"correlation id {request.correlation_id!r} already names a different request "
            f"({earlier.made_for}) answered within the idempotency window; "
            "publish this request with a new correlation id"
        ]
        data = bytes(request.payload)
        payload = _encode_failure(request.name, subject_of_raw(data), "conflict", diagnostics)
        return Answer(payload, 0.0, request.id, request=data)

    async def _publish(self, request: Event, answer: Answer) -> None:
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

    async def _append(self, envelope: PublishEnvelope) -> None:
        """Publish as the bridge, and note the identity the log stamped on it."""
        for event in await self._log.append([envelope], identity_id=self._identity_id):
            self._answers.published_as(event.identity_id)

    async def _progress_sink_for(self, request: Event, progress: Mapping[str, object]) -> None:
        """Publish one progress report of ``request`` under its correlation id."""
        envelope = PublishEnvelope(
            name=MODEL_ENSURE_PROGRESS,
            payload=msgspec.Raw(msgspec.json.encode(progress)),
            correlation_id=request.correlation_id,
            metadata={"request_id": request.id},
        )
        try:
            await self._append(envelope)
        except StoreError as error:  # progress is a courtesy: the operation goes on
            logger.warning("progress of %s not published (%s)", request.id, type(error).__name__)

    async def _act(self, event: Event) -> bytes:
        """The JSON of the response to ``event``; the provider's progress reports of it
        are published under its correlation id meanwhile."""
        with progress_to(functools.partial(self._progress_sink_for, event)):
            return await self._act_on(event)

    async def _act_on(self, event: Event) -> bytes:
        """The JSON of the response to ``event``: validate, resolve, dispatch."""
        name, data = event.name, bytes(event.payload)
        request = validate(name, data)
        if isinstance(request, Invalid):
            return _encode_failure(name, subject_of_raw(data), "bad_request", request.diagnostics)
        assert isinstance(request, RequestPayload)  # a request name validates to a request
        subject = subject_of(request)
        provider = self._registry.resolve(subject.provider, subject.node_id)
        if isinstance(provider, Refusal):
            return _encode_failure(name, subject, provider.error_class, [provider.diagnostic])
        node = (subject.provider, subject.node_id)
        exclusive = name in EXCLUSIVE
        if exclusive:
            if node in self._busy:
                return _encode_failure(
                    name,
                    subject,
                    "conflict",
                    [
                        f"conflict: node {subject.node_id!r} is busy with another install or"
                        " model.ensure; send the request again once that one is answered"
                    ],
                )
            self._busy.add(node)
        try:
            return await self._dispatch(name, subject, provider, request)
        finally:
            if exclusive:
                self._busy.discard(node)

    async def _dispatch(
        self, name: str, subject: Subject, provider: InferenceProvider, request: RequestPayload
    ) -> bytes:
        deadline = self._deadlines[name]
        operation = _OPERATION[name]
        try:
            with trio.move_on_after(deadline):
                return checked_answer(name, subject, await _call(provider, request))
        except Exception as error:
            # The exception's text may quote a secret (a URL with a token, a key path):
            # only its class goes to the log and into the diagnostic.
            kind = type(error).__name__
            logger.warning("%s on node %r: provider raised %s", operation, subject.node_id, kind)
            return _encode_failure(
                name,
                subject,
                "provider_error",
                [f"provider_error: {subject.provider} failed during {operation} ({kind})"],
            )
        return _encode_failure(
            name,
            subject,
            "timeout",
            [f"timeout: {operation} on node {subject.node_id!r} took longer than {deadline:g} s"],
        )


async def _call(provider: InferenceProvider, request: RequestPayload) -> object:
    if isinstance(request, InstallRequest):
        return await provider.install(request)
    if isinstance(request, ModelEnsureRequest):
        return await provider.ensure_model(request)
    if isinstance(request, StatusRequest):
        return await provider.status(request)
    assert isinstance(request, VerifyRequest)
    return await provider.verify(request)


def _encode_failure(
    name: str, subject: Subject, error_class: ErrorClass, diagnostics: Sequence[str]
) -> bytes:
    return msgspec.json.encode(failure(name, subject, error_class, list(diagnostics)))
