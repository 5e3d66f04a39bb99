"""The Bus Events API over HTTP (BUS.md §2): the app, its tokens, and its clients.

:func:`create_events_app` serves an :class:`~transport.event_log.EventLog`;
:class:`TokenVerifier` checks the scoped JWTs; :class:`EventsClient` publishes,
listens and acks from elsewhere, and :class:`RemoteEventLog` makes a remote API an
event log the bridge can run on::

    async with EventsClient("http://127.0.0.1:8787", token) as client:
        receipt = await client.publish("app.order.created", {"id": 7})
"""

from __future__ import annotations

from transport.events.app import (
    MAX_ACK_BYTES,
    EventsCapabilities,
    create_events_app,
    events_capabilities,
)
from transport.events.auth import InvalidToken, TokenVerifier, issue_token
from transport.events.client import REQUEST_LOOKBACK_SECONDS, EventsClient
from transport.events.errors import (
    EventsAuthError,
    EventsError,
    EventsProtocolError,
    EventsRequestError,
    EventsTimeoutError,
    EventsUnavailableError,
)
from transport.events.remote_log import RemoteEventLog

__all__ = [
    "MAX_ACK_BYTES",
    "REQUEST_LOOKBACK_SECONDS",
    "EventsAuthError",
    "EventsCapabilities",
    "EventsClient",
    "EventsError",
    "EventsProtocolError",
    "EventsRequestError",
    "EventsTimeoutError",
    "EventsUnavailableError",
    "InvalidToken",
    "RemoteEventLog",
    "TokenVerifier",
    "create_events_app",
    "events_capabilities",
    "issue_token",
]
