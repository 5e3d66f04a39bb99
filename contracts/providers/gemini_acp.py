"""``gemini --acp``: the Agent Client Protocol a worker speaks to one long-lived gemini.

One gemini process serves many conversations: each completion is a *session* whose
system prompt is the file ``GEMINI_SYSTEM_MD`` names (written just before the session
opens: gemini reads it then), whose earlier turns are a conversation record that
``session/load`` finds (:func:`history_record`), and which runs one ``session/prompt``
with the last user message. What reaches the model is what a spawned gemini sends
(measured on 0.61.0, docs/gemini-acp.md): the client's system prompt, the turns as
turns, no tools::

    >>> from contracts.conversation import Conversation, Turn
    >>> chat = Conversation(system="Be brief.", turns=(Turn("user", "Hi"),
    ...                     Turn("assistant", "Hello"), Turn("user", "Bye")))
    >>> prompt_params("s1", chat)["prompt"]
    [{'type': 'text', 'text': 'Bye'}]
    >>> turn = AcpTurn("s1")
    >>> update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Au"}}
    >>> turn.feed("session/update", {"sessionId": "s1", "update": update})[-1]
    TextDelta(text='Au')
    >>> answer = {"result": {"stopReason": "end_turn"}}
    >>> turn.feed("session/prompt#answer", answer)[-1]
    Finished(finish_reason='stop', text='Au')

This module is pure: it builds the messages and reads one turn's notifications (and
the prompt's answer, which ends the turn); :mod:`actors.sessions.gemini_acp_mode` owns
the lock, the files and the pipes.
"""

from __future__ import annotations

from typing import Any, Final

from contracts.conversation import Conversation
from contracts.providers._stream_json import any_of, clip, count, object_field, text_field
from contracts.providers.gemini_record import LOGIN_HELP, UNREACHABLE_HELP
from contracts.session import (
    Failed,
    Finished,
    SessionEvent,
    Started,
    TextDelta,
    Usage,
    finish_reason_from,
)

__all__ = [
    "ACP_INITIALIZE",
    "REFUSED_PERMISSION",
    "AcpTurn",
    "failure",
    "prompt_params",
    "record_name",
    "session_params",
]

ACP_INITIALIZE: Final[dict[str, Any]] = {
    "protocolVersion": 1,
    "clientCapabilities": {"fs": {"readTextFile": False, "writeTextFile": False}},
}
"""``initialize``: ACP version 1, and no file system offered to the agent."""

REFUSED_PERMISSION: Final[dict[str, Any]] = {"outcome": {"outcome": "cancelled"}}
"""The answer to every ``session/request_permission``: a worker allows nothing."""

# The turn has begun upstream once one of these arrives (the lock can go).
_ANSWERING: Final = frozenset({"agent_message_chunk", "agent_thought_chunk", "tool_call"})
_LOGIN: Final = any_of(
    r"api key", r"\bauth", r"\b401\b", r"\b403\b", r"unauthori[sz]ed", r"permission denied"
)
_UNREACHABLE: Final = any_of(
    r"fetch failed", r"\bECONNREFUSED\b", r"\bENOTFOUND\b", r"\bEAI_AGAIN\b", r"\bEHOSTUNREACH\b"
)


def session_params(cwd: str, session_id: str | None = None) -> dict[str, Any]:
    """``session/new`` (or, with ``session_id``, ``session/load``): no MCP server."""
    params: dict[str, Any] = {"cwd": cwd, "mcpServers": []}
    if session_id is not None:
        params["sessionId"] = session_id
    return params


def prompt_params(session_id: str, conversation: Conversation) -> dict[str, Any]:
    """``session/prompt``: the last user message as one text block."""
    return {"sessionId": session_id, "prompt": [{"type": "text", "text": conversation.prompt}]}


def record_name(session_id: str) -> str:
    """The file name under which ``session/load`` finds ``session_id``'s record."""
    return f"session-2000-01-01T00-00-{session_id[:8]}.json"


def failure(message: str) -> Failed:
    """A refused session or prompt: not logged in, unreachable, or crashed (the same
    kinds and help as a spawned gemini's)."""
    if _UNREACHABLE.search(message):
        text = f"gemini could not reach the Gemini API ({clip(message, 120)}); {UNREACHABLE_HELP}"
        return Failed(kind="unreachable", message=text)
    if _LOGIN.search(message):
        return Failed(
            kind="not_logged_in",
            message=f"gemini: not logged in ({clip(message, 120)}); {LOGIN_HELP}",
        )
    return Failed(kind="crashed", message=f"gemini: {clip(message)}")


class AcpTurn:
    """Reads one ``session/prompt`` of session ``session_id`` into session events.

    :meth:`feed` takes ``("session/update", params)`` notifications and the prompt's
    whole answer as ``("session/prompt#answer", message)``; it returns :class:`Started`
    once, a :class:`TextDelta` per ``agent_message_chunk``, and at the answer the
    reported :class:`Usage` (gemini's ``_meta.quota.token_count``; none when absent)
    and :class:`Finished`, or :class:`Failed`. :attr:`answering` turns True once the
    upstream has answered; :attr:`done` once the turn has ended.
    """

    def __init__(self, session_id: str, model: str | None = None) -> None:
        self.session_id = session_id
        self.done = False
        self.answering = False
        self._model = model
        self._started = False
        self._deltas: list[str] = []

    @property
    def text(self) -> str:
        """The answer so far."""
        return "".join(self._deltas)

    def feed(self, method: str, params: dict[str, Any]) -> list[SessionEvent]:
        """The events of one notification, or of the prompt's answer."""
        if self.done:
            return []
        events: list[SessionEvent] = [] if self._started else self._start()
        if method == "session/update":
            update = object_field(params, "update") or {}
            kind = text_field(update, "sessionUpdate")
            self.answering = self.answering or kind in _ANSWERING
            if kind == "agent_message_chunk":
                text = text_field(object_field(update, "content"), "text") or ""
                if text:
                    self._deltas.append(text)
                    events.append(TextDelta(text=text))
        elif method == "session/prompt#answer":
            events += self._answered(params)
        return events

    def _start(self) -> list[SessionEvent]:
        self._started = True
        return [Started(provider="gemini", session_id=self.session_id, model=self._model)]

    def _answered(self, message: dict[str, Any]) -> list[SessionEvent]:
        self.done = self.answering = True
        error = object_field(message, "error")
        if error is not None:
            return [failure(text_field(error, "message") or "the prompt failed")]
        result = object_field(message, "result") or {}
        reason = text_field(result, "stopReason") or "end_turn"
        if reason == "cancelled":
            return [Failed(kind="cancelled", message="gemini: the turn was cancelled")]
        if reason in ("max_turn_requests", "refusal") and not self.text:
            return [Failed(kind="crashed", message=f"gemini: the turn ended with {reason}")]
        finish = finish_reason_from("max_tokens" if reason == "max_tokens" else reason)
        return [*_usage(result), Finished(finish_reason=finish, text=self.text)]


def _usage(result: dict[str, Any]) -> list[SessionEvent]:
    """gemini's own count (``_meta.quota.token_count``); its input includes cached tokens."""
    tokens = object_field(object_field(object_field(result, "_meta"), "quota"), "token_count")
    prompt = count((tokens or {}).get("input_tokens"))
    output = count((tokens or {}).get("output_tokens"))
    if prompt is None and output is None:
        return []
    return [Usage(input_tokens=prompt or 0, output_tokens=output or 0)]
