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
from contracts.providers.gemini_acp import (
    ACP_INITIALIZE,
    REFUSED_PERMISSION,
    AcpTurn,
    prompt_params,
    record_name,
    session_params,
)
from contracts.providers.gemini_acp import failure as acp_failure
from contracts.providers.gemini_record import history_record, persona_turns

__all__ = [
    "ACP_INITIALIZE",
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
    "REFUSED_PERMISSION",
    "AcpTurn",
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
    "acp_failure",
    "driver",
    "gemini_worker_launch",
    "history_items",
    "history_record",
    "is_published",
    "persona_turns",
    "profile",
    "prompt_params",
    "publication",
    "record_name",
    "rpc_line",
    "scrubbed_environment",
    "session_params",
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


def gemini_worker_launch(request: LaunchRequest) -> Launch:
    """The command line of a long-lived gemini worker (``gemini --acp``) for ``request``;
    see :meth:`contracts.providers.gemini.GeminiDriver.worker_launch`."""
    return _GEMINI_DRIVER.worker_launch(request)
