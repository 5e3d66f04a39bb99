"""The four provider CLIs, and the registry the endpoint looks them up in.

Per-CLI facts live in one module each (``claude``, ``codex``, ``gemini``, ``amp``); the
shared shape and the publication rule live in :mod:`contracts.providers._profile`.
Lookup is by provider id::

    >>> from contracts.providers import profile, publication
    >>> publication(profile("claude")).cli_agent_v2
    True
    >>> profile("llama") is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from contracts.providers._profile import (
    COMPLETION_CAPABILITIES,
    PASSTHROUGH_ENV,
    CliDriver,
    CommandLine,
    LineDecoder,
    ProviderProfile,
    Publication,
    is_published,
    publication,
    scrubbed_environment,
)
from contracts.providers.amp import AMP
from contracts.providers.claude import CLAUDE
from contracts.providers.codex import CODEX
from contracts.providers.gemini import GEMINI

__all__ = [
    "AMP",
    "CLAUDE",
    "CODEX",
    "COMPLETION_CAPABILITIES",
    "GEMINI",
    "PASSTHROUGH_ENV",
    "PROFILES",
    "CliDriver",
    "CommandLine",
    "LineDecoder",
    "ProviderProfile",
    "Publication",
    "is_published",
    "profile",
    "publication",
    "scrubbed_environment",
]

PROFILES: Mapping[str, ProviderProfile] = MappingProxyType(
    {p.id: p for p in (CLAUDE, CODEX, GEMINI, AMP)}
)
"""Every known provider by id, in the order claude, codex, gemini, amp (read-only)."""


def profile(provider_id: str) -> ProviderProfile | None:
    """The profile of ``provider_id``, or None when unknown: ``profile("codex")``."""
    return PROFILES.get(provider_id)
