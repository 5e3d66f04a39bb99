"""One property test per validation rule of BUS.md §1, each named after its rule.

Every test draws from the exported conformance strategies (contracts.testing.inference),
so the harness is tested by being used: a labelled invalid example must be refused with
bad_request and a diagnostic that names the same rule.
"""

from __future__ import annotations

import msgspec
from hypothesis import given

from contracts.inference import Invalid, Rule, validate
from contracts.testing import InvalidExample, invalid_examples_of


def assert_refused_for_its_rule(example: InvalidExample) -> None:
    result = validate(example.event, msgspec.json.encode(example.payload))
    assert isinstance(result, Invalid), f"{example.rule} accepted: {example.payload!r}"
    assert result.error_class == "bad_request"
    assert result.rules == (example.rule,), (result.diagnostics, example.payload)
    assert result.diagnostics[0].startswith(f"{example.rule}: ")


@given(invalid_examples_of(Rule.PAYLOAD_IS_OBJECT))
def test_rule_payload_is_object(example: InvalidExample) -> None:
    """Rule: the payload is a JSON object."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.REQUIRED_FIELDS))
def test_rule_required_fields(example: InvalidExample) -> None:
    """Rule: every required field is present."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.FIELD_TYPES))
def test_rule_field_types(example: InvalidExample) -> None:
    """Rule: strings are JSON strings, lists JSON arrays, objects JSON objects."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.UNKNOWN_KEYS))
def test_rule_unknown_keys(example: InvalidExample) -> None:
    """Rule: no key beyond the event's own fields."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RUNTIME_ALLOWED_KEYS))
def test_rule_runtime_allowed_keys(example: InvalidExample) -> None:
    """Rule: runtime takes only listen, context_length, service_user and environment."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.CREDENTIALS_ALLOWED_KEYS))
def test_rule_credentials_allowed_keys(example: InvalidExample) -> None:
    """Rule: credentials takes only api_token_secret, tls_ca_file and ssh_private_key_secret."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.POLICY_ALLOWED_KEYS))
def test_rule_policy_allowed_keys(example: InvalidExample) -> None:
    """Rule: policy takes only its three keys (allow_model_download, max_model_size_bytes,
    require_confirmation_for_prod)."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.PROVIDER_REGISTERED))
def test_rule_provider_registered(example: InvalidExample) -> None:
    """Rule: provider is a registered provider id (ollama)."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.NODE_ID_FORMAT))
def test_rule_node_id_format(example: InvalidExample) -> None:
    """Rule: node_id is 1-64 letters, digits, '_' or '-'."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.MODEL_FORMAT))
def test_rule_model_format(example: InvalidExample) -> None:
    """Rule: model is non-empty, with no whitespace or control characters, at most 200 bytes."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.INSTALL_WITHOUT_MODEL))
def test_rule_install_without_model(example: InvalidExample) -> None:
    """Rule: an install request takes no model."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.DRY_RUN_AND_CONFIRM))
def test_rule_dry_run_and_confirm(example: InvalidExample) -> None:
    """Rule: confirm must be true unless dry_run is true."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RUNTIME_LISTEN))
def test_rule_runtime_listen(example: InvalidExample) -> None:
    """Rule: runtime.listen is host:port."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RUNTIME_CONTEXT_LENGTH))
def test_rule_runtime_context_length(example: InvalidExample) -> None:
    """Rule: runtime.context_length is an integer > 0."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RUNTIME_SERVICE_USER))
def test_rule_runtime_service_user(example: InvalidExample) -> None:
    """Rule: runtime.service_user is a user name ([a-z_][a-z0-9_-]{0,31})."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RUNTIME_ENVIRONMENT))
def test_rule_runtime_environment(example: InvalidExample) -> None:
    """Rule: runtime.environment is dev, staging or prod."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.CREDENTIALS_REFERENCES))
def test_rule_credentials_references(example: InvalidExample) -> None:
    """Rule: each credential is a reference secret://deployment/<name>, never an inline secret."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.POLICY_MAX_MODEL_SIZE))
def test_rule_policy_max_model_size_bytes(example: InvalidExample) -> None:
    """Rule: policy.max_model_size_bytes is an integer > 0."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.CHECKS_KNOWN))
def test_rule_checks_known(example: InvalidExample) -> None:
    """Rule: checks is a non-empty list of runtime-ready, model-ready, loopback-only."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.CHECKS_UNIQUE))
def test_rule_checks_unique(example: InvalidExample) -> None:
    """Rule: no check is listed twice."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.STRICT_BOOLEANS))
def test_rule_strict_booleans(example: InvalidExample) -> None:
    """Rule: booleans are JSON true or false, never strings or numbers."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.STRICT_INTEGERS))
def test_rule_strict_integers(example: InvalidExample) -> None:
    """Rule: integers are JSON integers, never strings, floats or booleans."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RESPONSE_OK_ERROR_CLASS))
def test_rule_response_ok_error_class(example: InvalidExample) -> None:
    """Rule: ok false carries error_class and at least one diagnostic; ok true no error_class."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.ERROR_CLASS_KNOWN))
def test_rule_error_class_known(example: InvalidExample) -> None:
    """Rule: error_class is one of the contract's error classes."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.RUNTIME_STATUS_KNOWN))
def test_rule_runtime_status_known(example: InvalidExample) -> None:
    """Rule: runtime_status is unknown, installing, ready or failed."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.ACTION_NAMES))
def test_rule_action_names(example: InvalidExample) -> None:
    """Rule: each action is a kebab-case verb such as pull-model."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.VERIFY_OK_IS_CONJUNCTION))
def test_rule_verify_ok_is_conjunction(example: InvalidExample) -> None:
    """Rule: verify ok is true exactly when at least one check ran and all passed; a failing
    check means verify_failed, and verify_failed needs a failing check."""
    assert_refused_for_its_rule(example)


@given(invalid_examples_of(Rule.VERIFY_FAILURE_NAMES_CHECK))
def test_rule_verify_failure_names_check(example: InvalidExample) -> None:
    """Rule: a failing verify's diagnostics name its first failing check."""
    assert_refused_for_its_rule(example)
