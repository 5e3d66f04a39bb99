"""``codex app-server``: the JSON-RPC a worker speaks to one long-lived codex.

One codex process serves many conversations: each completion starts an ephemeral
*thread* whose base instructions are the client's system prompt, appends the earlier
turns to its history as Responses API items (``thread/inject_items``), and runs one
*turn* with the last user message. What reaches the model is what a spawned ``codex
exec`` sends (measured on 0.169.0 against the fake upstream): the system prompt as the
one developer message, the turns as turns, no tools. Lines are JSON-RPC 2.0 without the
``"jsonrpc"`` member, one object per line::

    >>> from contracts.conversation import Conversation, Turn
    >>> chat = Conversation(system="Be brief.", turns=(Turn("user", "Hi"),
    ...                     Turn("assistant", "Hello"), Turn("user", "Bye")))
    >>> thread_start_params(chat, model="gpt-5", cwd="/w", persona="completion")["baseInstructions"]
    'Be brief.'
    >>> [item["role"] for item in history_items(chat)]
    ['user', 'assistant']
    >>> turn = AppServerTurn("t1")
    >>> turn.feed("item/agentMessage/delta", {"threadId": "t1", "delta": "Bye"})[-1]
    TextDelta(text='Bye')

This module is pure: it builds the messages and reads the notifications of one turn
(:class:`AppServerTurn`); :mod:`actors.workers` owns the process and the pipes.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from contracts.conversation import Conversation
from contracts.providers._delivery import Persona
from contracts.providers._stream_json import any_of, clip, count, object_field, text_field
from contracts.session import (
    Failed,
    FailedKind,
    Finished,
    FinishReason,
    SessionEvent,
    Started,
    TextDelta,
    Usage,
    Warning,
    finish_reason_from,
)

__all__ = [
    "CLIENT_INFO",
    "DECLINED",
    "AppServerTurn",
    "history_items",
    "rpc_line",
    "thread_start_params",
    "turn_start_params",
]

CLIENT_INFO: Final[dict[str, str]] = {"name": "asm-trio", "version": "1"}
"""How a worker names itself in ``initialize``."""

DECLINED: Final[dict[str, str]] = {"decision": "decline"}
"""The answer to every approval the server asks for: a worker approves nothing."""

# A turn cut at the output limit, or filtered: codex's message names the reason.
_INCOMPLETE: Final = re.compile(r"Incomplete response returned, reason: (\w+)")
_LOGIN: Final = any_of(
    r"\b401\b", r"unauthori[sz]ed", r"not logged in", r"codex login", r"missing environment"
)


def rpc_line(method: str, params: dict[str, Any] | None = None, rpc_id: int | None = None) -> bytes:
    """One line: a request when ``rpc_id`` is given, else a notification."""
    line: dict[str, Any] = {"method": method}
    if rpc_id is not None:
        line["id"] = rpc_id
    if params is not None:
        line["params"] = params
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def thread_start_params(
    conversation: Conversation, *, model: str, cwd: str, persona: Persona
) -> dict[str, Any]:
    """``thread/start``: an ephemeral, read-only thread whose instructions are the client's.

    With the ``completion`` persona the system prompt replaces codex's own
    (``baseInstructions``; an empty one sends none); with ``agent`` codex keeps its own
    and the system prompt is added as developer instructions.
    """
    params: dict[str, Any] = {
        "model": model,
        "cwd": cwd,
        "ephemeral": True,
        "sandbox": "read-only",
        "approvalPolicy": "never",
    }
    if persona == "completion":
        params["baseInstructions"] = conversation.system
    elif conversation.system:
        params["developerInstructions"] = conversation.system
    return params


def history_items(conversation: Conversation) -> list[dict[str, Any]]:
    """The turns before the last as Responses API messages, for ``thread/inject_items``."""
    return [
        {
            "type": "message",
            "role": turn.role,
            "content": [
                {"type": "input_text" if turn.role == "user" else "output_text", "text": turn.text}
            ],
        }
        for turn in conversation.turns[:-1]
    ]


def turn_start_params(thread_id: str, conversation: Conversation) -> dict[str, Any]:
    """``turn/start``: the last user message, with the JSON Schema and effort if asked."""
    params: dict[str, Any] = {
        "threadId": thread_id,
        "input": [{"type": "text", "text": conversation.prompt, "text_elements": []}],
    }
    options = conversation.options
    if options.response_format is not None:
        params["outputSchema"] = options.response_format.json_schema()
    if options.reasoning_effort is not None:
        params["effort"] = options.reasoning_effort
    return params


class AppServerTurn:
    """Reads the notifications of one turn of thread ``thread_id`` into session events.

    :meth:`feed` takes a notification's method and params (those of other threads are
    the caller's to route away) and returns the events: :class:`Started` once, a
    :class:`TextDelta` per ``item/agentMessage/delta``, then at ``turn/completed`` the
    reported :class:`Usage` and :class:`Finished` (or :class:`Failed`). :attr:`done` is
    True once the turn has ended; :attr:`turn_id` is known from ``turn/started``.
    """

    def __init__(self, thread_id: str, model: str | None = None) -> None:
        self.thread_id = thread_id
        self.turn_id: str | None = None
        self.done = False
        self._model = model
        self._started = False
        self._deltas: list[str] = []
        self._answer: str | None = None  # the last completed agent message
        self._usage: Usage | None = None
        self._last_error: str | None = None

    @property
    def text(self) -> str:
        """The answer so far: the last whole agent message, else the deltas."""
        return self._answer if self._answer is not None else "".join(self._deltas)

    def feed(self, method: str, params: dict[str, Any]) -> list[SessionEvent]:
        """The events of one notification of this thread (none when it says nothing new)."""
        if self.done:
            return []
        events: list[SessionEvent] = self._start() if not self._started else []
        match method:
            case "turn/started":
                self.turn_id = text_field(object_field(params, "turn"), "id") or self.turn_id
            case "item/agentMessage/delta":
                delta = text_field(params, "delta") or ""
                if delta:
                    self._deltas.append(delta)
                    events.append(TextDelta(text=delta))
            case "item/completed":
                events += self._item_completed(object_field(params, "item"))
            case "thread/tokenUsage/updated":
                self._usage = _usage(object_field(object_field(params, "tokenUsage"), "total"))
            case "warning":
                if text := text_field(params, "message"):
                    events.append(Warning(message=f"codex: {clip(text)}"))
            case "error":
                text = text_field(object_field(params, "error"), "message")
                if text:
                    self._last_error = text
                    events.append(Warning(message=f"codex: {clip(text)}"))
            case "turn/completed":
                events += self._completed(object_field(params, "turn") or {})
        return events

    def fail(self, kind: FailedKind, text: str) -> list[SessionEvent]:
        """End the turn from outside (the worker died, a deadline passed)."""
        if self.done:
            return []
        self.done = True
        return [Failed(kind=kind, message=text)]

    def _start(self) -> list[SessionEvent]:
        self._started = True
        return [Started(provider="codex", session_id=self.thread_id, model=self._model)]

    def _item_completed(self, item: dict[str, Any] | None) -> list[SessionEvent]:
        if text_field(item, "type") != "agentMessage":
            return []  # reasoning and the user's own message are not the answer
        whole = text_field(item, "text") or ""
        events: list[SessionEvent] = []
        if whole and not self._deltas:
            events.append(TextDelta(text=whole))  # a message that came without deltas
            self._deltas.append(whole)
        if whole:
            self._answer = whole
        return events

    def _completed(self, turn: dict[str, Any]) -> list[SessionEvent]:
        self.done = True
        status = text_field(turn, "status")
        error = text_field(object_field(turn, "error"), "message") or self._last_error
        match status:
            case "completed":
                return self._finished("stop")
            case "interrupted":
                return [Failed(kind="cancelled", message="codex: the turn was interrupted")]
        text = error or f"the turn ended with status {status!r}"
        incomplete = _INCOMPLETE.search(text)
        reason: FinishReason = finish_reason_from(incomplete[1]) if incomplete else "stop"
        if reason != "stop" and self.text:
            return self._finished(reason)  # an answer cut at the limit, or filtered
        kind: FailedKind = "not_logged_in" if _LOGIN.search(text) else "crashed"
        return [Failed(kind=kind, message=f"codex: {clip(text)}")]

    def _finished(self, reason: FinishReason) -> list[SessionEvent]:
        usage: list[SessionEvent] = [self._usage] if self._usage is not None else []
        return [*usage, Finished(finish_reason=reason, text=self.text)]


def _usage(total: dict[str, Any] | None) -> Usage | None:
    """The thread's usage so far (``tokenUsage.total``): a worker's thread lives for one
    turn, so it is the turn's, over every model call in it (``last`` is only the latest
    call's). OpenAI's input tokens include the cached ones."""
    if total is None:
        return None
    prompt, output = count(total.get("inputTokens")), count(total.get("outputTokens"))
    if prompt is None and output is None:
        return None
    cached = count(total.get("cachedInputTokens"))
    return Usage(input_tokens=prompt or 0, output_tokens=output or 0, cached_input_tokens=cached)
