"""Compatibility of a backend, a consumer and a request (SPEC §2.3)."""

from __future__ import annotations

import typing

import msgspec
import pytest
from hypothesis import given

from contracts.compatibility import CompatibilityReason, resolve
from contracts.endpoint import (
    BackendManifest,
    ConsumerManifest,
    InferenceRequest,
    ToolPolicy,
    backend_manifest,
    consumer_manifest,
)
from contracts.providers import AMP, CLAUDE, GEMINI, ProviderProfile, Publication, publication
from contracts.testing import backend_manifests, consumer_manifests, inference_requests

REASONS = set(typing.get_args(CompatibilityReason))


def _consumer(**changes: object) -> ConsumerManifest:
    return msgspec.structs.replace(consumer_manifest(), **changes)


def _backend(provider: ProviderProfile = CLAUDE, **changes: object) -> BackendManifest:
    return msgspec.structs.replace(backend_manifest(provider), **changes)


def _no_streaming(provider: ProviderProfile = CLAUDE) -> BackendManifest:
    manifest = backend_manifest(provider)
    return _backend(provider, capabilities={**manifest.capabilities, "streaming": False})


def test_default_consumer_matches_every_provider_on_protocol() -> None:
    result = resolve(_backend(), consumer_manifest(), InferenceRequest())
    assert result.compatible
    assert result.reason == "protocol_match"
    assert result.resolved_runtime_kind == "task"
    assert result.resolved_management_mode == "jido_managed"
    assert result.resolved_protocol == "openai_chat_completions"
    assert result.missing_requirements == []
    assert result.warnings == []


def test_runtime_kind_not_accepted_is_a_runtime_kind_mismatch() -> None:
    result = resolve(_backend(), _consumer(accepted_runtime_kinds=["session"]), InferenceRequest())
    assert not result.compatible
    assert result.reason == "runtime_kind_mismatch"


def test_no_common_management_mode_is_a_management_mode_mismatch() -> None:
    consumer = _consumer(accepted_management_modes=["external"])
    assert resolve(_backend(), consumer, InferenceRequest()).reason == "management_mode_mismatch"


def test_no_common_protocol_is_an_unsupported_protocol() -> None:
    consumer = _consumer(accepted_protocols=["openai_responses"])
    assert resolve(_backend(), consumer, InferenceRequest()).reason == "unsupported_protocol"


@pytest.mark.parametrize(
    "request_", [InferenceRequest(stream=True), InferenceRequest(operation="stream_text")]
)
def test_streaming_request_to_a_backend_without_streaming_is_missing_streaming(
    request_: InferenceRequest,
) -> None:
    result = resolve(_no_streaming(), consumer_manifest(), request_)
    assert result.reason == "missing_streaming"
    assert result.missing_requirements == ["streaming"]


def test_streaming_request_to_a_streaming_backend_is_compatible() -> None:
    assert resolve(_backend(), consumer_manifest(), InferenceRequest(stream=True)).compatible


@pytest.mark.parametrize(
    "request_",
    [
        InferenceRequest(tools=[{"type": "function"}]),
        InferenceRequest(tool_policy=ToolPolicy(tools=["shell"])),
        InferenceRequest(tool_choice="required"),
    ],
)
def test_request_carrying_tools_is_missing_the_tool_calling_capability(
    request_: InferenceRequest,
) -> None:
    result = resolve(_backend(), consumer_manifest(), request_)
    assert result.reason == "missing_capability"
    assert result.missing_requirements == ["tool_calling"]


def test_tool_choice_none_is_not_refused() -> None:
    assert resolve(_backend(), consumer_manifest(), InferenceRequest(tool_choice="none")).compatible


def test_tools_are_refused_even_when_a_manifest_claims_tool_calling() -> None:
    backend = _backend(capabilities={"streaming": True, "tool_calling": True})
    result = resolve(backend, consumer_manifest(), InferenceRequest(tools=[{"type": "function"}]))
    assert result.reason == "missing_capability"


def test_required_capability_with_another_value_is_missing_capability() -> None:
    consumer = _consumer(required_capabilities={"embeddings": True})
    result = resolve(_backend(), consumer, InferenceRequest())
    assert result.reason == "missing_capability"
    assert result.missing_requirements == ["embeddings"]


def test_required_streaming_the_backend_lacks_is_missing_streaming() -> None:
    consumer = _consumer(required_capabilities={"streaming": True})
    result = resolve(_no_streaming(), consumer, InferenceRequest())
    assert result.reason == "missing_streaming"
    assert result.missing_requirements == ["streaming"]


def test_required_capability_unknown_to_the_backend_maps_to_capability() -> None:
    consumer = _consumer(required_capabilities={"vision": True})
    result = resolve(_backend(), consumer, InferenceRequest())
    assert result.reason == "missing_capability"
    assert result.missing_requirements == ["capability"]


