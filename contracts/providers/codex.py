"""OpenAI Codex CLI (``codex exec``): the facts the endpoint needs about it.

Codex has an agent loop, so it could publish ``cli_agent_v2``; the endpoint still runs
it completion-only (SPEC §4.3). Its exec mode gives no token deltas, only whole
messages. The command line and the JSONL decoder will live here too (SPEC §4.1).

>>> from contracts.providers.codex import CODEX
>>> CODEX.executable
'codex'
"""

from __future__ import annotations

from contracts.providers._profile import ProviderProfile

__all__ = ["CODEX"]

CODEX = ProviderProfile(
    id="codex",
    display_name="OpenAI Codex CLI",
    executable="codex",
    bin_env="ASM_CODEX_BIN",
    capabilities=frozenset(
        {"interrupt", "reasoning", "resume", "streaming", "structured_output", "tools"}
    ),
    # CODEX_HOME locates auth.json; CODEX_API_KEY authenticates exec mode directly.
    auth_env=("CODEX_API_KEY", "CODEX_HOME"),
    agent_surface=True,
)
