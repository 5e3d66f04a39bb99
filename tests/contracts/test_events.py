"""The Bus Events envelope, name grammar and scope rules (BUS.md §2) as properties."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.events import (
    EnvelopeError,
    ErrorBody,
    ErrorResponse,
    Event,
    TokenClaims,
    authorize,
    error_body,
    is_event_name,
    is_listen_pattern,
    matches,
    parse_batch,
    parse_envelope,
    receipt,
    required_scopes,
    stored_event,
)
from contracts.testing.events import (
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
