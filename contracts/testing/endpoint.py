"""Hypothesis strategies for the endpoint seam's messages (SPEC §2.1, §2.2).

Exported so that the project's own tests and ``asm conformance`` draw from the same
generators. Every value these strategies build survives a msgspec JSON round trip
unchanged (no NaN, integers within 64 bits, lists rather than tuples inside ``Any``),
so a round-trip failure always points at the contract, not at the generator::

    from hypothesis import given
    from contracts.testing.endpoint import consumer_manifests

    @given(consumer_manifests())
    def test_round_trip(manifest): ...

Manifests mix the real vocabulary (``task``, ``jido_managed``,
``openai_chat_completions``, ``streaming``…) with arbitrary names, so both matches and
mismatches are common.
"""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import strategies as st

from contracts.endpoint import (
    AUTHORITY_REF_KEYS,
    BACKEND_FAMILY,
    BackendManifest,
    BackendMetadata,
    CapabilityMap,
    CapabilityValue,
    CompatibilityMetadata,
    CompatibilityReason,
    CompatibilityResult,
    ConsumerManifest,
    DescriptorMetadata,
    EndpointDescriptor,
    InferenceRequest,
    ModelPreference,
    ToolPolicy,
)
from contracts.providers import Launch, ProviderProfile, Publication, publication

__all__ = [
    "authority_ref_maps",
    "backend_manifests",
    "backend_metadata",
    "capability_maps",
    "capability_values",
    "compatibility_metadata",
    "compatibility_results",
    "consumer_manifests",
    "descriptor_metadata",
    "endpoint_descriptors",
    "inference_requests",
    "json_values",
    "launches",
    "model_preferences",
    "provider_profiles",
    "publications",
    "tool_policies",
]

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_NAMES = st.text(min_size=1, max_size=12)
_CAPABILITY_NAMES = st.sampled_from(
    ["streaming", "tool_calling", "embeddings", "reasoning", "vision"]
) | st.text(max_size=10)
_REASONS = st.sampled_from(get_args(CompatibilityReason))
_PROFILE_CAPABILITIES = [
    "approval",
    "cost",
    "extensions",
    "interrupt",
    "mcp",
    "reasoning",
    "resume",
    "sandbox",
    "streaming",
    "structured_output",
    "thinking",
    "tools",
]


def _vocabulary(*known: str) -> st.SearchStrategy[str]:
    return st.sampled_from(known) | _NAMES


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values that decode back to themselves (lists, str-keyed dicts)."""
    scalars = st.none() | st.booleans() | _INT64 | _FLOATS | st.text(max_size=12)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=3),
        max_leaves=max_leaves,
    )


def _json_objects() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_NAMES, json_values(4), max_size=3)


def capability_values() -> st.SearchStrategy[CapabilityValue]:
    """Values a capability map may hold: bool, int, float, str or None."""
    return st.none() | st.booleans() | _INT64 | _FLOATS | st.sampled_from(["unknown", "partial"])


def capability_maps() -> st.SearchStrategy[CapabilityMap]:
    """Capability name → value maps, often naming the real capabilities."""
    return st.dictionaries(_CAPABILITY_NAMES, capability_values(), max_size=4)


def authority_ref_maps() -> st.SearchStrategy[dict[str, object]]:
    """Sources of authority refs: known and unknown keys, blank and non-string values."""
    keys = (
        st.sampled_from(sorted(AUTHORITY_REF_KEYS))
        | st.sampled_from(["token", "bearer_token", "lease_token", "api_key"])
        | st.text(max_size=10)
    )
    values: st.SearchStrategy[object] = (
        st.text(max_size=12) | st.sampled_from(["", " ", "\t\n"]) | st.none() | _INT64
    )
    return st.dictionaries(keys, values, max_size=6)


def consumer_manifests() -> st.SearchStrategy[ConsumerManifest]:
    """Consumer manifests over the real vocabulary and arbitrary names."""
    return st.builds(
        ConsumerManifest,
        consumer=_vocabulary("asm_openai_endpoint"),
        contract_version=_vocabulary("inference.v1"),
        accepted_runtime_kinds=st.lists(_vocabulary("task", "session"), max_size=3),
        accepted_management_modes=st.lists(_vocabulary("jido_managed", "external"), max_size=3),
        accepted_protocols=st.lists(
            _vocabulary("openai_chat_completions", "openai_responses"), max_size=3
        ),
        required_capabilities=capability_maps(),
        optional_capabilities=capability_maps(),
        constraints=_json_objects(),
        metadata=_json_objects(),
    )


def model_preferences() -> st.SearchStrategy[ModelPreference]:
    """Model preferences, sometimes naming a real provider, sometimes empty."""
    return st.builds(
        ModelPreference,
        provider=st.none() | _vocabulary("claude", "codex", "gemini", "amp"),
        id=st.none() | st.text(max_size=12),
    )


def tool_policies() -> st.SearchStrategy[ToolPolicy]:
    """Tool policies, mostly without tools."""
    return st.builds(ToolPolicy, tools=st.lists(json_values(2), max_size=2))


def inference_requests() -> st.SearchStrategy[InferenceRequest]:
    """Requests for an endpoint, with and without streaming and tools."""
    messages = st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text()}
        ),
        max_size=3,
    )
    return st.builds(
        InferenceRequest,
        request_id=st.none() | st.text(max_size=12),
        operation=st.sampled_from(["generate_text", "stream_text"]),
        messages=messages,
        prompt=st.none() | st.text(max_size=20),
        model_preference=model_preferences(),
        target_preference=_json_objects(),
        stream=st.booleans(),
        tool_policy=tool_policies(),
        tools=st.lists(json_values(2), max_size=2),
        tool_choice=st.none() | st.sampled_from(["none", "auto", "required"]) | _json_objects(),
        metadata=_json_objects(),
        authority_refs=st.dictionaries(
            st.sampled_from(sorted(AUTHORITY_REF_KEYS)) | _NAMES, st.text(max_size=12), max_size=3
        ),
    )


def provider_profiles() -> st.SearchStrategy[ProviderProfile]:
    """Synthetic provider profiles over the real capability vocabulary."""
    return st.builds(
        ProviderProfile,
        id=_vocabulary("claude", "codex", "gemini", "amp"),
        display_name=st.text(max_size=12),
        executable=_NAMES,
        bin_env=_NAMES,
        capabilities=st.frozensets(st.sampled_from(_PROFILE_CAPABILITIES) | _NAMES, max_size=6),
        auth_env=st.lists(_NAMES, max_size=3).map(tuple),
        agent_surface=st.booleans(),
    )


def publications() -> st.SearchStrategy[Publication]:
    """Publications as :func:`contracts.providers.publication` derives them."""
    return provider_profiles().map(publication)


def launches() -> st.SearchStrategy[Launch]:
    """Driver launches: argv, a string environment, files, directories and links."""
    paths = st.text("abcxyz/", min_size=1, max_size=12)
    return st.builds(
        Launch,
        argv=st.lists(st.text(max_size=12), min_size=1, max_size=5).map(tuple),
        env=st.dictionaries(_NAMES, st.text(max_size=12), max_size=3),
        files=st.dictionaries(paths, st.binary(max_size=20), max_size=2),
        dirs=st.lists(paths, max_size=2).map(tuple),
        links=st.lists(st.tuples(paths, paths), max_size=2).map(tuple),
    )


def backend_metadata() -> st.SearchStrategy[BackendMetadata]:
    """Backend metadata, derived from a synthetic profile's publication."""

    def from_profile(profile: ProviderProfile) -> BackendMetadata:
        pub = publication(profile)
        return BackendMetadata(
            family=BACKEND_FAMILY,
            provider=profile.id,
            common_surface_only=pub.common_surface_only,
            published_capabilities=pub.published_capabilities,
            profile_capabilities=pub.profile_capabilities,
            derivation=pub.derivation,
        )

    return provider_profiles().map(from_profile)


