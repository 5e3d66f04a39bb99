"""Provider profiles and the publication derived from them (SPEC §2.2, §4.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.providers import (
    AMP,
    CLAUDE,
    CODEX,
    COMPLETION_CAPABILITIES,
    GEMINI,
    PROFILES,
    Launch,
    ProviderProfile,
    is_published,
    profile,
    publication,
)
from contracts.testing import launches, provider_profiles, publications


def test_registry_lists_claude_codex_gemini_amp_in_order() -> None:
    assert list(PROFILES) == ["claude", "codex", "gemini", "amp"]
    assert [PROFILES[name] for name in PROFILES] == [CLAUDE, CODEX, GEMINI, AMP]


def test_profile_looks_up_by_id_and_answers_none_for_unknown() -> None:
    assert profile("gemini") is GEMINI
    assert profile("llama") is None


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        PROFILES["llama"] = CLAUDE  # type: ignore[index]


@pytest.mark.parametrize(
    ("provider", "capabilities"),
    [
        (CLAUDE, {"approval", "cost", "interrupt", "resume", "streaming", "thinking", "tools"}),
        (
            CODEX,
            {"interrupt", "reasoning", "resume", "streaming", "structured_output", "tools"},
        ),
        (GEMINI, {"extensions", "interrupt", "sandbox", "streaming", "tools"}),
        (AMP, {"approval", "interrupt", "mcp", "streaming", "thinking", "tools"}),
    ],
    ids=lambda value: value.id if isinstance(value, ProviderProfile) else "",
)
def test_profile_declares_its_real_capabilities(
    provider: ProviderProfile, capabilities: set[str]
) -> None:
    assert provider.capabilities == capabilities


@pytest.mark.parametrize("provider", list(PROFILES.values()), ids=list(PROFILES))
def test_executable_override_variable_is_asm_provider_bin(provider: ProviderProfile) -> None:
    assert provider.bin_env == f"ASM_{provider.id.upper()}_BIN"
    assert provider.executable == provider.id


def test_auth_variables_follow_the_cli_facts() -> None:
    assert "ANTHROPIC_API_KEY" in CLAUDE.auth_env
    assert "CLAUDE_CODE_OAUTH_TOKEN" in CLAUDE.auth_env
    assert "CODEX_API_KEY" in CODEX.auth_env
    assert "GEMINI_API_KEY" in GEMINI.auth_env
    assert "AMP_API_KEY" in AMP.auth_env
    assert all("CLAUDECODE" not in p.auth_env for p in PROFILES.values())


@pytest.mark.parametrize("provider", [CLAUDE, CODEX], ids=["claude", "codex"])
def test_claude_and_codex_publish_cli_agent_v2(provider: ProviderProfile) -> None:
    pub = publication(provider)
    assert pub.cli_agent_v2
    assert not pub.common_surface_only
    assert pub.published_capabilities == ["cli_completion_v1", "cli_streaming_v1", "cli_agent_v2"]


def test_gemini_does_not_publish_cli_agent_v2() -> None:
    pub = publication(GEMINI)
    assert not pub.cli_agent_v2
    assert pub.common_surface_only
    assert pub.published_capabilities == ["cli_completion_v1", "cli_streaming_v1"]


def test_amp_does_not_publish_cli_agent_v2() -> None:
    pub = publication(AMP)
    assert not pub.cli_agent_v2
    assert pub.common_surface_only
    assert pub.published_capabilities == ["cli_completion_v1", "cli_streaming_v1"]


@pytest.mark.parametrize("provider", list(PROFILES.values()), ids=list(PROFILES))
def test_every_real_provider_is_published_with_streaming(provider: ProviderProfile) -> None:
    assert is_published(provider)
    assert publication(provider).cli_streaming_v1


def test_publication_lists_profile_capabilities_sorted_and_explains_every_flag() -> None:
    pub = publication(CODEX)
    assert pub.profile_capabilities == sorted(CODEX.capabilities)
    assert set(pub.derivation) == {
        "cli_completion_v1",
        "cli_streaming_v1",
        "cli_agent_v2",
        "common_surface_only",
    }
    assert all(pub.derivation.values())


def _synthetic(capabilities: set[str], *, agent_surface: bool = False) -> ProviderProfile:
    return ProviderProfile(
        id="synthetic",
        display_name="Synthetic",
        executable="synthetic",
        bin_env="ASM_SYNTHETIC_BIN",
        capabilities=frozenset(capabilities),
        agent_surface=agent_surface,
    )


def test_a_profile_without_completion_capabilities_is_not_published() -> None:
    bare = _synthetic({"approval", "cost", "interrupt", "resume"}, agent_surface=True)
    pub = publication(bare)
    assert not is_published(bare)
    assert pub.published_capabilities == []
    assert pub.common_surface_only
    assert "has none of" in pub.derivation["cli_completion_v1"]


def test_an_agent_surface_without_tools_does_not_publish_cli_agent_v2() -> None:
    pub = publication(_synthetic({"streaming"}, agent_surface=True))
    assert not pub.cli_agent_v2
    assert "lacks tools" in pub.derivation["cli_agent_v2"]


def test_a_profile_with_only_mcp_is_published_without_streaming() -> None:
    pub = publication(_synthetic({"mcp"}))
    assert pub.published_capabilities == ["cli_completion_v1"]


@given(provider_profiles())
def test_publication_follows_the_derivation_rules(provider: ProviderProfile) -> None:
    """Rule: publication is derived from capabilities and the agent surface (SPEC §2.2)."""
    pub = publication(provider)
    assert pub.cli_completion_v1 == bool(provider.capabilities & COMPLETION_CAPABILITIES)
    assert pub.cli_streaming_v1 == ("streaming" in provider.capabilities)
    assert pub.cli_agent_v2 == (
        provider.agent_surface and {"streaming", "tools"} <= provider.capabilities
    )
    assert pub.common_surface_only == (not pub.cli_agent_v2)
    flags = {
        "cli_completion_v1": pub.cli_completion_v1,
        "cli_streaming_v1": pub.cli_streaming_v1,
        "cli_agent_v2": pub.cli_agent_v2,
    }
    assert pub.published_capabilities == [name for name, on in flags.items() if on]
    assert is_published(provider) == pub.cli_completion_v1


@pytest.mark.parametrize(
    "strategy",
    [provider_profiles, publications, launches],
    ids=lambda strategy: strategy.__name__,
)
def test_every_provider_struct_survives_a_json_round_trip(
    strategy: Callable[[], st.SearchStrategy[msgspec.Struct]],
) -> None:
    """Rule: encode then decode (with the Struct's own type) gives back an equal value."""

    @given(strategy())
    def check(value: msgspec.Struct) -> None:
        decoded: Any = msgspec.json.decode(msgspec.json.encode(value), type=type(value))
        assert decoded == value

    check()


def test_a_launch_is_frozen() -> None:
    launch = Launch(argv=("claude", "-p"))
    with pytest.raises(AttributeError):
        launch.argv = ()  # type: ignore[misc]
