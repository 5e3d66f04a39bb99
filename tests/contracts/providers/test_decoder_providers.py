"""What each provider's lines mean, beyond the recorded runs (shared/PROVIDERS.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.providers import driver
from contracts.session import Failed, Finished, Message, SessionEvent, TextDelta, Usage, Warning


def feed(
    provider: str, *objects: dict[str, Any], exit_code: int | None = 0, stderr: str = ""
) -> list[SessionEvent]:
    """All events of a run made of ``objects`` (one JSON line each), closed by finish."""
    found = driver(provider)
    assert found is not None
    decoder = found.decoder()
    events: list[SessionEvent] = []
    for obj in objects:
        events += decoder.feed(json.dumps(obj).encode())
    return events + decoder.finish(exit_code, stderr)


def text_events(events: list[SessionEvent]) -> list[SessionEvent]:
    return [event for event in events if isinstance(event, TextDelta | Message)]


# -- claude ----------------------------------------------------------------------------


def delta(text: str) -> dict[str, Any]:
    return {
        "type": "stream_event",
        "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}},
    }


def message_start(message_id: str) -> dict[str, Any]:
    return {
        "type": "stream_event",
        "event": {"type": "message_start", "message": {"id": message_id}},
    }


def assistant(text: str, message_id: str | None = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"content": [{"type": "text", "text": text}], **extra}
    if message_id is not None:
        message["id"] = message_id
    return {"type": "assistant", "message": message}


CLAUDE_OK = {"type": "result", "subtype": "success", "is_error": False, "result": "ignored"}


def test_claude_counts_a_streamed_message_once_and_a_new_message_again() -> None:
    events = feed(
        "claude",
        message_start("msg_1"),
        delta("Hi"),
        assistant("Hi", "msg_1"),
        assistant(" there", "msg_2"),
        CLAUDE_OK,
    )
    assert text_events(events) == [TextDelta(text="Hi"), Message(text=" there")]
    assert events[-1] == Finished(finish_reason="stop", text="Hi there")


def test_claude_skips_a_whole_message_after_deltas_without_message_start() -> None:
    events = feed("claude", delta("Hi"), assistant("Hi"), CLAUDE_OK)
    assert text_events(events) == [TextDelta(text="Hi")]


def test_claude_ignores_thinking_and_tool_input_deltas() -> None:
    thinking = {"type": "thinking_delta", "thinking": "hmm"}
    tool_input = {"type": "input_json_delta", "partial_json": "{}"}
    events = feed(
        "claude",
        *(
            {"type": "stream_event", "event": {"type": "content_block_delta", "delta": d}}
            for d in (thinking, tool_input)
        ),
        CLAUDE_OK,
    )
    assert text_events(events) == [Message(text="ignored")]


def test_claude_takes_the_result_text_when_nothing_was_streamed() -> None:
    events = feed("claude", {**CLAUDE_OK, "result": "From the result."})
    assert events == [
        Message(text="From the result."),
        Finished(finish_reason="stop", text="From the result."),
    ]


def test_claude_max_tokens_from_a_whole_message_finishes_with_length() -> None:
    events = feed("claude", assistant("Once", "m", stop_reason="max_tokens"), CLAUDE_OK)
    assert events[-1] == Finished(finish_reason="length", text="Once")


@pytest.mark.parametrize(
    "text", ["Invalid API key · Please run /login", "OAuth token has expired · Please run /login"]
)
def test_claude_login_texts_are_not_logged_in_even_without_is_error(text: str) -> None:
    [failed] = feed("claude", {**CLAUDE_OK, "result": text}, exit_code=1)
    assert isinstance(failed, Failed)
    assert failed.kind == "not_logged_in"


def test_claude_answer_that_talks_about_logging_in_stays_an_answer() -> None:
    answer = "Not logged in · Please run /login is what Claude Code prints."
    events = feed("claude", delta(answer), {**CLAUDE_OK, "result": answer})
    assert events[-1] == Finished(finish_reason="stop", text=answer)


@pytest.mark.parametrize(
    "result",
    [
        {"type": "result", "subtype": "error_max_turns", "is_error": False},
        {"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 529"},
    ],
)
def test_claude_error_results_are_crashed(result: dict[str, Any]) -> None:
    [failed] = feed("claude", result, exit_code=1)
    assert isinstance(failed, Failed)
    assert failed.kind == "crashed"
    assert failed.message.startswith("claude: ")


def test_claude_api_retry_names_the_status_and_the_error() -> None:
    retry = {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 2,
        "max_retries": 10,
        "retry_delay_ms": 1250,
        "error_status": 529,
        "error": "overloaded_error",
    }
    assert feed("claude", retry)[0] == Warning(
        message="claude: API request failed (HTTP 529, overloaded_error); retry 2 of 10 in 1.2 s"
    )


def test_claude_reports_usage_with_cached_tokens_in_the_prompt() -> None:
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": 1024,
        "cache_creation_input_tokens": 200,
        "output_tokens": 9,
    }
    events = feed("claude", {**CLAUDE_OK, "usage": usage, "total_cost_usd": 0.25})
    assert (
        Usage(input_tokens=1227, output_tokens=9, cached_input_tokens=1024, cost_usd=0.25) in events
    )


# -- codex -----------------------------------------------------------------------------


def test_codex_turn_failed_without_an_auth_error_is_crashed() -> None:
    failed = {"type": "turn.failed", "error": {"message": "stream disconnected before completion"}}
    assert feed("codex", failed, exit_code=1) == [
        Failed(kind="crashed", message="codex: stream disconnected before completion", exit_code=1)
    ]


def test_codex_error_lines_are_warnings_and_explain_a_401_without_a_result() -> None:
    events = feed(
        "codex",
        {"type": "error", "message": "Reconnecting... 5/5 (unexpected status 401 Unauthorized)"},
        exit_code=1,
    )
    assert isinstance(events[0], Warning)
    assert isinstance(events[-1], Failed)
    assert events[-1].kind == "not_logged_in"


def test_codex_unauthorized_on_stderr_without_a_result_is_not_logged_in() -> None:
    [failed] = feed("codex", exit_code=1, stderr="Error: 401 Unauthorized")
    assert isinstance(failed, Failed)
    assert failed.kind == "not_logged_in"
    assert "401" not in failed.message  # classified from stderr, never quoted


def test_codex_ignores_other_items_and_item_updates() -> None:
    events = feed(
        "codex",
        {"type": "item.started", "item": {"type": "agent_message", "text": "draft"}},
        {"type": "item.updated", "item": {"type": "agent_message", "text": "draft"}},
        {"type": "item.completed", "item": {"type": "command_execution", "command": "ls"}},
        {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 1}},
    )
    assert events == [
        Usage(input_tokens=1, output_tokens=1),
        Finished(finish_reason="stop", text=""),
    ]


# -- gemini ----------------------------------------------------------------------------


def gemini_message(content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": content, **extra}


GEMINI_OK = {"type": "result", "status": "success", "stats": {}}


def test_gemini_whole_message_after_deltas_is_not_counted_again() -> None:
    events = feed("gemini", gemini_message("Hi", delta=True), gemini_message("Hi"), GEMINI_OK)
    assert text_events(events) == [TextDelta(text="Hi")]


def test_gemini_whole_message_without_deltas_is_a_message() -> None:
    events = feed("gemini", gemini_message("Hi", delta=False), GEMINI_OK)
    assert text_events(events) == [Message(text="Hi")]
    assert events[-1] == Finished(finish_reason="stop", text="Hi")


def test_gemini_echoed_prompt_and_tools_are_no_answer() -> None:
    events = feed(
        "gemini",
        {"type": "message", "role": "user", "content": "say hi"},
        {"type": "tool_use", "tool_name": "run_shell_command", "parameters": {}},
        {"type": "tool_result", "status": "error", "output": "denied"},
        GEMINI_OK,
    )
    assert events == [Finished(finish_reason="stop", text="")]


def test_gemini_exit_41_without_a_result_is_not_logged_in() -> None:
    assert feed("gemini", exit_code=41) == [
        Failed(
            kind="not_logged_in",
            message=(
                "gemini: not logged in (it exited with code 41 (authentication failed)); set"
                " GEMINI_API_KEY for asm serve (in its environment or [providers.gemini.env])"
                ' with "security": {"auth": {"selectedType": "gemini-api-key"}} in'
                " ~/.gemini/settings.json, or run `gemini` once as the user asm runs as to log"
                " in with Google"
            ),
            exit_code=41,
        )
    ]


@pytest.mark.parametrize(
    ("exit_code", "meaning"),
    [
        (1, "general error"),
        (42, "invalid input"),
        (52, "configuration error"),
        (53, "turn limit reached"),
        (54, "tool error"),
        (55, "untrusted workspace"),
        (130, "cancelled"),
    ],
)
def test_gemini_other_exit_codes_are_crashed_with_their_meaning(
    exit_code: int, meaning: str
) -> None:
    error = {"type": "error", "severity": "error", "message": "Workspace is not trusted"}
    assert feed("gemini", error, exit_code=exit_code) == [
        Failed(
            kind="crashed",
            message=f"gemini exited with code {exit_code} ({meaning}) without a result:"
            " Workspace is not trusted",
            exit_code=exit_code,
        )
    ]


# -- amp -------------------------------------------------------------------------------


def test_amp_unreachable_server_is_unreachable_not_a_login_failure() -> None:
    stderr = "Error: Couldn't connect to the Amp server at http://127.0.0.1:9.\nCheck your network"
    assert feed("amp", exit_code=1, stderr=stderr) == [
        Failed(
            kind="unreachable",
            message=(
                "amp: couldn't connect to the Amp server (amp exited with code 1); check this"
                " host's network and proxy, and the AMP_URL set for amp (unset:"
                " https://ampcode.com)"
            ),
            exit_code=1,
        )
    ]


@pytest.mark.parametrize(
    "stderr",
    [
        "Error: API key required. Please run `amp login` first.",
        "Error: You must be logged in to view usage. Run `amp login` first.",
        "Invalid or missing API key.",
    ],
)
def test_amp_login_errors_on_stderr_are_not_logged_in(stderr: str) -> None:
    assert feed("amp", exit_code=1, stderr=stderr) == [
        Failed(
            kind="not_logged_in",
            message=(
                "amp: not logged in or its API key was rejected (amp exited with code 1); run"
                " `amp login` as the user asm runs as, or set AMP_API_KEY in"
                " [providers.amp.env]"
            ),
            exit_code=1,
        )
    ]


def test_amp_login_error_result_is_not_logged_in() -> None:
    result = {
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": True,
        "error": "Invalid API key. Run 'amp login' to authenticate.",
    }
    [failed] = feed("amp", result, exit_code=1)
    assert isinstance(failed, Failed)
    assert failed.kind == "not_logged_in"


def test_amp_plain_text_that_is_no_login_notice_is_a_protocol_error() -> None:
    found = driver("amp")
    assert found is not None
    [failed] = found.decoder().feed(b"Segmentation fault (core dumped)")
    assert isinstance(failed, Failed)
    assert failed.kind == "protocol_error"


def test_amp_usage_of_every_assistant_line_is_summed_and_sent_by_finish() -> None:
    def line(text: str, fresh: int, read: int, output: int) -> dict[str, Any]:
        usage = {"input_tokens": fresh, "cache_read_input_tokens": read, "output_tokens": output}
        return {
            "type": "assistant",
            "message": {"content": [{"type": "text", "text": text}], "usage": usage},
        }

    events = feed(
        "amp", line("a", 10, 100, 1), line("b", 20, 200, 2), line("c", 1, 0, 3), exit_code=1
    )
    assert events == [
        Message(text="a"),
        Message(text="b"),
        Message(text="c"),
        Usage(input_tokens=331, output_tokens=6, cached_input_tokens=300),
        Failed(kind="crashed", message="amp exited with code 1 without a result", exit_code=1),
    ]
