"""Whether a consumer may use a backend for a request (SPEC §2.3).

One pure function of (backend manifest, consumer manifest, request), like ASM's
``InferenceEndpoint.Compatibility``: no lookup, no state, so the admin route, the
command line and the conformance harness give the same answer. The checks run in a
fixed order and the first failure names the reason, so a consumer always learns the
most basic mismatch first. Every result, refusals included, carries the provider's
publication metadata, so a refused consumer still learns what the provider publishes::

    >>> from contracts.endpoint import InferenceRequest, backend_manifest, consumer_manifest
    >>> from contracts.providers import GEMINI
    >>> result = resolve(backend_manifest(GEMINI), consumer_manifest(), InferenceRequest())
    >>> result.compatible, result.reason, result.resolved_protocol
    (True, 'protocol_match', 'openai_chat_completions')
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.endpoint import (
    BackendManifest,
    CapabilityValue,
    CompatibilityMetadata,
    CompatibilityReason,
    CompatibilityResult,
    ConsumerManifest,
    InferenceRequest,
)

__all__ = ["UNKNOWN_CAPABILITY", "CompatibilityReason", "resolve"]

UNKNOWN_CAPABILITY = "capability"
"""The requirement named when a required capability is unknown to the backend."""


def resolve(
    backend: BackendManifest, consumer: ConsumerManifest, request: InferenceRequest
) -> CompatibilityResult:
    """Match ``consumer`` and ``request`` against ``backend``.

    ``resolve(backend_manifest(CLAUDE), consumer_manifest(), request).reason`` is one of
    :data:`CompatibilityReason`; this function never raises on well-typed input.
    """
    metadata = CompatibilityMetadata(
        backend=backend.backend,
        consumer=consumer.consumer,
        provider=backend.metadata.provider,
        published_capabilities=list(backend.metadata.published_capabilities),
        common_surface_only=backend.metadata.common_surface_only,
    )

    def refuse(reason: CompatibilityReason, missing: Sequence[str] = ()) -> CompatibilityResult:
        return CompatibilityResult(
            compatible=False,
            reason=reason,
            missing_requirements=list(missing),
            metadata=metadata,
        )

    if backend.runtime_kind not in consumer.accepted_runtime_kinds:
        return refuse("runtime_kind_mismatch")
    management_mode = _first_common(consumer.accepted_management_modes, backend.management_modes)
    if management_mode is None:
        return refuse("management_mode_mismatch")
    protocol = _first_common(consumer.accepted_protocols, backend.protocols)
    if protocol is None:
        return refuse("unsupported_protocol")
    if request.streams and backend.capabilities.get("streaming") is not True:
        return refuse("missing_streaming", ["streaming"])
    # The endpoint never runs a tool loop (SPEC §2.2, §3.2): tools are refused whatever
    # a manifest says about tool calling.
    if request.carries_tools:
        return refuse("missing_capability", ["tool_calling"])

    missing: list[str] = []
    for name, expected in consumer.required_capabilities.items():
        if name not in backend.capabilities:
            requirement = UNKNOWN_CAPABILITY
        elif not _satisfies(backend.capabilities[name], expected):
            requirement = name
        else:
            continue
        if requirement not in missing:
            missing.append(requirement)
    if missing:
        streaming_unmet = "streaming" in missing
        return refuse("missing_streaming" if streaming_unmet else "missing_capability", missing)

    return CompatibilityResult(
        compatible=True,
        reason="protocol_match",
        resolved_runtime_kind=backend.runtime_kind,
        resolved_management_mode=management_mode,
        resolved_protocol=protocol,
        warnings=[
            _optional_warning(name, expected, backend)
            for name, expected in consumer.optional_capabilities.items()
            if name not in backend.capabilities
            or not _satisfies(backend.capabilities[name], expected)
        ],
        metadata=metadata,
    )


def _first_common(preferred: Sequence[str], offered: Sequence[str]) -> str | None:
    """The first of ``preferred`` (the consumer's order) that ``offered`` contains."""
    return next((item for item in preferred if item in offered), None)


def _satisfies(actual: CapabilityValue, expected: CapabilityValue) -> bool:
    """Equality without Python's ``True == 1``: a flag is only met by the same flag."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return actual == expected


def _optional_warning(name: str, expected: CapabilityValue, backend: BackendManifest) -> str:
    if name not in backend.capabilities:
        return f"optional capability {name!r} is unknown to backend {backend.backend!r}"
    actual = backend.capabilities[name]
    return f"optional capability {name!r} not met: wanted {expected!r}, backend has {actual!r}"
