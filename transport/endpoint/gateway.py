"""What the endpoint's HTTP app needs from the system, as Protocols (SPEC §1, §3).

``transport`` never imports ``actors``: the app is built with a :class:`LeaseGateway`
argument, and ``actors`` supplies the object that satisfies it (the lease registry).
Tests of the app supply a small fake instead::

    app = create_endpoint_app(gateway, admin_token=token)
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import trio

from contracts.conversation import Conversation
from contracts.endpoint import (
    CompatibilityResult,
    ConsumerManifest,
    EndpointDescriptor,
    InferenceRequest,
)
from contracts.session import SessionEvent

__all__ = ["Lease", "LeaseBusy", "LeaseGateway", "LeaseGone"]


class LeaseBusy(Exception):
    """The lease runs as many sessions as it may: the request is refused with 429."""


class LeaseGone(Exception):
    """The lease was released or expired while the request was being served (404)."""


class Lease(Protocol):
    """One live lease, as the lease routes see it."""

    @property
    def lease_ref(self) -> str: ...

    @property
    def endpoint_id(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str:
        """The pinned model id."""
        ...

    @property
    def created(self) -> int:
        """Unix seconds when the lease began (the model's ``created``)."""
        ...

    @property
    def live(self) -> bool:
        """False once released or expired: a completion cut short by that answers 404."""
        ...

    def authorizes(self, token: str) -> bool:
        """Whether ``token`` is this lease's bearer token (compared in constant time)."""
        ...

    def stream(
        self, conversation: Conversation
    ) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[SessionEvent]]:
        """Run one completion; the events arrive on the channel.

        Entering raises :class:`LeaseBusy` or :class:`LeaseGone`. Leaving before the last
        event (a client that went away) cancels the session and reaps its CLI.
        """
        ...


class LeaseGateway(Protocol):
    """The northbound endpoint API (SPEC §2.4) and the lookup of live leases."""

    def lease(self, lease_ref: str) -> Lease | None:
        """The live lease ``lease_ref``, or None when unknown, released or expired."""
        ...

    def consumer_manifest(self) -> ConsumerManifest: ...

    async def ensure_endpoint(
        self,
        request: InferenceRequest,
        manifest: ConsumerManifest | None = None,
        context: Mapping[str, object] | None = None,
    ) -> tuple[EndpointDescriptor, CompatibilityResult]:
        """Start a lease; raises ``contracts.endpoint_refusal.EndpointRefused``."""
        ...

    async def release_endpoint(self, lease_ref: str) -> None:
        """End a lease (idempotent): its in-flight sessions are cancelled and reaped."""
        ...

    def endpoints(self) -> list[EndpointDescriptor]:
        """The live leases' descriptors, tokens redacted."""
        ...