def test_required_flag_is_not_met_by_a_number() -> None:
    backend = _backend(capabilities={"streaming": True, "tool_calling": False, "batch": 1})
    consumer = _consumer(required_capabilities={"batch": True})
    assert resolve(backend, consumer, InferenceRequest()).missing_requirements == ["batch"]


def test_met_required_capabilities_are_compatible() -> None:
    consumer = _consumer(required_capabilities={"streaming": True, "embeddings": "unknown"})
    assert resolve(_backend(), consumer, InferenceRequest()).compatible


def test_unmet_optional_capabilities_warn_by_name_but_stay_compatible() -> None:
    consumer = _consumer(optional_capabilities={"streaming": True, "vision": True})
    result = resolve(_no_streaming(), consumer, InferenceRequest())
    assert result.compatible
    assert len(result.warnings) == 2
    assert "'streaming'" in result.warnings[0]
    assert "'vision'" in result.warnings[1]


@pytest.mark.parametrize(
    ("consumer", "request_", "backend", "reason"),
    [
        (
            _consumer(accepted_runtime_kinds=["session"], accepted_protocols=["other"]),
            InferenceRequest(),
            _backend(),
            "runtime_kind_mismatch",
        ),
        (
            _consumer(accepted_management_modes=["external"], accepted_protocols=["other"]),
            InferenceRequest(),
            _backend(),
            "management_mode_mismatch",
        ),
        (
            _consumer(accepted_protocols=["other"]),
            InferenceRequest(stream=True),
            _no_streaming(),
            "unsupported_protocol",
        ),
        (
            consumer_manifest(),
            InferenceRequest(stream=True, tools=[{"type": "function"}]),
            _no_streaming(),
            "missing_streaming",
        ),
        (
            _consumer(required_capabilities={"streaming": True}),
            InferenceRequest(tool_choice="auto"),
            _no_streaming(),
            "missing_capability",
        ),
    ],
    ids=[
        "runtime_before_protocol",
        "mode_before_protocol",
        "protocol_before_streaming",
        "streaming_before_tools",
        "tools_before_required",
    ],
)
def test_a_request_failing_two_checks_gets_the_earlier_reason(
    consumer: ConsumerManifest,
    request_: InferenceRequest,
    backend: BackendManifest,
    reason: CompatibilityReason,
) -> None:
    assert resolve(backend, consumer, request_).reason == reason


def test_first_common_mode_and_protocol_follow_the_consumer_order() -> None:
    backend = _backend(management_modes=["a", "b"], protocols=["x", "y"])
    consumer = _consumer(accepted_management_modes=["b", "a"], accepted_protocols=["y", "x"])
    result = resolve(backend, consumer, InferenceRequest())
    assert (result.resolved_management_mode, result.resolved_protocol) == ("b", "y")


@pytest.mark.parametrize("provider", [GEMINI, AMP], ids=["gemini", "amp"])
def test_a_refusal_still_carries_the_providers_publication(provider: ProviderProfile) -> None:
    consumer = _consumer(accepted_runtime_kinds=["session"])
    result = resolve(_backend(provider), consumer, InferenceRequest())
    pub: Publication = publication(provider)
    assert not result.compatible
    assert result.metadata.backend == "asm_inference_endpoint"
    assert result.metadata.consumer == "asm_openai_endpoint"
    assert result.metadata.provider == provider.id
    assert result.metadata.published_capabilities == pub.published_capabilities
    assert result.metadata.common_surface_only is True


def test_every_reason_has_a_test() -> None:
    tested = {
        "protocol_match",
        "runtime_kind_mismatch",
        "management_mode_mismatch",
        "unsupported_protocol",
        "missing_streaming",
        "missing_capability",
    }
    assert tested == REASONS


@given(backend_manifests(), consumer_manifests(), inference_requests())
def test_resolve_never_raises_and_answers_a_known_reason(
    backend: BackendManifest, consumer: ConsumerManifest, request: InferenceRequest
) -> None:
    """Rule: resolve is total: any manifests and request give a result with a known reason,
    compatible exactly when the reason is protocol_match, always with the backend's metadata."""
    result = resolve(backend, consumer, request)
    assert result.reason in REASONS
    assert result.compatible == (result.reason == "protocol_match")
    assert result.metadata.provider == backend.metadata.provider
    assert result.metadata.published_capabilities == backend.metadata.published_capabilities
    if result.compatible:
        assert result.resolved_protocol in consumer.accepted_protocols
        assert result.resolved_protocol in backend.protocols
        assert result.missing_requirements == []
    else:
        assert result.resolved_protocol is None
        assert result.warnings == []
