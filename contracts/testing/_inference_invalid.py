"""Invalid bus.inference payloads, each breaking one labelled rule.

See contracts.testing.inference for how to use them.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import msgspec
from hypothesis import strategies as st

from contracts.inference import (
    CHECK_NAMES,
    ERROR_CLASSES,
    EVENT_NAMES,
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    PAYLOAD_TYPES,
    RULES_FOR,
    RUNTIME_STATUSES,
    SECRET_REF_PREFIX,
    STATUS_RESPONSE,
    VERIFY_RESPONSE,
    Rule,
)
from contracts.testing._inference_valid import hostnames, models, valid_payloads

__all__ = ["InvalidExample", "bad_listen_hosts", "invalid_examples_of", "invalid_payloads"]

JSON = Any
Draw = Callable[[st.SearchStrategy[Any]], Any]


class InvalidExample(msgspec.Struct, frozen=True):
    """A payload that breaks exactly one rule, and the name of that rule."""

    event: str
    rule: Rule
    payload: JSON


# --- invalid payloads ---------------------------------------------------------------

_not_json_object = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.lists(st.integers())
)
_not_string: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.integers(), st.lists(st.integers(), max_size=2), st.just({})
)
_NODE_ID_CHARS = string.ascii_letters + string.digits + "_-"
#: Characters an implementation is most likely to let through by mistake.
_LIKELY_MISTAKES = st.sampled_from([" ", "\n", "\t", ".", "/", ":", "@", "*", "é", "٣", "\x00"])
_bad_node_ids = st.one_of(
    st.builds(lambda a, bad: a + bad, st.text(string.ascii_letters, max_size=3), _LIKELY_MISTAKES),
    st.just(""),
    st.from_regex(r"[A-Za-z0-9_-]{65,80}", fullmatch=True),
    st.builds(
        lambda a, bad, b: a + bad + b,
        st.text(string.ascii_letters, max_size=5),
        _LIKELY_MISTAKES | st.characters(exclude_characters=_NODE_ID_CHARS),
        st.text(string.ascii_letters, max_size=5),
    ),
)
_bad_models = st.one_of(
    st.just(""),
    st.builds(lambda m, ws: m + ws, models, st.sampled_from([" ", "\t", "\n", "\u3000", "\x00"])),
    # 201 bytes in fewer than 200 characters: catches a limit counted in characters.
    st.integers(67, 90).map(lambda n: "é" * n + "x" * (201 - 2 * n)),
    st.integers(201, 260).map(lambda n: "m" * n),
)
_octets = st.integers(0, 255).map(str)
#: Hosts that are neither an RFC 1123 name nor an IPv4 address (unbracketed).
bad_listen_hosts = st.one_of(
    st.sampled_from(["-", "a-", "-a", "a.-b", "a..b", "a.", ".a", "999.999.999.999"]),
    hostnames.map(lambda host: "-" + host),
    hostnames.map(lambda host: host + "-"),
    st.from_regex(r"[a-z][a-z0-9]{63,70}", fullmatch=True),  # a label over 63 characters
    # a dotted quad with one octet over 255
    st.builds(
        lambda octets, big, at: ".".join([*octets[:at], str(big), *octets[at:]]),
        st.lists(_octets, min_size=3, max_size=3),
        st.integers(256, 999),
        st.integers(0, 3),
    ),
    # all digits, but not four octets
    st.lists(_octets, min_size=1, max_size=6).filter(lambda o: len(o) != 4).map(".".join),
    hostnames.map(lambda host: f"{host}.123"),  # a name whose last label is numeric
)
_bad_listens = st.one_of(
    st.text(string.ascii_lowercase + ".", min_size=1, max_size=12),  # no port at all
    st.builds(lambda h, p: f"{h}:{p}", hostnames, st.sampled_from(["0", "65536", "x", "", "-1"])),
    st.integers(1, 65535).map(lambda p: f":{p}"),
    st.sampled_from(["a b:80", "host/x:80", "[zz::q]:80", "user@host:80"]),
    st.builds(lambda h, p: f"{h}:{p}", bad_listen_hosts, st.integers(1, 65535)),
)
_bad_service_users = st.one_of(
    st.sampled_from(["", "Root", "1abc", "a b", "a/b", "a" * 33, "ollama$$"]),
    st.from_regex(r"[A-Z0-9][a-z0-9]{0,10}", fullmatch=True),
)
_inline_secrets = st.one_of(
    st.text(max_size=40).filter(lambda s: not s.startswith(SECRET_REF_PREFIX)),
    st.sampled_from(
        [SECRET_REF_PREFIX, SECRET_REF_PREFIX + "a b", SECRET_REF_PREFIX + "..", "secret://x/y"]
    ),
    st.integers(),
)
_not_bool = st.one_of(
    st.sampled_from(["true", "false", "yes"]), st.integers(0, 1), st.none(), st.floats(0, 1)
)
_not_int = st.one_of(
    st.integers(1, 10**6).map(float),
    st.integers(1, 10**6).map(str),
    st.booleans(),
    st.floats(0.5, 1e6).filter(lambda x: not x.is_integer()),
)
_non_positive = st.integers(-(2**40), 0)
_unknown_check = st.text(min_size=1, max_size=15).filter(lambda c: c not in CHECK_NAMES)

# Which field each rule bends, per event kind: (path within the payload, bad values).
_FIELD_BREAKS: dict[Rule, tuple[tuple[str, ...], st.SearchStrategy[Any]]] = {
    Rule.PROVIDER_REGISTERED: (("provider",), st.text(max_size=10).filter(lambda p: p != "ollama")),
    Rule.NODE_ID_FORMAT: (("node_id",), _bad_node_ids),
    Rule.MODEL_FORMAT: (("model",), _bad_models),
    Rule.RUNTIME_LISTEN: (("runtime", "listen"), _bad_listens),
    Rule.RUNTIME_CONTEXT_LENGTH: (("runtime", "context_length"), _non_positive),
    Rule.RUNTIME_SERVICE_USER: (("runtime", "service_user"), _bad_service_users),
    Rule.RUNTIME_ENVIRONMENT: (
        ("runtime", "environment"),
        st.text(max_size=8).filter(lambda e: e not in ("dev", "staging", "prod")),
    ),
    Rule.POLICY_MAX_MODEL_SIZE: (("policy", "max_model_size_bytes"), _non_positive),
    Rule.ERROR_CLASS_KNOWN: (
        ("error_class",),
        st.text(max_size=12).filter(lambda c: c not in ERROR_CLASSES),
    ),
}


def _set(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = dict(payload)
    if len(path) == 1:
        out[path[0]] = value
    else:
        out[path[0]] = _set(dict(out.get(path[0], {})), path[1:], value)
    return out


def _field_break(rule: Rule) -> Callable[[Draw, str, dict[str, Any]], dict[str, Any]]:
    path, values = _FIELD_BREAKS[rule]

    def breaker(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        if rule is Rule.ERROR_CLASS_KNOWN:
            payload = {**payload, "ok": False, "diagnostics": payload["diagnostics"] or ["x"]}
            if event == VERIFY_RESPONSE:
                payload["checks"] = []  # ok false with no check run: the class alone is wrong
        if rule is Rule.MODEL_FORMAT and event == STATUS_RESPONSE:
            models = [*payload.get("models", [])]
            models.insert(draw(st.integers(0, len(models))), draw(values))
            return {**payload, "models": models}
        return _set(payload, path, draw(values))

    return breaker


def _required_field(event: str) -> list[str]:
    info = msgspec.structs.fields(PAYLOAD_TYPES[event])
    return [field.encode_name for field in info if field.required]


def _break_unknown_key(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    names = {field.encode_name for field in msgspec.structs.fields(PAYLOAD_TYPES[event])}
    key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in names and k != "model"))
    return {**payload, key: draw(st.one_of(st.none(), st.integers(), st.text(max_size=5)))}


def _break_nested_keys(section: str) -> Callable[[Draw, str, dict[str, Any]], dict[str, Any]]:
    allowed = {
        "runtime": {"listen", "context_length", "service_user", "environment"},
        "credentials": {"api_token_secret", "tls_ca_file", "ssh_private_key_secret"},
        "policy": {"allow_model_download", "max_model_size_bytes", "require_confirmation_for_prod"},
    }[section]

    def breaker(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        key = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in allowed))
        value = SECRET_REF_PREFIX + "x" if section == "credentials" else draw(st.integers(1, 9))
        return _set(payload, (section, key), value)

    return breaker


def _break_strict_booleans(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    if event in (INSTALL_REQUEST, MODEL_ENSURE_REQUEST):
        path = draw(st.sampled_from([("dry_run",), ("confirm",)]))
        if event == MODEL_ENSURE_REQUEST and draw(st.booleans()):
            path = (
                "policy",
                draw(st.sampled_from(["allow_model_download", "require_confirmation_for_prod"])),
            )
    else:
        path = ("ok",)
    return _set(payload, path, draw(_not_bool))


def _break_strict_integers(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    path = (
        ("runtime", "context_length")
        if event == INSTALL_REQUEST
        else (
            "policy",
            "max_model_size_bytes",
        )
    )
    return _set(payload, path, draw(_not_int))


def _break_field_types(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    candidates = ["node_id"] + (["diagnostics"] if "ok" in payload else [])
    if event == INSTALL_REQUEST:
        candidates += ["runtime", "credentials"]
    field = draw(st.sampled_from(candidates))
    bad = _not_string if field == "node_id" else st.one_of(st.integers(), st.text(max_size=4))
    return {**payload, field: draw(bad)}


def _break_checks_known(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    if event == VERIFY_RESPONSE:
        check = {"name": draw(_unknown_check), "ok": True, "diagnostic": ""}
        return {**payload, "checks": [*payload["checks"], check]}
    if draw(st.booleans()):
        return {**payload, "checks": []}
    return {**payload, "checks": [*payload.get("checks", []), draw(_unknown_check)]}


def _break_checks_unique(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    name = draw(st.sampled_from(CHECK_NAMES))
    return {**payload, "checks": [name, *payload.get("checks", []), name]}


def _break_ok_error_class(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in payload.items() if k != "error_class"}
    kind = draw(st.sampled_from(["ok_with_class", "no_class", "no_diagnostic"]))
    if event == VERIFY_RESPONSE:  # checks that agree with ok, so only the class is wrong
        passed = [c | {"ok": True} for c in out["checks"]] or [_passed_check(draw)]
        out["checks"] = passed if kind == "ok_with_class" else []
    match kind:
        case "ok_with_class":
            return out | {"ok": True, "error_class": draw(st.sampled_from(ERROR_CLASSES))}
        case "no_class":
            return out | {"ok": False, "diagnostics": ["x"]}
        case _:
            return out | {"ok": False, "diagnostics": [], "error_class": "provider_error"}


def _passed_check(draw: Draw) -> dict[str, Any]:
    return {"name": draw(st.sampled_from(CHECK_NAMES)), "ok": True, "diagnostic": "up"}


def _break_verify_conjunction(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    name = draw(st.sampled_from(CHECK_NAMES))
    failing = {"name": name, "ok": False, "diagnostic": "down"}
    passed = _passed_check(draw)
    ok_true = {"ok": True, "diagnostics": [], "error_class": msgspec.UNSET}
    failed = {"ok": False, "diagnostics": [f"{name} failed"]}
    other = draw(st.sampled_from([c for c in ERROR_CLASSES if c != "verify_failed"]))
    case = draw(st.sampled_from(["ok_failing", "ok_none", "other_class", "failed_passing"]))
    match case:
        case "ok_failing":  # a failing check, yet ok
            return {**payload, "checks": [failing], **ok_true}
        case "ok_none":  # ok, yet no check ran
            return {**payload, "checks": [], **ok_true}
        case "other_class":  # a failing check under another class
            return {**payload, "checks": [failing], **failed, "error_class": other}
        case _:  # ok false, yet every check passed (as verify_failed or another class)
            error_class = draw(st.sampled_from(["verify_failed", other]))
            return {**payload, "checks": [passed], **failed, "error_class": error_class}


def _break_verify_names_check(draw: Draw, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    name = draw(st.sampled_from(CHECK_NAMES))
    checks = [c | {"ok": True} for c in payload["checks"] if c["name"] != name]
    checks.insert(draw(st.integers(0, len(checks))), {"name": name, "ok": False, "diagnostic": ""})
    quiet = st.text(max_size=30).filter(lambda line: name not in line)  # the only failing one
    diagnostics = draw(st.lists(quiet, min_size=1, max_size=3))
    return {**payload, "checks": checks, "ok": False, "diagnostics": diagnostics} | {
        "error_class": "verify_failed"
    }


_BREAKERS: dict[Rule, Callable[[Draw, str, dict[str, Any]], dict[str, Any]]] = {
    **{rule: _field_break(rule) for rule in _FIELD_BREAKS},
    Rule.UNKNOWN_KEYS: _break_unknown_key,
    Rule.RUNTIME_ALLOWED_KEYS: _break_nested_keys("runtime"),
    Rule.CREDENTIALS_ALLOWED_KEYS: _break_nested_keys("credentials"),
    Rule.POLICY_ALLOWED_KEYS: _break_nested_keys("policy"),
    Rule.INSTALL_WITHOUT_MODEL: lambda draw, event, p: {**p, "model": draw(models)},
    Rule.DRY_RUN_AND_CONFIRM: lambda draw, event, p: {
        **{k: v for k, v in p.items() if k != "confirm"},
        "dry_run": False,
        **draw(st.sampled_from([{}, {"confirm": False}])),
    },
    Rule.CREDENTIALS_REFERENCES: lambda draw, event, p: _set(
        p,
        ("credentials", draw(st.sampled_from(["api_token_secret", "ssh_private_key_secret"]))),
        draw(_inline_secrets),
    ),
    Rule.CHECKS_KNOWN: _break_checks_known,
    Rule.CHECKS_UNIQUE: _break_checks_unique,
    Rule.STRICT_BOOLEANS: _break_strict_booleans,
    Rule.STRICT_INTEGERS: _break_strict_integers,
    Rule.FIELD_TYPES: _break_field_types,
    Rule.RESPONSE_OK_ERROR_CLASS: _break_ok_error_class,
    Rule.VERIFY_OK_IS_CONJUNCTION: _break_verify_conjunction,
    Rule.VERIFY_FAILURE_NAMES_CHECK: _break_verify_names_check,
    Rule.RUNTIME_STATUS_KNOWN: lambda draw, event, p: {
        **p,
        "runtime_status": draw(st.text(max_size=10).filter(lambda s: s not in RUNTIME_STATUSES)),
    },
    Rule.ACTION_NAMES: lambda draw, event, p: {
        **p,
        "actions": [
            *p["actions"],
            draw(st.text(min_size=1, max_size=12).filter(lambda a: not _is_kebab(a))),
        ],
    },
}


def _is_kebab(action: str) -> bool:
    parts = action.split("-")
    return all(part and part.isascii() and part.isalpha() and part.islower() for part in parts)


@st.composite
def _broken(draw: Draw, event: str, rule: Rule) -> InvalidExample:
    if rule is Rule.PAYLOAD_IS_OBJECT:
        return InvalidExample(event, rule, draw(_not_json_object))
    payload = draw(valid_payloads(event))
    if rule is Rule.REQUIRED_FIELDS:
        missing = draw(st.sampled_from(_required_field(event)))
        return InvalidExample(event, rule, {k: v for k, v in payload.items() if k != missing})
    broken = _BREAKERS[rule](draw, event, payload)
    return InvalidExample(event, rule, {k: v for k, v in broken.items() if v is not msgspec.UNSET})


def invalid_payloads(event: str, rule: Rule | None = None) -> st.SearchStrategy[InvalidExample]:
    """Payloads of ``event`` that each break one rule (``rule``, or any that applies)."""
    rules = RULES_FOR[event] if rule is None else (rule,)
    if rule is not None and rule not in RULES_FOR[event]:
        raise ValueError(f"rule {rule} does not apply to {event}")
    return st.sampled_from(rules).flatmap(lambda r: _broken(event, r))


def invalid_examples_of(rule: Rule) -> st.SearchStrategy[InvalidExample]:
    """Invalid payloads breaking ``rule``, drawn across every event the rule applies to."""
    events = [event for event in EVENT_NAMES if rule in RULES_FOR[event]]
    return st.sampled_from(events).flatmap(lambda event: _broken(event, rule))
