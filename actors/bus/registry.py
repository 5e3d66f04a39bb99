"""The inference providers this process serves, and which of them answers a request.

A provider (Ollama today) runs the four ``bus.inference.*`` operations for the nodes it
serves; the bridge (:mod:`actors.bus.bridge`) finds it here by the request's ``provider`` and
checks the node before dispatching::

    registry = ProviderRegistry([ollama])
    match registry.resolve("ollama", "gpu-1"):
        case ProviderRefusal(error_class=error_class, diagnostic=diagnostic):
            ...  # answer ok:false with error_class
        case provider:
            response = await provider.status(request)

Why ``node_ids`` is optional: a provider only has to say whether it serves a node
(:meth:`InferenceProvider.serves`); one that can also list its nodes
(:class:`NodeListing`) shows them in the capabilities through :meth:`ProviderRegistry.nodes`
and in an ``unknown_node`` diagnostic, and one that knows where its nodes are configured
(:class:`NodeOrigin`) says that there too, so the operator learns what to add where.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import trio

from contracts.inference import (
    ErrorClass,
    InstallRequest,
    InstallResponse,
    ModelEnsureRequest,
    ModelEnsureResponse,
    StatusRequest,
    StatusResponse,
    VerifyRequest,
    VerifyResponse,
)

__all__ = [
    "InferenceProvider",
    "NodeListing",
    "NodeOrigin",
    "ProviderRefusal",
    "ProviderRegistry",
    "Supervising",
]


class InferenceProvider(Protocol):
    """One provider's side of the contract (BUS.md §4): four operations on its nodes.

    Each operation returns its response Struct, ok or not; raising is for the unexpected
    (the bridge answers ``provider_error`` and logs only the exception's class).
    """

    @property
    def provider_id(self) -> str:
        """The ``provider`` of the requests it answers, e.g. ``"ollama"``."""
        ...

    def serves(self, node_id: str) -> bool:
        """Whether ``node_id`` is one of this provider's configured nodes."""
        ...

    async def install(self, request: InstallRequest) -> InstallResponse: ...

    async def ensure_model(self, request: ModelEnsureRequest) -> ModelEnsureResponse: ...

    async def status(self, request: StatusRequest) -> StatusResponse: ...

    async def verify(self, request: VerifyRequest) -> VerifyResponse: ...


@runtime_checkable
class Supervising(Protocol):
    """A provider with children of its own (e.g. runtimes it keeps alive): the system
    runs :meth:`run` under its supervisor before the bridge dispatches to it."""

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


@runtime_checkable
class NodeListing(Protocol):
    """A provider that can list the nodes it serves (for the capabilities)."""

    def node_ids(self) -> Iterable[str]: ...


@runtime_checkable
class NodeOrigin(Protocol):
    """A provider that can say where its nodes are configured (for ``unknown_node``)."""

    def where_nodes_are(self, node_id: str) -> str:
        """How to add ``node_id``, e.g. "add [nodes.gpu] to /etc/asm.toml and restart"."""
        ...


@dataclass(frozen=True)
class ProviderRefusal:
    """Why no provider answers a request (none registered under its id, or none that
    serves its node): the error class and one diagnostic."""

    error_class: ErrorClass
    diagnostic: str


class ProviderRegistry:
    """The providers of this process by id; at most one per id."""

    def __init__(self, providers: Iterable[InferenceProvider] = ()) -> None:
        self._providers: dict[str, InferenceProvider] = {}
        for provider in providers:
            self.register(provider)

    def register(self, provider: InferenceProvider) -> None:
        """Add ``provider``; raises ``ValueError`` when its id is already registered."""
        provider_id = provider.provider_id
        if provider_id in self._providers:
            raise ValueError(f"a provider {provider_id!r} is already registered")
        self._providers[provider_id] = provider

    def lookup(self, provider_id: str) -> InferenceProvider | None:
        """The provider registered under ``provider_id``, or None."""
        return self._providers.get(provider_id)

    def resolve(self, provider_id: str, node_id: str) -> InferenceProvider | ProviderRefusal:
        """The provider that answers for ``node_id``, or why there is none.

        An unregistered provider id is ``unsupported_provider``; a node the provider does
        not serve is ``unknown_node``, naming the provider's nodes and where they are
        configured when it can say (:class:`NodeListing`, :class:`NodeOrigin`). Both
        diagnostics name only ids and that place, never settings.
        """
        provider = self._providers.get(provider_id)
        if provider is None:
            return ProviderRefusal(
                "unsupported_provider",
                f"unsupported_provider: provider {provider_id!r} is not served here"
                f" (served: {', '.join(self.names()) or 'none'})",
            )
        if not provider.serves(node_id):
            diagnostic = f"unknown_node: provider {provider_id!r} has no node {node_id!r}"
            if isinstance(provider, NodeListing):
                diagnostic += f" (its nodes: {', '.join(sorted(provider.node_ids())) or 'none'})"
            if isinstance(provider, NodeOrigin):
                diagnostic += f"; {provider.where_nodes_are(node_id)}"
            return ProviderRefusal("unknown_node", diagnostic)
        return provider

    def supervising(self) -> list[Supervising]:
        """The providers that have children to run (see :class:`Supervising`)."""
        return [p for _, p in sorted(self._providers.items()) if isinstance(p, Supervising)]

    def names(self) -> tuple[str, ...]:
        """The registered provider ids, sorted."""
        return tuple(sorted(self._providers))

    def nodes(self) -> dict[str, tuple[str, ...]]:
        """Each provider id and its nodes, sorted; empty for a provider that cannot list them."""
        return {
            provider_id: (
                tuple(sorted(provider.node_ids())) if isinstance(provider, NodeListing) else ()
            )
            for provider_id, provider in sorted(self._providers.items())
        }
