"""Hypothesis strategies for the Bus Events envelope, names and token scopes."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

from contracts.events import (
    MAX_NAME_LENGTH,
    SCOPE_INFERENCE_ADMIN,
    SCOPE_INFERENCE_READ,
    SCOPE_LISTEN,
    SCOPE_SEND,
)
from contracts.inference import EVENT_NAMES

__all__ = [
    "InvalidEnvelope",
    "correlation_ids",
    "envelopes",
    "event_names",
    "invalid_envelopes",
    "invalid_event_names",
    "json_values",
    "listen_patterns",
    "scope_claims",
    "scopes",
]


class InvalidEnvelope(msgspec.Struct, frozen=True):
    """A publish body that breaks one envelope rule, labelled with it."""

    rule: str
    body: Any


_segment = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)
event_names = st.one_of(
    st.sampled_from(EVENT_NAMES),
    st.lists(_segment, min_size=1, max_size=5).map(".".join),
    st.lists(_segment, min_size=1, max_size=3).map(lambda s: "bus.inference." + ".".join(s)),
)
invalid_event_names = st.one_of(
    st.sampled_from(["", ".", "a.", ".a", "a..b", "Bus.events", "a b", "a/b", "a.*", "ä"]),
    st.builds(lambda n, c: n + c, event_names, st.sampled_from(["A", " ", ".", "\n", "*", ":"])),
    st.just("a" * (MAX_NAME_LENGTH + 1)),
)
listen_patterns = st.one_of(event_names, event_names.map(lambda n: n + ".*"))
scopes = st.sampled_from([SCOPE_SEND, SCOPE_LISTEN, SCOPE_INFERENCE_ADMIN, SCOPE_INFERENCE_READ])
scope_claims = st.lists(scopes, max_size=4).map(" ".join)
correlation_ids = st.text(min_size=1, max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def envelopes(draw: Any) -> dict[str, Any]:
    """Valid publish envelopes, correlation id under either spelling or both."""
    body: dict[str, Any] = {"name": draw(event_names), "payload": draw(json_values)}
    if draw(st.booleans()):
        cid = draw(correlation_ids)
        keys = draw(
            st.sampled_from(
                [("correlation_id",), ("correlationId",), ("correlation_id", "correlationId")]
            )
        )
        body |= dict.fromkeys(keys, cid)
    if draw(st.booleans()):
        body["metadata"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    if draw(st.booleans()):
        body["delivery"] = draw(st.sampled_from(["broadcast", "unicast"]))
    return body


@st.composite
def invalid_envelopes(draw: Any) -> InvalidEnvelope:
    """Publish bodies that each break one envelope rule."""
    body = draw(envelopes())
    match draw(
        st.sampled_from(
            [
                "name_grammar",
                "name_required",
                "inference_payload_required",
                "correlation_spellings_agree",
                "envelope_is_object",
            ]
        )
    ):
        case "name_grammar":
            return InvalidEnvelope("name_grammar", body | {"name": draw(invalid_event_names)})
        case "name_required":
            return InvalidEnvelope("name_required", {k: v for k, v in body.items() if k != "name"})
        case "inference_payload_required":
            name = draw(st.sampled_from(EVENT_NAMES))
            return InvalidEnvelope(
                "inference_payload_required",
                {k: v for k, v in body.items() if k != "payload"} | {"name": name},
            )
        case "correlation_spellings_agree":
            a, b = draw(st.lists(correlation_ids, min_size=2, max_size=2, unique=True))
            return InvalidEnvelope(
                "correlation_spellings_agree", body | {"correlation_id": a, "correlationId": b}
            )
        case _:
            return InvalidEnvelope("envelope_is_object", draw(st.lists(json_values, max_size=2)))
