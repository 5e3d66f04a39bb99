"""``codex app-server`` messages and turns: golden notifications of the real codex 0.169.0,
and a property test per rule of :class:`contracts.providers.AppServerTurn`.

The samples are what the real server sent for one turn against the fake Responses API
(``samples/codex-0.169.0-app-server-*.jsonl``: an answer in two deltas; a missing
provider key; a hostile model that asked for ``shell`` and ``exec_command`` twice and
got ``unsupported call`` each time, then answered).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.conversation import Conversation, RequestOptions, ResponseFormat, Turn
from contracts.providers import (
    AppServerTurn,
    history_items,
    rpc_line,
    thread_start_params,
    turn_start_params,
)
from contracts.session import Failed, Finished, SessionEvent, Started, TextDelta, Usage, Warning

SAMPLES = Path(__file__).with_name("samples")


def replay(name: str) -> tuple[AppServerTurn, list[SessionEvent]]:
    lines = (SAMPLES / f"codex-0.169.0-app-server-{name}.jsonl").read_text().splitlines()
    notes = [json.loads(line) for line in lines]
    turn = AppServerTurn(notes[0]["params"]["threadId"], "gpt-5")
    events = [event for note in notes for event in turn.feed(note["method"], note["params"])]
    return turn, events


def test_a_real_turn_is_started_deltas_usage_finished() -> None:
    turn, events = replay("ok")
    assert isinstance(events[0], Started) and events[0].session_id == turn.thread_id
    assert isinstance(events[1], Warning) and "Model metadata" in events[1].message
    assert events[2:] == [
        TextDelta(text="Bonjour "),
        TextDelta(text="le monde"),
        Usage(input_tokens=30, output_tokens=6, cached_input_tokens=4),
        Finished(finish_reason="stop", text="Bonjour le monde"),
    ]
    assert turn.done and turn.turn_id == "01a23cad-2056-7752-a79f-d15678b34895"


def test_a_missing_provider_key_is_not_logged_in() -> None:
    turn, events = replay("nokey")
    assert events[-1] == Failed(
        kind="not_logged_in", message="codex: Missing environment variable: `FAKE_KEY`."
    )
    assert turn.done


def test_refused_tool_calls_leave_the_answer_and_the_whole_turns_usage() -> None:
    """Three model calls in one turn: the usage is the thread's total, not the last call's."""
    _, events = replay("hostile")
    usage = [e for e in events if isinstance(e, Usage)]
    assert usage == [Usage(input_tokens=90, output_tokens=18, cached_input_tokens=12)]
    assert events[-1] == Finished(finish_reason="stop", text="done")


def test_nothing_is_read_after_the_turn_ended() -> None:
    turn, _ = replay("ok")
    assert turn.feed("item/agentMessage/delta", {"threadId": turn.thread_id, "delta": "x"}) == []
    assert turn.fail("crashed", "late") == []


_TEXT = st.text(min_size=1, max_size=40)
_ROLE = st.sampled_from(["user", "assistant"])
_TURNS = st.lists(st.builds(Turn, _ROLE, _TEXT), max_size=6).map(tuple)


@given(system=st.text(max_size=60), earlier=_TURNS, last=_TEXT)
def test_the_clients_turns_reach_the_thread_as_turns(
    system: str, earlier: tuple[Turn, ...], last: str
) -> None:
    """Rule: the system prompt is the thread's base instructions (completion persona) or
    developer instructions (agent persona, when not empty); the earlier turns are
    injected in order with their roles; the last user turn is the turn's only input."""
    chat = Conversation(system=system, turns=(*earlier, Turn("user", last)))
    completion = thread_start_params(chat, model="m", cwd="/w", persona="completion")
    assert completion["baseInstructions"] == system and "developerInstructions" not in completion
    assert (completion["ephemeral"], completion["sandbox"], completion["approvalPolicy"]) == (
        True,
        "read-only",
        "never",
    )
    agent = thread_start_params(chat, model="m", cwd="/w", persona="agent")
    assert "baseInstructions" not in agent
    assert agent.get("developerInstructions") == (system or None)
    items = history_items(chat)
    assert [(i["role"], i["content"][0]["text"]) for i in items] == [
        (t.role, t.text) for t in earlier
    ]
    assert all(
        i["content"][0]["type"] == ("input_text" if i["role"] == "user" else "output_text")
        for i in items
    )
    started = turn_start_params("t", chat)
    assert [part["text"] for part in started["input"]] == [last]
    assert "outputSchema" not in started and "effort" not in started


def test_a_json_schema_and_an_effort_travel_with_the_turn() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    options = RequestOptions(
        response_format=ResponseFormat(kind="json_schema", schema=schema, name="x"),
        reasoning_effort="low",
    )
    chat = Conversation(turns=(Turn("user", "Hi"),), options=options)
    params = turn_start_params("t", chat)
    assert params["effort"] == "low"
    assert params["outputSchema"] == options.response_format.json_schema()  # type: ignore[union-attr]


@given(deltas=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=8))
def test_an_app_server_answer_is_its_deltas_then_the_whole_message(deltas: list[str]) -> None:
    """Rule: each delta streams once, in order; Finished carries the whole message codex
    completed (which is the deltas joined); nothing follows Finished."""
    turn = AppServerTurn("t")
    notes: list[tuple[str, dict[str, Any]]] = [("turn/started", {"turn": {"id": "u"}})]
    notes += [("item/agentMessage/delta", {"delta": d}) for d in deltas]
    whole = "".join(deltas)
    notes += [
        ("item/completed", {"item": {"type": "agentMessage", "text": whole}}),
        ("turn/completed", {"turn": {"id": "u", "status": "completed"}}),
        ("item/agentMessage/delta", {"delta": "late"}),
    ]
    events = [event for method, params in notes for event in turn.feed(method, params)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == deltas
    assert events[-1] == Finished(finish_reason="stop", text=whole)


@given(status=st.sampled_from(["interrupted", "failed"]), message=st.text(max_size=80))
def test_an_app_server_turn_that_did_not_complete_fails(status: str, message: str) -> None:
    """Rule: an interrupted turn is ``cancelled``; a failed one is ``not_logged_in`` when
    it says so, a cut answer keeps its text with finish reason "length", else ``crashed``."""
    turn = AppServerTurn("t")
    ended = {"id": "u", "status": status, "error": {"message": message} if message else None}
    [*_, last] = turn.feed("turn/completed", {"turn": ended})
    assert isinstance(last, Failed)
    if status == "interrupted":
        assert last.kind == "cancelled"
    else:
        assert last.kind in {"crashed", "not_logged_in"}


def test_a_cut_answer_keeps_its_text_with_finish_reason_length() -> None:
    turn = AppServerTurn("t")
    turn.feed("item/agentMessage/delta", {"delta": "Bonjour"})
    cut = "Incomplete response returned, reason: max_output_tokens"
    ended = turn.feed("turn/completed", {"turn": {"status": "failed", "error": {"message": cut}}})
    assert ended[-1] == Finished(finish_reason="length", text="Bonjour")


def test_a_line_is_one_json_object_without_jsonrpc() -> None:
    assert rpc_line("initialized") == b'{"method":"initialized"}\n'
    assert json.loads(rpc_line("turn/start", {"threadId": "t"}, 7)) == {
        "method": "turn/start",
        "id": 7,
        "params": {"threadId": "t"},
    }
