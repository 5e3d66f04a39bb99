"""Valid values and payloads of the eight bus.inference events.

See contracts.testing.inference for how to use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from contracts.inference import (
    ACTIONS,
    CHECK_NAMES,
    ERROR_CLASSES,
    INSTALL_REQUEST,
    INSTALL_RESPONSE,
    MODEL_ENSURE_REQUEST,
    MODEL_ENSURE_RESPONSE,
    NODE_ID_PATTERN,
    RUNTIME_STATUSES,
    SECRET_REF_PREFIX,
    SERVICE_USER_PATTERN,
    STATUS_REQUEST,
    STATUS_RESPONSE,
    VERIFY_REQUEST,
    VERIFY_RESPONSE,
)

__all__ = [
    "credentials",
    "diagnostics_lists",
    "environments",
    "hostnames",
    "kebab_actions",
    "listens",
    "models",
    "node_ids",
    "policies",
    "runtimes",
    "secret_names",
    "secret_refs",
    "service_users",
    "valid_payloads",
]

JSON = Any
Draw = Callable[[st.SearchStrategy[Any]], Any]


# --- field values -------------------------------------------------------------------

node_ids = st.from_regex(NODE_ID_PATTERN, fullmatch=True)
models = st.text(
    st.characters(exclude_categories=("Z", "Cc", "Cs"), exclude_characters="\x1c\x1d\x1e\x1f"),
    min_size=1,
    max_size=60,
).filter(lambda m: len(m.encode()) <= 200 and m.split() == [m])
secret_names = st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True).filter(
    lambda name: name not in (".", "..")
)
secret_refs = secret_names.map(lambda name: SECRET_REF_PREFIX + name)
# RFC 1123 names; the last label starts with a letter (all digits would read as IPv4).
hostnames = st.from_regex(
    r"([a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.){0,3}[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True
)
_hosts = st.one_of(
    hostnames,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
)
listens = st.builds(lambda host, port: f"{host}:{port}", _hosts, st.integers(1, 65535))
service_users = st.from_regex(SERVICE_USER_PATTERN, fullmatch=True)
environments = st.sampled_from(["dev", "staging", "prod"])
kebab_actions = st.one_of(
    st.sampled_from(ACTIONS), st.from_regex(r"[a-z]{1,8}(-[a-z]{1,8}){0,3}", fullmatch=True)
)
diagnostics_lists = st.lists(st.text(max_size=40), max_size=3)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def _dry_run_and_confirm() -> st.SearchStrategy[dict[str, Any]]:
    """Absent, dry-run or confirmed execution: never an unconfirmed execution."""
    return st.one_of(
        _optional(dry_run=st.just(True), confirm=st.booleans()),
        st.fixed_dictionaries({"dry_run": st.just(False), "confirm": st.just(True)}),
    )


def _request_base() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"provider": st.just("ollama"), "node_id": node_ids})


def _merge(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda dicts: {k: v for d in dicts for k, v in d.items()})


# --- valid payloads -----------------------------------------------------------------

runtimes = _optional(
    listen=listens,
    context_length=st.integers(1, 2**31),
    service_user=service_users,
    environment=environments,
)
credentials = _optional(
    api_token_secret=secret_refs, tls_ca_file=secret_refs, ssh_private_key_secret=secret_refs
)
policies = _optional(
    allow_model_download=st.booleans(),
    max_model_size_bytes=st.integers(1, 2**63 - 1),
    require_confirmation_for_prod=st.booleans(),
)


def _install_requests() -> st.SearchStrategy[dict[str, Any]]:
    return _merge(
        _request_base(),
        _optional(runtime=runtimes, credentials=credentials),
        _dry_run_and_confirm(),
    )


def _model_ensure_requests() -> st.SearchStrategy[dict[str, Any]]:
    return _merge(
        _request_base(),
        st.fixed_dictionaries({"model": models}),
        _optional(policy=policies),
        _dry_run_and_confirm(),
    )


def _verify_requests() -> st.SearchStrategy[dict[str, Any]]:
    checks = st.lists(st.sampled_from(CHECK_NAMES), min_size=1, unique=True)
    return _merge(_request_base(), _optional(checks=checks))


@st.composite
def _outcome(draw: Draw) -> dict[str, Any]:
    """``ok`` with what it implies: ok false carries an error class and a diagnostic."""
    if draw(st.booleans()):
        return {"ok": True, "diagnostics": draw(diagnostics_lists)}
    return {
        "ok": False,
        "error_class": draw(st.sampled_from(ERROR_CLASSES)),
        "diagnostics": draw(st.lists(st.text(max_size=40), min_size=1, max_size=3)),
    }


def _response_base() -> st.SearchStrategy[dict[str, Any]]:
    return _merge(
        st.fixed_dictionaries({"provider": st.just("ollama"), "node_id": node_ids}), _outcome()
    )


@st.composite
def _verify_responses(draw: Draw) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(CHECK_NAMES), unique=True))
    checks = [
        {"name": name, "ok": draw(st.booleans()), "diagnostic": draw(st.text(max_size=30))}
        for name in names
    ]
    payload: dict[str, Any] = {"provider": "ollama", "node_id": draw(node_ids), "checks": checks}
    failed = [check["name"] for check in checks if not check["ok"]]
    if failed:
        # Some diagnostic names the first failing check; others may say anything.
        diagnostics = draw(diagnostics_lists)
        diagnostics.insert(draw(st.integers(0, len(diagnostics))), f"check {failed[0]} failed")
        return payload | {"ok": False, "error_class": "verify_failed", "diagnostics": diagnostics}
    if checks:  # every check passed: ok is their conjunction
        return payload | {"ok": True, "diagnostics": draw(diagnostics_lists)}
    # No check ran (unknown node, timeout...): ok false with any class but verify_failed.
    return payload | {
        "ok": False,
        "error_class": draw(st.sampled_from([c for c in ERROR_CLASSES if c != "verify_failed"])),
        "diagnostics": draw(st.lists(st.text(max_size=40), min_size=1, max_size=3)),
    }


_VALID: dict[str, Callable[[], st.SearchStrategy[dict[str, Any]]]] = {
    INSTALL_REQUEST: _install_requests,
    INSTALL_RESPONSE: lambda: _merge(
        _response_base(),
        st.fixed_dictionaries({"actions": st.lists(kebab_actions, max_size=5)}),
        _optional(runtime_status=st.sampled_from(RUNTIME_STATUSES)),
    ),
    MODEL_ENSURE_REQUEST: _model_ensure_requests,
    MODEL_ENSURE_RESPONSE: lambda: _merge(
        _response_base(),
        st.fixed_dictionaries({"model": models, "actions": st.lists(kebab_actions, max_size=5)}),
    ),
    STATUS_REQUEST: _request_base,
    STATUS_RESPONSE: lambda: _merge(
        _response_base(),
        st.fixed_dictionaries({"runtime_status": st.sampled_from(RUNTIME_STATUSES)}),
        _optional(models=st.lists(models, max_size=4)),
    ),
    VERIFY_REQUEST: _verify_requests,
    VERIFY_RESPONSE: _verify_responses,
}


def valid_payloads(event: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of ``event`` that satisfy every rule of BUS.md §1."""
    return _VALID[event]()
