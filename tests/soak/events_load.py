"""Bus Events load for the soak test: publishers that note every 202, and one listener.

The publishers ``POST /api/v1/events`` (now and then a batch of five on
``/api/v1/events:batch``) and keep the id of every acknowledged event; a 503 with
``retry-after`` (the store is away) is counted and waited out. The listener
follows the same name with :class:`transport.events.EventsClient`, which
reconnects across the kill -9 and resumes with ``after=<last id>``. At the end
:meth:`EventsLoad.check` compares what was acknowledged with a full replay of the
restarted server and with what the listener received::

    load = EventsLoad(target, token, random.Random(7))
    nursery.start_soon(load.publisher)
    nursery.start_soon(load.listener)
    ...
    result = await load.check()
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field

import httpx
import trio

from contracts.events import ListenQuery
from tests.soak.traffic import Target
from transport.events import EventsClient
from transport.http import Backoff

NAME = "soak.load.tick"
PUBLISH_PAUSE_S = 0.02
REFUSED_PAUSE_S = 0.2  # after a 503: shorter than its retry-after, to count the outage
BATCH_P = 0.1
BATCH_SIZE = 5
CATCH_UP_S = 30.0  # a hang guard for the listener to reach the last acknowledged event
MAX_UNEXPECTED_KEPT = 20


@dataclass
class EventsResult:
    """The events part of the report."""

    published: int  # envelopes sent
    acked: int  # envelopes answered 202
    unacked_at_kill: int  # sent, no answer: the server died under them (may or may not exist)
    refused: int  # envelopes answered 503 with retry-after (the store was away)
    unexpected: list[str]  # any other answer to a publish
    stored: int  # events of NAME in the replay of the restarted server
    lost: int  # acknowledged, absent from the replay
    received: int  # events the listener got across the reconnections
    listener_missed: int  # acknowledged, never received by the listener
    duplicates: int  # received more than once
    out_of_order: int  # received after an event the log holds later
    reconnects: int  # the listener's connections beyond the first


@dataclass
class EventsLoad:
    """Publishers and a listener of :data:`NAME` against ``target``."""

    target: Target
    token: str
    rng: random.Random
    published: int = 0
    acked: list[str] = field(default_factory=list)
    unacked_at_kill: int = 0
    refused: int = 0
    unexpected: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    connections: int = 0
    _sequence: int = 0

    async def publisher(self) -> None:
        """Publish until the target stops; a new HTTP client per server generation."""
        while not self.target.stopping:
            generation = await self.target.wait_ready()
            headers = {"authorization": f"Bearer {self.token}"}
            async with httpx.AsyncClient(trust_env=False, timeout=30, headers=headers) as http:
                while not self.target.stopping and generation == self.target.generation:
                    await self._publish(http, generation)
                    await trio.sleep(PUBLISH_PAUSE_S)

    async def _publish(self, http: httpx.AsyncClient, generation: int) -> None:
        count = BATCH_SIZE if self.rng.random() < BATCH_P else 1
        envelopes = []
        for _ in range(count):
            self._sequence += 1
            envelopes.append({"name": NAME, "payload": {"n": self._sequence}})
        url = f"{self.target.base_url}/api/v1/events"
        self.published += count
        try:
            if count == 1:
                response = await http.post(url, json=envelopes[0])
            else:
                response = await http.post(f"{url}:batch", json=envelopes)
        except httpx.TransportError as error:
            if generation != self.target.generation:
                self.unacked_at_kill += count
            else:
                self._unexpected(f"publish: {type(error).__name__}: {error}")
            return
        if response.status_code == 503 and response.headers.get("retry-after", "").isdigit():
            self.refused += count  # the store is away: back off, as a client should
            await trio.sleep(REFUSED_PAUSE_S)
            return
        if response.status_code != 202:
            self._unexpected(f"publish: {response.status_code} {response.text[:120]}")
            return
        receipts = response.json()
        receipts = [receipts] if count == 1 else receipts
        self.acked += [str(receipt["id"]) for receipt in receipts]

    def _unexpected(self, description: str) -> None:
        if len(self.unexpected) < MAX_UNEXPECTED_KEPT:
            self.unexpected.append(description)

    async def listener(self) -> None:
        """Follow NAME from the oldest event, across reconnections, until cancelled."""
        await self.target.wait_ready()

        async def count(request: httpx.Request) -> None:
            self.connections += request.url.path.endswith("/stream")

        backoff = Backoff(initial=0.1, maximum=1.0)
        async with httpx.AsyncClient(trust_env=False, event_hooks={"request": [count]}) as http:
            client = EventsClient(self.target.base_url, self.token, http=http, backoff=backoff)
            async with client.stream(ListenQuery(pattern=NAME, replay=True)) as events:
                async for event in events:
                    self.received.append(event.id)

    async def wait_caught_up(self) -> None:
        """Until the listener has every acknowledged event (or the hang guard passes)."""
        with trio.move_on_after(CATCH_UP_S):
            while not set(self.acked) <= set(self.received):  # noqa: ASYNC110 - polling
                await trio.sleep(0.05)

    async def check(self) -> EventsResult:
        """Compare the acknowledged ids with the restarted server's replay and the listener."""
        stored = await _replay(self.target.base_url, self.token)
        position = {event_id: index for index, event_id in enumerate(stored)}
        acked, received = set(self.acked), set(self.received)
        order = [position.get(event_id, -1) for event_id in self.received]
        return EventsResult(
            published=self.published,
            acked=len(self.acked),
            unacked_at_kill=self.unacked_at_kill,
            refused=self.refused,
            unexpected=list(self.unexpected),
            stored=len(stored),
            lost=len(acked - set(stored)),
            received=len(self.received),
            listener_missed=len(acked - received),
            duplicates=len(self.received) - len(received),
            out_of_order=sum(1 for a, b in itertools.pairwise(order) if b <= a),
            reconnects=max(self.connections - 1, 0),
        )


async def _replay(base_url: str, token: str) -> list[str]:
    """The ids of every retained NAME event, oldest first (``replay=true&follow=false``)."""
    params = {"name": NAME, "replay": "true", "follow": "false"}
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        url = f"{base_url}/api/v1/events/stream"
        async with http.stream("GET", url, params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            return [
                str(json.loads(line)["id"]) async for line in response.aiter_lines() if line.strip()
            ]
