"""A scriptable :class:`~actors.bus.InferenceProvider` for the bridge's tests.

It serves the nodes it is given, records every call, and answers ok unless told
otherwise; each operation can be told to wait for an event, to sleep, to raise, or (verify)
to fail a check::

    provider = FakeInferenceProvider(nodes=["gpu-1"])
    release = provider.hold("install")           # install waits until release.set()
    provider.fail_with("status", RuntimeError("token=s3cret"))
    provider.fail_checks("model-ready")
    await provider.wait_for_calls(1)             # some call has started
    assert [operation for operation, _ in provider.calls] == ["install"]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import trio

from contracts.inference import (
    CheckResult,
    InstallRequest,
    InstallResponse,
    ModelEnsureRequest,
    ModelEnsureResponse,
    RequestPayload,
    StatusRequest,
    StatusResponse,
    VerifyRequest,
    VerifyResponse,
)

Operation = Literal["install", "ensure_model", "status", "verify"]


class FakeInferenceProvider:
    """Answers for ``nodes`` as ``provider_id``; scripted per operation."""

    def __init__(self, nodes: Iterable[str] = ("gpu-1",), *, provider_id: str = "ollama") -> None:
        self._provider_id = provider_id
        self._nodes = frozenset(nodes)
        self.calls: list[tuple[Operation, RequestPayload]] = []
        self._holds: dict[Operation, trio.Event] = {}
        self._sleeps: dict[Operation, float] = {}
        self._errors: dict[Operation, BaseException] = {}
        self._answers: dict[Operation, object] = {}
        self._failing_checks: set[str] = set()
        self._called = trio.Event()

    @property
    def provider_id(self) -> str:
        return self._provider_id

    def serves(self, node_id: str) -> bool:
        return node_id in self._nodes

    def node_ids(self) -> Iterable[str]:
        return self._nodes

    # --- scripting ------------------------------------------------------------------

    def hold(self, operation: Operation) -> trio.Event:
        """Make ``operation`` wait until the returned event is set."""
        event = self._holds[operation] = trio.Event()
        return event

    def sleep(self, operation: Operation, seconds: float = math.inf) -> None:
        """Make ``operation`` sleep ``seconds`` (forever by default) before answering."""
        self._sleeps[operation] = seconds

    def fail_with(self, operation: Operation, error: BaseException) -> None:
        """Make ``operation`` raise ``error``."""
        self._errors[operation] = error

    def answer_with(self, operation: Operation, answer: object) -> None:
        """Make ``operation`` return ``answer`` as is (a wrong or invalid answer, say)."""
        self._answers[operation] = answer

    def fail_checks(self, *names: str) -> None:
        """Make verify fail these checks."""
        self._failing_checks.update(names)

    async def wait_for_calls(self, count: int) -> None:
        """Return once ``count`` calls have started."""
        while len(self.calls) < count:
            await self._called.wait()

    def count(self, operation: Operation) -> int:
        return sum(1 for done, _ in self.calls if done == operation)

    # --- the provider ---------------------------------------------------------------

    async def install(self, request: InstallRequest) -> InstallResponse:
        if (answer := await self._enter("install", request)) is not None:
            return answer  # type: ignore[return-value]  # scripted to be wrong
        return InstallResponse(
            ok=True,
            provider=request.provider,
            node_id=request.node_id,
            actions=["check-runtime"],
            diagnostics=[],
            runtime_status="ready",
        )

    async def ensure_model(self, request: ModelEnsureRequest) -> ModelEnsureResponse:
        if (answer := await self._enter("ensure_model", request)) is not None:
            return answer  # type: ignore[return-value]
        return ModelEnsureResponse(
            ok=True,
            provider=request.provider,
            node_id=request.node_id,
            model=request.model,
            actions=["ensure-model"],
            diagnostics=[],
        )

    async def status(self, request: StatusRequest) -> StatusResponse:
        if (answer := await self._enter("status", request)) is not None:
            return answer  # type: ignore[return-value]
        return StatusResponse(
            ok=True,
            provider=request.provider,
            node_id=request.node_id,
            runtime_status="ready",
            diagnostics=[],
            models=["llama3.2:3b"],
        )

    async def verify(self, request: VerifyRequest) -> VerifyResponse:
        if (answer := await self._enter("verify", request)) is not None:
            return answer  # type: ignore[return-value]
        checks = [
            CheckResult(
                name=name,
                ok=name not in self._failing_checks,
                diagnostic=f"{name}: {'failed' if name in self._failing_checks else 'passed'}",
            )
            for name in request.effective_checks()
        ]
        failed = [check for check in checks if not check.ok]
        if failed:
            return VerifyResponse(
                ok=False,
                provider=request.provider,
                node_id=request.node_id,
                checks=checks,
                diagnostics=[f"verify_failed: check {failed[0].name} failed"],
                error_class="verify_failed",
            )
        return VerifyResponse(
            ok=True,
            provider=request.provider,
            node_id=request.node_id,
            checks=checks,
            diagnostics=[],
        )

    async def _enter(self, operation: Operation, request: RequestPayload) -> object | None:
        """Record the call and play its script; a scripted answer, or None for the default."""
        self.calls.append((operation, request))
        self._called.set()
        self._called = trio.Event()
        hold = self._holds.get(operation)
        if hold is not None:
            await hold.wait()
        if operation in self._sleeps:
            await trio.sleep(self._sleeps[operation])
        if operation in self._errors:
            raise self._errors[operation]
        await trio.lowlevel.checkpoint()
        return self._answers.get(operation)
