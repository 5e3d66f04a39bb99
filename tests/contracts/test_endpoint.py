"""The endpoint seam's messages: defaults, request predicates, refs, redaction, JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.endpoint import (
    AUTHORITY_REF_KEYS,
    REDACTED_AUTHORIZATION,
    BackendManifest,
    BackendMetadata,
    CompatibilityMetadata,
    CompatibilityResult,
    ConsumerManifest,
    DescriptorMetadata,
    EndpointDescriptor,
    InferenceRequest,
    ModelPreference,
    ToolPolicy,
    backend_manifest,
    consumer_manifest,
    endpoint_descriptor,
    filter_authority_refs,
)
from contracts.providers import CLAUDE, GEMINI, publication
from contracts.testing import (
    authority_ref_maps,
    backend_manifests,
    backend_metadata,
    compatibility_metadata,
    compatibility_results,
    consumer_manifests,
    descriptor_metadata,
    endpoint_descriptors,
    inference_requests,
    model_preferences,
    tool_policies,
)


def round_trip(value: msgspec.Struct) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value), type=type(value))


def test_consumer_manifest_returns_the_spec_defaults() -> None:
    assert consumer_manifest() == ConsumerManifest(
        contract_version="inference.v1",
        consumer="asm_openai_endpoint",
        accepted_runtime_kinds=["task"],
        accepted_management_modes=["jido_managed"],
        accepted_protocols=["openai_chat_completions"],
        required_capabilities={},
        optional_capabilities={"streaming": True},
        constraints={"target_class": "cli_endpoint"},
        metadata={"source_runtime": "agent_session_manager"},
    )


def test_consumer_manifest_encodes_to_the_spec_json() -> None:
    assert msgspec.json.decode(msgspec.json.encode(consumer_manifest())) == {
        "consumer": "asm_openai_endpoint",
        "contract_version": "inference.v1",
        "accepted_runtime_kinds": ["task"],
        "accepted_management_modes": ["jido_managed"],
        "accepted_protocols": ["openai_chat_completions"],
        "required_capabilities": {},
        "optional_capabilities": {"streaming": True},
        "constraints": {"target_class": "cli_endpoint"},
        "metadata": {"source_runtime": "agent_session_manager"},
    }


def test_a_bare_request_generates_text_without_streaming_or_tools() -> None:
    request = InferenceRequest()
    assert request.operation == "generate_text"
    assert not request.streams
    assert not request.carries_tools


@pytest.mark.parametrize(
    "request_",
    [
        InferenceRequest(stream=True),
        InferenceRequest(operation="stream_text"),
    ],
)
def test_stream_flag_or_stream_text_operation_streams(request_: InferenceRequest) -> None:
    assert request_.streams


@pytest.mark.parametrize(
    "request_",
    [
        InferenceRequest(tools=[{"type": "function"}]),
        InferenceRequest(tool_policy=ToolPolicy(tools=["shell"])),
        InferenceRequest(tool_choice="auto"),
        InferenceRequest(tool_choice={"type": "function", "function": {"name": "f"}}),
    ],
)
def test_tools_policy_tools_or_a_tool_choice_carry_tools(request_: InferenceRequest) -> None:
    assert request_.carries_tools


def test_tool_choice_none_carries_no_tools() -> None:
    assert not InferenceRequest(tool_choice="none").carries_tools


def test_a_request_decodes_from_loose_json_with_defaults() -> None:
    request = msgspec.json.decode(
        b'{"model_preference":{"provider":"codex","id":"gpt-5"},"stream":true}',
        type=InferenceRequest,
    )
    assert request.model_preference == ModelPreference(provider="codex", id="gpt-5")
    assert request.streams
    assert request.tool_policy == ToolPolicy()


def test_backend_manifest_carries_the_spec_shape_and_publication() -> None:
    manifest = backend_manifest(GEMINI)
    assert manifest.backend == "asm_inference_endpoint"
    assert manifest.runtime_kind == "task"
    assert manifest.management_modes == ["jido_managed"]
    assert manifest.startup_kind == "spawned"
    assert manifest.protocols == ["openai_chat_completions"]
    assert manifest.capabilities == {
        "streaming": True,
        "tool_calling": False,
        "embeddings": "unknown",
    }
    assert manifest.supported_surfaces == ["local_subprocess"]
    pub = publication(GEMINI)
    assert manifest.metadata.provider == "gemini"
    assert manifest.metadata.common_surface_only is True
    assert manifest.metadata.published_capabilities == pub.published_capabilities
    assert manifest.metadata.profile_capabilities == pub.profile_capabilities
    assert manifest.metadata.derivation == pub.derivation


def test_backend_manifest_never_offers_tool_calling_even_for_agent_clis() -> None:
    assert backend_manifest(CLAUDE).capabilities["tool_calling"] is False


def _descriptor(token: str = "s3cret-token") -> EndpointDescriptor:
    return endpoint_descriptor(
        CLAUDE,
        model="sonnet",
        origin="http://127.0.0.1:8787/",
        endpoint_id="ep-1",
        lease_ref="lease-1",
        token=token,
        authority_refs={"authority_ref": "auth-1", "bearer_token": "nope"},
    )


def test_endpoint_descriptor_points_at_the_lease_routes() -> None:
    descriptor = _descriptor()
    assert descriptor.base_url == "http://127.0.0.1:8787/leases/lease-1/v1"
    assert descriptor.health_ref == "http://127.0.0.1:8787/leases/lease-1/health"
    assert descriptor.source_runtime_ref == descriptor.lease_ref == "lease-1"
    assert descriptor.headers == {"authorization": "Bearer s3cret-token"}
    assert descriptor.capabilities == {"streaming": True, "tool_calling": False}
    assert (descriptor.runtime_kind, descriptor.target_class, descriptor.protocol) == (
        "task",
        "cli_endpoint",
        "openai_chat_completions",
    )
    assert descriptor.source_runtime == "agent_session_manager"
    assert descriptor.metadata.publication == publication(CLAUDE)
    assert descriptor.metadata.backend_manifest == backend_manifest(CLAUDE)


def test_endpoint_descriptor_keeps_only_known_authority_refs() -> None:
    assert _descriptor().metadata.authority_refs == {"authority_ref": "auth-1"}


def test_redacted_descriptor_hides_the_bearer_token_everywhere() -> None:
    redacted = _descriptor("s3cret-token").redacted()
    assert redacted.headers["authorization"] == REDACTED_AUTHORIZATION
    assert b"s3cret-token" not in msgspec.json.encode(redacted)


def test_redaction_leaves_everything_but_the_authorization_header() -> None:
    descriptor = _descriptor()
    redacted = descriptor.redacted()
    assert msgspec.structs.replace(redacted, headers=descriptor.headers) == descriptor


@given(endpoint_descriptors())
def test_redaction_covers_authorization_in_any_case(descriptor: EndpointDescriptor) -> None:
    """Rule: a redacted descriptor holds no authorization value but the redacted one."""
    redacted = descriptor.redacted()
    assert redacted.headers.keys() == descriptor.headers.keys()
    for name, value in redacted.headers.items():
        if name.lower() == "authorization":
            assert value == REDACTED_AUTHORIZATION
        else:
            assert value == descriptor.headers[name]


@given(st.lists(authority_ref_maps(), max_size=4))
def test_authority_refs_keep_only_known_keys_with_non_blank_strings(
    sources: list[dict[str, object]],
) -> None:
    """Rule: authority refs keep only known keys with non-blank string values."""
    refs = filter_authority_refs(*sources)
    assert set(refs) <= AUTHORITY_REF_KEYS
    assert all(isinstance(value, str) and value.strip() for value in refs.values())
    assert not any("token" in key for key in refs)


@given(st.lists(authority_ref_maps(), max_size=4))
def test_authority_refs_take_the_last_usable_value_of_each_key(
    sources: list[dict[str, object]],
) -> None:
    """Rule: a later source overrides an earlier one; blank or non-string values do not."""
    refs = filter_authority_refs(*sources)
    for key in AUTHORITY_REF_KEYS:
        usable = [
            source[key]
            for source in sources
            if isinstance(source.get(key), str) and str(source[key]).strip()
        ]
        assert refs.get(key) == (usable[-1] if usable else None)


@given(authority_ref_maps())
def test_filtering_authority_refs_is_idempotent(source: dict[str, object]) -> None:
    """Rule: filtered authority refs pass the filter unchanged."""
    refs = filter_authority_refs(source)
    assert filter_authority_refs(refs) == refs


def test_filter_authority_refs_of_nothing_is_empty() -> None:
    assert filter_authority_refs() == {}


@pytest.mark.parametrize(
    "strategy",
    [
        consumer_manifests,
        inference_requests,
        model_preferences,
        tool_policies,
        backend_metadata,
        backend_manifests,
        compatibility_metadata,
        compatibility_results,
        descriptor_metadata,
        endpoint_descriptors,
    ],
    ids=lambda strategy: strategy.__name__,
)
def test_every_endpoint_struct_survives_a_json_round_trip(
    strategy: Callable[[], st.SearchStrategy[msgspec.Struct]],
) -> None:
    """Rule: encode then decode (with the Struct's own type) gives back an equal value."""

    @given(strategy())
    def check(value: msgspec.Struct) -> None:
        assert round_trip(value) == value

    check()


def test_round_trip_strategies_cover_every_endpoint_struct() -> None:
    covered = {
        ConsumerManifest,
        InferenceRequest,
        ModelPreference,
        ToolPolicy,
        BackendMetadata,
        BackendManifest,
        CompatibilityMetadata,
        CompatibilityResult,
        DescriptorMetadata,
        EndpointDescriptor,
    }
    import contracts.endpoint as module

    defined = {
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
    }
    assert defined == covered
