"""The Bus Events envelope, name grammar and scope rules (BUS.md §2) as properties."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.events import (
    MAX_JSON_DEPTH,
    EnvelopeError,
    ErrorBody,
    ErrorResponse,
    Event,
    TokenClaims,
    authorize,
    error_body,
    event_line,
    granted_scopes,
    held_by,
    is_event_name,
    is_listen_pattern,
    matches,
    nests_deeper_than,
    parse_ack,
    parse_batch,
    parse_envelope,
    parse_listen_query,
    receipt,
    required_scopes,
    stored_event,
)
from contracts.testing import (
    InvalidEnvelope,
    envelopes,
    event_names,
    invalid_envelopes,
    invalid_event_names,
    listen_patterns,
    scope_claims,
)

ADMIN_NAMES = ["bus.inference.install.request", "bus.inference.model.ensure.response"]
READ_NAMES = ["bus.inference.status.request", "bus.inference.verify.response"]


@given(event_names)
def test_rule_name_grammar_accepts_dotted_lowercase_segments(name: str) -> None:
    """Rule: a name is dotted lowercase segments of letters, digits, '_' and '-'."""
    assert is_event_name(name)
    assert is_listen_pattern(name) and is_listen_pattern(name + ".*")


@given(invalid_event_names)
def test_rule_name_grammar_refuses_everything_else(name: str) -> None:
    """Rule: a name is dotted lowercase segments of letters, digits, '_' and '-'."""
    assert not is_event_name(name)


@given(envelopes())
def test_valid_envelopes_are_accepted_and_keep_one_correlation_id(body: dict[str, Any]) -> None:
    envelope = parse_envelope(msgspec.json.encode(body))
    event = stored_event(
        envelope, event_id="7", identity_id="svc", created_at="2026-01-01T00:00:00Z"
    )
    emitted = msgspec.json.decode(msgspec.json.encode(event))
    expected = body.get("correlation_id", body.get("correlationId"))
    assert emitted["correlation_id"] == emitted["correlationId"] == expected
    assert emitted["payload"] == body["payload"]
    assert receipt(event).correlation_id == expected


@given(invalid_envelopes())
def test_rule_each_invalid_envelope_is_refused(example: InvalidEnvelope) -> None:
    """Rule: envelope is an object with a name of the grammar, a payload for
    bus.inference.*, and correlation spellings that agree."""
    with pytest.raises(EnvelopeError):
        parse_envelope(msgspec.json.encode(example.body))


@given(st.binary(max_size=300))
def test_arbitrary_bodies_raise_only_envelope_errors(data: bytes) -> None:
    try:
        envelope = parse_envelope(data)
    except EnvelopeError as error:
        assert str(error)
    else:
        assert is_event_name(envelope.name)


def test_identity_id_from_the_caller_is_ignored() -> None:
    envelope = parse_envelope(b'{"name":"a.b","payload":1,"identity_id":"root"}')
    event = stored_event(envelope, event_id="1", identity_id="svc", created_at="t")
    assert event.identity_id == "svc"


def test_batch_is_all_or_nothing() -> None:
    with pytest.raises(EnvelopeError, match=r"batch\[1\]"):
        parse_batch(b'[{"name":"a.b","payload":1},{"name":"A"}]')
    assert len(parse_batch(b'[{"name":"a.b"},{"name":"c.d"}]')) == 2
    with pytest.raises(EnvelopeError):
        parse_batch(b"[]")


@pytest.mark.parametrize("name", ADMIN_NAMES)
@pytest.mark.parametrize("action", ["publish", "listen"])
def test_rule_admin_namespaces_need_inference_admin(name: str, action: Any) -> None:
    """Rule: install and model.ensure names need inference:admin to publish or listen."""
    assert authorize(name, action, "inference:admin").allowed
    for claim in ["inference:read", "events:send events:listen", ""]:
        assert authorize(name, action, claim).missing == ("inference:admin",)


@pytest.mark.parametrize("name", READ_NAMES)
@pytest.mark.parametrize("action", ["publish", "listen"])
def test_rule_read_namespaces_need_inference_read_or_admin(name: str, action: Any) -> None:
    """Rule: status and verify names need inference:read; inference:admin implies it."""
    assert authorize(name, action, "inference:read").allowed
    assert authorize(name, action, "inference:admin").allowed
    assert not authorize(name, action, "events:send events:listen").allowed


@given(event_names, scope_claims)
def test_rule_other_names_need_events_scopes(name: str, claim: str) -> None:
    """Rule: names outside the protected namespaces need events:send / events:listen."""
    assume(
        not name.startswith(
            (
                "bus.inference.install.",
                "bus.inference.model.ensure.",
                "bus.inference.status.",
                "bus.inference.verify.",
            )
        )
    )
    assert authorize(name, "publish", claim).allowed == ("events:send" in claim.split())
    assert authorize(name, "listen", claim).allowed == ("events:listen" in claim.split())


@given(
    listen_patterns,
    st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), max_size=3),
    scope_claims,
)
def test_rule_prefix_listen_needs_every_scope_its_names_need(
    pattern: str, tail: list[str], claim: str
) -> None:
    """Rule: a prefix listen needs every scope that some name under it needs."""
    assume(pattern.endswith(".*"))
    name = ".".join([pattern[:-2], *tail]) if tail else pattern[:-2] + ".x"
    assert matches(pattern, name)
    if authorize(pattern, "listen", claim).allowed:
        assert authorize(name, "listen", claim).allowed


def test_prefix_over_inference_needs_admin_and_listen() -> None:
    assert required_scopes("bus.inference.*", "listen") == (
        "events:listen",
        "inference:admin",
        "inference:read",
    )
    assert authorize("bus.inference.*", "listen", "inference:admin events:listen").allowed
    assert required_scopes("bus.inference.status.*", "listen") == ("inference:read",)
    assert required_scopes("bus.inference.model.*", "listen") == (
        "events:listen",
        "inference:admin",
    )


@given(
    st.builds(
        Event,
        id=st.text(),
        name=event_names,
        payload=st.just(msgspec.Raw(b"[1]")),
        correlation_id=st.none() | st.text(),
        created_at=st.text(),
    )
)
def test_every_events_struct_round_trips_through_json(event: Event) -> None:
    assert msgspec.json.decode(msgspec.json.encode(event), type=Event) == event
    claims = TokenClaims(sub="s", aud="ai.hg.fi/api", scope="events:send", iat=1, exp=2)
    assert msgspec.json.decode(msgspec.json.encode(claims), type=TokenClaims) == claims
    assert msgspec.json.decode(error_body("forbidden", "no"), type=ErrorResponse) == ErrorResponse(
        ErrorBody("forbidden", "no")
    )
    rec = receipt(event)
    assert msgspec.json.decode(msgspec.json.encode(rec), type=type(rec)) == rec


# --- payloads on one line, nesting, scope claims, ack holders (issue 15) -----------


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# String content with no control character, quote or backslash, some of it not UTF-8.
_NOT_UTF8 = (
    st.lists(st.integers(min_value=0x20, max_value=0xFF).filter(lambda b: b not in b'"\\'))
    .map(bytes)
    .filter(_not_utf8)
)


_WHITESPACE = st.text(alphabet=" \t\r\n", max_size=3)
_STRINGS = st.text(  # the separators some line readers break at, brackets, quotes
    alphabet=st.one_of(
        st.sampled_from(["\u2028", "\u2029", "\u0085", "[", "]", "{", "}", '"', "\\", "\n"]),
        st.characters(codec="utf-8"),
    ),
    max_size=8,
)
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _STRINGS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_STRINGS, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def _spaced_json(draw: st.DrawFn) -> str:
    """A JSON value as text with arbitrary whitespace (line breaks too) between tokens
    and raw non-ASCII characters in its strings."""
    return _spaced(draw, draw(_VALUES))


def _spaced(draw: st.DrawFn, value: Any) -> str:
    gap = draw(_WHITESPACE)
    if isinstance(value, list):
        items = [_spaced(draw, item) for item in value]
        return gap + "[" + ",".join(items) + draw(_WHITESPACE) + "]" + gap
    if isinstance(value, dict):
        pairs = [
            json.dumps(key, ensure_ascii=False) + draw(_WHITESPACE) + ":" + _spaced(draw, item)
            for key, item in value.items()
        ]
        return gap + "{" + ",".join(pairs) + draw(_WHITESPACE) + "}" + gap
    return gap + json.dumps(value, ensure_ascii=False) + gap


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(_spaced_json(), st.booleans())
def test_rule_payload_is_one_ndjson_line(text: str, batch: bool) -> None:
    """Rule: an accepted payload is stored and streamed as exactly one NDJSON line (no
    CR, LF, U+2028, U+2029 or U+0085 inside), and decodes to the value published."""
    body = b'{"name":"jobs.any","payload":' + text.encode() + b"}"
    envelope = parse_batch(b"[" + body + b"]")[0] if batch else parse_envelope(body)
    event = stored_event(envelope, event_id="1", identity_id="s", created_at="t")
    line = event_line(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line
    assert len(line.decode("utf-8").splitlines()) == 1
    assert json.loads(line)["payload"] == json.loads(text)


@given(_NOT_UTF8, st.booleans())
def test_rule_payload_is_utf8(junk: bytes, batch: bool) -> None:
    """Rule: a payload that is not UTF-8 is refused (a 400), never stored or relayed."""
    body = b'{"name":"jobs.any","payload":["' + junk + b'"]}'
    with pytest.raises(EnvelopeError, match="UTF-8"):
        parse_batch(b"[" + body + b"]") if batch else parse_envelope(body)


@given(st.integers(min_value=1, max_value=MAX_JSON_DEPTH + 3), _STRINGS, st.booleans())
def test_rule_payload_nests_at_most_max_json_depth(levels: int, text: str, batch: bool) -> None:
    """Rule: a payload (and metadata) nests at most MAX_JSON_DEPTH arrays and objects;
    brackets inside strings do not count."""
    payload = '{"k":' * (levels // 2) + "[" * (levels - levels // 2) + json.dumps(text)
    payload += "]" * (levels - levels // 2) + "}" * (levels // 2)
    for key in ("payload", "metadata"):
        document = payload if key == "payload" else '{"m":' + payload + "}"
        body = f'{{"name":"jobs.any","{key}":{document}}}'.encode()
        wrapped = b"[" + body + b"]" if batch else body
        nested = _depth(json.loads(document))
        if nested <= MAX_JSON_DEPTH:
            (parse_batch if batch else parse_envelope)(wrapped)
        else:
            with pytest.raises(EnvelopeError, match=f"at most {MAX_JSON_DEPTH} levels"):
                (parse_batch if batch else parse_envelope)(wrapped)


@given(_VALUES, st.integers(min_value=0, max_value=8))
def test_rule_depth_is_counted_outside_strings(value: Any, limit: int) -> None:
    """Rule: nests_deeper_than counts the arrays and objects of a JSON text, not the
    brackets inside its strings."""
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert nests_deeper_than(text.encode(), limit) == (_depth(value) > limit)


@pytest.mark.parametrize("levels", [1_000, 100_000])
def test_json_nested_far_too_deep_is_an_envelope_error(levels: int) -> None:
    deep = b"[" * levels + b"]" * levels
    for parse, body in (
        (parse_envelope, b'{"name":"a.b","payload":' + deep + b"}"),
        (parse_batch, b'[{"name":"a.b","payload":' + deep + b"}]"),
        (parse_batch, deep),
        (parse_ack, b'{"group":' + deep + b"}"),
    ):
        with pytest.raises(EnvelopeError):
            parse(body)


@given(st.lists(st.text(min_size=1).filter(lambda s: " " not in s), max_size=4))
def test_rule_scopes_split_on_ascii_space_only(names: list[str]) -> None:
    """Rule: a scope claim is split on ASCII spaces only (RFC 8693 §4.2); a name holding
    any other whitespace is one name, so it grants nothing it merely spells."""
    granted = granted_scopes(" ".join(names))
    assert set(names) <= granted
    for separator in ("\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c"):
        assert granted_scopes(separator.join(["events:send", "inference:admin"])) == {
            separator.join(["events:send", "inference:admin"])
        }


_LABELS = st.text(
    alphabet=st.characters(codec="utf-8").filter(lambda c: c.isprintable() and c != " "),
    min_size=1,
    max_size=20,
)


@given(st.text(max_size=20), _LABELS, st.text(max_size=20), _LABELS)
def test_rule_acks_are_bound_to_the_subject(
    subject: str, consumer: str, other_subject: str, other_consumer: str
) -> None:
    """Rule: the consumer an API listener is known by names its subject too, so no other
    (subject, consumer) pair, and no embedded consumer's plain name, is ever the same."""
    query = parse_listen_query({"name": "jobs.*", "consumer": consumer})
    held = held_by(subject, query.consumer)
    assert " " in held and held.split(" ", 1) == [consumer, subject]
    assert (held == held_by(other_subject, other_consumer)) == (
        (subject, consumer) == (other_subject, other_consumer)
    )
    assert held not in (consumer, other_consumer)  # a label, as embedded callers use


@given(st.sampled_from(["-1", "soon", "nan", "inf", "1e12"]))
def test_rule_a_bad_since_names_replay_the_way_that_always_reaches_the_past(since: str) -> None:
    with pytest.raises(EnvelopeError, match=r"^since must be .*; replay=true starts at the oldest"):
        parse_listen_query({"name": "jobs.*", "since": since})


def test_a_bad_ack_wait_does_not_speak_of_replay() -> None:
    with pytest.raises(EnvelopeError) as refused:
        parse_listen_query({"name": "jobs.*", "ack_wait": "soon"})
    assert "replay" not in str(refused.value)
