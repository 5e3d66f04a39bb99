"""The bridge's memory of what it answered: one response per (request name, correlation id).

BUS.md §3 asks that a repeated request be answered with the stored response instead of
acting twice, for 24 hours (**decided**). Two places remember an answer:

- this process, for answers it gave (and for requests it is answering right now, so a
  duplicate that arrives meanwhile waits for that answer instead of acting again);
- the event log, for answers given before a restart: a bridge that crashed after it
  published a response but before it acked the request finds that response there when the
  request is redelivered.

    book = AnswerBook(log, window=86400.0, clock=time.time)
    answer, acted = await book.settle((name, correlation_id), request.id, act)
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from contracts.events_listen import ListenQuery
from contracts.inference import RESPONSE_FOR
from contracts.inference_validation import Invalid, validate
from transport.event_log import EventLog

__all__ = ["Answer", "AnswerBook", "Key"]

Key = tuple[str, str]
"""(request name, correlation id)."""


@dataclass
class Answer:
    """A response's JSON, when and for which request it was made, and the request ids
    already answered with it (that one and its repeats)."""

    payload: bytes
    at: float
    made_for: str
    answered: set[str] = field(default_factory=set)


class AnswerBook:
    """Answers by key for ``window`` seconds, found in memory or in the log."""

    def __init__(self, log: EventLog, *, window: float, clock: Callable[[], float]) -> None:
        self._log = log
        self._window = window
        self._clock = clock
        self._answers: dict[Key, Answer] = {}
        self._pending: dict[Key, trio.Event] = {}

    async def settle(
        self, key: Key, request_id: str, act: Callable[[], Awaitable[bytes]]
    ) -> tuple[Answer, bool]:
        """The answer for ``key``, calling ``act`` only when nobody has answered it yet.

        True when ``act`` ran now (for ``request_id``). While one caller acts, others with
        the same key wait for its answer; if it fails, the next of them acts instead. The
        window counts from when the answer was made, not from its latest repeat.
        """
        while (answer := self._recall(key)) is None:
            pending = self._pending.get(key)
            if pending is None:
                break
            await pending.wait()
        else:
            return answer, False
        done = self._pending[key] = trio.Event()
        try:
            stored = await self._find_in_log(key)
            answer = stored or Answer(await act(), self._clock(), request_id)
            self._remember(key, answer)
            return answer, stored is None
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
        """The first response made (not repeated) for this key within the window, if any.

        A repeat carries ``answer_of`` in its metadata; only its request id is kept, so a
        redelivered repeat is not answered twice either.
        """
        request_name, correlation_id = key
        response_name = RESPONSE_FOR[request_name]
        query = ListenQuery(
            pattern=response_name,
            since=self._window,
            follow=False,
            correlation_id=correlation_id,
        )
        found: Answer | None = None
        answered: set[str] = set()
        async with self._log.listen(query) as stream:
            while True:
                try:
                    event = await stream.receive()
                except trio.EndOfChannel:
                    break
                payload = bytes(event.payload)
                if event.correlation_id != correlation_id or isinstance(
                    validate(response_name, payload), Invalid
                ):
                    continue  # not ours to reuse: only a valid response answers a request
                request_id = event.metadata.get("request_id")
                if not isinstance(request_id, str):
                    continue
                answered.add(request_id)
                if found is None and "answer_of" not in event.metadata:
                    at = _seconds(event.created_at, self._clock())
                    found = Answer(payload, at, request_id)
        if found is not None:
            found.answered = answered
        return found


def _seconds(created_at: str, fallback: float) -> float:
    """The Unix time of a ``created_at`` (``2024-05-01T12:00:00.123Z``)."""
    try:
        whole = calendar.timegm(time.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S"))
        fraction = float("0" + created_at[19:].rstrip("Z")) if created_at[19:20] == "." else 0.0
    except ValueError:
        return fallback
    return whole + fraction
