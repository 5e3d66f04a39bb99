"""The two measurements of ``benchmarks/events.py``, against one server at a time.

    published = await publish_rate(server, publishers=16, count=100)   # throughput
    delivered = await delivery_delays(server, rate=200, seconds=1.0)    # latency

:func:`publish_rate` opens ``publishers`` kept-alive connections, then each POSTs
``count`` envelopes one after another; only the POSTs are timed (not the connecting),
and only 202s count as acknowledged. The hello-world baseline takes the same requests.

:func:`delivery_delays` opens a broadcast stream (``since=0``: the live tail) and, once
its 200 is in (the listen is open before the server sends it), publishes at a paced
rate on a second connection, each payload carrying ``time.monotonic_ns()`` taken just
before the request is written. The delay of an event is its line's arrival at the
listener's socket minus that stamp (CLOCK_MONOTONIC is one clock for every process on
Linux): the publish's HTTP round's first half, the store, and the stream's relay.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass

import msgspec
import trio

from benchmarks._events_http import Connection, Headers, open_connection
from benchmarks._events_processes import Server

__all__ = ["Delivered", "Published", "delivery_delays", "publish_rate"]

PUBLISH_PATH = "/api/v1/events"
STREAM_PATH = "/api/v1/events/stream"
THROUGHPUT_NAME = "bench.throughput"
LATENCY_NAME = "bench.latency"
DRAIN_SECONDS = 5.0  # how long the listener may trail the last publish


@dataclass(frozen=True)
class Published:
    accepted: int  # 202s
    refused: Counter[int]  # status → how many, for any other status
    seconds: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds


@dataclass(frozen=True)
class Delivered:
    delays_ms: list[float]
    sent: int  # envelopes published (202 or not)
    refused: Counter[int]  # status → how many, for any status but 202
    seconds: float  # from the first publish to the end of the last

    @property
    def lost(self) -> int:
        return self.sent - self.refused.total() - len(self.delays_ms)


class _Stamp(msgspec.Struct):
    t: int
    run: str


class _Line(msgspec.Struct):
    payload: _Stamp


_LINE = msgspec.json.Decoder(_Line)


def _headers(server: Server) -> Headers:
    return [("Authorization", f"Bearer {server.token}"), ("Content-Type", "application/json")]


async def publish_rate(server: Server, publishers: int, count: int) -> Published:
    """``publishers`` connections each POSTing ``count`` envelopes at once."""
    body = msgspec.json.encode({"name": THROUGHPUT_NAME, "payload": {"n": 1}})
    headers = _headers(server)
    statuses: list[int] = []

    async def publish(connection: Connection) -> None:
        for _ in range(count):
            statuses.append(await connection.post(PUBLISH_PATH, body, headers))

    async with AsyncExitStack() as stack:
        connections = [
            await stack.enter_async_context(await open_connection(server.url))
            for _ in range(publishers)
        ]
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for connection in connections:
                nursery.start_soon(publish, connection)
        seconds = time.perf_counter() - start
    refused = Counter(status for status in statuses if status != 202)
    return Published(accepted=len(statuses) - refused.total(), refused=refused, seconds=seconds)


async def delivery_delays(server: Server, rate: float, seconds: float) -> Delivered:
    """Publish ``rate`` events/s for ``seconds`` while one listener takes them."""
    total = max(1, round(rate * seconds))
    run = f"{time.monotonic_ns()}"  # an earlier call's late line is not this call's
    headers = _headers(server)
    delays: list[float] = []
    all_in = trio.Event()
    query = f"{STREAM_PATH}?name={LATENCY_NAME}&delivery=broadcast&since=0"
    async with (
        await open_connection(server.url) as listener,
        await open_connection(server.url) as publisher,
        listener.lines(query, headers) as lines,
        trio.open_nursery() as nursery,
    ):

        async def listen() -> None:
            async for arrived, line in lines:
                stamp = _LINE.decode(line).payload
                if stamp.run == run:
                    delays.append((arrived - stamp.t) / 1e6)
                if len(delays) >= total - refused.total():
                    all_in.set()

        refused: Counter[int] = Counter()
        nursery.start_soon(listen)
        start = trio.current_time()
        for index in range(total):
            await trio.sleep_until(start + index / rate)  # behind schedule: at once
            stamp = time.monotonic_ns()
            body = msgspec.json.encode({"name": LATENCY_NAME, "payload": {"t": stamp, "run": run}})
            status = await publisher.post(PUBLISH_PATH, body, headers)
            if status != 202:
                refused[status] += 1
        elapsed = trio.current_time() - start
        if len(delays) >= total - refused.total():
            all_in.set()
        with trio.move_on_after(DRAIN_SECONDS):
            await all_in.wait()
        nursery.cancel_scope.cancel()
    return Delivered(delays_ms=delays, sent=total, refused=refused, seconds=elapsed)
