"""Answer one chat completion from a lease's session events, whole or streamed (SPEC §3.3).

The route has already validated the request; this module runs the session and turns its
events into the OpenAI shapes of :mod:`contracts.openai.responses`::

    answer = CompletionAnswer(lease, valid, keepalive_seconds=15.0)
    return await (answer.streamed() if valid.stream else answer.whole())

Both forms answer a failure that comes before the first byte with an HTTP error
(``failure_status``), so a stream waits for its first decisive event before it commits
the 200: text, the end, or a failure. A CLI that stays silent for longer than the
keep-alive interval before that gets its 200 anyway, so that comments can keep the
connection alive; a failure after that is reported in the stream as an error event
followed by ``data: [DONE]``.

A client that goes away cancels the request's task (quart-trio cancels the connection's
nursery on ``http.disconnect``); the stream's ``async with lease.stream(...)`` is then left
by ``Cancelled``, or by ``GeneratorExit`` when Quart closes the body, so the session is
cancelled and its CLI reaped either way.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType

import trio
from quart import Response
from quart.wrappers.response import ResponseBody

from contracts.openai import (
    SSE_DONE,
    SSE_KEEPALIVE,
    ValidChatRequest,
    chat_completion,
    content_chunk,
    failure_envelope,
    failure_status,
    finish_chunk,
    role_chunk,
    sse_data,
    stream_error_data,
    usage_chunk,
    usage_from_session,
)
from contracts.session import (
    Failed,
    Finished,
    Message,
    SessionEvent,
    TextDelta,
    Usage,
)
from transport.endpoint.gateway import Lease, LeaseGone
from transport.endpoint.http import error_response, json_response

__all__ = ["CompletionAnswer"]

log = logging.getLogger("asm.endpoint")

_NO_RESULT = "the CLI session ended without a result"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class _Lull(enum.Enum):
    """What came instead of an event: nothing for a while, or the end of the channel."""

    SILENCE = enum.auto()
    END = enum.auto()


class _FailedBeforeCommit(Exception):
    """The session failed before the stream's first byte: answer an HTTP error instead."""

    def __init__(self, failure: Failed) -> None:
        super().__init__(failure.kind)
        self.failure = failure


class CompletionAnswer:
    """One chat completion of ``lease`` for a validated request.

    It owns the response's id (``chatcmpl-<uuid>``) and ``created``, shared by every
    chunk of a stream.
    """

    def __init__(self, lease: Lease, request: ValidChatRequest, *, keepalive_seconds: float):
        self._lease = lease
        self._request = request
        self._keepalive = keepalive_seconds
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    async def whole(self) -> Response:
        """Run the session to its end and answer one ``chat.completion`` (or an error)."""
        parts: list[str] = []
        usage: Usage | None = None
        async with self._lease.stream(self._request.conversation) as events:
            async for event in events:
                match event:
                    case TextDelta(text=text) | Message(text=text):
                        parts.append(text)
                    case Usage():
                        usage = event
                    case Finished(finish_reason=reason, text=text):
                        completion = chat_completion(
                            self.id,
                            self.created,
                            self._lease.model,
                            text or "".join(parts),
                            reason,
                            usage=None if usage is None else usage_from_session(usage),
                        )
                        return json_response(completion)
                    case Failed():
                        return self._failure_response(event)
        return self._failure_response(Failed(kind="protocol_error", message=_NO_RESULT))

    async def streamed(self) -> Response:
        """Answer ``text/event-stream``, or an HTTP error if the session fails first.

        The body generator is started here, so the status is known before Quart sends it;
        the generator keeps the session's ``async with`` open while the body is sent.
        """
        frames = self._frames()
        try:
            opening = await anext(frames)
        except _FailedBeforeCommit as failed:
            return self._failure_response(failed.failure)
        response = Response(
            _PrimedBody(opening, frames), 200, _SSE_HEADERS, mimetype="text/event-stream"
        )
        response.timeout = None  # no response timeout may cut a stream short
        return response

    def _failure_response(self, failure: Failed) -> Response:
        """The HTTP error for a failure before the first byte. A session cut short by
        its lease's release or expiry is the lease gone: 404 (SPEC §2.4), not the 499 of
        a cancelled session or the 502 of one that ended without a result."""
        if not self._lease.live:
            raise LeaseGone(self._lease.lease_ref)
        status = failure_status(failure.kind)
        return error_response(status, failure_envelope(failure.kind, failure.message))

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        """The SSE frames of the stream; raises _FailedBeforeCommit instead of the first.

        No ``yield`` happens inside a cancel scope of this generator (only inside the
        lease's context), so Trio's cancel scopes stay properly nested with Quart's.
        """
        chunks = _ChunkWriter(self, self._lease.model, self._request.include_usage)
        failure: Failed | None = None
        async with self._lease.stream(self._request.conversation) as events:
            first = await self._first_decisive(events, chunks)
            if isinstance(first, Failed):
                failure = first
            else:
                yield sse_data(
                    role_chunk(self.id, self.created, chunks.model, chunks.include_usage)
                )
                try:
                    pending: SessionEvent | _Lull | None = first
                    while True:
                        if pending is None:
                            pending = await _next_event(events, self._keepalive)
                        frame, done = chunks.frame_for(pending)
                        pending = None
                        if frame:
                            yield frame
                        if done:
                            break
                except Exception:
                    log.exception("chat completion stream %s failed", self.id)
                    yield stream_error_data("internal error of the endpoint", "internal_error")
                    yield SSE_DONE
        if failure is not None:
            raise _FailedBeforeCommit(failure)

    async def _first_decisive(
        self, events: trio.MemoryReceiveChannel[SessionEvent], chunks: _ChunkWriter
    ) -> SessionEvent | None:
        """The first text, Finished or Failed event; None after a keep-alive of silence.

        Started, Warning and Usage decide nothing: a CLI often reports itself running
        before it finds it is not logged in.
        """
        with trio.move_on_after(self._keepalive):
            async for event in events:
                if isinstance(event, TextDelta | Message | Finished | Failed):
                    return event
                if isinstance(event, Usage):
                    chunks.usage = event
            return Failed(kind="protocol_error", message=_NO_RESULT)
        return None


