"""The Ollama provider: install, model.ensure, status and verify on configured nodes (BUS.md §4).

One :class:`OllamaProvider` serves every ``[nodes.<id>]`` of ``asm.toml``. Commands run on
a node through its runner (local, or the system's OpenSSH client); the runtime's REST API
is reached at the node's ``ollama_url`` (or the ``listen`` an install set). Where the
node runs systemd the runtime is a service with an override carrying OLLAMA_HOST and
OLLAMA_CONTEXT_LENGTH; elsewhere it is an ``ollama serve`` child supervised here
(:mod:`actors.ollama.runtime`), which is why the provider has a :meth:`run` of its own::

    provider = OllamaProvider(config.nodes, SecretResolver(secrets_dir, os.environ))
    registry = ProviderRegistry([provider])  # the bridge dispatches to it
    await nursery.start(provider.run)        # the supervisor of its runtimes

Secrets: every reference a request or a node names is resolved before anything runs (an
unresolved one is ``secret_not_found`` naming the reference), and every diagnostic is
scrubbed of every value the resolver handed out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import trio
from msgspec import UNSET

from actors.bus import report_progress
from actors.ollama._install import Installer, InstallFailed
from actors.ollama._node import NodeAccess, addresses_of, node_access
from actors.ollama.runtime import RuntimeSupervisor
from actors.ollama.secret_resolver import SecretNotFound, SecretResolver, scrub
from actors.processes import ProcessLedger
from contracts.inference import (
    Action,
    CheckName,
    CheckResult,
    Credentials,
    ErrorClass,
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
    model_present,
)
from contracts.loopback import is_loopback
from contracts.nodes import NodeSettings
from transport.ollama_client import (
    OllamaClient,
    OllamaError,
    OllamaPullFailed,
    OllamaUnavailable,
    PullTracker,
)

__all__ = ["PROVIDER_ID", "OllamaProvider"]

PROVIDER_ID: Final[ProviderId] = "ollama"
PROGRESS_EVERY_SECONDS = 0.2
_log = logging.getLogger(__name__)


class _Refused(Exception):
    """An operation ends ok:false with ``error_class`` and one diagnostic."""

    def __init__(self, error_class: ErrorClass, diagnostic: str) -> None:
        super().__init__(diagnostic)
        self.error_class = error_class
        self.diagnostic = diagnostic


@dataclass
class _NodeState:
    status: RuntimeStatus = "unknown"
    listen: str | None = None  # set by an install; else the node's ollama_url
    ensured: set[str] = field(default_factory=set)


class OllamaProvider:
    """The provider of ``provider: "ollama"`` requests (see the module docstring)."""

    def __init__(
        self,
        nodes: Mapping[str, NodeSettings],
        resolver: SecretResolver,
        *,
        environ: Mapping[str, str] | None = None,
        ledger: ProcessLedger | None = None,
    ) -> None:
        self._nodes = dict(nodes)
        self._resolver = resolver
        self._environ = dict(environ or {})
        self._state = {node_id: _NodeState() for node_id in self._nodes}
        self._runtimes = RuntimeSupervisor(ledger)

    @property
    def provider_id(self) -> str:
        return PROVIDER_ID

    def serves(self, node_id: str) -> bool:
        return node_id in self._nodes

    def node_ids(self) -> Iterable[str]:
        return sorted(self._nodes)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise the runtimes started on nodes without systemd, until cancelled."""
        await self._runtimes.run(task_status=task_status)

    # --- the four operations ------------------------------------------------------------

    async def install(self, request: InstallRequest) -> InstallResponse:
        state = self._state[request.node_id]
        try:
            access = self._access(request.node_id, request.credentials)
            installer = Installer(access, self._runtimes, request, self._environ)
            plan = await installer.plan()
            if request.dry_run or plan == ["check-runtime"]:
                if plan == ["check-runtime"]:
                    state.status, state.listen = "ready", installer.wish.listen
                return self._installed(request, plan, state.status)
            state.status = "installing"
            try:
                taken = await installer.execute(plan)
            except InstallFailed as failed:
                state.status = "failed"
                raise _Refused("provider_error", failed.diagnostic) from None
            state.status, state.listen = "ready", installer.wish.listen
            return self._installed(request, taken, "ready")
        except _Refused as refused:
            return self._installed(request, [], state.status, refused)

    async def ensure_model(self, request: ModelEnsureRequest) -> ModelEnsureResponse:
        try:
            actions = await self._ensure(request)
        except _Refused as refused:
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
        except _Refused as refused:
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
            results = [await self._check(access, request.node_id, name) for name in
                       request.effective_checks()]  # fmt: skip
        except _Refused as refused:
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

    # --- model.ensure -------------------------------------------------------------------

    async def _ensure(self, request: ModelEnsureRequest) -> list[Action]:
        node, model, policy = self._nodes[request.node_id], request.model, request.policy
        access = self._access(request.node_id, None)
        state = self._state[request.node_id]
        async with access.client(self._listen(request.node_id)) as client:
            names = await _tag_names(client)
            if model_present(model, names):
                state.ensured.add(model)
                return ["ensure-model"]
            prod = node.environment == "prod" and policy.require_confirmation_for_prod
            if prod and not request.confirm:
                raise _Refused(
                    "confirmation_required",
                    f"confirmation_required: node {request.node_id!r} is prod; downloading"
                    f" {model!r} needs confirm true",
                )
            if not policy.allow_model_download:
                raise _Refused(
                    "policy_denied",
                    f"policy_denied: {model!r} is not on the node and"
                    " policy.allow_model_download is false",
                )
            if request.dry_run:
                return ["ensure-model", "pull-model"]
            limit = policy.max_model_size_bytes if isinstance(
                policy.max_model_size_bytes, int) else None  # fmt: skip
            await self._pull(client, model, limit)
            sizes = {tag.name: tag.size for tag in await client.tags()}
            size = sizes.get(model, sizes.get(f"{model}:latest"))
            if size is None:
                raise _Refused("provider_error", f"provider_error: no {model!r} after the pull")
            if limit is not None and size > limit:
                await _forget(client, model)
                raise _Refused("policy_denied", _too_big(model, size, limit))
        state.ensured.add(model)
        return ["ensure-model", "pull-model"]

    async def _pull(self, client: OllamaClient, model: str, limit: int | None) -> None:
        tracker = PullTracker()
        last = -PROGRESS_EVERY_SECONDS
        try:
            async with client.pull(model) as progress:
                async for update in progress:
                    tracker.add(update)
                    if limit is not None and tracker.total > limit:
                        break  # leaving the block abandons the pull
                    now = trio.current_time()
                    if now - last >= PROGRESS_EVERY_SECONDS:
                        last = now
                        await report_progress(
                            {"model": model, "status": update.status,
                             "completed": tracker.completed, "total": tracker.total}
                        )  # fmt: skip
        except OllamaPullFailed as failed:
            raise _Refused(
                "provider_error", f"provider_error: pulling {model!r}: {failed}"
            ) from None
        except OllamaUnavailable:
            raise _Refused(
                "provider_error", "provider_error: the runtime stopped answering"
            ) from None
        if limit is not None and tracker.total > limit:
            await _forget(client, model)
            raise _Refused("policy_denied", _too_big(model, tracker.total, limit))
        await report_progress(
            {"model": model, "status": "success", "completed": tracker.total,
             "total": tracker.total}
        )  # fmt: skip

    # --- verify -------------------------------------------------------------------------

    async def _check(self, access: NodeAccess, node_id: str, name: CheckName) -> CheckResult:
        listen = self._listen(node_id)
        state = self._state[node_id]
        async with access.client(listen) as client:
            if name == "runtime-ready":
                try:
                    version = await client.version()
                except OllamaUnavailable:
                    return CheckResult(name=name, ok=False, diagnostic=f"no answer at {listen}")
                return CheckResult(name=name, ok=True, diagnostic=f"ollama {version} at {listen}")
            if name == "model-ready":
                try:
                    names = await _tag_names(client)
                except _Refused as refused:
                    return CheckResult(name=name, ok=False, diagnostic=refused.diagnostic)
                missing = sorted(m for m in state.ensured if not model_present(m, names))
                if missing:
                    return CheckResult(name=name, ok=False, diagnostic=f"missing: {missing}")
                if not names:
                    return CheckResult(name=name, ok=False, diagnostic="no model on the node")
                return CheckResult(name=name, ok=True, diagnostic=f"{len(names)} model(s)")
        return await self._loopback_only(access, listen)

    async def _loopback_only(self, access: NodeAccess, listen: str) -> CheckResult:
        host, _, port = listen.rpartition(":")
        if not is_loopback(host.strip("[]")):
            return CheckResult(
                name="loopback-only", ok=False, diagnostic=f"configured to listen on {listen}"
            )
        for address in await addresses_of(access):
            target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            async with access.client(target, timeout=2.0) as probe:
                try:
                    await probe.version()
                except OllamaError:
                    continue
            return CheckResult(
                name="loopback-only", ok=False, diagnostic=f"the API answers on {target}"
            )
        return CheckResult(name="loopback-only", ok=True, diagnostic=f"only {listen} answers")

    # --- helpers ------------------------------------------------------------------------

    def _access(self, node_id: str, credentials: Credentials | None) -> NodeAccess:
        try:
            return node_access(self._nodes[node_id], self._resolver, self._environ, credentials)
        except SecretNotFound as missing:
            raise _Refused(
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
        refused: _Refused | None = None,
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
        self, request: ModelEnsureRequest, actions: list[Action], refused: _Refused | None = None
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


async def _tag_names(client: OllamaClient) -> list[str]:
    try:
        return [tag.name for tag in await client.tags()]
    except OllamaUnavailable:
        raise _Refused("provider_error", "provider_error: the runtime does not answer") from None


async def _forget(client: OllamaClient, model: str) -> None:
    """Remove what a refused pull may have left (nothing, usually)."""
    try:
        await client.delete(model)
    except OllamaError as error:
        _log.warning("could not remove %s after a refused pull (%s)", model, type(error).__name__)


def _too_big(model: str, size: int, limit: int) -> str:
    return (
        f"policy_denied: {model!r} is {size} bytes, over policy.max_model_size_bytes {limit};"
        " nothing was kept"
    )
