"""Validate ``bus.inference.*`` payloads and name the rule a bad one breaks.

The fast path is one msgspec decode into the event's Struct (:mod:`contracts.inference.payloads`),
built once per event. Only a failure pays for diagnosis: msgspec's error (its kind and
its ``$.path``) is mapped to the :class:`~contracts.inference.Rule` it breaks, so every
diagnostic starts with a rule name an operator can look up with
``bus-integration-inference --event-help``.

    >>> from contracts.inference.validation import validate, Invalid
    >>> result = validate("bus.inference.status.request", b'{"provider":"ollama"}')
    >>> isinstance(result, Invalid), [str(rule) for rule in result.rules]
    (True, ['required_fields'])

msgspec stops at the first broken rule, so an invalid payload gets one diagnostic.
A diagnostic never quotes anything from inside ``credentials``, neither a value nor a
key: an operator who pastes a token where a key belongs has put the secret in the key.
It names the path (``$.credentials``) and the expected form only.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import msgspec

from contracts.inference.names import (
    INSTALL_REQUEST,
    INSTALL_RESPONSE,
    MODEL_ENSURE_REQUEST,
    MODEL_ENSURE_RESPONSE,
    STATUS_REQUEST,
    STATUS_RESPONSE,
    VERIFY_REQUEST,
    VERIFY_RESPONSE,
)
from contracts.inference.payloads import PAYLOAD_TYPES, RequestPayload, ResponsePayload
from contracts.inference.rules import Rule

__all__ = [
    "RULES_FOR",
    "RULE_TEXT",
    "Invalid",
    "Payload",
    "UnknownEventError",
    "encode_payload",
    "validate",
]

Payload = RequestPayload | ResponsePayload


class Invalid(msgspec.Struct, frozen=True):
    """A payload that breaks a rule: the rules broken and one diagnostic per rule."""

    rules: tuple[Rule, ...]
    diagnostics: tuple[str, ...]
    error_class: Literal["bad_request"] = "bad_request"


class UnknownEventError(KeyError):
    """The name is not one of the eight ``bus.inference.*`` events."""


#: What each rule asks, in words; the diagnostics and ``--event-help`` use these.
RULE_TEXT: Final[dict[Rule, str]] = {
    Rule.PAYLOAD_IS_OBJECT: "the payload is a JSON object",
    Rule.REQUIRED_FIELDS: "every required field is present",
    Rule.FIELD_TYPES: "strings are JSON strings, lists JSON arrays, objects JSON objects",
    Rule.UNKNOWN_KEYS: "no key beyond the event's own fields",
    Rule.RUNTIME_ALLOWED_KEYS: (
        "runtime takes only listen, context_length, service_user and environment"
    ),
    Rule.CREDENTIALS_ALLOWED_KEYS: (
        "credentials takes only api_token_secret, tls_ca_file and ssh_private_key_secret"
    ),
    Rule.POLICY_ALLOWED_KEYS: (
        "policy takes only allow_model_download, max_model_size_bytes and"
        " require_confirmation_for_prod"
    ),
    Rule.PROVIDER_REGISTERED: "provider is a registered provider id (ollama)",
    Rule.NODE_ID_FORMAT: "node_id is 1-64 letters, digits, '_' or '-'",
    Rule.MODEL_FORMAT: (
        "model is non-empty, with no whitespace or control characters, at most 200 bytes"
    ),
    Rule.INSTALL_WITHOUT_MODEL: "an install request takes no model",
    Rule.DRY_RUN_AND_CONFIRM: "confirm must be true unless dry_run is true",
    Rule.RUNTIME_LISTEN: "runtime.listen is host:port",
    Rule.RUNTIME_CONTEXT_LENGTH: "runtime.context_length is an integer > 0",
    Rule.RUNTIME_SERVICE_USER: "runtime.service_user is a user name ([a-z_][a-z0-9_-]{0,31})",
    Rule.RUNTIME_ENVIRONMENT: "runtime.environment is dev, staging or prod",
    Rule.CREDENTIALS_REFERENCES: (
        "each credential is a reference secret://deployment/<name>, never an inline secret"
    ),
    Rule.POLICY_MAX_MODEL_SIZE: "policy.max_model_size_bytes is an integer > 0",
    Rule.CHECKS_KNOWN: "checks is a non-empty list of runtime-ready, model-ready, loopback-only",
    Rule.CHECKS_UNIQUE: "no check is listed twice",
    Rule.STRICT_BOOLEANS: "booleans are JSON true or false, never strings or numbers",
    Rule.STRICT_INTEGERS: "integers are JSON integers, never strings, floats or booleans",
    Rule.RESPONSE_OK_ERROR_CLASS: (
        "ok false carries error_class and at least one diagnostic; ok true no error_class"
    ),
    Rule.ERROR_CLASS_KNOWN: "error_class is one of the contract's error classes",
    Rule.RUNTIME_STATUS_KNOWN: "runtime_status is unknown, installing, ready or failed",
    Rule.ACTION_NAMES: "each action is a kebab-case verb such as pull-model",
    Rule.VERIFY_OK_IS_CONJUNCTION: (
        "verify ok is true exactly when at least one check ran and all passed;"
        " a failing check means verify_failed, and verify_failed needs a failing check"
    ),
    Rule.VERIFY_FAILURE_NAMES_CHECK: "a failing verify's diagnostics name its first failing check",
}

_COMMON_RULES: Final = (
    Rule.PAYLOAD_IS_OBJECT,
    Rule.REQUIRED_FIELDS,
    Rule.FIELD_TYPES,
    Rule.UNKNOWN_KEYS,
)
_REQUEST_RULES: Final = (Rule.PROVIDER_REGISTERED, Rule.NODE_ID_FORMAT)
_RESPONSE_RULES: Final = (
    # A response names what its request named, by the same rules.
    Rule.PROVIDER_REGISTERED,
    Rule.NODE_ID_FORMAT,
    Rule.STRICT_BOOLEANS,
    Rule.RESPONSE_OK_ERROR_CLASS,
    Rule.ERROR_CLASS_KNOWN,
)

#: The rules that apply to each event, for ``--event-help`` and the conformance harness.
RULES_FOR: Final[dict[str, tuple[Rule, ...]]] = {
    INSTALL_REQUEST: (
        *_COMMON_RULES,
        *_REQUEST_RULES,
        Rule.INSTALL_WITHOUT_MODEL,
        Rule.DRY_RUN_AND_CONFIRM,
        Rule.RUNTIME_ALLOWED_KEYS,
        Rule.RUNTIME_LISTEN,
        Rule.RUNTIME_CONTEXT_LENGTH,
        Rule.RUNTIME_SERVICE_USER,
        Rule.RUNTIME_ENVIRONMENT,
        Rule.CREDENTIALS_ALLOWED_KEYS,
        Rule.CREDENTIALS_REFERENCES,
        Rule.STRICT_BOOLEANS,
        Rule.STRICT_INTEGERS,
    ),
    MODEL_ENSURE_REQUEST: (
        *_COMMON_RULES,
        *_REQUEST_RULES,
        Rule.MODEL_FORMAT,
        Rule.DRY_RUN_AND_CONFIRM,
        Rule.POLICY_ALLOWED_KEYS,
        Rule.POLICY_MAX_MODEL_SIZE,
        Rule.STRICT_BOOLEANS,
        Rule.STRICT_INTEGERS,
    ),
    STATUS_REQUEST: (*_COMMON_RULES, *_REQUEST_RULES),
    VERIFY_REQUEST: (*_COMMON_RULES, *_REQUEST_RULES, Rule.CHECKS_KNOWN, Rule.CHECKS_UNIQUE),
    INSTALL_RESPONSE: (
        *_COMMON_RULES,
        *_RESPONSE_RULES,
        Rule.ACTION_NAMES,
        Rule.RUNTIME_STATUS_KNOWN,
    ),
    MODEL_ENSURE_RESPONSE: (
        *_COMMON_RULES,
        *_RESPONSE_RULES,
        Rule.MODEL_FORMAT,
        Rule.ACTION_NAMES,
    ),
    STATUS_RESPONSE: (
        *_COMMON_RULES,
        *_RESPONSE_RULES,
        Rule.MODEL_FORMAT,
        Rule.RUNTIME_STATUS_KNOWN,
    ),
    VERIFY_RESPONSE: (
        *_COMMON_RULES,
        *_RESPONSE_RULES,
        Rule.CHECKS_KNOWN,
        Rule.VERIFY_OK_IS_CONJUNCTION,
        Rule.VERIFY_FAILURE_NAMES_CHECK,
    ),
}

_DECODERS: Final = {name: msgspec.json.Decoder(kind) for name, kind in PAYLOAD_TYPES.items()}

#: Constraint failures (regex, bounds, enum values) by the path they happen at.
_PATH_RULES: Final[dict[str, Rule]] = {
    "$.provider": Rule.PROVIDER_REGISTERED,
    "$.node_id": Rule.NODE_ID_FORMAT,
    "$.model": Rule.MODEL_FORMAT,
    "$.models[]": Rule.MODEL_FORMAT,
    "$.runtime.listen": Rule.RUNTIME_LISTEN,
    "$.runtime.context_length": Rule.RUNTIME_CONTEXT_LENGTH,
    "$.runtime.service_user": Rule.RUNTIME_SERVICE_USER,
    "$.runtime.environment": Rule.RUNTIME_ENVIRONMENT,
    "$.policy.max_model_size_bytes": Rule.POLICY_MAX_MODEL_SIZE,
    "$.checks[]": Rule.CHECKS_KNOWN,
    "$.checks[].name": Rule.CHECKS_KNOWN,
    "$.error_class": Rule.ERROR_CLASS_KNOWN,
    "$.runtime_status": Rule.RUNTIME_STATUS_KNOWN,
    "$.actions[]": Rule.ACTION_NAMES,
}
_UNKNOWN_KEY_RULES: Final[dict[str, Rule]] = {
    "$.runtime": Rule.RUNTIME_ALLOWED_KEYS,
    "$.credentials": Rule.CREDENTIALS_ALLOWED_KEYS,
    "$.policy": Rule.POLICY_ALLOWED_KEYS,
}
_MESSAGE = re.compile(r"\A(?P<body>.*?)(?: - at `(?P<path>[^`]*)`)?\Z", re.S)
_INDEX = re.compile(r"\[\d+\]")
_UNKNOWN_FIELD = re.compile(r"\AObject contains unknown field `(?P<key>.*)`\Z", re.S)
_OWN_RULE = re.compile(r"\A\[(?P<rule>[a-z_]+)\] (?P<text>.*)\Z", re.S)
_WRONG_TYPE = re.compile(r"\AExpected `(?P<want>\w+)`(?: \| `\w+`)*, got `\w+`\Z")


def validate(name: str, data: bytes | str) -> Payload | Invalid:
    """Decode and validate one payload given as JSON; the Struct, or what is wrong.

    Raises :class:`UnknownEventError` when ``name`` is not a ``bus.inference`` event.
    """
    decoder = _DECODERS.get(name)
    if decoder is None:
        raise UnknownEventError(name)
    try:
        payload: Payload = decoder.decode(data)
    except msgspec.ValidationError as error:
        return _diagnose(name, str(error))
    except msgspec.DecodeError:
        return _invalid(Rule.PAYLOAD_IS_OBJECT, "the payload is not valid JSON")
    except UnicodeDecodeError:  # msgspec raises it for invalid UTF-8 inside a string
        return _invalid(Rule.PAYLOAD_IS_OBJECT, "the payload is not valid UTF-8 JSON")
    return payload


def encode_payload(payload: Payload) -> bytes:
    """The normalized JSON of a valid payload: defaults filled in, absent options omitted."""
    return msgspec.json.encode(payload)


def _invalid(rule: Rule, text: str) -> Invalid:
    return Invalid(rules=(rule,), diagnostics=(f"{rule}: {text}",))


def _diagnose(name: str, message: str) -> Invalid:
    match = _MESSAGE.match(message)
    assert match is not None  # the pattern matches any string
    body, path = match["body"], match["path"] or "$"
    where = f" (at {path})"
    if own := _OWN_RULE.match(body):
        return _invalid(Rule(own["rule"]), own["text"] + where)
    if unknown := _UNKNOWN_FIELD.match(body):
        key = unknown["key"]
        if name == INSTALL_REQUEST and path == "$" and key == "model":
            return _invalid(Rule.INSTALL_WITHOUT_MODEL, "an install request takes no model")
        rule = _UNKNOWN_KEY_RULES.get(path, Rule.UNKNOWN_KEYS)
        if rule is Rule.CREDENTIALS_ALLOWED_KEYS:
            # A key inside credentials may be the secret itself: never quote it.
            return _invalid(rule, f"a key it does not take{where}; {RULE_TEXT[rule]}")
        return _invalid(rule, f"unknown key {key!r}{where}; {RULE_TEXT[rule]}")
    if body.startswith("Object missing required field"):
        return _invalid(Rule.REQUIRED_FIELDS, body + where)
    generic = _INDEX.sub("[]", path)
    if generic.startswith("$.credentials."):
        # Whatever is wrong with a credential value, it is not a reference: never echo it.
        return _invalid(Rule.CREDENTIALS_REFERENCES, RULE_TEXT[Rule.CREDENTIALS_REFERENCES] + where)
    if wrong := _WRONG_TYPE.match(body):
        want = wrong["want"]
        if want == "bool":
            return _invalid(Rule.STRICT_BOOLEANS, body + where)
        if want == "int":
            return _invalid(Rule.STRICT_INTEGERS, body + where)
        if path == "$" and want == "object":
            return _invalid(Rule.PAYLOAD_IS_OBJECT, body)
        if generic in ("$.checks[]", "$.checks[].name"):
            return _invalid(Rule.CHECKS_KNOWN, body + where)
        return _invalid(Rule.FIELD_TYPES, body + where)
    rule = _PATH_RULES.get(generic, Rule.FIELD_TYPES)
    if "matching regex" in body:
        # The rule's words say more to an operator than the regular expression does.
        return _invalid(rule, RULE_TEXT[rule] + where)
    return _invalid(rule, f"{RULE_TEXT[rule]}; {body}{where}")
