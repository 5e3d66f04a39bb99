"""claude's decoder on lines the real claude 2.1.197 printed offline (the real-CLI tier).

The lines are verbatim from runs against tests/fakes/fake_anthropic.py (a few long
fields left out): a key the API rejects (HTTP 401), no login at all, and an answer the
upstream keeps cutting at max_tokens.
"""

from __future__ import annotations

from contracts.providers import driver
from contracts.session import Failed, Finished, SessionEvent, TextDelta, Usage, Warning

# api_retry lines of a run whose key the upstream answered with HTTP 401.
REJECTED = [
    b'{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,'
    b'"retry_delay_ms":600.9044288667778,"error_status":401,"error":"authentication_failed",'
    b'"session_id":"4050d488-e348-4e38-96f8-42be092fd6af",'
    b'"uuid":"6b75ec30-a962-4eaf-8176-5ab0a8bb6f90"}',
    b'{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,'
    b'"retry_delay_ms":1023.6815941513668,"error_status":401,"error":"authentication_failed",'
    b'"session_id":"4050d488-e348-4e38-96f8-42be092fd6af",'
    b'"uuid":"d3f641b1-ac04-4536-89bd-88e5aa5912a1"}',
    b'{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,'
    b'"retry_delay_ms":2417.5390322659923,"error_status":401,"error":"authentication_failed",'
    b'"session_id":"4050d488-e348-4e38-96f8-42be092fd6af",'
    b'"uuid":"a3d09340-8a82-453f-a765-04ec9dbbee13"}',
]

# The closing lines of a run with no ANTHROPIC_API_KEY and an empty HOME (exit 1).
NOT_LOGGED_IN = [
    b'{"type":"assistant","message":{"id":"f9b12b96-2b4c-4a5b-8b67-190fcb3bc972",'
    b'"container":null,"model":"<synthetic>","role":"assistant","stop_details":null,'
    b'"stop_reason":"stop_sequence","stop_sequence":"","type":"message","usage":'
    b'{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,'
    b'"cache_read_input_tokens":0},"content":[{"type":"text",'
    b'"text":"Not logged in \xc2\xb7 Please run /login"}],"context_management":null},'
    b'"parent_tool_use_id":null,"session_id":"b93a359e-075e-411c-82e6-8f5f34520f6e",'
    b'"uuid":"a699538e-207a-43ce-9a11-71d23d36c722","error":"authentication_failed"}',
    b'{"type":"result","subtype":"success","is_error":true,"api_error_status":null,'
    b'"duration_ms":41,"duration_api_ms":0,"num_turns":1,'
    b'"result":"Not logged in \xc2\xb7 Please run /login","stop_reason":"stop_sequence",'
    b'"session_id":"b93a359e-075e-411c-82e6-8f5f34520f6e","total_cost_usd":0,"usage":'
    b'{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,'
    b'"output_tokens":0},"modelUsage":{},"permission_denials":[],'
    b'"terminal_reason":"completed","fast_mode_state":"off",'
    b'"uuid":"9d73c90e-2aeb-4e52-b3a9-8d4e2a1d48f8"}',
]

