"""Valid payloads, defaults, round trips and secrecy of the bus.inference contract."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.inference import (
    EVENT_NAMES,
    INVALID,
    PAYLOAD_TYPES,
    REQUEST_NAMES,
    RESPONSE_FOR,
    RESPONSE_NAMES,
    RULES_FOR,
    VALID,
    Invalid,
    Rule,
    UnknownEventError,
    VerifyRequest,
    validate,
)
from contracts.testing import invalid_payloads, valid_payloads

events = st.sampled_from(EVENT_NAMES)


@given(events.flatmap(lambda e: st.tuples(st.just(e), valid_payloads(e))))
def test_valid_payloads_are_accepted(case: tuple[str, dict[str, Any]]) -> None:
    event, payload = case
    result = validate(event, msgspec.json.encode(payload))
    assert not isinstance(result, Invalid), result


@given(events.flatmap(lambda e: st.tuples(st.just(e), valid_payloads(e))))
def test_every_payload_struct_round_trips_through_json(case: tuple[str, dict[str, Any]]) -> None:
    event, payload = case
    decoded = msgspec.json.decode(msgspec.json.encode(payload), type=PAYLOAD_TYPES[event])
    again = msgspec.json.decode(msgspec.json.encode(decoded), type=PAYLOAD_TYPES[event])
    assert again == decoded


@given(events.flatmap(invalid_payloads))
def test_every_labelled_invalid_example_breaks_its_rule(example: Any) -> None:
    result = validate(example.event, msgspec.json.encode(example.payload))
    assert isinstance(result, Invalid)
    assert result.rules == (example.rule,)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for event in EVENT_NAMES:
        validate(event, data)


secret_values = st.from_regex(r"[A-Za-z0-9+/]{12,40}", fullmatch=True)


@given(
    secret_values, st.sampled_from(["api_token_secret", "tls_ca_file", "ssh_private_key_secret"])
)
def test_rule_credentials_references_never_echoes_the_inline_secret(value: str, key: str) -> None:
    """Rule: a diagnostic never contains a secret value, only references and paths."""
    payload = {"provider": "ollama", "node_id": "n1", "credentials": {key: value}}
    result = validate("bus.inference.install.request", msgspec.json.encode(payload))
    assert isinstance(result, Invalid)
    assert result.rules == (Rule.CREDENTIALS_REFERENCES,)
    assert all(value not in line for line in result.diagnostics)


def test_request_defaults_are_filled_in() -> None:
    install = validate("bus.inference.install.request", b'{"provider":"ollama","node_id":"n"}')
    assert msgspec.to_builtins(install) == {
        "provider": "ollama",
        "node_id": "n",
        "runtime": {"environment": "dev"},
        "credentials": {},
        "dry_run": True,
        "confirm": False,
    }
    ensure = validate(
        "bus.inference.model.ensure.request",
        b'{"provider":"ollama","node_id":"n","model":"m"}',
    )
    assert msgspec.to_builtins(ensure)["policy"] == {
        "allow_model_download": False,
        "require_confirmation_for_prod": True,
    }


def test_model_of_exactly_200_bytes_is_accepted_and_201_refused() -> None:
    base = {"provider": "ollama", "node_id": "n"}
    ok = validate(
        "bus.inference.model.ensure.request", msgspec.json.encode(base | {"model": "é" * 100})
    )
    assert not isinstance(ok, Invalid)
    bad = validate(
        "bus.inference.model.ensure.request", msgspec.json.encode(base | {"model": "é" * 100 + "x"})
    )
    assert isinstance(bad, Invalid) and bad.rules == (Rule.MODEL_FORMAT,)


def test_verify_without_checks_runs_the_default_checks_in_order() -> None:
    request = validate("bus.inference.verify.request", b'{"provider":"ollama","node_id":"n"}')
    assert isinstance(request, VerifyRequest)
    assert request.effective_checks() == ("runtime-ready", "model-ready")


def test_event_names_pair_each_request_with_its_response() -> None:
    assert len(EVENT_NAMES) == 8
    assert [RESPONSE_FOR[name] for name in REQUEST_NAMES] == list(RESPONSE_NAMES)


@pytest.mark.parametrize("event", EVENT_NAMES)
def test_golden_valid_example_is_accepted(event: str) -> None:
    assert not isinstance(validate(event, msgspec.json.encode(VALID[event])), Invalid)


@pytest.mark.parametrize(("event", "rule", "payload"), INVALID, ids=[r for _, r, _ in INVALID])
def test_golden_invalid_example_breaks_its_rule(event: str, rule: Rule, payload: Any) -> None:
    result = validate(event, msgspec.json.encode(payload))
    assert isinstance(result, Invalid) and result.rules == (rule,)


def test_every_rule_has_a_golden_example_and_applies_somewhere() -> None:
    assert {rule for _, rule, _ in INVALID} == set(Rule)
    assert set().union(*RULES_FOR.values()) == set(Rule)


def test_unknown_event_name_is_an_error_of_the_caller() -> None:
    with pytest.raises(UnknownEventError):
        validate("bus.inference.reboot.request", b"{}")


@pytest.mark.parametrize(
    "node_id", ["", "a b", "a\n", "a\nb", "a/b", "a.b", "a:b", "é", "٣", "a\x00", "x" * 65]
)
def test_node_id_refuses_the_likely_mistakes(node_id: str) -> None:
    payload = msgspec.json.encode({"provider": "ollama", "node_id": node_id})
    result = validate("bus.inference.status.request", payload)
    assert isinstance(result, Invalid) and result.rules == (Rule.NODE_ID_FORMAT,)
