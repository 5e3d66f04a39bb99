"""The LineDecoder contract, as every provider's decoder keeps it (SPEC §4.1, §4.4)."""

from __future__ import annotations

import pytest

from contracts.providers import DRIVERS, CliDriver, driver
from contracts.session import Failed, Finished, encode_event
from tests.contracts.providers.test_decoders import recorded, run

PROVIDERS = list(DRIVERS)


def fresh(provider: str) -> CliDriver:
    found = driver(provider)
    assert found is not None
    return found


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "line",
    [b"not json at all", b"[1, 2]", b'"a string"', b"42", b"null", b"{\xff\xfe}", b'{"a": 1'],
)
def test_a_line_that_is_not_a_json_object_is_a_protocol_error(provider: str, line: bytes) -> None:
    decoder = fresh(provider).decoder()
    [failed] = decoder.feed(line)
    assert isinstance(failed, Failed)
    assert failed.kind == "protocol_error"
    assert failed.message.startswith(f"{provider}: stdout line is not a JSON object: ")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_protocol_error_quotes_only_a_short_excerpt_of_the_line(provider: str) -> None:
    line = b"<html>" + b"x" * 5000 + b"SECRET-AT-THE-END"
    [failed] = fresh(provider).decoder().feed(line)
    assert isinstance(failed, Failed)
    assert "SECRET-AT-THE-END" not in failed.message
    assert repr(line.decode()[:80]) in failed.message
    assert len(failed.message) < 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_after_a_protocol_error_the_run_is_decided(provider: str) -> None:
    decoder = fresh(provider).decoder()
    [failed] = decoder.feed(b"garbage")
    assert isinstance(failed, Failed)
    assert decoder.feed(b'{"type":"result","subtype":"success","status":"success"}') == []
    assert decoder.finish(0, "") == [
        Failed(kind="protocol_error", message=failed.message, exit_code=0)
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("line", [b"", b"   ", b"\r", b"\t \r"])
def test_a_blank_line_gives_nothing(provider: str, line: bytes) -> None:
    assert fresh(provider).decoder().feed(line) == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "line",
    [b"{}", b'{"type":"from_a_future_version","x":1}', b'{"type":7}', b'{"kind":"result"}'],
)
def test_a_json_object_of_an_unknown_type_is_ignored(provider: str, line: bytes) -> None:
    decoder = fresh(provider).decoder()
    assert decoder.feed(line) == []
    assert not decoder.done


@pytest.mark.parametrize("provider", PROVIDERS)
def test_exit_0_without_a_result_is_a_protocol_error(provider: str) -> None:
    assert fresh(provider).decoder().finish(0, "") == [
        Failed(
            kind="protocol_error",
            message=f"{provider} exited with code 0 without a result line",
            exit_code=0,
        )
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("exit_code", "how"),
    [(2, "exited with code 2"), (-9, "was killed by SIGKILL"), (None, "ended")],
)
def test_a_crash_without_a_result_is_crashed(
    provider: str, exit_code: int | None, how: str
) -> None:
    [failed] = fresh(provider).decoder().finish(exit_code, "Segmentation fault")
    assert isinstance(failed, Failed)
    assert failed.kind == "crashed"
    assert failed.exit_code == exit_code
    assert f"{provider} {how}" in failed.message


SUCCESS: dict[str, list[bytes]] = {
    "claude": recorded("claude-2.1.197-completion.jsonl"),
    "codex": recorded("codex-0.169.0-completion.jsonl"),
    "gemini": recorded("gemini-0.61.0-completion.jsonl"),
    "amp": recorded("amp-handmade-completion.jsonl"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("exit_code", [0, 1, -15, None])
def test_a_reported_success_is_finished_whatever_the_exit_code(
    provider: str, exit_code: int | None
) -> None:
    events = run(provider, SUCCESS[provider], exit_code)
    assert isinstance(events[-1], Finished)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_done_turns_true_with_the_result_line_and_later_lines_are_ignored(
    provider: str,
) -> None:
    decoder = fresh(provider).decoder()
    *before, result = SUCCESS[provider]
    for line in before:
        decoder.feed(line)
        assert not decoder.done
    decoder.feed(result)
    assert decoder.done
    assert decoder.feed(b"shutting down, not JSON") == []
    assert decoder.feed(before[-1]) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stderr_never_enters_an_event(provider: str) -> None:
    secret = "sk-ant-SECRET-in-stderr"
    for lines, exit_code in [([], 1), ([], 0), (SUCCESS[provider], 0), ([], 41)]:
        events = run(provider, lines, exit_code, f"Error: token {secret} rejected")
        assert all(secret.encode() not in encode_event(event) for event in events)
        assert all(getattr(event, "stderr_tail", None) is None for event in events)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_driver_gives_a_fresh_decoder(provider: str) -> None:
    found = fresh(provider)
    first, second = found.decoder(), found.decoder()
    first.feed(SUCCESS[provider][-1])
    assert first is not second
    assert not second.done