# A run whose upstream stopped every turn at max_tokens: claude asked it to resume three
# times, then gave up with an error result (exit 1). The first turn and the last two lines.
CUT_AT_THE_LIMIT = [
    b'{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_fake",'
    b'"type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,'
    b'"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}}},'
    b'"session_id":"cf6696cd-5fcb-4130-a74a-a5d307b1c2eb","parent_tool_use_id":null,'
    b'"uuid":"9e12d9e3-85f9-46cd-b301-2e16a15dc7ed","ttft_ms":30}',
    b'{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":'
    b'{"type":"text_delta","text":"Once upo"}},'
    b'"session_id":"cf6696cd-5fcb-4130-a74a-a5d307b1c2eb","parent_tool_use_id":null,'
    b'"uuid":"9eca9f03-3357-4716-af10-4729be03e8f6"}',
    b'{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":'
    b'{"type":"text_delta","text":"n a time"}},'
    b'"session_id":"cf6696cd-5fcb-4130-a74a-a5d307b1c2eb","parent_tool_use_id":null,'
    b'"uuid":"86ffcec5-bbbd-409f-a58c-a2b3310c2c18"}',
    b'{"type":"stream_event","event":{"type":"message_delta","delta":'
    b'{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":5}},'
    b'"session_id":"cf6696cd-5fcb-4130-a74a-a5d307b1c2eb","parent_tool_use_id":null,'
    b'"uuid":"78cb9d52-45a3-49e8-8407-73278032cd7e"}',
    b'{"type":"assistant","message":{"id":"fbcdaa4a-8c71-4161-bc5e-d3884b3d65f4",'
    b'"container":null,"model":"<synthetic>","role":"assistant","stop_details":null,'
    b'"stop_reason":"stop_sequence","stop_sequence":"","type":"message","usage":'
    b'{"input_tokens":0,"output_tokens":0},"content":[{"type":"text","text":"API Error: '
    b"Claude's response exceeded the 32000 output token maximum. To configure this "
    b'behavior, set the CLAUDE_CODE_MAX_OUTPUT_TOKENS environment variable."}],'
    b'"context_management":null},"parent_tool_use_id":null,'
    b'"session_id":"cf6696cd-5fcb-4130-a74a-a5d307b1c2eb",'
    b'"uuid":"7cadd1c9-eb42-4d4d-b02f-3f4613ee0720","error":"max_output_tokens"}',
    b'{"type":"result","subtype":"success","is_error":true,"api_error_status":null,'
    b'"duration_ms":371,"duration_api_ms":236,"num_turns":1,"result":"API Error: '
    b"Claude's response exceeded the 32000 output token maximum. To configure this "
    b'behavior, set the CLAUDE_CODE_MAX_OUTPUT_TOKENS environment variable.",'
    b'"stop_reason":"stop_sequence","session_id":"cf6696cd-5fcb-4130-a74a-a5d307b1c2eb",'
    b'"total_cost_usd":0.000552,"usage":{"input_tokens":84,"cache_creation_input_tokens":0,'
    b'"cache_read_input_tokens":0,"output_tokens":20},"permission_denials":[],'
    b'"terminal_reason":"completed","fast_mode_state":"off",'
    b'"uuid":"22ca450b-8f3f-467c-8c15-f643f1c3c810"}',
]

SUCCESS = (
    b'{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"Hi",'
    b'"stop_reason":"end_turn","usage":{"input_tokens":21,"output_tokens":5}}'
)


def run(lines: list[bytes], exit_code: int | None) -> list[SessionEvent]:
    found = driver("claude")
    assert found is not None
    decoder = found.decoder()
    events: list[SessionEvent] = []
    for line in lines:
        events += decoder.feed(line)
    return events + decoder.finish(exit_code, "")


def test_a_key_rejected_three_times_is_not_logged_in_with_what_to_do() -> None:
    events = run(REJECTED, -15)  # the ladder's SIGTERM ends claude's remaining retries
    assert [type(event) for event in events] == [Warning, Warning, Warning, Failed]
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == "not_logged_in"
    assert failed.message.startswith(
        "claude: API request failed (HTTP 401, authentication_failed); retry 3 of 10 in 2.4 s:"
    )
    assert "ANTHROPIC_API_KEY" in failed.message and "/login" in failed.message


def test_a_key_rejected_twice_then_accepted_is_an_answer() -> None:
    """An OAuth token refreshed after the first rejection must still answer."""
    events = run([*REJECTED[:2], SUCCESS], 0)
    assert events[-1] == Finished(finish_reason="stop", text="Hi")


def test_the_real_not_logged_in_run_is_not_logged_in() -> None:
    events = run(NOT_LOGGED_IN, 1)
    assert events == [
        Usage(input_tokens=0, output_tokens=0, cached_input_tokens=0, cost_usd=0.0),
        Failed(
            kind="not_logged_in",
            message="claude: not logged in (Not logged in · Please run /login)",
            exit_code=1,
        ),
    ]


def test_an_answer_cut_at_the_output_limit_finishes_with_length_not_a_crash() -> None:
    events = run(CUT_AT_THE_LIMIT, 1)
    assert events == [
        TextDelta(text="Once upo"),
        TextDelta(text="n a time"),
        Usage(input_tokens=84, output_tokens=20, cached_input_tokens=0, cost_usd=0.000552),
        Finished(finish_reason="length", text="Once upon a time"),
    ]


def test_an_answer_that_mentions_the_limit_is_still_a_plain_answer() -> None:
    said = "Claude's response exceeded the 32000 output token maximum, it says."
    result = (
        b'{"type":"result","subtype":"success","is_error":false,"result":"'
        + said.encode()
        + b'","stop_reason":"end_turn"}'
    )
    assert run([result], 0)[-1] == Finished(finish_reason="stop", text=said)
