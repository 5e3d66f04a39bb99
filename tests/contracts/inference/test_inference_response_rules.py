"""Responses obey their requests' field rules; verify's ok agrees with its checks;
nothing inside ``credentials`` is quoted back (issue 15).

These properties build their payloads here instead of drawing them from the exported
conformance strategies, so they check the validator against an independent statement of
each rule (``test_inference_rules.py`` checks the strategies against the validator).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from contracts.inference import (
    CHECK_NAMES,
    ERROR_CLASSES,
    INSTALL_REQUEST,
    MODEL_ENSURE_RESPONSE,
    NODE_ID_PATTERN,
    RESPONSE_NAMES,
    RULE_TEXT,
    STATUS_RESPONSE,
    VERIFY_RESPONSE,
    Credentials,
    Invalid,
    Rule,
    validate,
)
from contracts.testing import valid_payloads

responses = st.sampled_from(RESPONSE_NAMES).flatmap(
    lambda name: st.tuples(st.just(name), valid_payloads(name))
)
bad_providers = st.text(max_size=12).filter(lambda provider: provider != "ollama")
bad_node_ids = st.text(max_size=70).filter(lambda n: re.fullmatch(NODE_ID_PATTERN, n) is None)
bad_models = st.one_of(
    st.just(""),
    st.builds(
        lambda a, ws, b: a + ws + b,
        st.text(max_size=5),
        st.sampled_from(" \t\n\x00"),
        st.text(max_size=5),
    ),
    st.integers(201, 260).map(lambda n: "m" * n),
)


def refused_for(name: str, payload: dict[str, Any]) -> tuple[Rule, ...]:
    result = validate(name, msgspec.json.encode(payload))
    assert isinstance(result, Invalid), f"accepted: {payload!r}"
    assert result.error_class == "bad_request"
    return result.rules


@given(responses, bad_providers)
def test_rule_provider_registered_holds_for_responses(
    case: tuple[str, dict[str, Any]], provider: str
) -> None:
    """Rule provider_registered: a response names a registered provider, as its request
    must (a bridge answering ``provider: ""`` breaks it)."""
    name, payload = case
    assert refused_for(name, payload | {"provider": provider}) == (Rule.PROVIDER_REGISTERED,)


@given(responses, bad_node_ids)
def test_rule_node_id_format_holds_for_responses(
    case: tuple[str, dict[str, Any]], node_id: str
) -> None:
    """Rule node_id_format: a response's node_id is 1-64 letters, digits, '_' or '-'."""
    name, payload = case
    assert refused_for(name, payload | {"node_id": node_id}) == (Rule.NODE_ID_FORMAT,)


@given(valid_payloads(MODEL_ENSURE_RESPONSE), bad_models)
def test_rule_model_format_holds_for_model_ensure_responses(
    payload: dict[str, Any], model: str
) -> None:
    """Rule model_format: a model.ensure response names a model its request could name."""
    rules = refused_for(MODEL_ENSURE_RESPONSE, payload | {"model": model})
    assert rules == (Rule.MODEL_FORMAT,)


@given(valid_payloads(STATUS_RESPONSE), bad_models, st.data())
def test_rule_model_format_holds_for_status_response_models(
    payload: dict[str, Any], model: str, data: st.DataObject
) -> None:
    """Rule model_format: every model a status response lists is a valid model id."""
    models = list(payload.get("models", []))
    models.insert(data.draw(st.integers(0, len(models))), model)
    assert refused_for(STATUS_RESPONSE, payload | {"models": models}) == (Rule.MODEL_FORMAT,)


# --- verify: ok against checks ---------------------------------------------------------

checks_lists = st.lists(st.sampled_from(CHECK_NAMES), unique=True).flatmap(
    lambda names: st.tuples(*(st.tuples(st.just(n), st.booleans()) for n in names))
)
mentions = st.one_of(st.text(max_size=12), st.sampled_from(CHECK_NAMES).map(lambda n: f"{n}: x"))


