"""``gemini --acp`` messages and turns: golden lines in the shapes the real gemini 0.61.0
sends (docs/gemini-acp.md), the builders, and a property test per rule of
:class:`contracts.providers.AcpTurn` and of the conversation record.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.conversation import Conversation, Turn
from contracts.providers import (
    ACP_INITIALIZE,
    REFUSED_PERMISSION,
    AcpTurn,
    acp_failure,
    history_record,
    prompt_params,
    record_name,
    session_params,
)
from contracts.session import Failed, Finished, SessionEvent, Started, TextDelta, Usage

SESSION = "9b1f3c52-2f4e-4c1b-8a63-0d6f2c7e1a90"
NO_KEY = "Gemini API key is missing or not configured."
UNREACHABLE = "exception TypeError: fetch failed sending request"


def update(kind: str, text: str | None = None, session: str = SESSION) -> dict[str, Any]:
    body: dict[str, Any] = {"sessionUpdate": kind}
    if text is not None:
        body["content"] = {"type": "text", "text": text}
    return {"sessionId": session, "update": body}


def answer(result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 3, "result": result}


def refused(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 3, "error": {"code": code, "message": message}}


def feed_all(turn: AcpTurn, notes: list[tuple[str, dict[str, Any]]]) -> list[SessionEvent]:
    return [event for method, params in notes for event in turn.feed(method, params)]


def test_a_real_turn_is_started_deltas_usage_finished() -> None:
    """A turn as gemini 0.61.0 streams it: chunks, a thought, then the answer with usage."""
    turn = AcpTurn(SESSION, "gemini-2.5-flash")
    quota = {
        "token_count": {"input_tokens": 37, "output_tokens": 5},
        "model_usage": [
            {
                "model": "gemini-2.5-flash",
                "token_count": {"input_tokens": 37, "output_tokens": 5},
            }
        ],
    }
    events = feed_all(
        turn,
        [
            ("session/update", update("agent_thought_chunk", "Thinking")),
            ("session/update", update("agent_message_chunk", "Bonne ")),
            ("session/update", update("agent_message_chunk", "")),
            ("session/update", update("agent_message_chunk", "nuit")),
            (
                "session/prompt#answer",
                answer({"stopReason": "end_turn", "_meta": {"quota": quota}}),
            ),
        ],
    )
    assert events == [
        Started(provider="gemini", session_id=SESSION, model="gemini-2.5-flash"),
        TextDelta(text="Bonne "),
        TextDelta(text="nuit"),
        Usage(input_tokens=37, output_tokens=5),
        Finished(finish_reason="stop", text="Bonne nuit"),
    ]
    assert turn.done and turn.answering and turn.text == "Bonne nuit"


def test_a_turn_is_answering_at_its_first_chunk_thought_or_tool_call() -> None:
    for kind in ("agent_message_chunk", "agent_thought_chunk", "tool_call"):
        turn = AcpTurn(SESSION)
        turn.feed("session/update", update("available_commands_update"))
        assert not turn.answering
        turn.feed("session/update", update(kind, "x"))
        assert turn.answering and not turn.done, kind


def test_an_answer_without_usage_reports_none() -> None:
    events = AcpTurn(SESSION).feed("session/prompt#answer", answer({"stopReason": "end_turn"}))
    assert events[1:] == [Finished(finish_reason="stop", text="")]


def test_stop_reasons() -> None:
    cancelled = AcpTurn(SESSION).feed("session/prompt#answer", answer({"stopReason": "cancelled"}))
    assert isinstance(cancelled[-1], Failed) and cancelled[-1].kind == "cancelled"
    cut = AcpTurn(SESSION)
    cut.feed("session/update", update("agent_message_chunk", "Bonjour"))
    ended = cut.feed("session/prompt#answer", answer({"stopReason": "max_tokens"}))
    assert ended[-1] == Finished(finish_reason="length", text="Bonjour")
    for reason in ("max_turn_requests", "refusal"):
        empty = AcpTurn(SESSION).feed("session/prompt#answer", answer({"stopReason": reason}))
        assert isinstance(empty[-1], Failed) and empty[-1].kind == "crashed", reason


def test_refused_prompts_and_sessions_are_classified_with_help() -> None:
    unreachable = AcpTurn(SESSION).feed("session/prompt#answer", refused(500, UNREACHABLE))
    assert isinstance(unreachable[-1], Failed) and unreachable[-1].kind == "unreachable"
    assert "fetch failed" in unreachable[-1].message
    no_key = acp_failure(f"session/new: {NO_KEY} (code -32000)")
    assert no_key.kind == "not_logged_in" and "GEMINI_API_KEY" in no_key.message
    limited = AcpTurn(SESSION).feed(
        "session/prompt#answer", refused(429, "Rate limit exceeded. Try again later.")
    )
    assert limited[-1] == Failed(
        kind="crashed", message="gemini: Rate limit exceeded. Try again later."
    )


def test_nothing_is_read_after_the_turn_ended() -> None:
    turn = AcpTurn(SESSION)
    turn.feed("session/prompt#answer", answer({"stopReason": "end_turn"}))
    assert turn.feed("session/update", update("agent_message_chunk", "late")) == []
    assert turn.feed("session/prompt#answer", answer({"stopReason": "end_turn"})) == []


def test_the_builders() -> None:
    assert ACP_INITIALIZE == {
        "protocolVersion": 1,
        "clientCapabilities": {"fs": {"readTextFile": False, "writeTextFile": False}},
    }
    assert REFUSED_PERMISSION == {"outcome": {"outcome": "cancelled"}}
    assert session_params("/w") == {"cwd": "/w", "mcpServers": []}
    assert session_params("/w", SESSION) == {"cwd": "/w", "mcpServers": [], "sessionId": SESSION}
    chat = Conversation(
        system="s", turns=(Turn("user", "Hi"), Turn("assistant", "Yo"), Turn("user", "Bye"))
    )
    assert prompt_params(SESSION, chat) == {
        "sessionId": SESSION,
        "prompt": [{"type": "text", "text": "Bye"}],
    }
    assert record_name(SESSION) == "session-2000-01-01T00-00-9b1f3c52.json"


def test_a_history_record_is_the_spawn_drivers_format() -> None:
    record = json.loads(history_record((Turn("user", "Hi"), Turn("assistant", "Yo")), SESSION))
    assert record == {
        "sessionId": SESSION,
        "projectHash": "",
        "startTime": "2000-01-01T00:00:00.000Z",
        "lastUpdated": "2000-01-01T00:00:00.000Z",
        "messages": [
            {
                "id": "asm-0",
                "timestamp": "2000-01-01T00:00:00.000Z",
                "type": "user",
                "content": [{"text": "Hi"}],
            },
            {
                "id": "asm-1",
                "timestamp": "2000-01-01T00:00:00.000Z",
                "type": "gemini",
                "content": [{"text": "Yo"}],
            },
        ],
    }


_TEXT = st.text(min_size=1, max_size=40)
_ROLE = st.sampled_from(["user", "assistant"])
_TURNS = st.lists(st.builds(Turn, _ROLE, _TEXT), max_size=8).map(tuple)


@given(history=_TURNS, session=st.uuids().map(str), last=_TEXT)
def test_the_clients_turns_are_turns_in_the_record_in_order_with_their_roles(
    history: tuple[Turn, ...], session: str, last: str
) -> None:
    """Rule: every earlier turn is one message of the record, in order, ``user`` or
    ``gemini`` by its role, its text whole; the record names the session and is found
    under :func:`record_name`; the last user turn is the prompt's only block."""
    record = json.loads(history_record(history, session).decode("utf-8"))
    assert record["sessionId"] == session
    assert [(m["type"], m["content"]) for m in record["messages"]] == [
        ("user" if t.role == "user" else "gemini", [{"text": t.text}]) for t in history
    ]
    assert len({m["id"] for m in record["messages"]}) == len(history)
    name = record_name(session)
    assert name.startswith("session-") and name.endswith(f"-{session[:8]}.json")
    chat = Conversation(system="s", turns=(*history, Turn("user", last)))
    assert prompt_params(session, chat)["prompt"] == [{"type": "text", "text": last}]


