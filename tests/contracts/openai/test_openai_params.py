"""Request parameters: honoured where the lease's CLI can pass them on, else named as
ignored; log-probabilities and unhonourable response formats refused (SPEC §3.2)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.conversation import ResponseFormat
from contracts.openai import PARAMETERS, OpenAIRequestError, request_options, validate_chat_request
from contracts.providers import AMP, CLAUDE, CODEX, GEMINI, PROFILES, ProviderProfile
from contracts.testing import chat_messages, request_parameters

PINNED = "m"
_SCHEMA = {"type": "object", "properties": {"t": {"type": "string"}}, "required": ["t"]}
_CANONICAL = {"max_completion_tokens": "max_tokens"}
profiles = st.sampled_from(list(PROFILES.values()))


def _body(messages: list[dict[str, Any]], **fields: Any) -> bytes:
    return msgspec.json.encode({"messages": messages, **fields})


def _refused(body: bytes, profile: ProviderProfile | None = None) -> OpenAIRequestError:
    with pytest.raises(OpenAIRequestError) as caught:
        validate_chat_request(body, PINNED, profile)
    return caught.value


@given(chat_messages(max_size=2), request_parameters(), profiles)
def test_rule_parameters_a_provider_cannot_pass_on_are_named_as_ignored(
    messages: list[dict[str, Any]], params: dict[str, Any], profile: ProviderProfile
) -> None:
    """Rule: every given (non-null) parameter the provider does not honour is named, in
    the order of PARAMETERS; the ones it honours are not."""
    valid = validate_chat_request(_body(messages, **params), PINNED, profile)
    given_ = [name for name in PARAMETERS if params.get(name) is not None]
    expected = [name for name in given_ if _CANONICAL.get(name, name) not in profile.parameters]
    assert list(valid.ignored) == expected


@given(chat_messages(max_size=2), request_parameters(), profiles)
def test_rule_only_honoured_parameters_are_delivered(
    messages: list[dict[str, Any]], params: dict[str, Any], profile: ProviderProfile
) -> None:
    """Rule: the options handed to the CLI hold the honoured parameters' values and none of
    the ignored ones."""
    options = validate_chat_request(_body(messages, **params), PINNED, profile).conversation.options
    honoured = profile.parameters
    stop = params.get("stop")
    expected_stop = (stop,) if isinstance(stop, str) else tuple(stop or ())
    expected_max = params.get("max_completion_tokens") or params.get("max_tokens")
    assert options.temperature == (params.get("temperature") if "temperature" in honoured else None)
    assert options.top_p == (params.get("top_p") if "top_p" in honoured else None)
    assert options.max_tokens == (expected_max if "max_tokens" in honoured else None)
    assert options.stop == (expected_stop if "stop" in honoured else ())
    assert options.seed == (params.get("seed") if "seed" in honoured else None)
    effort = params.get("reasoning_effort")
    assert options.reasoning_effort == (effort if "reasoning_effort" in honoured else None)


def test_the_table_of_parameters_per_provider() -> None:
    assert CLAUDE.parameters == {"temperature", "top_p", "max_tokens", "stop", "reasoning_effort"}
    assert CODEX.parameters == {"reasoning_effort"}
    assert GEMINI.parameters == AMP.parameters == frozenset()
    assert CLAUDE.response_formats == {"json_schema", "json_object"}
    assert CODEX.response_formats == {"json_schema"}
    assert GEMINI.response_formats == AMP.response_formats == frozenset()


@given(
    chat_messages(max_size=2),
    st.sampled_from([("logprobs", True), ("top_logprobs", 0), ("top_logprobs", 5)]),
    profiles,
)
def test_rule_logprobs_are_refused(
    messages: list[dict[str, Any]], field: tuple[str, Any], profile: ProviderProfile
) -> None:
    """Rule: logprobs true or any top_logprobs is 400 naming it, whatever the provider."""
    name, value = field
    error = _refused(_body(messages, **{name: value}), profile)
    assert (error.status, error.param) == (400, name)
    assert "log-probabilities" in error.message


@given(chat_messages(max_size=2), st.sampled_from([None, False]))
def test_rule_logprobs_false_or_null_is_accepted(
    messages: list[dict[str, Any]], value: bool | None
) -> None:
    """Rule: logprobs false (or null) asks for nothing and is accepted."""
    assert validate_chat_request(_body(messages, logprobs=value), PINNED, CLAUDE).ignored == ()


_OUT_OF_RANGE: dict[str, list[object]] = {
    "temperature": [2.01, -0.5, 100],
    "top_p": [1.5, -0.1],
    "max_tokens": [0, -1],
    "max_completion_tokens": [0],
    "stop": [["a", "b", "c", "d", "e"], "", ["ok", ""]],
    "seed": [1.5, "7"],
    "reasoning_effort": ["extreme", ""],
}


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in _OUT_OF_RANGE.items() for value in values]
)
def test_rule_parameters_are_validated_naming_the_parameter(name: str, value: object) -> None:
    error = _refused(_body([{"role": "user", "content": "hi"}], **{name: value}), CLAUDE)
    assert error.status == 400
    assert error.param is not None and error.param.startswith(name)  # "stop[1]" says which


@given(chat_messages(max_size=2), profiles, st.sampled_from(["json_schema", "json_object"]))
def test_rule_response_format_is_honoured_or_refused_never_ignored(
    messages: list[dict[str, Any]], profile: ProviderProfile, kind: str
) -> None:
    """Rule: a JSON response_format is delivered where the CLI can hold its answer to it,
    else 400 naming response_format (a client relying on JSON must not get prose)."""
    spec: dict[str, Any] = {"type": kind}
    if kind == "json_schema":
        spec["json_schema"] = {"name": "answer", "schema": _SCHEMA, "strict": True}
    body = _body(messages, response_format=spec)
    if kind in profile.response_formats:
        options = validate_chat_request(body, PINNED, profile).conversation.options
        assert options.response_format is not None
        assert options.response_format.kind == kind
        expected = _SCHEMA if kind == "json_schema" else {"type": "object"}
        assert options.response_format.json_schema() == expected
    else:
        error = _refused(body, profile)
        assert (error.status, error.param) == (400, "response_format")
        assert profile.display_name in error.message


@given(chat_messages(max_size=2), profiles)
def test_rule_response_format_text_asks_for_nothing(
    messages: list[dict[str, Any]], profile: ProviderProfile
) -> None:
    """Rule: response_format type "text" is the default and accepted everywhere."""
    body = _body(messages, response_format={"type": "text"})
    valid = validate_chat_request(body, PINNED, profile)
    assert valid.conversation.options.response_format is None and valid.ignored == ()


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"name": "x"}},
        {"type": "json_schema", "json_schema": {"schema": "not an object"}},
        {"type": "xml"},
        {"type": 3},
    ],
)
def test_a_malformed_response_format_is_400(spec: dict[str, Any]) -> None:
    error = _refused(_body([{"role": "user", "content": "hi"}], response_format=spec), CLAUDE)
    assert (error.status, error.param) == (400, "response_format")


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    options, ignored = request_options({"max_tokens": 5, "max_completion_tokens": 9}, CLAUDE)
    assert options.max_tokens == 9 and ignored == ()


def test_without_a_profile_every_parameter_is_ignored_and_json_refused() -> None:
    options, ignored = request_options({"temperature": 0.3, "seed": 1}, None)
    assert ignored == ("temperature", "seed") and options.temperature is None
    body = _body([{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
    assert _refused(body).param == "response_format"


def test_a_response_format_keeps_its_name_and_strictness() -> None:
    spec = {"type": "json_schema", "json_schema": {"name": "n", "schema": _SCHEMA, "strict": True}}
    options, _ = request_options({"response_format": spec}, CODEX)
    assert options.response_format == ResponseFormat(
        kind="json_schema", schema=_SCHEMA, name="n", strict=True
    )
