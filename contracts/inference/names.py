"""The names of the bus.inference contract: its events, identities, literals and actions.

The eight event names in BUS.md §1 order, the bridge's identity, the progress events of
an install and of a model pull (:data:`PROGRESS_FOR`), and the closed sets a payload's
fields draw from (providers, environments, checks, error classes, runtime statuses,
Ollama's actions)::

    >>> from contracts.inference.names import RESPONSE_FOR, STATUS_REQUEST
    >>> RESPONSE_FOR[STATUS_REQUEST]
    'bus.inference.status.response'
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "ACTIONS",
    "BRIDGE_IDENTITY",
    "CHECK_NAMES",
    "DEFAULT_CHECKS",
    "ERROR_CLASSES",
    "EVENT_NAMES",
    "INSTALL_EVENTS",
    "INSTALL_PROGRESS",
    "INSTALL_REQUEST",
    "INSTALL_RESPONSE",
    "MODEL_ENSURE_EVENTS",
    "MODEL_ENSURE_PROGRESS",
    "MODEL_ENSURE_REQUEST",
    "MODEL_ENSURE_RESPONSE",
    "PROGRESS_FOR",
    "PROVIDERS",
    "REQUEST_NAMES",
    "RESPONSE_FOR",
    "RESPONSE_NAMES",
    "RUNTIME_STATUSES",
    "STATUS_REQUEST",
    "STATUS_RESPONSE",
    "VERIFY_REQUEST",
    "VERIFY_RESPONSE",
    "CheckName",
    "Environment",
    "ErrorClass",
    "ProviderId",
    "RuntimeStatus",
]


BRIDGE_IDENTITY: Final = "asm-inference-bridge"
"""The identity the embedded inference bridge publishes its responses under. Its answers
are trusted by this name (BUS.md §3 idempotency), so no token is issued for it."""

INSTALL_REQUEST: Final = "bus.inference.install.request"
INSTALL_RESPONSE: Final = "bus.inference.install.response"
MODEL_ENSURE_REQUEST: Final = "bus.inference.model.ensure.request"
MODEL_ENSURE_RESPONSE: Final = "bus.inference.model.ensure.response"
STATUS_REQUEST: Final = "bus.inference.status.request"
STATUS_RESPONSE: Final = "bus.inference.status.response"
VERIFY_REQUEST: Final = "bus.inference.verify.request"
VERIFY_RESPONSE: Final = "bus.inference.verify.response"
MODEL_ENSURE_PROGRESS: Final = "bus.inference.model.ensure.progress"
"""A model pull's progress, published by the bridge before the model.ensure response."""
MODEL_ENSURE_EVENTS: Final = "bus.inference.model.ensure.*"
"""The listen pattern of a model.ensure's progress and its response."""
INSTALL_PROGRESS: Final = "bus.inference.install.progress"
"""An install's steps as they start and end (``{"action", "status", "step", "steps"}``,
``status`` one of started, running, done, failed), published by the bridge before the
install response."""
INSTALL_EVENTS: Final = "bus.inference.install.*"
"""The listen pattern of an install's progress and its response."""

#: The eight names in the order of BUS.md §1 (``--events`` prints them so).
EVENT_NAMES: Final = (
    INSTALL_REQUEST,
    INSTALL_RESPONSE,
    MODEL_ENSURE_REQUEST,
    MODEL_ENSURE_RESPONSE,
    STATUS_REQUEST,
    STATUS_RESPONSE,
    VERIFY_REQUEST,
    VERIFY_RESPONSE,
)
REQUEST_NAMES: Final = EVENT_NAMES[0::2]
RESPONSE_NAMES: Final = EVENT_NAMES[1::2]
RESPONSE_FOR: Final = dict(zip(REQUEST_NAMES, RESPONSE_NAMES, strict=True))
#: The progress event a request's progress reports are published as (none: no progress).
PROGRESS_FOR: Final = {
    INSTALL_REQUEST: INSTALL_PROGRESS,
    MODEL_ENSURE_REQUEST: MODEL_ENSURE_PROGRESS,
}

ProviderId = Literal["ollama"]
PROVIDERS: Final[tuple[str, ...]] = get_args(ProviderId)

Environment = Literal["dev", "staging", "prod"]
CheckName = Literal["runtime-ready", "model-ready", "loopback-only"]
CHECK_NAMES: Final[tuple[str, ...]] = get_args(CheckName)
DEFAULT_CHECKS: Final[tuple[CheckName, ...]] = ("runtime-ready", "model-ready")

ErrorClass = Literal[
    "bad_request",
    "unauthorized",
    "unsupported_provider",
    "unknown_node",
    "secret_not_found",
    "policy_denied",
    "confirmation_required",
    "conflict",
    "provider_error",
    "timeout",
    "verify_failed",
]
ERROR_CLASSES: Final[tuple[str, ...]] = get_args(ErrorClass)

RuntimeStatus = Literal["unknown", "installing", "ready", "failed"]
RUNTIME_STATUSES: Final[tuple[str, ...]] = get_args(RuntimeStatus)

#: Ollama's action names (BUS.md §1, decided); any kebab-case verb is a valid action.
ACTIONS: Final = (
    "check-runtime",
    "download-runtime",
    "install-runtime",
    "create-service-user",
    "write-service-unit",
    "configure-listen",
    "configure-context-length",
    "start-service",
    "wait-ready",
    "ensure-model",
    "pull-model",
)
