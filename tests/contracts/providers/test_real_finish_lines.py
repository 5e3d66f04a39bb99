"""The decoders on whole runs the real CLIs printed, through the drivers' own command line
and stdin (the reference chat against the fake upstreams): history taken in one message
at a time, and how each CLI reports an answer cut at its output limit or filtered.

The files in ``tests/golden`` are the CLIs' stdout, verbatim:

- ``claude-2.1.197-stream-json-history.jsonl``: the reference chat on stream-json input;
  one acknowledgement (``result`` with ``num_turns`` 0) for the history user turn, then
  the answer;
- ``claude-2.1.197-refusal.jsonl``: the upstream stops with ``refusal``; claude writes a
  synthetic refusal message and an error result (exit 1);
- ``codex-0.169.0-max-output-tokens.jsonl`` / ``-content-filter.jsonl``: the Responses
  API answers ``response.incomplete``; codex reports ``turn.failed`` (for a content filter
  after five reconnects: six model calls);
- ``gemini-0.61.0-max-tokens.jsonl`` / ``-safety.jsonl``: finishReason MAX_TOKENS or
  SAFETY; gemini 0.61.0's stream-json says nothing of it (a plain success), so its
  finish reason can only be "stop".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.providers import driver
from contracts.session import Failed, Finished, SessionEvent, Started, TextDelta, Usage

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
FILES = (
    "claude-2.1.197-stream-json-history.jsonl",
    "claude-2.1.197-refusal.jsonl",
    "codex-0.169.0-max-output-tokens.jsonl",
    "codex-0.169.0-content-filter.jsonl",
    "gemini-0.61.0-max-tokens.jsonl",
    "gemini-0.61.0-safety.jsonl",
)
"""The golden files this module tests (``test_decoders`` checks every file has a test)."""


def _decode(
    provider: str, name: str, exit_code: int, acks: int = 0
) -> tuple[list[SessionEvent], int]:
    found = driver(provider)
    assert found is not None
    decoder = found.decoder(acks)
    lines = (GOLDEN / name).read_bytes().splitlines()
    events = [event for line in lines for event in decoder.feed(line)]
    return events + decoder.finish(exit_code, ""), decoder.acks


def test_claude_takes_the_history_with_one_acknowledgement_then_answers() -> None:
    events, acks = _decode("claude", "claude-2.1.197-stream-json-history.jsonl", 0, acks=1)
    assert acks == 1
    assert isinstance(events[0], Started)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Bonne", " nuit"]
    assert events[-1] == Finished(finish_reason="stop", text="Bonne nuit")
    assert sum(isinstance(e, Usage) for e in events) == 1


def test_without_awaiting_the_acknowledgement_the_no_op_result_would_end_the_run() -> None:
    """The no-op result is a result line: read as the answer, it ends the run empty."""
    events, _ = _decode("claude", "claude-2.1.197-stream-json-history.jsonl", 0, acks=0)
    assert isinstance(events[-1], Finished) and events[-1].text == ""


def test_a_refusal_of_claudes_upstream_is_content_filter() -> None:
    events, _ = _decode("claude", "claude-2.1.197-refusal.jsonl", 1, acks=1)
    assert events[-1] == Finished(finish_reason="content_filter", text="I can't help with that")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("codex-0.169.0-max-output-tokens.jsonl", "length"),
        ("codex-0.169.0-content-filter.jsonl", "content_filter"),
    ],
)
def test_an_incomplete_codex_answer_keeps_its_text_and_says_why(name: str, reason: str) -> None:
    events, _ = _decode("codex", name, 1)
    assert events[-1] == Finished(finish_reason=reason, text="Bonne")  # type: ignore[arg-type]


def test_a_failed_codex_turn_without_an_answer_is_still_a_failure() -> None:
    lines = [
        b'{"type":"thread.started","thread_id":"t"}',
        b'{"type":"turn.started"}',
        b'{"type":"turn.failed","error":{"message":"Incomplete response returned,'
        b' reason: max_output_tokens"}}',
    ]
    decoder = driver("codex").decoder()  # type: ignore[union-attr]
    events = [event for line in lines for event in decoder.feed(line)] + decoder.finish(1, "")
    assert isinstance(events[-1], Failed) and events[-1].kind == "crashed"


@pytest.mark.parametrize("name", ["gemini-0.61.0-max-tokens.jsonl", "gemini-0.61.0-safety.jsonl"])
def test_gemini_says_nothing_of_a_cut_or_filtered_answer(name: str) -> None:
    events, _ = _decode("gemini", name, 0)
    assert events[-1] == Finished(finish_reason="stop", text="Bonne nuit")


def test_amp_reports_a_cut_answer_in_its_messages_stop_reason() -> None:
    """amp cannot run offline; its lines have claude's shape (handmade)."""
    lines = [
        b'{"type":"system","subtype":"init","session_id":"T-1"}',
        b'{"type":"assistant","message":{"type":"message","role":"assistant","content":'
        b'[{"type":"text","text":"Once upon"}],"stop_reason":"max_tokens",'
        b'"usage":{"input_tokens":5,"output_tokens":2}}}',
        b'{"type":"result","subtype":"success","is_error":false,"result":"Once upon",'
        b'"session_id":"T-1"}',
    ]
    decoder = driver("amp").decoder()  # type: ignore[union-attr]
    events = [event for line in lines for event in decoder.feed(line)] + decoder.finish(0, "")
    assert events[-1] == Finished(finish_reason="length", text="Once upon")
