"""Golden lines from the real codex 0.169.0 (``codex exec --json``) and its command line.

Each list of lines below is what the real CLI printed against the fake Responses API of
``tests/real_cli/test_codex.py`` (thread ids kept, urls with their test port).
"""

from __future__ import annotations

from contracts.providers import LaunchRequest, Workspace
from contracts.providers.codex import COMPLETION_ONLY_CONFIG, DRIVER, NO_PERSONA_CONFIG
from contracts.session import Failed, Finished, Message, SessionEvent, Started, Usage, Warning

THREAD = "01a1fd65-539a-7930-a673-fde2bc885b31"


def decode(lines: list[bytes], exit_code: int | None) -> list[SessionEvent]:
    decoder = DRIVER.decoder()
    events = [event for line in lines for event in decoder.feed(line)]
    return events + decoder.finish(exit_code, "")


def test_a_missing_provider_key_is_not_logged_in() -> None:
    lines = [
        b'{"type":"thread.started","thread_id":"01a1fd65-539a-7930-a673-fde2bc885b31"}',
        b'{"type":"turn.started"}',
        b'{"type":"error","message":"Missing environment variable: `FAKE_KEY`."}',
        b'{"type":"turn.failed","error":{"message":"Missing environment variable: `FAKE_KEY`."}}',
    ]
    assert decode(lines, exit_code=1) == [
        Started(provider="codex", session_id=THREAD),
        Warning(message="codex: Missing environment variable: `FAKE_KEY`."),
        Failed(
            kind="not_logged_in",
            message="codex: Missing environment variable: `FAKE_KEY`.",
            exit_code=1,
        ),
    ]


def test_a_rejected_key_is_not_logged_in_after_the_retries() -> None:
    unauthorized = (
        "unexpected status 401 Unauthorized: Incorrect API key provided,"
        " url: http://127.0.0.1:40059/v1/responses"
    )
    lines = [
        b'{"type":"thread.started","thread_id":"01a1fd65-5b7a-7db1-b25f-45540d963cfe"}',
        b'{"type":"turn.started"}',
        b'{"type":"error","message":"Reconnecting... 5/5 (%s)"}' % unauthorized.encode(),
        b'{"type":"error","message":"%s"}' % unauthorized.encode(),
        b'{"type":"turn.failed","error":{"message":"%s"}}' % unauthorized.encode(),
    ]
    events = decode(lines, exit_code=1)
    assert events[1:3] == [
        Warning(message=f"codex: Reconnecting... 5/5 ({unauthorized})"),
        Warning(message=f"codex: {unauthorized}"),
    ]
    assert events[-1] == Failed(kind="not_logged_in", message=f"codex: {unauthorized}", exit_code=1)


def test_an_unreachable_upstream_only_warns() -> None:
    """codex retries a refused connection without end; the session's deadline decides."""
    decoder = DRIVER.decoder()
    line = (
        b'{"type":"error","message":"Reconnecting... waiting for network'
        b' (Connection failed: error sending request)"}'
    )
    assert decoder.feed(line) == [
        Warning(
            message="codex: Reconnecting... waiting for network"
            " (Connection failed: error sending request)"
        )
    ]
    assert not decoder.done


def test_refused_tool_calls_leave_only_the_final_message_and_the_summed_usage() -> None:
    """A hostile run: codex refused eight tool calls, then the model answered."""
    lines = [
        b'{"type":"thread.started","thread_id":"01a1fd5a-fd07-70a0-82cd-95434da9eeac"}',
        b'{"type":"turn.started"}',
        b'{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"done"}}',
        b'{"type":"turn.completed","usage":{"input_tokens":270,"cached_input_tokens":36,'
        b'"cache_write_input_tokens":0,"output_tokens":54,"reasoning_output_tokens":0}}',
    ]
    assert decode(lines, exit_code=0)[1:] == [
        Message(text="done"),
        Usage(input_tokens=270, output_tokens=54, cached_input_tokens=36),
        Finished(finish_reason="stop", text="done"),
    ]


def test_the_command_line_withdraws_every_tool_the_config_can() -> None:
    request = LaunchRequest(
        executable="codex",
        model="gpt-5.5",
        workspace=Workspace("/w", "9b2e"),
        extra_args=("--config=model_provider=fake",),
    )
    argv = DRIVER.launch(request).argv
    overrides = [arg.removeprefix("--config=") for arg in argv if arg.startswith("--config=")]
    # The operator's extra arguments come after ours, before "resume <id> -" (stdin).
    assert overrides == [*COMPLETION_ONLY_CONFIG, *NO_PERSONA_CONFIG, "model_provider=fake"]
    assert argv[-3:] == ("resume", "9b2e", "-")
    for setting in (
        "features.shell_tool=false",
        "features.shell_snapshot=false",
        "features.view_image=false",
        "features.goals=false",
        "features.multi_agent_v2.disable_native_tools=true",
        "tools.experimental_request_user_input.enabled=false",
    ):
        assert setting in overrides
