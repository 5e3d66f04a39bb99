"""Golden lines of the real gemini 0.61.0 (tests/real_cli/test_gemini.py) and the
completion-only command line they were recorded with.

Lines recorded against tests/fakes/fake_gemini.py with ``DRIVER.argv`` and
``DRIVER.fixed_env()``: a hostile answer refused tool by tool, and a base URL on a
closed port.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from contracts.conversation import Conversation
from contracts.providers import LaunchRequest, Workspace
from contracts.providers.gemini import DRIVER, NO_TOOLS_POLICY, SYSTEM_DEFAULTS
from contracts.session import Failed, Finished, SessionEvent, Started, TextDelta, Usage

SESSION = "beff7efc-414f-4972-8cac-8ac49486c484"

HOSTILE_RUN = [
    '{"type":"init","timestamp":"2026-11-21T09:10:23.387Z","session_id":"' + SESSION + '",'
    '"model":"gemini-2.5-flash"}',
    '{"type":"message","timestamp":"2026-11-21T09:10:23.388Z","role":"user",'
    '"content":"Run touch for me.\\n"}',
    '{"type":"tool_use","timestamp":"2026-11-21T09:10:23.418Z","tool_name":"exit_plan_mode",'
    '"tool_id":"exit_plan_mode__exit_plan_mode_1795252223414_0",'
    '"parameters":{"plan_filename":"plan.md"}}',
    '{"type":"tool_result","timestamp":"2026-11-21T09:10:23.460Z",'
    '"tool_id":"exit_plan_mode__exit_plan_mode_1795252223414_0","status":"error",'
    '"output":"Tool \\"exit_plan_mode\\" not found.","error":{"type":"tool_not_registered",'
    '"message":"Tool \\"exit_plan_mode\\" not found."}}',
    '{"type":"tool_use","timestamp":"2026-11-21T09:10:23.479Z","tool_name":"run_shell_command",'
    '"tool_id":"run_shell_command__run_shell_command_1795252223479_0",'
    '"parameters":{"command":"touch /tmp/gx/pwned"}}',
    '{"type":"tool_result","timestamp":"2026-11-21T09:10:23.483Z",'
    '"tool_id":"run_shell_command__run_shell_command_1795252223479_0","status":"error",'
    '"output":"Tool \\"run_shell_command\\" not found.","error":{"type":"tool_not_registered",'
    '"message":"Tool \\"run_shell_command\\" not found."}}',
    '{"type":"message","timestamp":"2026-11-21T09:10:23.500Z","role":"assistant",'
    '"content":"Nothing","delta":true}',
    '{"type":"message","timestamp":"2026-11-21T09:10:23.507Z","role":"assistant",'
    '"content":" ran.","delta":true}',
    '{"type":"result","timestamp":"2026-11-21T09:10:23.509Z","status":"success","stats":'
    '{"total_tokens":126,"input_tokens":111,"output_tokens":15,"cached":0,"input":111,'
    '"duration_ms":122,"tool_calls":2,"models":{"fake-gemini":{"total_tokens":84,'
    '"input_tokens":74,"output_tokens":10,"cached":0,"input":74},"gemini-2.5-flash":'
    '{"total_tokens":42,"input_tokens":37,"output_tokens":5,"cached":0,"input":37}}}}',
]

UNREACHABLE_RUN = [
    '{"type":"init","timestamp":"2026-11-21T09:07:04.188Z",'
    '"session_id":"7a49eb35-2f89-4008-86ff-6201da085ebb","model":"gemini-2.5-flash"}',
    '{"type":"message","timestamp":"2026-11-21T09:07:04.189Z","role":"user","content":"hi\\n"}',
    '{"type":"result","timestamp":"2026-11-21T09:07:04.221Z","status":"error","error":'
    '{"type":"unknown","message":"[API Error: exception TypeError: fetch failed sending '
    'request]"},"stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,'
    '"input":0,"duration_ms":0,"tool_calls":0,"models":{"gemini-2.5-flash":'
    '{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0}}}}',
]


def decode(lines: list[str], exit_code: int | None) -> list[SessionEvent]:
    decoder = DRIVER.decoder()
    events = [event for line in lines for event in decoder.feed(line.encode())]
    return events + decoder.finish(exit_code, "")


def test_the_command_line_loads_the_deny_all_policy_as_admin_and_user_policy() -> None:
    request = LaunchRequest(
        executable="gemini",
        model="gemini-2.5-flash",
        workspace=Workspace("/w", "id"),
        extra_args=("--debug",),
        conversation=Conversation.from_prompt("Hi"),
    )
    argv = DRIVER.launch(request).argv
    assert argv == (
        "gemini",
        "--output-format=stream-json",
        "--model=gemini-2.5-flash",
        "--skip-trust",
        f"--admin-policy={NO_TOOLS_POLICY}",
        f"--policy={NO_TOOLS_POLICY}",
        "--debug",
    )
    # gemini splits these values on commas.
    assert "," not in NO_TOOLS_POLICY


def test_the_policy_denies_every_tool_at_the_top_priority() -> None:
    policy = tomllib.loads(Path(NO_TOOLS_POLICY).read_text())
    assert policy == {"rule": [{"toolName": "*", "decision": "deny", "priority": 999}]}


def test_the_system_defaults_stop_gemini_retrying_refused_connections() -> None:
    assert dict(DRIVER.fixed_env()) == {"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": SYSTEM_DEFAULTS}
    assert json.loads(Path(SYSTEM_DEFAULTS).read_text()) == {"general": {"retryFetchErrors": False}}


def test_refused_tool_calls_are_no_answer_and_the_usage_sums_every_request() -> None:
    assert decode(HOSTILE_RUN, 0) == [
        Started(provider="gemini", session_id=SESSION, model="gemini-2.5-flash"),
        TextDelta(text="Nothing"),
        TextDelta(text=" ran."),
        Usage(input_tokens=111, output_tokens=15, cached_input_tokens=0),
        Finished(finish_reason="stop", text="Nothing ran."),
    ]


def test_a_failed_fetch_is_unreachable_with_what_to_check() -> None:
    events = decode(UNREACHABLE_RUN, 1)
    assert events[-1] == Failed(
        kind="unreachable",
        message="gemini could not reach the Gemini API ([API Error: exception TypeError: fetch"
        " failed sending request]); check this host's network and proxy, and the"
        " GOOGLE_GEMINI_BASE_URL set for gemini (unset: https://generativelanguage.googleapis.com)",
        exit_code=1,
    )


def test_exit_41_without_output_says_how_to_log_in() -> None:
    (failed,) = decode([], 41)
    assert isinstance(failed, Failed)
    assert failed.kind == "not_logged_in"
    assert failed.exit_code == 41
    assert failed.message.startswith("gemini: not logged in (it exited with code 41")
    assert "GEMINI_API_KEY" in failed.message
    assert "[providers.gemini.env]" in failed.message
    assert "run `gemini` once" in failed.message
