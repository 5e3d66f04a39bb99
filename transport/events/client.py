"""A client of the Bus Events HTTP API (BUS.md §2): publish, listen, ack, request.

    async with EventsClient(os.environ["BUS_EVENTS_API_BASE_URL"], token) as client:
        receipt = await client.publish("app.jobs.created", {"id": 7})
        async with client.stream(ListenQuery(pattern="app.jobs.*")) as events:
            async for event in events:
                ...
        response = await client.request(
            "bus.inference.status.request", {"provider": "ollama", "node_id": "n1"},
            response_name="bus.inference.status.response", timeout=30,
        )

The base URL is the server's origin without ``/api/v1/events`` (as in
``BUS_EVENTS_API_BASE_URL``). Streams reconnect by themselves
(:mod:`transport.events.subscription`); one-shot calls do not retry, because a publish
that may have been stored is not safe to repeat. Failures raise the classes of
:mod:`transport.events.errors`. The token goes in the ``Authorization`` header and
nowhere else: not in a message, a repr or a log line.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, TypeVar

import httpx
import jwt
import msgspec
import trio

from contracts.events import Event, ListenQuery, PublishEnvelope, Receipt
from transport.events.errors import (
    EventsError,
    EventsProtocolError,
    EventsTimeoutError,
    error_from_response,
    error_from_transport,
)
from transport.events.subscription import EventSubscription, stream_params
from transport.http import DEFAULT_BACKOFF, Backoff, check_base_url

__all__ = ["REQUEST_LOOKBACK_SECONDS", "EventsClient"]

API_PATH: Final = "/api/v1/events"
REQUEST_LOOKBACK_SECONDS: Final = 5.0
"""How far back :meth:`EventsClient.request` looks for its response, so a response
published while its stream was being set up is still found."""
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
STREAM_IDLE_SECONDS: Final = 60.0
"""A stream silent this long (four missed keep-alives) is taken as lost and reopened."""
T = TypeVar("T")

_RECEIPT: Final = msgspec.json.Decoder(Receipt)
_RECEIPTS: Final = msgspec.json.Decoder(list[Receipt])


class _Acked(msgspec.Struct):
    acked: bool = True


_ACKED: Final = msgspec.json.Decoder(_Acked)


class EventsClient:
    """Talks to one Bus Events API as one token's holder.

    ``http`` is an ``httpx.AsyncClient`` to use (the caller closes it); without one the
    client makes its own, closed by :meth:`aclose` or ``async with``. ``backoff`` paces
    the reconnections of streams; ``stream_idle_seconds`` (None: never) is how long a
    stream may stay silent before it is taken as lost.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.AsyncClient | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        stream_idle_seconds: float | None = STREAM_IDLE_SECONDS,
    ) -> None:
        url = check_base_url(base_url, "the Bus Events API base URL", userinfo=False)
        if not token or not all("!" <= char <= "~" for char in token):
            raise ValueError("the Bus Events API token is not a valid bearer token")
        self._api = str(url.copy_with(path=url.path.rstrip("/") + API_PATH, query=None))
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
        self._token = token
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(trust_env=False)
        self._backoff = backoff
        self._timeout = httpx.Timeout(timeout)
        self._stream_timeout = httpx.Timeout(
            stream_idle_seconds, connect=min(timeout, DEFAULT_TIMEOUT_SECONDS)
        )

    def __repr__(self) -> str:
        return f"EventsClient({self._origin!r})"

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim of the token, read without verifying it (the server stamps it
        as the ``identity_id`` of what this client publishes); None for a non-JWT token."""
        try:
            claims = jwt.decode(self._token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) else None

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the server, for diagnostics."""
        return self._origin

    async def __aenter__(self) -> EventsClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client when this client made it."""
        if self._owns_http:
            await self._http.aclose()

    # --- publishing -------------------------------------------------------------------

    async def publish(
        self,
        name: str,
        payload: Any,
        *,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Receipt:
        """Publish one event (``POST /api/v1/events``); its receipt once stored."""
        body: dict[str, Any] = {"name": name, "payload": payload}
        if correlation_id is not None:
            body["correlation_id"] = correlation_id
        if metadata is not None:
            body["metadata"] = dict(metadata)
        response = await self._call("POST", self._api, body=msgspec.json.encode(body))
        return self._decode(response, _RECEIPT)

    async def publish_batch(self, envelopes: Sequence[PublishEnvelope]) -> list[Receipt]:
        """Publish every envelope or none (``POST /api/v1/events:batch``); one receipt each."""
        response = await self._call(
            "POST", f"{self._api}:batch", body=msgspec.json.encode(list(envelopes))
        )
        receipts = self._decode(response, _RECEIPTS)
        if len(receipts) != len(envelopes):
            raise EventsProtocolError(
                f"the batch of {len(envelopes)} was answered with {len(receipts)} receipts"
            )
        return receipts

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        """Acknowledge an explicit-ack delivery; False when the server had nothing pending."""
        body = msgspec.json.encode({"group": group, "consumer": consumer, "id": event_id})
        try:
            response = await self._call("POST", f"{self._api}/ack", body=body)
        except EventsError as error:
            if error.status == 404:
                return False
            raise
        if not response.content.strip():
            return True
        return self._decode(response, _ACKED).acked

    # --- listening ----------------------------------------------------------------------

    @asynccontextmanager
    async def stream(
        self, query: ListenQuery, *, wait_for_server: bool = True
    ) -> AsyncIterator[EventSubscription]:
        """The events ``query`` selects, reconnecting as needed.

        Entering connects: a refused token raises :class:`EventsAuthError` here. An
        unreachable server is waited for (with the backoff) unless ``wait_for_server``
        is False, when it raises :class:`EventsUnavailableError`.
        """
        subscription = EventSubscription(self._open_stream, query, self._backoff)
        try:
            await subscription.open(wait_for_server=wait_for_server)
            yield subscription
        finally:
            await subscription.aclose()

    async def request(
        self,
        name: str,
        payload: Any,
        *,
        response_name: str,
        timeout: float,  # noqa: ASYNC109 - the time a response may take is the caller's question
        correlation_id: str | None = None,
    ) -> Event:
        """Publish a request and return the first ``response_name`` event that carries its
        correlation id (a new uuid when none is given).

        The response stream is open before the request is published, so a quick answer
        is not missed. Raises :class:`EventsTimeoutError` after ``timeout`` seconds.
        """
        correlation = correlation_id or str(uuid.uuid4())
        query = ListenQuery(
            pattern=response_name,
            correlation_id=correlation,
            since=REQUEST_LOOKBACK_SECONDS,
        )
        with trio.move_on_after(timeout):
            async with self.stream(query, wait_for_server=False) as responses:
                await self.publish(name, payload, correlation_id=correlation)
                async for event in responses:
                    if event.correlation_id == correlation:
                        return event
        raise EventsTimeoutError(
            f"no {response_name} with correlation id {correlation} within {timeout:g} s"
        )

    # --- HTTP ---------------------------------------------------------------------------

    def _headers(self, *, json_body: bool = False) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self._token}"}
        if json_body:
            headers["content-type"] = "application/json"
        return headers

    async def _call(self, method: str, url: str, *, body: bytes) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                url,
                content=body,
                headers=self._headers(json_body=True),
                timeout=self._timeout,
            )
        except httpx.HTTPError as error:
            raise error_from_transport(error, self._origin) from None
        if not 200 <= response.status_code < 300:
            raise error_from_response(response, secret=self._token)
        return response

    async def _open_stream(self, query: ListenQuery) -> httpx.Response:
        request = self._http.build_request(
            "GET",
            f"{self._api}/stream",
            params=stream_params(query),
            headers={**self._headers(), "accept": "application/x-ndjson"},
            timeout=self._stream_timeout,
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as error:
            raise error_from_transport(error, self._origin) from None
        if response.status_code == 200:
            return response
        try:
            await response.aread()
        except httpx.HTTPError:
            pass  # the status alone says enough
        finally:
            await response.aclose()
        raise error_from_response(response, secret=self._token)

    def _decode(self, response: httpx.Response, decoder: msgspec.json.Decoder[T]) -> T:
        try:
            return decoder.decode(response.content)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise EventsProtocolError(
                "the answer is not what the Bus Events API sends", status=response.status_code
            ) from None
