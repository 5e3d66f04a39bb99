"""What every HTTP edge shares: Quart setup, bodies, bearers, request ids, metrics, retries.

Both apps (:mod:`transport.endpoint`, :mod:`transport.events`) are built by
:func:`quart_app` and refuse a request by raising :class:`Refused`, which each app puts
in its own envelope; the clients reconnect with one :class:`Backoff`::

    from transport.http import Refused, quart_app, read_body

Nothing here knows either contract's envelope or routes.
"""

from __future__ import annotations

from transport.http.app import (
    BODY_TIMEOUT_SECONDS,
    Refused,
    bearer_token,
    drain_body,
    is_loopback_peer,
    quart_app,
    read_body,
)
from transport.http.backoff import DEFAULT_BACKOFF, Backoff
from transport.http.base_url import check_base_url
from transport.http.exception_groups import sole_exception
from transport.http.log_limit import LogLimit
from transport.http.metrics import METRICS_PATH, Metrics, route_group, send_metrics
from transport.http.request_context import (
    RequestIds,
    begin_request,
    current_lease_ref,
    current_request_id,
    request_snapshot,
    resume_request,
)

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "DEFAULT_BACKOFF",
    "METRICS_PATH",
    "Backoff",
    "LogLimit",
    "Metrics",
    "Refused",
    "RequestIds",
    "bearer_token",
    "begin_request",
    "check_base_url",
    "current_lease_ref",
    "current_request_id",
    "drain_body",
    "is_loopback_peer",
    "quart_app",
    "read_body",
    "request_snapshot",
    "resume_request",
    "route_group",
    "send_metrics",
    "sole_exception",
]
