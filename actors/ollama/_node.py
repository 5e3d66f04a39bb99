"""How the Ollama provider reaches one node, and what it knows of it between requests.

:func:`node_access` resolves every secret the node and the request name first (an
unresolved reference raises ``SecretNotFound`` before anything runs), then gives a
:class:`NodeAccess`: the runner for commands and a client factory for the REST API. An
operation that cannot go on raises :class:`OperationRefused`, which the provider answers
as ``ok: false``; :class:`NodeState` is what the provider remembers of each node::

    access = node_access(node, resolver, environ, request.credentials)
    async with access.client("127.0.0.1:11434") as client:
        names = await tag_names(client)  # OperationRefused when the runtime is silent
    if not await access.installed():
        state.status = "unknown"
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from actors.ollama.runners import Runner, RunnerError, runner_for
from actors.ollama.secret_resolver import SecretResolver
from contracts.inference import Credentials, ErrorClass, RuntimeStatus
from contracts.nodes import NodeSettings
from transport.ollama_client import OllamaClient, OllamaUnavailable

__all__ = [
    "NodeAccess",
    "NodeState",
    "OperationRefused",
    "addresses_of",
    "node_access",
    "tag_names",
]

PROBE_TIMEOUT = 10.0


class OperationRefused(Exception):
    """An operation ends ok:false with ``error_class`` and one diagnostic."""

    def __init__(self, error_class: ErrorClass, diagnostic: str) -> None:
        super().__init__(diagnostic)
        self.error_class = error_class
        self.diagnostic = diagnostic


@dataclass
class NodeState:
    """What the provider knows of a node: its runtime's status, where it listens (set by
    an install; else the node's ``ollama_url``), the models ensured there."""

    status: RuntimeStatus = "unknown"
    listen: str | None = None
    ensured: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class NodeAccess:
    """One node's runner and settings, secrets resolved."""

    node: NodeSettings
    runner: Runner

    def client(
        self, listen: str, *, timeout: float = 10.0
    ) -> AbstractAsyncContextManager[OllamaClient]:
        """A client of the REST API at ``listen`` (``host:port``)."""
        return OllamaClient(f"http://{listen}", timeout=timeout)

    async def installed(self) -> bool:
        """Whether ``ollama --version`` runs on the node."""
        try:
            result = await self.runner.run(
                [self.node.ollama_executable, "--version"], timeout=PROBE_TIMEOUT
            )
        except RunnerError:
            return False
        return result.exit_code == 0


def node_access(
    node: NodeSettings,
    resolver: SecretResolver,
    environ: Mapping[str, str],
    credentials: Credentials | None,
) -> NodeAccess:
    """The access to ``node``; raises ``SecretNotFound`` for a reference that does not
    resolve (the node's ``ssh_key`` or any of the request's ``credentials``)."""
    if credentials is not None:
        for reference in (
            credentials.api_token_secret,
            credentials.tls_ca_file,
            credentials.ssh_private_key_secret,
        ):
            if isinstance(reference, str):
                resolver.resolve(reference)
    if node.ssh_key is not None:
        resolver.resolve(node.ssh_key)
    return NodeAccess(node, runner_for(node, resolver, environ))


async def addresses_of(access: NodeAccess) -> list[str]:
    """The node's own non-loopback IP addresses (``hostname -I``)."""
    try:
        result = await access.runner.run(["hostname", "-I"], timeout=PROBE_TIMEOUT)
    except RunnerError:
        return []
    found = []
    for word in result.stdout.split():
        try:
            address = ipaddress.ip_address(word.split("%", 1)[0])
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local):
            found.append(str(address))
    return found


async def tag_names(client: OllamaClient) -> list[str]:
    """The names of the models on the node; refused when the runtime does not answer."""
    try:
        return [tag.name for tag in await client.tags()]
    except OllamaUnavailable:
        raise OperationRefused(
            "provider_error", "provider_error: the runtime does not answer"
        ) from None
