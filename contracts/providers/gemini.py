"""Gemini CLI (``gemini``): the facts the endpoint needs about it.

Gemini publishes the common surface only (completion and streaming): it is not one of
the CLIs whose agent loop ASM publishes (SPEC §2.2). The command line and the
stream-json decoder will live here too (SPEC §4.1, shared/PROVIDERS.md).

>>> from contracts.providers.gemini import GEMINI
>>> GEMINI.agent_surface
False
"""

from __future__ import annotations

from contracts.providers._profile import ProviderProfile

__all__ = ["GEMINI"]

GEMINI = ProviderProfile(
    id="gemini",
    display_name="Gemini CLI",
    executable="gemini",
    bin_env="ASM_GEMINI_BIN",
    capabilities=frozenset({"extensions", "interrupt", "sandbox", "streaming", "tools"}),
    # API key, Vertex AI (with an API key or application default credentials), and the
    # base-URL override the offline fake upstream relies on.
    auth_env=(
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_GEMINI_BASE_URL",
    ),
    agent_surface=False,
)
