"""The Events API app served over real hypercorn on the memory log, for its tests.

    async with open_bus(nursery) as bus:
        receipt = (await bus.publish({"name": "jobs.created"})).json()
        assert [e["id"] for e in await bus.backlog(name="jobs.*")] == [receipt["id"]]

:class:`WatchedLog` counts the listens the app holds open (a stream the client left must
leave its listen); :class:`BrokenLog` fails every append and listen with one error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import trio

from contracts.events import Event, ListenQuery, PublishEnvelope
from tests.fakes.fake_gateway import serve_on_loopback
from transport.event_log import EventLog, EventStream, open_memory_log
from transport.events import TokenVerifier, create_events_app, issue_token

SECRET = b"events-app-test-secret-0123456789abcdef"
EVERYTHING = "events:send events:listen inference:admin"
KEEPALIVE = 0.2
EVENTS = "/api/v1/events"
STREAM = "/api/v1/events/stream"
STATUS = {"provider": "ollama", "node_id": "gpu-1"}


class WatchedLog:
    """Passes everything to ``inner``; counts open listens and says when none is left."""

    def __init__(self, inner: EventLog) -> None:
        self.inner = inner
        self.open_listens = 0
        self.none_open = trio.Event()

    @property
    def backend(self) -> str:
        return self.inner.backend

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        return await self.inner.append(envelopes, identity_id=identity_id)

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        return self._listen(query)

    @asynccontextmanager
    async def _listen(self, query: ListenQuery) -> AsyncIterator[EventStream]:
        async with self.inner.listen(query) as stream:
            self.open_listens += 1
            try:
                yield stream
            finally:
                self.open_listens -= 1
                if self.open_listens == 0:
                    self.none_open.set()

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        return await self.inner.ack(group, consumer, event_id)


@dataclass
class Bus:
    log: WatchedLog
    http: httpx.AsyncClient

    async def publish(self, body: object, scopes: str = EVERYTHING, **kw: Any) -> httpx.Response:
        return await self.http.post(EVENTS, json=body, headers=auth(scopes), **kw)

    async def backlog(self, **params: str) -> list[dict[str, Any]]:
        """Every retained event the query selects (replay, follow=false)."""
        query = {"replay": "true", "follow": "false", **params}
        response = await self.http.get(STREAM, params=query, headers=auth())
        assert response.status_code == 200, response.text
        return [msgspec.json.decode(line) for line in response.content.splitlines()]


def auth(scopes: str = EVERYTHING, subject: str = "alice") -> dict[str, str]:
    token = issue_token(SECRET, subject=subject, scopes=scopes, ttl_seconds=600)
    return {"authorization": f"Bearer {token}"}


@asynccontextmanager
async def open_bus(nursery: trio.Nursery, log: EventLog | None = None) -> AsyncIterator[Bus]:
    async with open_memory_log() as memory:
        watched = WatchedLog(log or memory)
        app = create_events_app(watched, TokenVerifier(SECRET), keepalive_seconds=KEEPALIVE)
        origin = await serve_on_loopback(nursery, app)
        async with httpx.AsyncClient(base_url=origin, timeout=10) as http:
            yield Bus(watched, http)


class Lines:
    """The lines of a streamed NDJSON body, read as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        self._chunks = response.aiter_raw()
        self._buffer = b""

    async def line(self) -> bytes:
        while b"\n" not in self._buffer:
            self._buffer += await anext(self._chunks)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    async def event(self) -> dict[str, Any]:
        """The next event, keep-alive lines skipped."""
        while not (line := await self.line()):
            pass
        decoded: dict[str, Any] = msgspec.json.decode(line)
        return decoded


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}
    assert body["error"]["message"]
    return dict(body["error"])


class BrokenLog(WatchedLog):
    def __init__(self, inner: EventLog, error: Exception) -> None:
        super().__init__(inner)
        self.error = error

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        raise self.error

    @asynccontextmanager
    async def _listen(self, query: ListenQuery) -> AsyncIterator[EventStream]:
        raise self.error
        yield  # pragma: no cover
