"""The four provider CLIs, and the registry the endpoint looks them up in.

Per-CLI facts live in one module each (``claude``, ``codex``, ``gemini``, ``amp``); the
shared shape and the publication rule live in :mod:`contracts.providers._profile`.
Lookup is by provider id, for the facts and for the driver the session actor runs::

    >>> from contracts.providers import driver, profile, publication
    >>> publication(profile("claude")).cli_agent_v2
    True
    >>> profile("llama") is None
    True
    >>> driver("codex").credential_files
    ('.codex/auth.json',)
"""

from __future__ import annotations

from collections.abc import Mapping as _Mapping
from types import MappingProxyType as _MappingProxyType

from contracts.providers._delivery import (
    PERSONAS,
    Delivery,
    Launch,
    LaunchRequest,
    Persona,
    Workspace,
)
from contracts.providers._profile import (
    COMPLETION_CAPABILITIES,
    PASSTHROUGH_ENV,
    CliDriver,
    LineDecoder,
    ProviderProfile,
    Publication,
    is_published,
    publication,
    scrubbed_environment,
)
from contracts.providers.amp import AMP
from contracts.providers.amp import DRIVER as _AMP_DRIVER
from contracts.providers.claude import CLAUDE
from contracts.providers.claude import DRIVER as _CLAUDE_DRIVER
from contracts.providers.codex import CODEX
from contracts.providers.codex import DRIVER as _CODEX_DRIVER
from contracts.providers.codex_app_server import (
    CLIENT_INFO,
    DECLINED,
    AppServerTurn,
    history_items,
    rpc_line,
    thread_start_params,
    turn_start_params,
)
from contracts.providers.gemini import DRIVER as _GEMINI_DRIVER
from contracts.providers.gemini import GEMINI

__all__ = [
    "AMP",
    "CLAUDE",
    "CLIENT_INFO",
    "CODEX",
    "COMPLETION_CAPABILITIES",
    "DECLINED",
    "DRIVERS",
    "GEMINI",
    "PASSTHROUGH_ENV",
    "PERSONAS",
    "PROFILES",
    "AppServerTurn",
    "CliDriver",
    "Delivery",
    "Launch",
    "LaunchRequest",
    "LineDecoder",
    "Persona",
    "ProviderProfile",
    "Publication",
    "Workspace",
    "driver",
    "history_items",
    "is_published",
    "profile",
    "publication",
    "rpc_line",
    "scrubbed_environment",
    "thread_start_params",
    "turn_start_params",
    "worker_launch",
]

PROFILES: _Mapping[str, ProviderProfile] = _MappingProxyType(
    {p.id: p for p in (CLAUDE, CODEX, GEMINI, AMP)}
)
"""Every known provider by id, in the order claude, codex, gemini, amp (read-only)."""


def profile(provider_id: str) -> ProviderProfile | None:
    """The profile of ``provider_id``, or None when unknown: ``profile("codex")``."""
    return PROFILES.get(provider_id)


DRIVERS: _Mapping[str, CliDriver] = _MappingProxyType(
    {d.profile.id: d for d in (_CLAUDE_DRIVER, _CODEX_DRIVER, _GEMINI_DRIVER, _AMP_DRIVER)}
)
"""Every provider's driver by id, in the order of :data:`PROFILES` (read-only)."""


def driver(provider_id: str) -> CliDriver | None:
    """The driver of ``provider_id``, or None when unknown: ``driver("gemini")``."""
    return DRIVERS.get(provider_id)


def worker_launch(request: LaunchRequest) -> Launch:
    """The command line of a long-lived codex worker (``codex app-server``) for
    ``request``; see :meth:`contracts.providers.codex.CodexDriver.worker_launch`."""
    return _CODEX_DRIVER.worker_launch(request)
