"""Golden examples of the eight payloads: one valid payload per event, one invalid per rule.

``bus-integration-inference --self-test`` checks the contract against these without
needing Hypothesis; the property tests generalise them (contracts.testing.inference).
"""

from __future__ import annotations

from typing import Any, Final

from contracts.inference.names import (
    INSTALL_REQUEST,
    INSTALL_RESPONSE,
    MODEL_ENSURE_REQUEST,
    MODEL_ENSURE_RESPONSE,
    STATUS_REQUEST,
    STATUS_RESPONSE,
    VERIFY_REQUEST,
    VERIFY_RESPONSE,
)
from contracts.inference.rules import Rule

__all__ = ["INVALID", "VALID"]

_NODE: Final = {"provider": "ollama", "node_id": "gpu-node-1"}

VALID: Final[dict[str, dict[str, Any]]] = {
    INSTALL_REQUEST: {
        **_NODE,
        "runtime": {"listen": "127.0.0.1:11434", "context_length": 8192, "environment": "prod"},
        "credentials": {"ssh_private_key_secret": "secret://deployment/gpu-node-1.ssh"},
        "dry_run": False,
        "confirm": True,
    },
    INSTALL_RESPONSE: {
        **_NODE,
        "ok": True,
        "actions": ["check-runtime", "install-runtime", "wait-ready"],
        "diagnostics": [],
        "runtime_status": "ready",
    },
    MODEL_ENSURE_REQUEST: {
        **_NODE,
        "model": "llama3.2:3b",
        "policy": {"allow_model_download": True, "max_model_size_bytes": 4_000_000_000},
    },
    MODEL_ENSURE_RESPONSE: {
        **_NODE,
        "ok": False,
        "model": "llama3.2:3b",
        "actions": [],
        "diagnostics": ["model llama3.2:3b is missing and downloads are not allowed"],
        "error_class": "policy_denied",
    },
    STATUS_REQUEST: dict(_NODE),
    STATUS_RESPONSE: {
        **_NODE,
        "ok": True,
        "runtime_status": "ready",
        "diagnostics": [],
        "models": ["llama3.2:3b"],
    },
    VERIFY_REQUEST: {**_NODE, "checks": ["runtime-ready", "loopback-only"]},
    VERIFY_RESPONSE: {
        **_NODE,
        "ok": False,
        "checks": [
            {"name": "runtime-ready", "ok": True, "diagnostic": "version 0.12.0"},
            {"name": "loopback-only", "ok": False, "diagnostic": "answers on 10.0.0.5:11434"},
        ],
        "diagnostics": ["check loopback-only failed"],
        "error_class": "verify_failed",
    },
}

_ENSURE: Final = VALID[MODEL_ENSURE_REQUEST]
_FAILED: Final = {**_NODE, "ok": False, "diagnostics": ["x"]}

