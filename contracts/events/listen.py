"""How a Bus Events listener asks for events (``GET /api/v1/events/stream``, BUS.md §2.2)
and acknowledges them (``POST /api/v1/events/ack``): the query, its parsing, the ack body.

    >>> query = parse_listen_query({"name": "bus.inference.*", "since": "0"})
    >>> query.start_seconds_back()
    0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from contracts.events.envelope import MAX_CORRELATION_ID_LENGTH, EnvelopeError, is_listen_pattern
from contracts.events.json_text import MAX_JSON_DEPTH

__all__ = [
    "DEFAULT_ACK_WAIT_SECONDS",
    "DEFAULT_SINCE_SECONDS",
    "MAX_GROUP_LENGTH",
    "AckMode",
    "AckRequest",
    "Delivery",
    "ListenQuery",
    "held_by",
    "parse_ack",
    "parse_listen_query",
]

Delivery = Literal["broadcast", "unicast"]
AckMode = Literal["auto", "explicit"]

DEFAULT_SINCE_SECONDS: Final = 60.0
DEFAULT_ACK_WAIT_SECONDS: Final = 30.0
MAX_GROUP_LENGTH: Final = 128


class ListenQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a listener asks for (``GET /api/v1/events/stream``, BUS.md §2.2).

    Where a stream starts, first rule that applies: ``after`` (the events after that
    cursor), ``replay`` (the oldest retained event), ``since`` seconds back (``0``: the
    live tail only), else the last :data:`DEFAULT_SINCE_SECONDS` (**decided**). For
    unicast the start applies when the group is first created; afterwards the group's
    own cursor does. ``follow=False`` ends the stream once the backlog is delivered.
    """

    pattern: str
    delivery: Delivery = "broadcast"
    group: str = "default"
    consumer: str = "default"
    replay: bool = False
    after: str | None = None
    since: float | None = None
    follow: bool = True
    correlation_id: str | None = None
    ack: AckMode = "auto"
    ack_wait: float = DEFAULT_ACK_WAIT_SECONDS

    def start_seconds_back(self) -> float | None:
        """How far back a stream without ``after`` or ``replay`` starts; None: from a cursor
        or the oldest event."""
        if self.after is not None or self.replay:
            return None
        return DEFAULT_SINCE_SECONDS if self.since is None else self.since

    def resumed(self, last_id: str | None, elapsed: float) -> ListenQuery:
        """The query that goes on where this one stopped, ``elapsed`` seconds after it
        was first opened, ``last_id`` the last event it delivered (None: none yet).

        A broadcast resumes after ``last_id``, so nothing is missed or repeated; before
        its first event it widens ``since`` by ``elapsed``, so its window still starts
        where it did. A unicast query is unchanged: its group's cursor says where it goes
        on.
        """
        if self.delivery == "unicast":
            return self
        if last_id is not None:
            return msgspec.structs.replace(self, after=last_id, replay=False, since=None)
        back = self.start_seconds_back()
        if back is None:
            return self
        return msgspec.structs.replace(self, since=back + elapsed)


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _flag(params: Mapping[str, str], key: str, default: bool) -> bool:
    value = params.get(key)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise EnvelopeError(f"{key} must be true or false")


