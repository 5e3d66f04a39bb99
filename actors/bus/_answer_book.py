"""The bridge's memory of what it answered: one response per (request name, correlation id).

BUS.md §3 asks that a repeated request be answered with the stored response instead of
acting twice, for 24 hours (**decided**). Two places remember an answer:

- this process, for answers it gave (and for requests it is answering right now, so a
  duplicate that arrives meanwhile waits for that answer instead of acting again);
- the event log, for answers given before a restart: a bridge that crashed after it
  published a response but before it acked the request finds that response there when the
  request is redelivered.

    book = AnswerBook(log, window=86400.0, clock=time.time, publisher="asm-inference-bridge")
    async with book.hold((name, correlation_id)) as held:
        answer = held.answer  # in memory, or the bridge's own response in the log
        if answer is None:  # nobody answered it yet: act, and the book remembers it
            answer = held.record(await act(request), request)
    if not answer.answers(bytes(request.payload)):
        ...  # the correlation id was used by a different request: a conflict
    book.published_as(event.identity_id)  # what the log stamped on the bridge's own publish

**The trust rule (decided).** Anyone who may read an inference name may also publish
under it, and correlation ids are predictable (BUS.md §6 uses ``deploy-001-…``). So a
response found in the log is replayed only when

1. the bridge published it itself: its ``identity_id`` is one the bridge publishes as
   (the ``publisher`` given, and whatever identity the log stamped on the bridge's own
   appends: with a remote Bus Events API that is the token's subject, not the name the
   bridge asked for), and
2. its ``metadata.request_id`` names a request in the log with the same request name and
   correlation id, within the window plus ``request_slack`` (the bridge passes its longest
   deadline and ack margin: a request is older than its answer).

Anything else — a response from another identity, or one that answers no such request —
is ignored, and the request is acted on. Idempotency replays the bridge's *own* answer to
the *same* request only; a forged ``ok: true`` is never republished under the bridge's
name. This trusts the identity as the log stamps it: no token may be issued with the
bridge's subject.

**What is replayed: what was done (decided).** Idempotency keeps a request from acting
twice; an answer that did nothing is not kept, so a retry after the operator fixed the
cause is answered afresh (:func:`replayed`):

- every ``ok: true`` answer is replayed;
- an install's or a model.ensure's ``provider_error`` or ``timeout`` is replayed: the
  provider ran on the node and may have changed it part-way (the answer cannot tell how
  far it got, so an unreachable node's ``provider_error`` is replayed too);
- no other failure is: ``bad_request``, ``unsupported_provider``, ``unknown_node``
  (configuration: add ``[nodes.<id>]`` and restart), ``secret_not_found``,
  ``policy_denied``, ``confirmation_required`` (refused before anything ran), a node-busy
  ``conflict`` (a moment's state), and any failure of status or verify (they change
  nothing: a repeat reads the node as it is now, ``verify_failed`` included).

An answer not replayed is neither kept in memory nor taken from the log, and it holds
no correlation id: the same request sent again is acted on, and so is a corrected one
(say, with the confirmation it lacked) under the same correlation id.

**A correlation id names one request (decided).** A repeat is the same request: same
name, same correlation id *and* the same payload (as a JSON value). A request that reuses
a correlation id already answered within the window for a different payload is not
answered with that answer — whoever published the first one — but with an ``ok: false``
``conflict`` naming the earlier request, so nobody can pre-empt an operator's predictable
``deploy-001-…`` with a request of their own and have its answer taken for the
operator's.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final

import msgspec
import trio

from contracts.events import Event, ListenQuery
from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    RESPONSE_FOR,
    ErrorClass,
    Invalid,
    validate,
)
from transport.event_log import EventLog

__all__ = ["Answer", "AnswerBook", "Held", "Key", "replayed"]

_DONE_FAILURES: Final[Mapping[str, frozenset[ErrorClass]]] = {
    INSTALL_REQUEST: frozenset({"provider_error", "timeout"}),
    MODEL_ENSURE_REQUEST: frozenset({"provider_error", "timeout"}),
}
"""The failures, per request name, that may have changed a node (see the docstring)."""


class _Outcome(msgspec.Struct):
    ok: bool = False
    error_class: str = ""


_OUTCOME: Final = msgspec.json.Decoder(_Outcome)


def replayed(request_name: str, response: bytes) -> bool:
    """Whether ``response`` (a valid response's JSON) to a ``request_name`` is replayed to
    a repeat: ok, or a failure after which the node may have changed.

    ``replayed(INSTALL_REQUEST, b'{"ok":false,"error_class":"unknown_node"}')`` is False.
    """
    try:
        outcome = _OUTCOME.decode(response)
    except msgspec.DecodeError:
        return False
    return outcome.ok or outcome.error_class in _DONE_FAILURES.get(request_name, ())


Key = tuple[str, str]
"""(request name, correlation id)."""


@dataclass
class Answer:
    """A response's JSON, when and for which request it was made (its id and payload),
    and the request ids already answered with it (that one and its repeats)."""

    payload: bytes
    at: float
    made_for: str
    answered: set[str] = field(default_factory=set)
    request: bytes = b""

    def answers(self, request: bytes) -> bool:
        """Whether a request with this payload is a repeat of the one answered: the same
        JSON value (key order and spacing aside)."""
        return _same_json(self.request, request)


def _same_json(one: bytes, other: bytes) -> bool:
    try:
        return bool(msgspec.json.decode(one) == msgspec.json.decode(other))
    except msgspec.DecodeError:
        return one == other


class Held:
    """One key's entry while its holder answers it (see :meth:`AnswerBook.hold`)."""

    def __init__(self, answer: Answer | None, clock: Callable[[], float]) -> None:
        self.answer = answer
        self._clock = clock

    def record(self, payload: bytes, request: Event) -> Answer:
        """Note ``payload`` as the answer made now for ``request``; that answer."""
        self.answer = Answer(payload, self._clock(), request.id, request=bytes(request.payload))
        return self.answer


class AnswerBook:
    """Answers by key for ``window`` seconds, found in memory or in the log."""

    def __init__(
        self,
        log: EventLog,
        *,
        window: float,
        clock: Callable[[], float],
        publisher: str,
        request_slack: float = 0.0,
    ) -> None:
        self._log = log
        self._window = window
        self._clock = clock
        self._publishers = {publisher}
        self._request_slack = request_slack
        self._answers: dict[Key, Answer] = {}
        self._pending: dict[Key, trio.Event] = {}

    def published_as(self, identity_id: str) -> None:
        """Note the identity the log stamped on something the bridge published."""
        self._publishers.add(identity_id)

    @asynccontextmanager
    async def hold(self, key: Key) -> AsyncIterator[Held]:
        """Hold ``key`` while its answer is found or made; remembered when the block ends.

        ``held.answer`` is the stored answer (in memory, else the bridge's own in the log)
        or None: then the holder acts and gives its answer to :meth:`Held.record`. While
        one caller holds a key, others with the same key wait for its answer; if it fails
        (the block ends without an answer), or its answer is not one :func:`replayed`
        keeps, the next of them holds the key instead. The window counts from when the
        answer was made, not from its latest repeat.
        """
        while (answer := self._recall(key)) is None:
            pending = self._pending.get(key)
            if pending is None:
                break
            await pending.wait()
        else:
            yield Held(answer, self._clock)
            return
        done = self._pending[key] = trio.Event()
        try:
            held = Held(await self._find_in_log(key), self._clock)
            yield held
            if held.answer is not None and replayed(key[0], held.answer.payload):
                self._remember(key, held.answer)
        finally:
            del self._pending[key]
            done.set()

    def _recall(self, key: Key) -> Answer | None:
        answer = self._answers.get(key)
        if answer is not None and answer.at < self._clock() - self._window:
            del self._answers[key]
            return None
        return answer

    def _remember(self, key: Key, answer: Answer) -> None:
        horizon = self._clock() - self._window
        # Answers go in roughly in time order, so the expired ones are at the front.
        for old_key, old in list(self._answers.items()):
            if old.at >= horizon:
                break
            del self._answers[old_key]
        self._answers[key] = answer

    async def _find_in_log(self, key: Key) -> Answer | None:
        """The first response the bridge made (not repeated) for this key within the
        window, if any (the trust rule in the module docstring).

        A repeat carries ``answer_of`` in its metadata; only its request id is kept, so a
        redelivered repeat is not answered twice either.
        """
        request_name, correlation_id = key
        back = self._window + self._request_slack
        requests = {
            event.id: bytes(event.payload)
            for event in await self._stored(request_name, correlation_id, back)
        }
        response_name = RESPONSE_FOR[request_name]
        found: Answer | None = None
        answered: set[str] = set()
        for event in await self._stored(response_name, correlation_id, self._window):
            request_id = event.metadata.get("request_id")
            if not (
                event.identity_id in self._publishers
                and isinstance(request_id, str)
                and request_id in requests
            ):
                continue  # not the bridge's own answer to this request: never replayed
            payload = bytes(event.payload)
            if isinstance(validate(response_name, payload), Invalid):
                continue  # only a valid response answers a request
            if not replayed(request_name, payload):
                continue  # it did nothing: the request is asked again
            answered.add(request_id)
            if found is None and "answer_of" not in event.metadata:
                at = _seconds(event.created_at, self._clock())
                found = Answer(payload, at, request_id, request=requests[request_id])
        if found is not None:
            found.answered = answered
        return found

    async def _stored(self, name: str, correlation_id: str, seconds: float) -> list[Event]:
        """The events named ``name`` with ``correlation_id`` of the last ``seconds``."""
        query = ListenQuery(
            pattern=name, since=seconds, follow=False, correlation_id=correlation_id
        )
        found: list[Event] = []
        async with self._log.listen(query) as stream:
            while True:
                try:
                    event = await stream.receive()
                except trio.EndOfChannel:
                    return found
                if event.name == name and event.correlation_id == correlation_id:
                    found.append(event)


def _seconds(created_at: str, fallback: float) -> float:
    """The Unix time of a ``created_at`` (``2024-05-01T12:00:00.123Z``)."""
    try:
        whole = calendar.timegm(time.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S"))
        fraction = float("0" + created_at[19:].rstrip("Z")) if created_at[19:20] == "." else 0.0
    except ValueError:
        return fallback
    return whole + fraction
