"""What ``bus-integration-inference`` tells about the contract: event help and self-test.

Both are derived from the Structs and rule tables themselves, so the help cannot drift
from what the validator enforces, and the self-test checks the very code that serves.

    >>> print(event_help("bus.inference.status.request").splitlines()[0])
    bus.inference.status.request
"""

from __future__ import annotations

import msgspec
import msgspec.inspect as mi

from contracts.inference.examples import INVALID, VALID
from contracts.inference.names import EVENT_NAMES, PROVIDERS, REQUEST_NAMES, RESPONSE_FOR
from contracts.inference.payloads import PAYLOAD_TYPES
from contracts.inference.rules import Rule
from contracts.inference.validation import (
    RULE_TEXT,
    RULES_FOR,
    Invalid,
    Payload,
    encode_payload,
    validate,
)

__all__ = ["event_help", "self_test"]

_PLAIN = {
    mi.BoolType: "boolean",
    mi.IntType: "integer",
    mi.StrType: "string",
    mi.AnyType: "any JSON value",
}


def _type_words(kind: mi.Type) -> str:
    match kind:
        case mi.UnionType(types=types):  # inspect already leaves UNSET out
            return " | ".join(_type_words(t) for t in types)
        case mi.LiteralType(values=values):
            return "one of " + ", ".join(sorted(str(v) for v in values))
        case mi.ListType(item_type=item):
            return f"list of {_type_words(item)}"
        case mi.StructType(cls=cls):
            return f"object ({cls.__name__})"
        case mi.IntType(gt=gt) if gt is not None:
            return f"integer > {gt}"
        case mi.StrType(pattern=pattern) if pattern is not None:
            return "string of a fixed form (see rules)"
        case _:
            return _PLAIN.get(type(kind), type(kind).__name__)


def _default_words(field: mi.Field) -> str:
    if field.required:
        return "required"
    if field.default_factory is not msgspec.NODEFAULT:
        return f"default {msgspec.json.encode(field.default_factory()).decode()}"
    if field.default is msgspec.NODEFAULT:
        return "optional"  # an UNSET default: absent unless given
    return f"default {msgspec.json.encode(field.default).decode()}"


def _nested(kind: mi.Type) -> list[mi.StructType]:
    match kind:
        case mi.StructType():
            return [kind]
        case mi.UnionType(types=types):
            return [s for t in types for s in _nested(t)]
        case mi.ListType(item_type=item):
            return _nested(item)
        case _:
            return []


def _field_lines(info: mi.StructType, indent: str) -> list[str]:
    lines = []
    for field in info.fields:
        lines.append(
            f"{indent}{field.encode_name:<32} {_type_words(field.type)}; {_default_words(field)}"
        )
        for nested in _nested(field.type):
            lines.extend(_field_lines(nested, indent + "  "))
    return lines


def event_help(name: str) -> str:
    """The fields, types, defaults and rules of one event, as text.

    Raises KeyError when ``name`` is not one of the eight events.
    """
    info = mi.type_info(PAYLOAD_TYPES[name])
    assert isinstance(info, mi.StructType)
    role = f"request; answered by {RESPONSE_FOR[name]}" if name in REQUEST_NAMES else "response"
    lines = [name, f"  {role}", "", "fields:"]
    lines += _field_lines(info, "  ")
    lines += ["", "rules (a diagnostic starts with the rule's name):"]
    lines += [f"  {rule:<30} {RULE_TEXT[rule]}" for rule in RULES_FOR[name]]
    lines += ["", "example:", "  " + encode_payload(_example(name)).decode()]
    return "\n".join(lines)


def _example(name: str) -> Payload:
    payload = validate(name, msgspec.json.encode(VALID[name]))
    assert not isinstance(payload, Invalid)
    return payload


def self_test() -> list[str]:
    """Run the contract's own checks; the list of what failed (empty when all hold)."""
    failures: list[str] = []
    if len(EVENT_NAMES) != 8 or set(EVENT_NAMES) != set(PAYLOAD_TYPES):
        failures.append("registry: the eight event names and their payload types disagree")
    for request, response in RESPONSE_FOR.items():
        if response not in PAYLOAD_TYPES or request not in PAYLOAD_TYPES:
            failures.append(f"registry: {request} has no response type")
    if not PROVIDERS:
        failures.append("providers: no inference provider is registered")
    for name, kind in PAYLOAD_TYPES.items():
        try:
            msgspec.json.schema(kind)
        except (TypeError, ValueError) as error:
            failures.append(f"schema: {name}: {error}")
        failures.extend(_check_valid_example(name))
    for name, rule, payload in INVALID:
        result = validate(name, msgspec.json.encode(payload))
        if not isinstance(result, Invalid) or result.rules != (rule,):
            failures.append(f"rule {rule}: the example for {name} was not refused for it")
    for rule in set(Rule) - {rule for _, rule, _ in INVALID}:
        failures.append(f"rule {rule}: no example checks it")
    return failures


def _check_valid_example(name: str) -> list[str]:
    first = validate(name, msgspec.json.encode(VALID[name]))
    if isinstance(first, Invalid):
        return [f"example {name}: refused: {'; '.join(first.diagnostics)}"]
    again = validate(name, encode_payload(first))
    if again != first:
        return [f"example {name}: the normalized payload does not validate to itself"]
    return []
