"""Stream ids and entry fields of the Redis event log (see :mod:`transport.event_log.redis`).

A Redis stream id ``"<ms>-<seq>"`` is a pair of unsigned 64-bit integers, ordered as a
tuple; an event's id is the id of its stream entry::

    >>> parse_stream_id("1700000000000-3")
    (1700000000000, 3)
    >>> format_stream_id((1700000000000, 3))
    '1700000000000-3'
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

import msgspec

from contracts.events import Event, PublishEnvelope, stored_event
from transport.event_log.base import CursorError

__all__ = [
    "MAX_SEQ",
    "StreamId",
    "decode_entry",
    "encode_fields",
    "format_stream_id",
    "ms_of",
    "parse_stream_id",
    "start_before_ms",
]

StreamId = tuple[int, int]

MAX_SEQ: Final = 2**64 - 1
_STREAM_ID: Final = re.compile(r"\A([0-9]{1,20})(?:-([0-9]{1,20}))?\Z")
_METADATA: Final = msgspec.json.Decoder(dict[str, Any])


def parse_stream_id(text: str) -> StreamId:
    """``"ms-seq"`` (or a bare ``"ms"``, meaning ``"ms-0"``) as a pair.

    Raises :class:`CursorError` for anything Redis could never have issued.
    """
    match = _STREAM_ID.match(text)
    if match is None:
        raise CursorError(f"after: {text[:40]!r} is not an event id of this log")
    ms, seq = int(match[1]), int(match[2] or 0)
    if ms > MAX_SEQ or seq > MAX_SEQ:
        raise CursorError(f"after: {text[:40]!r} is out of range for a stream id")
    return ms, seq


def format_stream_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def ms_of(seconds: float) -> int:
    """The millisecond part of the id of an event appended at ``seconds``."""
    return max(math.floor(seconds * 1000), 0)


def start_before_ms(ms: int) -> StreamId:
    """The exclusive cursor whose successors are the entries of ``ms`` and later."""
    return (0, 0) if ms <= 0 else (ms - 1, MAX_SEQ)


def encode_fields(
    envelope: PublishEnvelope, *, identity_id: str, created_at: str, created: float
) -> dict[str, bytes]:
    """The fields of the stream entry that stores ``envelope``."""
    event = stored_event(envelope, event_id="", identity_id=identity_id, created_at=created_at)
    return {
        "name": event.name.encode(),
        "payload": bytes(event.payload),
        "correlation_id": (event.correlation_id or "").encode(),
        "metadata": msgspec.json.encode(event.metadata),
        "identity_id": identity_id.encode(),
        "created_at": created_at.encode(),
        "created": repr(created).encode(),
    }


def decode_entry(identifier: bytes | str, fields: dict[Any, Any]) -> Event | None:
    """The event of a stream entry; None for an entry this log did not write."""
    try:
        correlation = _text(fields.get(b"correlation_id", b"")) or None
        return Event(
            id=_text(identifier),
            name=_text(fields[b"name"]),
            payload=msgspec.Raw(bytes(fields.get(b"payload", b"null"))),
            correlation_id=correlation,
            correlation_id_camel=correlation,
            metadata=_METADATA.decode(fields.get(b"metadata", b"{}")),
            identity_id=_text(fields.get(b"identity_id", b"")),
            created_at=_text(fields[b"created_at"]),
        )
    except (KeyError, UnicodeDecodeError, TypeError, msgspec.DecodeError):
        return None


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()
