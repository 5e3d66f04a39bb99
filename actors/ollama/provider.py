"""The Ollama provider: install, model.ensure, status and verify on configured nodes (BUS.md §4).

One :class:`OllamaProvider` serves every ``[nodes.<id>]`` of ``asm.toml``. Commands run on
a node through its runner (local, or the system's OpenSSH client); the runtime's REST API
is reached at the node's ``ollama_url`` (or the ``listen`` an install set). Where the
node runs systemd the runtime is a service with an override carrying OLLAMA_HOST and
OLLAMA_CONTEXT_LENGTH; elsewhere it is an ``ollama serve`` child supervised here
(:mod:`actors.ollama.runtime`), which is why the provider has a :meth:`run` of its own::

    provider = OllamaProvider(config.nodes, SecretResolver(secrets_dir, os.environ),
                              config_file="/etc/asm.toml")  # an unknown node names it
    registry = ProviderRegistry([provider])  # the bridge dispatches to it
    await nursery.start(provider.run)        # the supervisor of its runtimes

Each operation reads in its own place: install in :mod:`actors.ollama._install` (probe →
plan → execute → verify), model.ensure in :mod:`actors.ollama._models`, the verify checks
in :mod:`actors.ollama._checks`; this module turns their outcome into the response.

Secrets: every reference a request or a node names is resolved before anything runs (an
unresolved one is ``secret_not_found`` naming the reference), and every diagnostic is
scrubbed of every value the resolver handed out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import trio
from msgspec import UNSET

from actors.ollama._checks import check
from actors.ollama._install import Installer, InstallFailed
from actors.ollama._models import ensure_on_node
from actors.ollama._node import NodeAccess, NodeState, OperationRefused, node_access
from actors.ollama.runtime import RuntimeSupervisor
from actors.ollama.secret_resolver import SecretNotFound, SecretResolver, scrub
from actors.processes import ProcessLedger
from contracts.inference import (
    Action,
    Credentials,
    InstallRequest,
    InstallResponse,
    ModelEnsureRequest,
    ModelEnsureResponse,
    ProviderId,
    RuntimeStatus,
    StatusRequest,
    StatusResponse,
    VerifyRequest,
    VerifyResponse,
    listen_of_url,
)
from contracts.nodes import NodeSettings
from transport.ollama_client import OllamaUnavailable

__all__ = ["PROVIDER_ID", "OllamaProvider"]

PROVIDER_ID: Final[ProviderId] = "ollama"


class OllamaProvider:
    """The provider of ``provider: "ollama"`` requests (see the module docstring)."""

    def __init__(
        self,
        nodes: Mapping[str, NodeSettings],
        resolver: SecretResolver,
        *,
        environ: Mapping[str, str] | None = None,
        ledger: ProcessLedger | None = None,
        config_file: str | None = None,
    ) -> None:
        self._nodes = dict(nodes)
        self._config_file = config_file
        self._resolver = resolver
        self._environ = dict(environ or {})
        self._state = {node_id: NodeState() for node_id in self._nodes}
        self._runtimes = RuntimeSupervisor(ledger)

    @property
    def provider_id(self) -> str:
        return PROVIDER_ID

    def serves(self, node_id: str) -> bool:
        return node_id in self._nodes

    def node_ids(self) -> Iterable[str]:
        return sorted(self._nodes)

    def where_nodes_are(self, node_id: str) -> str:
        """Where to add ``node_id``: the ``config_file`` the nodes came from, when given.

        Nodes are read once, at start: an unknown node's answer is not replayed (the
        bridge's idempotency), so the same request after a restart is asked afresh.
        """
        table = f"[nodes.{node_id}]"
        if self._config_file is None:
            place = "asm.toml (`asm serve --config FILE`, else ./asm.toml)"
        else:
            place = f"{self._config_file}, the config file this server read"
        return f"nodes are [nodes.<id>] tables of {place}: add {table} and restart the server"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise the runtimes started on nodes without systemd, until cancelled."""
        await self._runtimes.run(task_status=task_status)

    # --- the four operations ------------------------------------------------------------

    async def install(self, request: InstallRequest) -> InstallResponse:
        """Install the runtime on the node: :meth:`Installer.run` has the steps in order."""
        state = self._state[request.node_id]
        try:
            access = self._access(request.node_id, request.credentials)
            actions = await Installer(access, self._runtimes, request, self._environ).run(state)
        except InstallFailed as failed:
            refused = OperationRefused("provider_error", failed.diagnostic)
            return self._installed(request, [], state.status, refused)
        except OperationRefused as refused:
            return self._installed(request, [], state.status, refused)
        return self._installed(request, actions, state.status)

    async def ensure_model(self, request: ModelEnsureRequest) -> ModelEnsureResponse:
        """The model on the node, pulled if missing and the policy allows it."""
        node_id = request.node_id
        try:
            access = self._access(node_id, None)
            state, listen = self._state[node_id], self._listen(node_id)
            actions = await ensure_on_node(access, self._nodes[node_id], state, listen, request)
        except OperationRefused as refused:
            return self._ensured(request, [], refused)
        return self._ensured(request, actions)

    async def status(self, request: StatusRequest) -> StatusResponse:
        state = self._state[request.node_id]
        try:
            access = self._access(request.node_id, None)
            if state.status == "installing":
                return self._status(request, "installing", ["an install is running"])
            async with access.client(self._listen(request.node_id)) as client:
                try:
                    version = await client.version()
                    models = sorted(tag.name for tag in await client.tags())
                except OllamaUnavailable:
                    installed = await access.installed()
                    status: RuntimeStatus = "failed" if installed else "unknown"
                    word = "installed but not answering" if installed else "not installed"
                    state.status = status
                    return self._status(request, status, [f"the runtime is {word}"])
            state.status = "ready"
            return self._status(request, "ready", [f"ollama {version} answers"], models)
        except OperationRefused as refused:
            return StatusResponse(
                ok=False,
                provider=PROVIDER_ID,
                node_id=request.node_id,
                runtime_status=state.status,
                diagnostics=[self._scrub(refused.diagnostic)],
                error_class=refused.error_class,
            )

    async def verify(self, request: VerifyRequest) -> VerifyResponse:
        try:
            access = self._access(request.node_id, None)
            state = self._state[request.node_id]
            results = [
                await check(access, self._listen(request.node_id), state, name)
                for name in request.effective_checks()
            ]
        except OperationRefused as refused:
            return VerifyResponse(
                ok=False,
                provider=PROVIDER_ID,
                node_id=request.node_id,
                checks=[],
                diagnostics=[self._scrub(refused.diagnostic)],
                error_class=refused.error_class,
            )
        failing = next((result for result in results if not result.ok), None)
        return VerifyResponse(
            ok=failing is None,
            provider=PROVIDER_ID,
            node_id=request.node_id,
            checks=results,
            diagnostics=[] if failing is None else [f"{failing.name}: {failing.diagnostic}"],
            error_class=UNSET if failing is None else "verify_failed",
        )

    # --- helpers ------------------------------------------------------------------------

    def _access(self, node_id: str, credentials: Credentials | None) -> NodeAccess:
        try:
            return node_access(self._nodes[node_id], self._resolver, self._environ, credentials)
        except SecretNotFound as missing:
            raise OperationRefused(
                "secret_not_found", f"secret_not_found: {missing.reference} does not resolve"
            ) from None

    def _listen(self, node_id: str) -> str:
        listen = self._state[node_id].listen
        return listen if listen is not None else listen_of_url(self._nodes[node_id].ollama_url)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._resolver.known_values())

    def _installed(
        self,
        request: InstallRequest,
        actions: list[Action],
        status: RuntimeStatus,
        refused: OperationRefused | None = None,
    ) -> InstallResponse:
        return InstallResponse(
            ok=refused is None,
            provider=PROVIDER_ID,
            node_id=request.node_id,
            actions=actions,
            diagnostics=[] if refused is None else [self._scrub(refused.diagnostic)],
            runtime_status=status,
            error_class=UNSET if refused is None else refused.error_class,
        )

    def _ensured(
        self,
        request: ModelEnsureRequest,
        actions: list[Action],
        refused: OperationRefused | None = None,
    ) -> ModelEnsureResponse:
        return ModelEnsureResponse(
            ok=refused is None,
            provider=PROVIDER_ID,
            node_id=request.node_id,
            model=request.model,
            actions=actions,
            diagnostics=[] if refused is None else [self._scrub(refused.diagnostic)],
            error_class=UNSET if refused is None else refused.error_class,
        )

    def _status(
        self,
        request: StatusRequest,
        status: RuntimeStatus,
        diagnostics: list[str],
        models: list[str] | None = None,
    ) -> StatusResponse:
        return StatusResponse(
            ok=True,
            provider=PROVIDER_ID,
            node_id=request.node_id,
            runtime_status=status,
            diagnostics=[self._scrub(text) for text in diagnostics],
            models=UNSET if models is None else models,
        )
