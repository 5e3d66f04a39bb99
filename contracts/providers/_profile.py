"""What a provider CLI is, and what it therefore publishes.

A profile states facts about one coding-agent CLI (its executable, the variable that
overrides it, its auth variables, the capabilities it really has). Publication is never
declared next to those facts: :func:`publication` derives it from them (SPEC §2.2), so a
profile cannot claim a surface its capabilities do not support, and the derivation
travels with the result, in words, for a consumer to read::

    >>> from contracts.providers import CODEX, publication
    >>> pub = publication(CODEX)
    >>> pub.published_capabilities
    ['cli_completion_v1', 'cli_streaming_v1', 'cli_agent_v2']

This module also holds the typed seam the per-CLI modules fill in: a :class:`CommandLine`
for a headless completion-only run and a :class:`LineDecoder` turning stdout lines into
session events (SPEC §4.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    # Only for annotations: contracts.session owns the event union, and importing it at
    # run time is not needed for a Protocol.
    from contracts.session import SessionEvent

__all__ = [
    "COMPLETION_CAPABILITIES",
    "CommandLine",
    "LineDecoder",
    "ProviderProfile",
    "Publication",
    "is_published",
    "publication",
]

COMPLETION_CAPABILITIES: frozenset[str] = frozenset(
    {"streaming", "reasoning", "thinking", "tools", "extensions", "mcp"}
)
"""Any one of these makes a CLI able to answer a completion (``cli_completion_v1``)."""

_AGENT_CAPABILITIES: tuple[str, ...] = ("streaming", "tools")


class ProviderProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The facts about one provider CLI.

    ``agent_surface`` says the CLI has an agent loop that could be published as
    ``cli_agent_v2`` (claude and codex); the endpoint itself never exposes it.

    Example::

        ProviderProfile(id="demo", display_name="Demo", executable="demo",
                        bin_env="ASM_DEMO_BIN", capabilities=frozenset({"streaming"}))
    """

    id: str
    display_name: str
    executable: str
    bin_env: str
    capabilities: frozenset[str]
    auth_env: tuple[str, ...] = ()
    agent_surface: bool = False

    def has(self, capability: str) -> bool:
        """``CLAUDE.has("streaming")`` → True."""
        return capability in self.capabilities


class Publication(msgspec.Struct, frozen=True, kw_only=True):
    """What a profile publishes, with the reason for each flag in ``derivation``."""

    cli_completion_v1: bool
    cli_streaming_v1: bool
    cli_agent_v2: bool
    common_surface_only: bool
    published_capabilities: list[str]
    profile_capabilities: list[str]
    derivation: dict[str, str]


def publication(profile: ProviderProfile) -> Publication:
    """Derive the publication of ``profile`` (SPEC §2.2).

    >>> from contracts.providers import GEMINI
    >>> publication(GEMINI).common_surface_only
    True
    """
    held = sorted(profile.capabilities & COMPLETION_CAPABILITIES)
    completion = bool(held)
    streaming = profile.has("streaming")
    lacking = [name for name in _AGENT_CAPABILITIES if not profile.has(name)]
    agent = profile.agent_surface and not lacking
    flags = {
        "cli_completion_v1": completion,
        "cli_streaming_v1": streaming,
        "cli_agent_v2": agent,
    }
    completion_set = ", ".join(sorted(COMPLETION_CAPABILITIES))
    if completion:
        completion_why = f"has {', '.join(held)} (any of {completion_set} suffices)"
    else:
        completion_why = f"has none of {completion_set}"
    if agent:
        agent_why = "has an agent surface with streaming and tools"
    elif not profile.agent_surface:
        agent_why = "has no agent surface (only claude and codex have one)"
    else:
        agent_why = f"has an agent surface but lacks {', '.join(lacking)}"
    return Publication(
        cli_completion_v1=completion,
        cli_streaming_v1=streaming,
        cli_agent_v2=agent,
        common_surface_only=not agent,
        published_capabilities=[name for name, value in flags.items() if value],
        profile_capabilities=sorted(profile.capabilities),
        derivation={
            "cli_completion_v1": completion_why,
            "cli_streaming_v1": "has streaming" if streaming else "lacks streaming",
            "cli_agent_v2": agent_why,
            "common_surface_only": (
                "does not publish cli_agent_v2"
                if not agent
                else "publishes cli_agent_v2; the endpoint still serves only completion"
            ),
        },
    )


def is_published(profile: ProviderProfile) -> bool:
    """Whether an endpoint may be published for ``profile``: ``is_published(AMP)`` → True."""
    return publication(profile).cli_completion_v1


class CommandLine(msgspec.Struct, frozen=True, kw_only=True):
    """The argv and the (already scrubbed) environment of one headless run.

    The prompt is never part of it: it goes to stdin (SPEC §3.2).
    """

    argv: tuple[str, ...]
    env: dict[str, str] = {}


class LineDecoder(Protocol):
    """Turns one CLI's stdout, line by line, into session events.

    One decoder per session: it may keep state (e.g. whether token deltas were seen, so
    a whole message is not counted twice). Unknown lines are kept as raw events, never
    fatal (SPEC §4.1).
    """

    def feed(self, line: bytes) -> list[SessionEvent]:
        """Decode one stdout line (without its newline) into zero or more events."""
        ...

    def finish(self, exit_code: int | None, stderr_tail: str) -> list[SessionEvent]:
        """Classify the end of the run: the terminal events once the process exited."""
        ...
