"""Amp CLI (``amp -x``): the facts the endpoint needs about it.

Amp publishes the common surface only (completion and streaming). It has no model flag
and talks to its own service, so the pinned model id is bookkeeping only. The command
line and the decoder of its Claude-compatible lines will live here too (SPEC §4.1).

>>> from contracts.providers.amp import AMP
>>> AMP.auth_env
('AMP_API_KEY', 'AMP_URL')
"""

from __future__ import annotations

from contracts.providers._profile import ProviderProfile

__all__ = ["AMP"]

AMP = ProviderProfile(
    id="amp",
    display_name="Amp CLI",
    executable="amp",
    bin_env="ASM_AMP_BIN",
    capabilities=frozenset({"approval", "interrupt", "mcp", "streaming", "thinking", "tools"}),
    # AMP_URL selects the Amp server; `amp login` state lives in its config dir.
    auth_env=("AMP_API_KEY", "AMP_URL"),
    agent_surface=False,
)
