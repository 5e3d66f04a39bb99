"""Appending: ids, receipts, batches and what an event keeps (every backend)."""

from __future__ import annotations

import re

import pytest

from contracts.events import EnvelopeError, receipt
from tests.transport.event_log.conftest import backlog, envelope, order_key
from transport.event_log import EventLog

TIMESTAMP = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


async def test_appends_get_increasing_ids_and_matching_receipts(event_log: EventLog) -> None:
    ids = []
    for index in range(5):
        [event] = await event_log.append([envelope(f"jobs.n{index}")], identity_id="alice")
        answer = receipt(event)
        assert answer.accepted
        assert (answer.id, answer.name) == (event.id, f"jobs.n{index}")
        assert TIMESTAMP.match(answer.created_at)
        ids.append(event.id)
    assert sorted(ids, key=order_key) == ids
    assert len(set(ids)) == 5


async def test_batch_is_stored_together_in_order(event_log: EventLog) -> None:
    names = [f"batch.e{index}" for index in range(10)]
    stored = await event_log.append([envelope(name) for name in names], identity_id="bob")
    assert [event.name for event in stored] == names
    assert sorted((event.id for event in stored), key=order_key) == [e.id for e in stored]
    replayed = await backlog(event_log, "batch.*")
    assert [(event.id, event.name) for event in replayed] == [(e.id, e.name) for e in stored]


async def test_payload_bytes_round_trip_but_for_line_breaks_between_tokens(
    event_log: EventLog,
) -> None:
    payload = b'{ "z": [1.50, 2e3, "\\u00e9\xc3\xa9"],\r\n\t"a": {"nested": null} }'
    kept = b'{ "z": [1.50, 2e3, "\\u00e9\xc3\xa9"],"a": {"nested": null} }'
    [stored] = await event_log.append([envelope("raw.payload", payload)], identity_id="x")
    [replayed] = await backlog(event_log, "raw.payload")
    assert bytes(stored.payload) == kept
    assert bytes(replayed.payload) == kept


async def test_a_payload_that_is_not_utf8_is_refused_and_nothing_is_stored(
    event_log: EventLog,
) -> None:
    with pytest.raises(EnvelopeError, match="UTF-8"):
        await event_log.append(
            [envelope("raw.ok"), envelope("raw.bad", b'"\xff"')], identity_id="x"
        )
    assert await backlog(event_log, "raw.*") == []


async def test_missing_payload_is_stored_as_null(event_log: EventLog) -> None:
    await event_log.append([envelope("no.payload", None)], identity_id="x")
    [replayed] = await backlog(event_log, "no.payload")
    assert bytes(replayed.payload) == b"null"


async def test_metadata_identity_and_correlation_are_kept(event_log: EventLog) -> None:
    metadata = {"trace": {"id": "t-1", "hops": [1, 2]}, "source": "test"}
    [stored] = await event_log.append(
        [envelope("meta.kept", correlation_id="corr-1", metadata=metadata)],
        identity_id="carol",
    )
    [replayed] = await backlog(event_log, "meta.kept")
    for event in (stored, replayed):
        assert event.metadata == metadata
        assert event.identity_id == "carol"
        assert event.correlation_id == event.correlation_id_camel == "corr-1"
    assert replayed.created_at == stored.created_at
    assert replayed.id == stored.id
