"""The messages of the endpoint seam (SPEC §2.1), and the pure rules that build them.

A consumer states what it accepts (:class:`ConsumerManifest`), asks for an endpoint with
an :class:`InferenceRequest`, and is matched against a provider's
:class:`BackendManifest` by :func:`contracts.compatibility.resolve`; on success it gets
an :class:`EndpointDescriptor`. These are the same shapes ASM's Elixir
``InferenceEndpoint`` exchanges, so they are plain msgspec Structs that encode to the
JSON the admin routes speak::

    >>> import msgspec
    >>> from contracts.providers import CLAUDE
    >>> manifest = backend_manifest(CLAUDE)
    >>> msgspec.json.decode(msgspec.json.encode(manifest), type=BackendManifest) == manifest
    True

Authority refs are references to decisions made elsewhere; they are carried into the
descriptor's metadata, filtered to known keys (:func:`filter_authority_refs`), and are
never secrets themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import msgspec

from contracts.providers import ProviderProfile, Publication, publication

__all__ = [
    "AUTHORITY_REF_KEYS",
    "BACKEND_FAMILY",
    "CONTRACT_VERSION",
    "REDACTED_AUTHORIZATION",
    "BackendManifest",
    "BackendMetadata",
    "CapabilityMap",
    "CapabilityValue",
    "CompatibilityMetadata",
    "CompatibilityReason",
    "CompatibilityResult",
    "ConsumerManifest",
    "DescriptorMetadata",
    "EndpointDescriptor",
    "InferenceRequest",
    "ModelPreference",
    "Operation",
    "ToolPolicy",
    "backend_manifest",
    "consumer_manifest",
    "endpoint_descriptor",
    "filter_authority_refs",
]

CONTRACT_VERSION = "inference.v1"
REDACTED_AUTHORIZATION = "Bearer <redacted>"

CapabilityValue: TypeAlias = bool | int | float | str | None
CapabilityMap: TypeAlias = dict[str, CapabilityValue]
Operation: TypeAlias = Literal["generate_text", "stream_text"]
CompatibilityReason: TypeAlias = Literal[
    "protocol_match",
    "runtime_kind_mismatch",
    "management_mode_mismatch",
    "unsupported_protocol",
    "missing_streaming",
    "missing_capability",
]

AUTHORITY_REF_KEYS: frozenset[str] = frozenset(
    {
        "attach_grant_ref",
        "authority_decision_ref",
        "authority_ref",
        "caller_trace_ref",
        "credential_lease_ref",
        "endpoint_ref",
        "execution_context_ref",
        "model_account_ref",
        "native_auth_assertion_ref",
        "operation_policy_ref",
        "provider_account_ref",
        "target_posture_ref",
        "target_ref",
    }
)
"""The authority-ref keys carried into a descriptor's metadata (SPEC §2.4)."""


def filter_authority_refs(*sources: Mapping[str, object]) -> dict[str, str]:
    """Merge authority refs, keeping known keys with non-blank string values.

    Later sources override earlier ones; a blank or non-string value overrides nothing::

        filter_authority_refs(request.authority_refs, context)
        # {"authority_ref": "auth-1"} from ({"authority_ref": "auth-1", "token": "x"},)
    """
    refs: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if key in AUTHORITY_REF_KEYS and isinstance(value, str) and value.strip():
                refs[key] = value
    return refs


class ConsumerManifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a consumer accepts; capability maps are name → expected value."""

    consumer: str
    contract_version: str = CONTRACT_VERSION
    accepted_runtime_kinds: list[str] = msgspec.field(default_factory=lambda: ["task"])
    accepted_management_modes: list[str] = msgspec.field(default_factory=lambda: ["jido_managed"])
    accepted_protocols: list[str] = msgspec.field(
        default_factory=lambda: ["openai_chat_completions"]
    )
    required_capabilities: CapabilityMap = {}
    optional_capabilities: CapabilityMap = {}
    constraints: dict[str, Any] = {}
    metadata: dict[str, Any] = {}


def consumer_manifest() -> ConsumerManifest:
    """The manifest of ASM's own OpenAI endpoint consumer: ``consumer_manifest().consumer``."""
    return ConsumerManifest(
        consumer="asm_openai_endpoint",
        accepted_runtime_kinds=["task"],
        accepted_management_modes=["jido_managed"],
        accepted_protocols=["openai_chat_completions"],
        required_capabilities={},
        optional_capabilities={"streaming": True},
        constraints={"target_class": "cli_endpoint"},
        metadata={"source_runtime": "agent_session_manager"},
    )


class ModelPreference(msgspec.Struct, frozen=True, kw_only=True):
    """Which provider and model the endpoint should pin: ``ModelPreference(provider="codex",
    id="gpt-5")``."""

    provider: str | None = None
    id: str | None = None


class ToolPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Tools a caller would allow; any at all makes the request carry tools."""

    tools: list[Any] = []


class InferenceRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request for an endpoint (not a completion): what to pin and how it will be used.

    Messages stay loose here; the prompt rules live with the HTTP surface (SPEC §3.2)::

        InferenceRequest(model_preference=ModelPreference(provider="claude", id="sonnet"),
                         stream=True)
    """

    request_id: str | None = None
    operation: Operation = "generate_text"
    messages: list[dict[str, Any]] = []
    prompt: str | None = None
    model_preference: ModelPreference = msgspec.field(default_factory=ModelPreference)
    target_preference: dict[str, Any] = {}
    stream: bool = False
    tool_policy: ToolPolicy = msgspec.field(default_factory=ToolPolicy)
    tools: list[Any] = []
    tool_choice: str | dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    authority_refs: dict[str, str] = {}

    @property
    def carries_tools(self) -> bool:
        """Tools, a tool policy with tools, or a tool_choice other than "none"."""
        return (
            bool(self.tools)
            or bool(self.tool_policy.tools)
            or (self.tool_choice is not None and self.tool_choice != "none")
        )

    @property
    def streams(self) -> bool:
        """Whether the caller will stream: ``stream`` set or operation ``stream_text``."""
        return self.stream or self.operation == "stream_text"


class BackendMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """The provider's publication, as a backend manifest carries it."""

    family: str
    provider: str
    common_surface_only: bool
    published_capabilities: list[str]
    profile_capabilities: list[str]
    derivation: dict[str, str]


class BackendManifest(msgspec.Struct, frozen=True, kw_only=True):
    """What one provider's endpoint offers; built by :func:`backend_manifest`."""

    metadata: BackendMetadata
    backend: str = "asm_inference_endpoint"
    runtime_kind: str = "task"
    management_modes: list[str] = msgspec.field(default_factory=lambda: ["jido_managed"])
    startup_kind: str = "spawned"
    protocols: list[str] = msgspec.field(default_factory=lambda: ["openai_chat_completions"])
    capabilities: CapabilityMap = msgspec.field(
        default_factory=lambda: {"streaming": False, "tool_calling": False, "embeddings": "unknown"}
    )
    supported_surfaces: list[str] = msgspec.field(default_factory=lambda: ["local_subprocess"])
    resource_profile: dict[str, Any] = {}


BACKEND_FAMILY = "agent_cli"
"""The backend family every ASM endpoint reports: a coding-agent CLI run headless."""


def backend_manifest(profile: ProviderProfile) -> BackendManifest:
    """The manifest of ``profile``'s endpoint: ``backend_manifest(CLAUDE).capabilities``.

    Tool calling is always false: the endpoint serves completions, never an agent loop.
    """
    pub = publication(profile)
    return BackendManifest(
        capabilities={
            "streaming": pub.cli_streaming_v1,
            "tool_calling": False,
            "embeddings": "unknown",
        },
        resource_profile={
            "process": "local_subprocess",
            "process_group": "own",
            "prompt_input": "stdin",
            "working_directory": "private_per_session",
        },
        metadata=BackendMetadata(
            family=BACKEND_FAMILY,
            provider=profile.id,
            common_surface_only=pub.common_surface_only,
            published_capabilities=list(pub.published_capabilities),
            profile_capabilities=list(pub.profile_capabilities),
            derivation=dict(pub.derivation),
        ),
    )


class CompatibilityMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """Who was matched, and what the provider publishes, on every result."""

    backend: str
    consumer: str
    provider: str
    published_capabilities: list[str]
    common_surface_only: bool


class CompatibilityResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`contracts.compatibility.resolve`; refusals carry metadata too."""

    compatible: bool
    reason: CompatibilityReason
    metadata: CompatibilityMetadata
    resolved_runtime_kind: str | None = None
    resolved_management_mode: str | None = None
    resolved_protocol: str | None = None
    missing_requirements: list[str] = []
    warnings: list[str] = []


class DescriptorMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """What the descriptor carries besides the route: publication, manifest, refs."""

    publication: Publication
    backend_manifest: BackendManifest
    authority_refs: dict[str, str] = {}


class EndpointDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach one leased endpoint; ``headers`` holds the bearer token.

    Log or list it only through :meth:`redacted`.
    """

    endpoint_id: str
    base_url: str
    headers: dict[str, str]
    provider_identity: str
    model_identity: str
    source_runtime_ref: str
    lease_ref: str
    health_ref: str
    capabilities: CapabilityMap
    metadata: DescriptorMetadata
    contract_version: str = CONTRACT_VERSION
    runtime_kind: str = "task"
    management_mode: str = "jido_managed"
    target_class: str = "cli_endpoint"
    protocol: str = "openai_chat_completions"
    source_runtime: str = "agent_session_manager"
    boundary_ref: str | None = None

    def redacted(self) -> EndpointDescriptor:
        """A copy safe to show: ``descriptor.redacted().headers["authorization"]``."""
        headers = {
            name: REDACTED_AUTHORIZATION if name.lower() == "authorization" else value
            for name, value in self.headers.items()
        }
        return msgspec.structs.replace(self, headers=headers)


def endpoint_descriptor(
    profile: ProviderProfile,
    *,
    model: str,
    origin: str,
    endpoint_id: str,
    lease_ref: str,
    token: str,
    authority_refs: Mapping[str, str] | None = None,
    boundary_ref: str | None = None,
) -> EndpointDescriptor:
    """Describe a lease's endpoint; the caller supplies the fresh ids and the token.

    ``origin`` is the server's loopback origin, e.g. ``"http://127.0.0.1:8787"``::

        endpoint_descriptor(CLAUDE, model="sonnet", origin="http://127.0.0.1:8787",
                            endpoint_id="ep-1", lease_ref="lease-1", token=token)
    """
    manifest = backend_manifest(profile)
    lease_url = f"{origin.rstrip('/')}/leases/{lease_ref}"
    return EndpointDescriptor(
        endpoint_id=endpoint_id,
        base_url=f"{lease_url}/v1",
        headers={"authorization": f"Bearer {token}"},
        provider_identity=profile.id,
        model_identity=model,
        source_runtime_ref=lease_ref,
        lease_ref=lease_ref,
        health_ref=f"{lease_url}/health",
        boundary_ref=boundary_ref,
        capabilities={
            "streaming": manifest.capabilities.get("streaming") is True,
            "tool_calling": False,
        },
        metadata=DescriptorMetadata(
            publication=publication(profile),
            backend_manifest=manifest,
            authority_refs=filter_authority_refs(authority_refs or {}),
        ),
    )
