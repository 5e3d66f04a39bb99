"""How the Ollama provider reaches one node: its runner, its API, what is installed there.

:func:`node_access` resolves every secret the node and the request name first (an
unresolved reference raises ``SecretNotFound`` before anything runs), then gives a
:class:`NodeAccess`: the runner for commands and a client factory for the REST API.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from actors.ollama.runners import Runner, RunnerError, runner_for
from actors.ollama.secret_resolver import SecretResolver
from contracts.inference import Credentials
from contracts.nodes import NodeSettings
from transport.ollama_client import OllamaClient

__all__ = ["NodeAccess", "addresses_of", "node_access"]

PROBE_TIMEOUT = 10.0


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

    async def systemd(self) -> bool:
        """Whether the runtime runs as a systemd service on this node (BUS.md §4.2)."""
        if self.node.service != "auto":
            return self.node.service == "systemd"
        try:
            result = await self.runner.run(
                ["sh", "-c", "test -d /run/systemd/system"], timeout=PROBE_TIMEOUT
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