#: (event, rule, payload): each payload breaks exactly its rule.
INVALID: Final[tuple[tuple[str, Rule, Any], ...]] = (
    (STATUS_REQUEST, Rule.PAYLOAD_IS_OBJECT, ["ollama"]),
    (STATUS_REQUEST, Rule.REQUIRED_FIELDS, {"provider": "ollama"}),
    (STATUS_REQUEST, Rule.FIELD_TYPES, {"provider": "ollama", "node_id": 7}),
    (STATUS_REQUEST, Rule.UNKNOWN_KEYS, {**_NODE, "force": True}),
    (INSTALL_REQUEST, Rule.RUNTIME_ALLOWED_KEYS, {**_NODE, "runtime": {"gpu": 1}}),
    (INSTALL_REQUEST, Rule.CREDENTIALS_ALLOWED_KEYS, {**_NODE, "credentials": {"password": ""}}),
    (MODEL_ENSURE_REQUEST, Rule.POLICY_ALLOWED_KEYS, {**_ENSURE, "policy": {"force": True}}),
    (STATUS_REQUEST, Rule.PROVIDER_REGISTERED, {"provider": "vllm", "node_id": "n1"}),
    (STATUS_REQUEST, Rule.NODE_ID_FORMAT, {"provider": "ollama", "node_id": "node 1"}),
    (MODEL_ENSURE_REQUEST, Rule.MODEL_FORMAT, {**_ENSURE, "model": "llama 3"}),
    (INSTALL_REQUEST, Rule.INSTALL_WITHOUT_MODEL, {**_NODE, "model": "llama3"}),
    (INSTALL_REQUEST, Rule.DRY_RUN_AND_CONFIRM, {**_NODE, "dry_run": False}),
    (INSTALL_REQUEST, Rule.RUNTIME_LISTEN, {**_NODE, "runtime": {"listen": "127.0.0.1"}}),
    (INSTALL_REQUEST, Rule.RUNTIME_CONTEXT_LENGTH, {**_NODE, "runtime": {"context_length": 0}}),
    (INSTALL_REQUEST, Rule.RUNTIME_SERVICE_USER, {**_NODE, "runtime": {"service_user": "Root"}}),
    (INSTALL_REQUEST, Rule.RUNTIME_ENVIRONMENT, {**_NODE, "runtime": {"environment": "qa"}}),
    (
        INSTALL_REQUEST,
        Rule.CREDENTIALS_REFERENCES,
        {**_NODE, "credentials": {"api_token_secret": "inline-token-value"}},
    ),
    (
        MODEL_ENSURE_REQUEST,
        Rule.POLICY_MAX_MODEL_SIZE,
        {**_ENSURE, "policy": {"max_model_size_bytes": 0}},
    ),
    (VERIFY_REQUEST, Rule.CHECKS_KNOWN, {**_NODE, "checks": ["gpu-ready"]}),
    (VERIFY_REQUEST, Rule.CHECKS_UNIQUE, {**_NODE, "checks": ["model-ready", "model-ready"]}),
    (INSTALL_REQUEST, Rule.STRICT_BOOLEANS, {**_NODE, "dry_run": "true"}),
    (INSTALL_REQUEST, Rule.STRICT_INTEGERS, {**_NODE, "runtime": {"context_length": 8192.0}}),
    (
        STATUS_RESPONSE,
        Rule.RESPONSE_OK_ERROR_CLASS,
        {**_FAILED, "runtime_status": "failed"},
    ),
    (
        STATUS_RESPONSE,
        Rule.ERROR_CLASS_KNOWN,
        {**_FAILED, "runtime_status": "failed", "error_class": "oops"},
    ),
    (
        STATUS_RESPONSE,
        Rule.RUNTIME_STATUS_KNOWN,
        {**_NODE, "ok": True, "runtime_status": "running", "diagnostics": []},
    ),
    (
        INSTALL_RESPONSE,
        Rule.ACTION_NAMES,
        {**_NODE, "ok": True, "actions": ["Install Runtime"], "diagnostics": []},
    ),
    (
        VERIFY_RESPONSE,
        Rule.VERIFY_OK_IS_CONJUNCTION,
        {
            **_NODE,
            "ok": True,
            "checks": [{"name": "runtime-ready", "ok": False, "diagnostic": "down"}],
            "diagnostics": [],
        },
    ),
    (
        VERIFY_RESPONSE,
        Rule.VERIFY_OK_IS_CONJUNCTION,
        {
            **_FAILED,
            "checks": [{"name": "runtime-ready", "ok": True, "diagnostic": "version 0.12.0"}],
            "error_class": "verify_failed",
        },
    ),
    (
        VERIFY_RESPONSE,
        Rule.VERIFY_FAILURE_NAMES_CHECK,
        {
            **_FAILED,
            "checks": [{"name": "loopback-only", "ok": False, "diagnostic": "answers on 10.0.0.5"}],
            "error_class": "verify_failed",
        },
    ),
    # A response names its provider, node and model by the rules of its request.
    (
        STATUS_RESPONSE,
        Rule.PROVIDER_REGISTERED,
        {**_FAILED, "provider": "", "runtime_status": "unknown", "error_class": "bad_request"},
    ),
    (
        INSTALL_RESPONSE,
        Rule.NODE_ID_FORMAT,
        {**_NODE, "node_id": "node 1", "ok": True, "actions": [], "diagnostics": []},
    ),
    (
        MODEL_ENSURE_RESPONSE,
        Rule.MODEL_FORMAT,
        {**_NODE, "ok": True, "model": "", "actions": [], "diagnostics": []},
    ),
)
