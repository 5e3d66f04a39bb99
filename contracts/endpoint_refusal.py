"""Why ``ensure_endpoint`` refused, as data and as an exception, and the rules it checks
before a lease starts (SPEC §2.4).

    >>> refusal = EndpointRefusal(code="missing_model_identity", message="no model id")
    >>> EndpointRefused(refusal).refusal.code
    'missing_model_identity'
    >>> model_id_problem("claude-sonnet-4-5") is None
    True
    >>> model_id_problem("m\\x00")
    'model_preference.id must be printable text without whitespace (no NUL, no control character)'
    >>> lease_seconds_problem("lease_ttl_seconds", -1)
    'context.lease_ttl_seconds must be a positive number of seconds, not -1'
    >>> from contracts.providers import CLAUDE
    >>> not_installed_problem(CLAUDE, "claude")[:57]
    "the claude CLI is not installed: 'claude' is not on PATH;"

An incompatible request carries its :class:`~contracts.endpoint.CompatibilityResult`,
so the caller still learns what the provider publishes. The rules are checked at
ensure, not at the first completion, because the model id goes on the CLI's command
line: a NUL byte there cannot be passed at all, and a leading ``-`` would be read as an
option; a lease timeout that is not a positive number is the caller's mistake, said
at once rather than ignored; a CLI that is not installed is said at ensure, naming
where its executable is configured, rather than by every completion as a 503.
"""

from __future__ import annotations

import math
from typing import Final, Literal, TypeAlias

import msgspec

from contracts.endpoint import CompatibilityResult
from contracts.providers import ProviderProfile

__all__ = [
    "LEASE_SECONDS_FIELDS",
    "MODEL_ID_MAX_CHARS",
    "EndpointRefusal",
    "EndpointRefused",
    "RefusalCode",
    "lease_seconds_problem",
    "model_id_problem",
    "not_installed_problem",
]

RefusalCode: TypeAlias = Literal[
    "unsupported_provider",
    "unsupported_endpoint_provider",
    "missing_model_identity",
    "invalid_model_identity",
    "invalid_lease_timeout",
    "incompatible",
    "not_installed",
]
"""unknown provider; provider not published; no model id; a model id no CLI command line
can carry; a lease TTL or idle timeout that is not a positive number; the compatibility
check failed; the provider's CLI is not installed (:func:`not_installed_problem`)."""

MODEL_ID_MAX_CHARS: Final = 200
"""The longest model id a lease pins (the longest real ones are under 80)."""

LEASE_SECONDS_FIELDS: Final = ("lease_ttl_seconds", "lease_idle_seconds")
"""The context fields that shorten a lease's TTL and idle timeout."""


class EndpointRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """The reason an endpoint was not ensured: ``code``, words, the field at fault
    (``param``, as the error envelope names it) and the compatibility."""

    code: RefusalCode
    message: str
    compatibility: CompatibilityResult | None = None
    param: str | None = None


class EndpointRefused(Exception):
    """Raised by ``ensure_endpoint``; ``refusal`` says why."""

    def __init__(self, refusal: EndpointRefusal) -> None:
        super().__init__(f"{refusal.code}: {refusal.message}")
        self.refusal = refusal


def model_id_problem(model: str) -> str | None:
    """Why ``model`` (not blank) cannot be pinned, or None: it must be 1-200 printable
    characters without whitespace, not starting with ``-``. The value is never quoted."""
    if len(model) > MODEL_ID_MAX_CHARS:
        return f"model_preference.id is {len(model)} characters; at most {MODEL_ID_MAX_CHARS}"
    if not model.isprintable() or " " in model:
        return (
            "model_preference.id must be printable text without whitespace"
            " (no NUL, no control character)"
        )
    if model.startswith("-"):
        return "model_preference.id must not start with '-' (a CLI would read an option)"
    return None


def lease_seconds_problem(field: str, value: object) -> str | None:
    """Why ``value`` cannot shorten a lease as ``context.<field>``, or None: absent (None)
    or a finite number of seconds above 0; a string, a boolean, 0 or -1 are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        # What it is, not what it says: a context value is the caller's text.
        kinds = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
        shown = kinds.get(type(value), "a " + type(value).__name__)
    elif math.isfinite(value) and value > 0:
        return None
    else:
        shown = repr(value)
    return f"context.{field} must be a positive number of seconds, not {shown}"


def not_installed_problem(provider: ProviderProfile, executable: str) -> str:
    """Why a lease of ``provider`` cannot start when ``executable`` (what
    ``ASM_<PROVIDER>_BIN``, else ``[providers.<id>].executable``, else its name resolved
    to) is not an executable file: what was looked for, and where to set it."""
    if executable == provider.executable:
        where = f"{executable!r} is not on PATH"
    else:
        where = f"the configured executable {executable!r} is not an executable file"
    return (
        f"the {provider.id} CLI is not installed: {where}; install it, or set"
        f" {provider.bin_env} or [providers.{provider.id}].executable in asm.toml to its path"
    )
