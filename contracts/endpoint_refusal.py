"""Why ``ensure_endpoint`` refused, as data and as an exception (SPEC §2.4).

    >>> refusal = EndpointRefusal(code="missing_model_identity", message="no model id")
    >>> EndpointRefused(refusal).refusal.code
    'missing_model_identity'

An incompatible request carries its :class:`~contracts.endpoint.CompatibilityResult`,
so the caller still learns what the provider publishes.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from contracts.endpoint import CompatibilityResult

__all__ = ["EndpointRefusal", "EndpointRefused", "RefusalCode"]

RefusalCode: TypeAlias = Literal[
    "unsupported_provider",
    "unsupported_endpoint_provider",
    "missing_model_identity",
    "incompatible",
]
"""unknown provider; provider not published; no model id; the compatibility check failed."""


class EndpointRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """The reason an endpoint was not ensured: ``code``, words, and the compatibility."""

    code: RefusalCode
    message: str
    compatibility: CompatibilityResult | None = None


class EndpointRefused(Exception):
    """Raised by ``ensure_endpoint``; ``refusal`` says why."""

    def __init__(self, refusal: EndpointRefusal) -> None:
        super().__init__(f"{refusal.code}: {refusal.message}")
        self.refusal = refusal