def backend_manifests() -> st.SearchStrategy[BackendManifest]:
    """Backend manifests that sometimes match the default consumer and sometimes not."""
    return st.builds(
        BackendManifest,
        metadata=backend_metadata(),
        backend=_vocabulary("asm_inference_endpoint"),
        runtime_kind=_vocabulary("task", "session"),
        management_modes=st.lists(_vocabulary("jido_managed", "external"), max_size=3),
        startup_kind=_vocabulary("spawned", "attached"),
        protocols=st.lists(_vocabulary("openai_chat_completions", "openai_responses"), max_size=3),
        capabilities=capability_maps(),
        supported_surfaces=st.lists(_vocabulary("local_subprocess"), max_size=2),
        resource_profile=_json_objects(),
    )


def compatibility_metadata() -> st.SearchStrategy[CompatibilityMetadata]:
    """Metadata as a compatibility result carries it."""
    return st.builds(
        CompatibilityMetadata,
        backend=_NAMES,
        consumer=_NAMES,
        provider=_NAMES,
        published_capabilities=st.lists(
            st.sampled_from(["cli_completion_v1", "cli_streaming_v1", "cli_agent_v2"]),
            unique=True,
        ),
        common_surface_only=st.booleans(),
    )


def compatibility_results() -> st.SearchStrategy[CompatibilityResult]:
    """Compatibility results of every reason (not necessarily self-consistent)."""
    optional_name = st.none() | _NAMES
    return st.builds(
        CompatibilityResult,
        compatible=st.booleans(),
        reason=_REASONS,
        metadata=compatibility_metadata(),
        resolved_runtime_kind=optional_name,
        resolved_management_mode=optional_name,
        resolved_protocol=optional_name,
        missing_requirements=st.lists(_NAMES, max_size=3),
        warnings=st.lists(st.text(max_size=20), max_size=2),
    )


def descriptor_metadata() -> st.SearchStrategy[DescriptorMetadata]:
    """Descriptor metadata: a publication, a backend manifest and filtered refs."""
    return st.builds(
        DescriptorMetadata,
        publication=publications(),
        backend_manifest=backend_manifests(),
        authority_refs=st.dictionaries(
            st.sampled_from(sorted(AUTHORITY_REF_KEYS)), _NAMES, max_size=3
        ),
    )


def endpoint_descriptors() -> st.SearchStrategy[EndpointDescriptor]:
    """Descriptors whose headers always hold a bearer authorization."""
    return st.builds(
        EndpointDescriptor,
        endpoint_id=_NAMES,
        base_url=_NAMES,
        headers=st.dictionaries(_NAMES, st.text(max_size=12), max_size=2).flatmap(
            lambda extra: st.text(min_size=1, max_size=20).map(
                lambda token: {**extra, "authorization": f"Bearer {token}"}
            )
        ),
        provider_identity=_vocabulary("claude", "codex", "gemini", "amp"),
        model_identity=_NAMES,
        source_runtime_ref=_NAMES,
        lease_ref=_NAMES,
        health_ref=_NAMES,
        capabilities=capability_maps(),
        metadata=descriptor_metadata(),
        contract_version=_vocabulary("inference.v1"),
        runtime_kind=_vocabulary("task"),
        management_mode=_vocabulary("jido_managed"),
        target_class=_vocabulary("cli_endpoint"),
        protocol=_vocabulary("openai_chat_completions"),
        source_runtime=_vocabulary("agent_session_manager"),
        boundary_ref=st.none() | _NAMES,
    )