class _ChunkWriter:
    """Turns session events into SSE frames; remembers usage and whether text went out."""

    def __init__(self, completion: CompletionAnswer, model: str, include_usage: bool) -> None:
        self.id = completion.id
        self.created = completion.created
        self.model = model
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self._sent_text = False

    def frame_for(self, event: SessionEvent | _Lull) -> tuple[bytes, bool]:
        """The bytes to send for ``event`` and whether the stream is over."""
        match event:
            case _Lull.SILENCE:
                return SSE_KEEPALIVE, False
            case TextDelta(text=text) | Message(text=text):
                return self._content(text), False
            case Usage():
                self.usage = event
                return b"", False
            case Finished(finish_reason=reason, text=text):
                # A CLI that streamed nothing still gets its answer across.
                frame = b"" if self._sent_text else self._content(text)
                frame += sse_data(
                    finish_chunk(self.id, self.created, self.model, self.include_usage, reason)
                )
                if self.include_usage and self.usage is not None:
                    usage = usage_from_session(self.usage)
                    frame += sse_data(usage_chunk(self.id, self.created, self.model, usage))
                return frame + SSE_DONE, True
            case Failed(kind=kind, message=message):
                return stream_error_data(message, kind) + SSE_DONE, True
            case _Lull.END:
                return stream_error_data(_NO_RESULT, "protocol_error") + SSE_DONE, True
            case _:  # Started, Warning
                return b"", False

    def _content(self, text: str) -> bytes:
        if not text:
            return b""
        self._sent_text = True
        chunk = content_chunk(self.id, self.created, self.model, self.include_usage, text)
        return sse_data(chunk)


async def _next_event(
    events: trio.MemoryReceiveChannel[SessionEvent], seconds: float
) -> SessionEvent | _Lull:
    """The next event, ``END`` when the channel ends, ``SILENCE`` after ``seconds``.

    A receive cancelled by the timeout takes nothing off the channel.
    """
    with trio.move_on_after(seconds):
        try:
            return await events.receive()
        except trio.EndOfChannel:
            return _Lull.END
    return _Lull.SILENCE


class _PrimedBody(ResponseBody):
    """A streamed body whose first frame was made before the status was chosen.

    Quart enters it once it sends the response and leaves it however sending ends
    (done, client gone, cancelled); leaving closes the generator, which leaves the
    lease's stream context.
    """

    def __init__(self, first: bytes, rest: AsyncGenerator[bytes, None]) -> None:
        self._first: bytes | None = first
        self._rest = rest

    async def __aenter__(self) -> _PrimedBody:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._rest.aclose()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self._rest)