def expected_rule(
    ok: bool, error_class: str | None, checks: tuple[tuple[str, bool], ...], diagnostics: list[str]
) -> Rule | None:
    """The rule a verify response breaks, stated from BUS.md §1 on its own."""
    if (ok and error_class is not None) or (not ok and (error_class is None or not diagnostics)):
        return Rule.RESPONSE_OK_ERROR_CLASS
    failing = [name for name, passed in checks if not passed]
    ran_and_passed = bool(checks) and not failing
    if ok != ran_and_passed:
        return Rule.VERIFY_OK_IS_CONJUNCTION
    if not ok and (error_class == "verify_failed") != bool(failing):
        return Rule.VERIFY_OK_IS_CONJUNCTION
    if failing and not any(failing[0] in line for line in diagnostics):
        return Rule.VERIFY_FAILURE_NAMES_CHECK
    return None


@given(
    st.booleans(),
    st.none() | st.sampled_from(ERROR_CLASSES),
    checks_lists,
    st.lists(mentions, max_size=3),
)
def test_rule_verify_ok_is_conjunction_and_failure_names_check(
    ok: bool, error_class: str | None, checks: tuple[tuple[str, bool], ...], diagnostics: list[str]
) -> None:
    """Rules verify_ok_is_conjunction and verify_failure_names_check: ok is true exactly
    when checks ran and all passed; verify_failed exactly when one failed, and then a
    diagnostic names the first failing check. No check run is ok false, not verify_failed."""
    payload: dict[str, Any] = {
        "ok": ok,
        "provider": "ollama",
        "node_id": "gpu-1",
        "checks": [{"name": n, "ok": passed, "diagnostic": ""} for n, passed in checks],
        "diagnostics": diagnostics,
    }
    if error_class is not None:
        payload["error_class"] = error_class
    result = validate(VERIFY_RESPONSE, msgspec.json.encode(payload))
    rule = expected_rule(ok, error_class, checks, diagnostics)
    if rule is None:
        assert not isinstance(result, Invalid), result
    else:
        assert isinstance(result, Invalid), payload
        assert result.rules == (rule,), (result.diagnostics, payload)


def test_rule_verify_ok_is_conjunction_refuses_verify_failed_whose_checks_all_passed() -> None:
    """Rule verify_ok_is_conjunction: the issue's example, as ``--validate`` sees it."""
    payload = {
        "ok": False,
        "provider": "ollama",
        "node_id": "gpu-1",
        "checks": [{"name": "runtime-ready", "ok": True, "diagnostic": "up"}],
        "diagnostics": ["verify failed"],
        "error_class": "verify_failed",
    }
    assert refused_for(VERIFY_RESPONSE, payload) == (Rule.VERIFY_OK_IS_CONJUNCTION,)


# --- credentials: nothing inside is quoted back --------------------------------------

#: Every fixed word a credentials diagnostic may hold; a secret inside it proves nothing.
_VOCABULARY = "\n".join(
    [
        *RULE_TEXT.values(),
        *Rule,
        *Credentials.__struct_fields__,
        *["(at $.credentials)", "a key it does not take", "must be a reference"],
        *["Expected", "got", "object"],
    ]
)
secrets = st.text(min_size=4, max_size=30).filter(lambda s: s not in _VOCABULARY)
credential_values = st.one_of(
    secrets,
    st.integers(),
    st.none(),
    st.lists(secrets, max_size=2),
    st.dictionaries(secrets, secrets),
)


@given(
    st.dictionaries(
        st.one_of(secrets, st.sampled_from(Credentials.__struct_fields__)),
        credential_values,
        min_size=1,
        max_size=4,
    )
)
def test_rule_credentials_allowed_keys_never_quotes_a_key_or_value_of_credentials(
    credentials: dict[str, Any],
) -> None:
    """Rules credentials_allowed_keys and credentials_references: no diagnostic quotes a
    key or a value from inside credentials (an operator may paste a token as a key)."""
    payload = {"provider": "ollama", "node_id": "gpu-1", "credentials": credentials}
    result = validate(INSTALL_REQUEST, msgspec.json.encode(payload))
    texts = list(result.diagnostics) if isinstance(result, Invalid) else []
    strings = [*credentials, *(v for v in credentials.values() if isinstance(v, str))]
    for value in credentials.values():
        if isinstance(value, list):
            strings += value
        elif isinstance(value, dict):
            strings += [*value, *value.values()]
    for secret in strings:
        if len(secret) >= 4 and secret not in _VOCABULARY:
            assert all(secret not in text for text in texts), (secret, texts)