@given(deltas=st.lists(st.text(max_size=10), min_size=1, max_size=8))
def test_an_acp_answer_is_its_deltas_in_order_then_finished_with_them_joined(
    deltas: list[str],
) -> None:
    """Rule: each non-empty ``agent_message_chunk`` streams once, in order; other updates
    add nothing; the answer ends the turn with Finished carrying the chunks joined, and
    nothing follows it."""
    turn = AcpTurn(SESSION)
    notes: list[tuple[str, dict[str, Any]]] = [
        ("session/update", update("available_commands_update"))
    ]
    for delta in deltas:
        notes += [
            ("session/update", update("agent_message_chunk", delta)),
            ("session/update", update("agent_thought_chunk", "hmm")),
        ]
    notes += [
        ("session/prompt#answer", answer({"stopReason": "end_turn"})),
        ("session/update", update("agent_message_chunk", "late")),
    ]
    events = feed_all(turn, notes)
    assert isinstance(events[0], Started)
    assert [e.text for e in events if isinstance(e, TextDelta)] == [d for d in deltas if d]
    assert events[-1] == Finished(finish_reason="stop", text="".join(deltas))
    assert sum(isinstance(e, Finished) for e in events) == 1


_NOISE = st.text(alphabet="xyz .,:", max_size=30)
_MARKERS = {
    "unreachable": st.sampled_from(
        ["fetch failed", "ECONNREFUSED", "getaddrinfo ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]
    ),
    "not_logged_in": st.sampled_from(
        [
            NO_KEY,
            "API key not valid",
            "Unauthorized",
            "401",
            "403",
            "authentication",
            "Permission denied",
        ]
    ),
    "crashed": st.just(""),
}


@given(
    data=st.data(),
    kind=st.sampled_from(sorted(_MARKERS)),
    before=_NOISE,
    after=_NOISE,
    code=st.sampled_from([-32000, -32603, 429, 500]),
)
def test_a_refused_prompt_is_not_logged_in_unreachable_or_crashed(
    data: st.DataObject, kind: str, before: str, after: str, code: int
) -> None:
    """Rule: an error that says the upstream cannot be reached is ``unreachable``; else one
    that names the key or authorization is ``not_logged_in``; anything else ``crashed``;
    the answer to a prompt fails the turn the same way as a refused session."""
    marker = data.draw(_MARKERS[kind])
    message = f"{before} {marker} {after}".strip() or "x"
    failed = acp_failure(message)
    assert failed.kind == kind, message
    events = AcpTurn(SESSION).feed("session/prompt#answer", refused(code, message))
    assert events[-1] == failed
    assert AcpTurn(SESSION).feed("session/prompt#answer", {"error": {}})[-1].kind == "crashed"  # type: ignore[union-attr]
