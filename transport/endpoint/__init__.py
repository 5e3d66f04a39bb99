"""The endpoint app: each lease an OpenAI-compatible API on loopback (SPEC §3).

One quart-trio app (:func:`create_endpoint_app`) over a :class:`LeaseGateway`, the
Protocols by which it asks the system for leases; admin routes ensure and release
them; chat completions are answered whole or streamed::

    app = create_endpoint_app(gateway, admin_token=token)

Errors are the OpenAI envelope (:class:`OpenAIRefusal`). The app holds no state and
starts no task: everything with a lifetime is the gateway's (:mod:`actors.leases`).
"""

from __future__ import annotations

from transport.endpoint.admin import (
    EndpointList,
    EnsuredEndpoint,
    EnsureEndpointBody,
    RefusalBody,
    ServiceHealth,
)
from transport.endpoint.app import create_endpoint_app
from transport.endpoint.gateway import Lease, LeaseBusy, LeaseGateway, LeaseGone
from transport.endpoint.http import OpenAIRefusal

__all__ = [
    "EndpointList",
    "EnsureEndpointBody",
    "EnsuredEndpoint",
    "Lease",
    "LeaseBusy",
    "LeaseGateway",
    "LeaseGone",
    "OpenAIRefusal",
    "RefusalBody",
    "ServiceHealth",
    "create_endpoint_app",
]
