"""Leases: each published (provider, model) endpoint is a lease actor (SPEC §2.4).

A :class:`LeaseActor` owns an endpoint id, a lease ref and a bearer token of 256 random
bits. It runs the endpoint's completions as sessions under the session supervisor,
keeps an optional warm pool, and ends on release, on its TTL or after its idle timeout;
ending cancels its in-flight sessions (their processes are reaped) and from then on its
routes answer 404. The :class:`LeaseRegistry` is the northbound API and the lookup the
HTTP app uses (it satisfies ``transport.endpoint.gateway.LeaseGateway``)::

    descriptor, compatibility = await registry.ensure_endpoint(request)  # or EndpointRefused
    lease = registry.lease(descriptor.lease_ref)
    async with lease.stream(Conversation.from_prompt("Say hi")) as events: ...
    await registry.release_endpoint(descriptor.lease_ref)
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import math
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NoReturn

import trio

from actors.sessions import Session, Sessions, SessionSpec, WarmPool, WorkerPool
from actors.supervisor import (
    ChildSpec,
    DynamicSupervisor,
    Restart,
    SupervisorOptions,
    supervise_dynamic,
)
from contracts.compatibility import resolve
from contracts.config import Config
from contracts.conversation import Conversation
from contracts.endpoint import (
    CompatibilityResult,
    ConsumerManifest,
    EndpointDescriptor,
    InferenceRequest,
    backend_manifest,
    consumer_manifest,
    endpoint_descriptor,
)
from contracts.endpoint_refusal import (
    LEASE_SECONDS_FIELDS,
    EndpointRefusal,
    EndpointRefused,
    RefusalCode,
    lease_seconds_problem,
    model_id_problem,
    not_installed_problem,
)
from contracts.providers import is_published, profile
from contracts.session import SessionEvent
from transport.endpoint import LeaseBusy, LeaseGone
from transport.http import Metrics, resume_request

__all__ = ["LeaseActor", "LeasePolicy", "LeaseRegistry"]

log = logging.getLogger("asm.leases")


@dataclass(frozen=True)
class LeasePolicy:
    """How long a lease lives and how much it may run at once.

    ``ttl`` and ``idle`` (seconds) are optional; ``max_sessions`` concurrent completions
    per lease, more are refused (429); ``pool_size`` sessions are kept parked.
    """

    ttl: float | None = None
    idle: float | None = None
    max_sessions: int = 8
    pool_size: int = 0

    @classmethod
    def of(cls, config: Config, provider: str) -> LeasePolicy:
        """The policy ``config`` sets for a lease of ``provider`` (its ``[leases]``, the
        provider's own ``pool_size`` first)."""
        leases, settings = config.leases, config.provider(provider)
        pool_size = settings.pool_size if settings.pool_size is not None else leases.pool_size
        pool_size = pool_size or 0  # embedded default (SPEC §4.5); `asm serve` sets 1
        return cls(
            ttl=leases.ttl_seconds,
            idle=leases.idle_seconds,
            max_sessions=leases.max_sessions,
            pool_size=pool_size,
        )


class LeaseActor:
    """One endpoint: its identity, its token, its in-flight sessions and its lifetime."""

    def __init__(
        self,
        *,
        spec: SessionSpec,
        policy: LeasePolicy,
        sessions: Sessions,
    ) -> None:
        self.lease_ref = f"lease-{secrets.token_hex(16)}"
        self.endpoint_id = f"ep-{secrets.token_hex(8)}"
        self.token = secrets.token_urlsafe(32)  # 256 random bits
        self.provider = spec.driver.profile.id
        self.model = spec.model
        self.created = int(time.time())
        self._spec = spec
        self._policy = policy
        self._sessions = sessions
        # Workers serve every lease of (provider, model); parked sessions are per lease.
        self._workers = sessions.config.mode_of(self.provider) == "worker"
        parks = policy.pool_size and not self._workers
        self._pool = WarmPool(spec, policy.pool_size, sessions.start) if parks else None
        self._inflight: set[Session] = set()
        self._ended = False
        self._release = trio.Event()
        self._wake = trio.Event()  # set on activity and on release
        self._last_active = trio.current_time()

    @property
    def live(self) -> bool:
        """False once released or expired: its routes answer 404."""
        return not self._ended

    def authorizes(self, token: str) -> bool:
        """Whether ``token`` is this lease's bearer token, compared in constant time."""
        return hmac.compare_digest(token.encode(), self.token.encode())

    @asynccontextmanager
    async def stream(
        self, prompt: Conversation | str
    ) -> AsyncIterator[trio.MemoryReceiveChannel[SessionEvent]]:
        """Run one completion on this lease (see :meth:`Session.stream`)."""
        conversation = Conversation.of(prompt)
        if self._ended:
            raise LeaseGone(self.lease_ref)
        if len(self._inflight) >= self._policy.max_sessions:
            raise LeaseBusy(f"{self.lease_ref} runs {self._policy.max_sessions} sessions")
        source: WorkerPool | WarmPool | SessionSpec = self._pool or self._spec
        if self._workers:
            source = await self._sessions.workers(self.provider, self.model)
        session = await self._sessions.open(source, conversation)
        self._inflight.add(session)
        self._touch()
        try:
            async with session.stream(conversation) as events:
                yield events
        finally:
            self._inflight.discard(session)
            self._touch()

    def release(self) -> None:
        """Ask the lease to end; :meth:`run` returns once its sessions are reaped."""
        self._release.set()
        self._wake.set()

    def _touch(self) -> None:
        self._last_active = trio.current_time()
        self._wake.set()

    async def run(
        self, *, task_status: trio.TaskStatus[LeaseActor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until released, past the TTL, or idle too long; then reap everything."""
        deadline = trio.current_time() + (self._policy.ttl or math.inf)
        if self._workers:
            self._sessions.hold_workers(self.provider, self.model)
        try:
            async with trio.open_nursery() as nursery:
                if self._pool is not None:
                    await nursery.start(self._pool.run)
                task_status.started(self)
                with trio.move_on_at(deadline):
                    why = await self._until_idle_or_released()
                    log.info("lease %s ends: %s", self.lease_ref, why)
                self._ended = True
                nursery.cancel_scope.cancel()
        finally:
            self._ended = True
            with trio.CancelScope(shield=True):
                await self._reap_inflight()
                if self._workers:  # the last lease on them takes the workers along
                    await self._sessions.release_workers(self.provider, self.model)

    async def _until_idle_or_released(self) -> str:
        idle = self._policy.idle
        while not self._release.is_set():
            wake = self._wake = trio.Event()
            # In-flight work is not idleness: the timer runs only while nothing runs.
            until = math.inf if idle is None or self._inflight else self._last_active + idle
            with trio.move_on_at(until) as timer:
                await wake.wait()
            if timer.cancelled_caught:
                return "idle timeout"
        return "released"

    async def _reap_inflight(self) -> None:
        sessions = list(self._inflight)
        for session in sessions:
            session.cancel()
        for session in sessions:
            await session.reaped.wait()


class LeaseRegistry:
    """The live leases, and the northbound API over them (a ``LeaseGateway``).

    Its lease actors run under its own supervisor (:meth:`run`); their sessions come
    from ``sessions``, their policy from ``config`` (:meth:`LeasePolicy.of`).
    """

    def __init__(
        self, sessions: Sessions, config: Config, *, metrics: Metrics | None = None
    ) -> None:
        self.origin = "http://127.0.0.1"
        self._metrics = metrics
        if metrics is not None:
            metrics.count_leases(lambda: sum(actor.live for actor, _ in self._leases.values()))
        self._sessions = sessions
        self._config = config
        self._supervisor: DynamicSupervisor | None = None
        self._leases: dict[str, tuple[LeaseActor, EndpointDescriptor]] = {}

    async def run(self, *, task_status: trio.TaskStatus[object]) -> None:
        """Run the supervisor of the lease actors (one per endpoint) until cancelled."""
        async with trio.open_nursery() as nursery:
            options = SupervisorOptions(name="leases")
            self._supervisor = await nursery.start(supervise_dynamic, options)
            task_status.started(self._supervisor)

    def _running(self) -> DynamicSupervisor:
        assert self._supervisor is not None, "the system is not running"
        return self._supervisor

    def lease(self, lease_ref: str) -> LeaseActor | None:
        """The live lease ``lease_ref``, or None."""
        found = self._leases.get(lease_ref)
        return found[0] if found is not None and found[0].live else None

    def consumer_manifest(self) -> ConsumerManifest:
        """The default consumer manifest (SPEC §2.1)."""
        return consumer_manifest()

    def endpoints(self) -> list[EndpointDescriptor]:
        """The live leases' descriptors, tokens redacted."""
        return [d.redacted() for actor, d in self._leases.values() if actor.live]

    async def ensure_endpoint(
        self,
        request: InferenceRequest,
        manifest: ConsumerManifest | None = None,
        context: Mapping[str, object] | None = None,
    ) -> tuple[EndpointDescriptor, CompatibilityResult]:
        """Start a lease for the request's (provider, model); raises EndpointRefused."""
        try:
            return await self._ensure(request, manifest, context)
        except EndpointRefused as refused:
            if self._metrics is not None:
                self._metrics.lease_refused(refused.refusal.code)
            raise

    async def _ensure(
        self,
        request: InferenceRequest,
        manifest: ConsumerManifest | None,
        context: Mapping[str, object] | None,
    ) -> tuple[EndpointDescriptor, CompatibilityResult]:
        preference = request.model_preference
        provider_id = (preference.provider or "").strip()
        found = profile(provider_id)
        if found is None:
            _refuse("unsupported_provider", f"unknown provider {provider_id!r}")
        if not is_published(found):
            _refuse("unsupported_endpoint_provider", f"{provider_id} publishes no endpoint")
        model = (preference.id or "").strip()
        if not model:
            _refuse("missing_model_identity", "model_preference.id is required")
        if (problem := model_id_problem(model)) is not None:
            _refuse("invalid_model_identity", problem, param="model_preference.id")
        context = context or {}
        for field in LEASE_SECONDS_FIELDS:
            if (problem := lease_seconds_problem(field, context.get(field))) is not None:
                _refuse("invalid_lease_timeout", problem, param=f"context.{field}")
        compatibility = resolve(backend_manifest(found), manifest or consumer_manifest(), request)
        if not compatibility.compatible:
            _refuse("incompatible", compatibility.reason, compatibility)
        spec = self._sessions.spec(provider_id, model)
        if not _is_executable(spec.executable):
            # A missing CLI is the operator's to fix: said once here, with where to set
            # it, rather than as a 503 by every completion (SPEC §2.4, decided).
            _refuse("not_installed", not_installed_problem(found, spec.executable))
        actor = LeaseActor(
            spec=spec,
            policy=_shortened(LeasePolicy.of(self._config, provider_id), context),
            sessions=self._sessions,
        )
        descriptor = endpoint_descriptor(
            found,
            model=model,
            origin=self.origin,
            endpoint_id=actor.endpoint_id,
            lease_ref=actor.lease_ref,
            token=actor.token,
            authority_refs={**request.authority_refs, **_string_items(context)},
        )
        self._leases[actor.lease_ref] = (actor, descriptor)
        try:
            await self._running().start_child(
                ChildSpec(actor.lease_ref, self._run_lease(actor), Restart.TEMPORARY, math.inf)
            )
        except BaseException:
            self._leases.pop(actor.lease_ref, None)
            raise
        log.info("lease %s: %s %s", actor.lease_ref, provider_id, model)
        return descriptor, compatibility

    def _run_lease(self, actor: LeaseActor) -> Callable[..., Awaitable[None]]:
        async def run(*, task_status: trio.TaskStatus[LeaseActor]) -> None:
            # Started by an admin call, it serves the completions to come: its log lines
            # (and its pool's) name the lease, never the admin call's request.
            resume_request((None, actor.lease_ref))
            try:
                await actor.run(task_status=task_status)
            finally:
                self._leases.pop(actor.lease_ref, None)

        return run

    async def release_endpoint(self, lease_ref: str | EndpointDescriptor) -> None:
        """End a lease; idempotent. Its in-flight sessions are cancelled and reaped."""
        ref = lease_ref.lease_ref if isinstance(lease_ref, EndpointDescriptor) else lease_ref
        found = self._leases.get(ref)
        if found is None:
            return
        found[0].release()
        supervisor = self._running()
        if any(child.id == ref for child in supervisor.which_children()):
            await supervisor.terminate_child(ref)


def _refuse(
    code: RefusalCode,
    message: str,
    compatibility: CompatibilityResult | None = None,
    *,
    param: str | None = None,
) -> NoReturn:
    refusal = EndpointRefusal(code=code, message=message, compatibility=compatibility, param=param)
    raise EndpointRefused(refusal)


def _is_executable(path: str) -> bool:
    # resolve_executable gives an absolute path when it found the CLI, else the name
    # it looked for (or the configured path, which is then no executable file).
    return os.path.isabs(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _shortened(policy: LeasePolicy, context: Mapping[str, object]) -> LeasePolicy:
    """``policy`` with the TTL and idle timeout a request's context asks for, never longer."""
    ttl = _shorter(policy.ttl, context.get("lease_ttl_seconds"))
    idle = _shorter(policy.idle, context.get("lease_idle_seconds"))
    return dataclasses.replace(policy, ttl=ttl, idle=idle)


def _shorter(current: float | None, asked: object) -> float | None:
    # ensure has refused anything but a positive number (lease_seconds_problem).
    if isinstance(asked, bool) or not isinstance(asked, int | float):
        return current
    return float(asked) if current is None else min(current, float(asked))


def _string_items(context: Mapping[str, object]) -> dict[str, str]:
    return {key: value for key, value in context.items() if isinstance(value, str)}