def _seconds(params: Mapping[str, str], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    # A listener asking for the past is told the way that always reaches it.
    hint = "; replay=true starts at the oldest retained event" if key == "since" else ""
    try:
        seconds = float(value)
    except ValueError:
        raise EnvelopeError(f"{key} must be a number of seconds{hint}") from None
    if not 0 <= seconds < 10**9:  # also refuses nan and inf
        raise EnvelopeError(f"{key} must be a number of seconds, 0 or more{hint}")
    return seconds


def _label(params: Mapping[str, str], key: str) -> str:
    value = params.get(key, "default")
    if not 0 < len(value) <= MAX_GROUP_LENGTH or not value.isprintable() or " " in value:
        raise EnvelopeError(f"{key} must be 1-{MAX_GROUP_LENGTH} printable characters, no spaces")
    return value


def parse_listen_query(params: Mapping[str, str], last_event_id: str | None = None) -> ListenQuery:
    """The :class:`ListenQuery` of a stream request's query parameters.

    ``Last-Event-ID`` stands for ``after`` when the query has none. Raises
    :class:`EnvelopeError` (a 400) naming the parameter that is wrong.
    """
    pattern = params.get("name")
    if pattern is None:
        raise EnvelopeError("name is required (an event name, or a prefix ending in '.*')")
    if not is_listen_pattern(pattern):
        raise EnvelopeError("name must be an event name or a prefix ending in '.*'")
    delivery = params.get("delivery", "broadcast")
    if delivery not in ("broadcast", "unicast"):
        raise EnvelopeError("delivery must be broadcast or unicast")
    ack = params.get("ack", "auto")
    if ack not in ("auto", "explicit"):
        raise EnvelopeError("ack must be auto or explicit")
    after = params.get("after") or last_event_id or None
    if after is not None and not 0 < len(after) <= MAX_CORRELATION_ID_LENGTH:
        raise EnvelopeError("after must be an event id")
    correlation = params.get("correlation_id")
    if correlation is not None and not 0 < len(correlation) <= MAX_CORRELATION_ID_LENGTH:
        raise EnvelopeError(f"correlation_id must be 1-{MAX_CORRELATION_ID_LENGTH} characters")
    ack_wait = _seconds(params, "ack_wait")
    if ack_wait is not None and ack_wait <= 0:
        raise EnvelopeError("ack_wait must be more than 0 seconds")
    return ListenQuery(
        pattern=pattern,
        delivery=delivery,  # type: ignore[arg-type]  # checked above
        group=_label(params, "group"),
        consumer=_label(params, "consumer"),
        replay=_flag(params, "replay", False),
        after=after,
        since=_seconds(params, "since"),
        follow=_flag(params, "follow", True),
        correlation_id=correlation,
        ack=ack,  # type: ignore[arg-type]  # checked above
        ack_wait=DEFAULT_ACK_WAIT_SECONDS if ack_wait is None else ack_wait,
    )


class AckRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/events/ack`` body."""

    group: str
    consumer: str
    id: str


_ACK: Final = msgspec.json.Decoder(AckRequest)


def parse_ack(data: bytes) -> AckRequest:
    """Decode an ack body; raises :class:`EnvelopeError` for a 400."""
    try:
        return _ACK.decode(data)
    except msgspec.DecodeError as error:
        raise EnvelopeError(f"ack: {error}") from None
    except UnicodeDecodeError:
        raise EnvelopeError("ack: the body is not valid UTF-8") from None
    except RecursionError:  # nested far deeper than any ack body
        raise EnvelopeError(f"ack: the body nests deeper than {MAX_JSON_DEPTH} levels") from None


def held_by(subject: str, consumer: str) -> str:
    """The consumer name the log knows an API listener's ``consumer`` by: it names the
    token's ``subject`` too, so only that subject can ack what was handed to it.

        >>> held_by("bridge-b", "host-b:4242")
        'host-b:4242 bridge-b'

    **Decided** (who may ack): a unicast delivery is held by the consumer it was handed
    to, and through the Events API a consumer is always qualified by its subject. An ack
    names a group, a consumer and an id; the API qualifies that consumer with the acking
    token's subject, so a token acks only deliveries handed to its own subject (which
    needed a scope able to read the event), never another subject's, whatever names it
    guesses. A label holds no space (:func:`parse_listen_query`), so the first space
    splits the pair unambiguously; the embedded callers (the bridge on the local log)
    use their plain names, which no token can produce. The rule lives in the names, so
    it holds across restarts and across servers sharing one Redis.
    """
    return f"{consumer} {subject}"
