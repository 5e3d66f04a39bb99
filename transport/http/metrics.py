"""The system's metrics, served as Prometheus text on ``GET /metrics``.

Each system has its own :class:`Metrics` on a dedicated ``CollectorRegistry`` (not the
process-global one), so several systems in one process, as in the tests, never mix
their counts::

    metrics = Metrics()
    metrics.session_started("claude")
    metrics.session_ended("claude", "finished")
    body = metrics.render()  # Prometheus text exposition format

``/metrics`` answers loopback peers only (others get 403, as the endpoint app does) and
asks for no token: it exposes counts by provider, outcome, refusal code, store backend,
route group and status class, never a token, a prompt, a lease ref or a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hypercorn.typing import ASGISendCallable
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

__all__ = ["METRICS_PATH", "Metrics", "route_group", "send_metrics"]

METRICS_PATH: Final = "/metrics"
_FORBIDDEN: Final = (
    b'{"error":{"message":"this endpoint answers loopback clients only",'
    b'"type":"permission_error","param":null,"code":"loopback_only"}}'
)


class Metrics:
    """The counters and gauges of one system (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.sessions_started = Counter(
            "asm_sessions_started", "Sessions that started a run", ["provider"], registry=registry
        )
        self.sessions_ended = Counter(
            "asm_sessions_ended",
            "Sessions that ended, by outcome: finished or the Failed kind",
            ["provider", "outcome"],
            registry=registry,
        )
        self.sessions_live = Gauge("asm_sessions_live", "Sessions running now", registry=registry)
        self.leases_live = Gauge("asm_leases_live", "Live leases", registry=registry)
        self.lease_refusals = Counter(
            "asm_lease_refusals", "Refused endpoint ensures", ["code"], registry=registry
        )
        self.events_published = Counter(
            "asm_events_published", "Events appended", ["backend"], registry=registry
        )
        self.events_delivered = Counter(
            "asm_events_delivered", "Events sent to stream listeners", registry=registry
        )
        self.http_requests = Counter(
            "asm_http_requests",
            "HTTP requests by route group and status class",
            ["route", "status"],
            registry=registry,
        )

    def session_started(self, provider: str) -> None:
        self.sessions_started.labels(provider=provider).inc()
        self.sessions_live.inc()

    def session_ended(self, provider: str, outcome: str, *, was_live: bool = True) -> None:
        self.sessions_ended.labels(provider=provider, outcome=outcome).inc()
        if was_live:
            self.sessions_live.dec()

    def count_leases(self, live: Callable[[], int]) -> None:
        """Read the live lease count from ``live`` at each scrape."""
        self.leases_live.set_function(lambda: float(live()))

    def lease_refused(self, code: str) -> None:
        self.lease_refusals.labels(code=code).inc()

    def published(self, backend: str, count: int = 1) -> None:
        self.events_published.labels(backend=backend).inc(count)

    def delivered(self) -> None:
        self.events_delivered.inc()

    def http_request(self, path: str, status: int) -> None:
        self.http_requests.labels(route=route_group(path), status=f"{status // 100}xx").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def route_group(path: str) -> str:
    """The route group of ``path``: leases, admin, events, metrics, healthz or other."""
    first = path.lstrip("/").split("/", 1)[0]
    if first == "leases":
        return "leases"
    if path.startswith("/api/v1/events"):
        return "events"
    if path.startswith(("/api/v1/endpoints", "/api/v1/consumer-manifest")):
        return "admin"
    if path in (METRICS_PATH, "/healthz"):
        return path[1:]
    return "other"


async def send_metrics(metrics: Metrics, *, loopback: bool, send: ASGISendCallable) -> int:
    """Answer ``GET /metrics``: the exposition, or 403 to a peer that is not loopback."""
    status, body, content_type = 200, b"", CONTENT_TYPE_LATEST
    if not loopback:
        status, body, content_type = 403, _FORBIDDEN, "application/json"
    else:
        body = metrics.render()
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return status
