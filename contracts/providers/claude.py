"""Claude Code (``claude``): the facts the endpoint needs about it.

Claude has an agent loop (tools, approvals, resume), so it could publish
``cli_agent_v2``; the endpoint still runs it completion-only (SPEC §4.3). The command
line and the stream-json decoder will live here too (SPEC §4.1, shared/PROVIDERS.md).

>>> from contracts.providers.claude import CLAUDE
>>> CLAUDE.bin_env
'ASM_CLAUDE_BIN'
"""

from __future__ import annotations

from contracts.providers._profile import ProviderProfile

__all__ = ["CLAUDE"]

CLAUDE = ProviderProfile(
    id="claude",
    display_name="Claude Code",
    executable="claude",
    bin_env="ASM_CLAUDE_BIN",
    capabilities=frozenset(
        {"approval", "cost", "interrupt", "resume", "streaming", "thinking", "tools"}
    ),
    # Passed through the scrubbed environment so existing logins keep working.
    auth_env=(
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
    ),
    agent_surface=True,
)
