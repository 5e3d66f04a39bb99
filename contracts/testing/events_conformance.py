"""Hypothesis strategies for checking a live Bus Events API (BUS.md §2), exported.

``asm conformance events`` draws its examples from these (and from
:mod:`contracts.testing.events`). Names here are *relative*: the harness puts each
example under a namespace of its own (``conformance.<run>.n<k>``) before it publishes,
so examples never meet each other, nor a real event::

    from contracts.testing.events_conformance import prefix_examples

    @given(prefix_examples())
    def test_prefix(example): ...
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Final, Literal

import msgspec
from hypothesis import strategies as st

from contracts.events import is_listen_pattern
from contracts.testing.events import (
    InvalidEnvelope,
    correlation_ids,
    envelopes,
    invalid_envelopes,
    invalid_event_names,
    json_values,
)

__all__ = [
    "AUTH_ROUTES",
    "BAD_AUTHORIZATIONS",
    "TAMPERINGS",
    "BadListenQuery",
    "BatchExample",
    "CorrelationExample",
    "CursorExample",
    "PrefixExample",
    "UnicastExample",
    "bad_listen_queries",
    "batch_examples",
    "claimed_identities",
    "correlation_examples",
    "cursor_examples",
    "labels",
    "oversized_extras",
    "prefix_examples",
    "segments",
    "unicast_examples",
]

Route = Literal["publish", "batch", "stream", "ack"]
AUTH_ROUTES: Final[tuple[Route, ...]] = ("publish", "batch", "stream", "ack")

#: ``Authorization`` headers that carry no usable bearer token (None: no header at all).
#: ``<token>`` stands for a valid token sent under the wrong scheme.
BAD_AUTHORIZATIONS: Final[tuple[str | None, ...]] = (
    None,
    "",
    "Bearer",
    "Basic YWxpY2U6c2VjcmV0",
    "Token <token>",
    "<token>",
    "Bearer not-a-jwt",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.",
)

#: Ways to alter a valid token; each must make it fail verification (401).
TAMPERINGS: Final = (
    "signature_altered",
    "signature_dropped",
    "subject_altered",
    "scope_widened",
    "expiry_extended",
    "audience_altered",
    "alg_none",
    "signed_with_another_secret",
)

segments = st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True)
labels = st.from_regex(r"[a-z0-9_-]{1,16}", fullmatch=True)
"""Unicast group and consumer names any implementation should take."""


def oversized_extras() -> st.SearchStrategy[int]:
    """How many bytes over 1 MiB an envelope is (the rule: over 1 MiB is a 413)."""
    return st.integers(min_value=1, max_value=64 * 1024)


class PrefixExample(msgspec.Struct, frozen=True):
    """Names published under a namespace, the prefix listened to, and which names it
    must select (``a.b.*`` selects ``a.b.x`` and ``a.b.x.y``, not ``a.b`` nor ``a.bc``)."""

    prefix: str
    names: list[tuple[str, bool]]


@st.composite
def prefix_examples(draw: Any) -> PrefixExample:
    """Relative names around the prefix ``<a>.<b>.*``, each marked selected or not."""
    a, b = draw(segments), draw(segments)
    base = f"{a}.{b}"
    kinds = st.sampled_from(["below", "deep", "self", "longer_segment", "parent", "sibling"])
    names: list[tuple[str, bool]] = []
    for kind in draw(st.lists(kinds, min_size=1, max_size=5)):
        match kind:
            case "below":
                names.append((f"{base}.{draw(segments)}", True))
            case "deep":
                names.append((f"{base}.{draw(segments)}.{draw(segments)}", True))
            case "self":
                names.append((base, False))
            case "longer_segment":
                names.append((base + draw(segments), False))
            case "parent":
                names.append((a, False))
            case _:
                other = draw(segments.filter(functools.partial(operator.ne, b)))
                names.append((f"{a}.{other}.{draw(segments)}", False))
    return PrefixExample(prefix=base + ".*", names=names)


class CorrelationExample(msgspec.Struct, frozen=True):
    """Events published with the correlation ids at ``tagged`` (an index into ``ids``,
    or None for none), each under a spelling; listening filters on ``ids[0]``."""

    ids: tuple[str, str]
    tagged: list[tuple[int | None, str]]


@st.composite
def correlation_examples(draw: Any) -> CorrelationExample:
    first, second = draw(st.lists(correlation_ids, min_size=2, max_size=2, unique=True))
    spelling = st.sampled_from(["correlation_id", "correlationId", "both"])
    index = st.sampled_from([0, 1, None])
    tagged = draw(st.lists(st.tuples(index, spelling), min_size=1, max_size=5))
    return CorrelationExample(ids=(first, second), tagged=tagged)


class CursorExample(msgspec.Struct, frozen=True):
    """Publish ``count`` events, then listen after the one at ``index``, the cursor
    given as the ``after`` query parameter or as the ``Last-Event-ID`` header."""

    count: int
    index: int
    via: Literal["after", "last-event-id"]


@st.composite
def cursor_examples(draw: Any) -> CursorExample:
    count = draw(st.integers(min_value=1, max_value=5))
    index = draw(st.integers(min_value=0, max_value=count - 1))
    return CursorExample(count, index, draw(st.sampled_from(["after", "last-event-id"])))


class UnicastExample(msgspec.Struct, frozen=True):
    """Two consumers of group ``group``, one of group ``other``."""

    group: str
    other: str
    first: str
    second: str


@st.composite
def unicast_examples(draw: Any) -> UnicastExample:
    group, other = draw(st.lists(labels, min_size=2, max_size=2, unique=True))
    first, second = draw(st.lists(labels, min_size=2, max_size=2, unique=True))
    return UnicastExample(group, other, first, second)


class BatchExample(msgspec.Struct, frozen=True):
    """Valid envelopes, and maybe one invalid envelope placed at ``at`` among them."""

    valid: list[dict[str, Any]]
    invalid: InvalidEnvelope | None = None
    at: int = 0


@st.composite
def batch_examples(draw: Any) -> BatchExample:
    valid = draw(st.lists(envelopes(), min_size=1, max_size=4))
    if not draw(st.booleans()):
        return BatchExample(valid)
    invalid = draw(invalid_envelopes())
    return BatchExample(valid, invalid, draw(st.integers(min_value=0, max_value=len(valid))))


class BadListenQuery(msgspec.Struct, frozen=True):
    """Stream query parameters that break one rule (named), to be answered 400.

    ``relative_name``: the ``name`` parameter is a valid relative name, to be put
    under the harness's namespace; otherwise it is sent as it is (or is missing).
    """

    rule: str
    params: dict[str, str]
    relative_name: bool = True


def _not_seconds(text: str) -> bool:
    try:
        return not float(text) >= 0
    except ValueError:
        return True


_bad_patterns = st.one_of(
    invalid_event_names, st.sampled_from(["*", "a.*.b", "a.**", "a*", ".*", "A.*"])
).filter(lambda pattern: not is_listen_pattern(pattern))
_bad_seconds = st.one_of(
    st.integers(max_value=-1).map(str),
    st.floats(max_value=-0.001, allow_nan=False, allow_infinity=False).map(repr),
    st.text(st.characters(categories=["L"]), min_size=1, max_size=8).filter(_not_seconds),
    st.sampled_from(["nan", "-inf", "1s", "ten"]),
)


@st.composite
def bad_listen_queries(draw: Any) -> BadListenQuery:
    """Missing or malformed ``name``, an unknown ``delivery``, a ``since`` that is not a
    number of seconds ≥ 0 — each must be a 400 before any stream opens."""
    name = draw(segments)
    match draw(st.sampled_from(["name_required", "name_grammar", "delivery_known", "since"])):
        case "name_required":
            return BadListenQuery("name_required", {}, relative_name=False)
        case "name_grammar":
            return BadListenQuery("name_grammar", {"name": draw(_bad_patterns)}, False)
        case "delivery_known":
            delivery = draw(
                st.text(min_size=1, max_size=12).filter(lambda d: d not in ("broadcast", "unicast"))
            )
            return BadListenQuery("delivery_known", {"name": name, "delivery": delivery})
        case _:
            return BadListenQuery("since_is_seconds", {"name": name, "since": draw(_bad_seconds)})


def claimed_identities() -> st.SearchStrategy[Any]:
    """What a publisher may put in ``identity_id`` (to be ignored by the server)."""
    return st.one_of(st.text(min_size=1, max_size=30), json_values)
