"""The eight ``bus.inference.*`` payloads of BusDK's inference-runtime contract.

Every payload is a frozen msgspec Struct that forbids unknown keys at every level, so
decoding *is* validating: a payload that decodes into its Struct satisfies every rule
of BUS.md §1. Rules that a type cannot say on its own (``confirm`` versus ``dry_run``,
byte length of ``model``, duplicate checks, ``ok`` versus ``error_class``) live in
``__post_init__`` and raise with the rule's name in brackets, ``[rule] message``, which
:mod:`contracts.inference.validation` turns into a labelled diagnostic.

    >>> import msgspec
    >>> from contracts.inference.payloads import StatusRequest
    >>> msgspec.json.decode(b'{"provider":"ollama","node_id":"gpu-1"}', type=StatusRequest)
    StatusRequest(provider='ollama', node_id='gpu-1')

Absent optional fields are ``msgspec.UNSET`` and stay absent when encoded; fields with
a default (``dry_run``, ``confirm``, the policy flags, ``runtime.environment``) are
filled in, which is what ``bus-integration-inference --validate`` prints.

A response obeys the field rules of its request (provider, node_id, model): an answer
about a node that no request could name answers nothing, and a validator that let it pass
would let a bridge publish ``provider: ""``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Final, NoReturn

import msgspec
from msgspec import UNSET, Meta, UnsetType

from contracts.inference.names import (
    DEFAULT_CHECKS,
    EVENT_NAMES,
    INSTALL_REQUEST,
    INSTALL_RESPONSE,
    MODEL_ENSURE_REQUEST,
    MODEL_ENSURE_RESPONSE,
    STATUS_REQUEST,
    STATUS_RESPONSE,
    VERIFY_REQUEST,
    VERIFY_RESPONSE,
    CheckName,
    Environment,
    ErrorClass,
    ProviderId,
    RuntimeStatus,
)
from contracts.inference.rules import (
    ACTION_PATTERN,
    INT64_MAX,
    MODEL_SAFE_CHARS,
    NODE_ID_CHARS,
    Rule,
    broken,
    check_listen,
    check_model,
    check_node_id,
    check_service_user,
    check_verify_outcome,
    is_secret_ref,
    listen_fast,
    secret_ref_ok,
    service_user_ok,
)

__all__ = [
    "PAYLOAD_TYPES",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "Action",
    "CheckResult",
    "Credentials",
    "InstallRequest",
    "InstallResponse",
    "Model",
    "ModelEnsureRequest",
    "ModelEnsureResponse",
    "NodeId",
    "Policy",
    "PositiveInt",
    "RequestPayload",
    "ResponsePayload",
    "Runtime",
    "StatusRequest",
    "StatusResponse",
    "VerifyRequest",
    "VerifyResponse",
]

# --- field types --------------------------------------------------------------

NodeId = Annotated[str, Meta(min_length=1, max_length=64)]
Model = Annotated[str, Meta(min_length=1)]
Action = Annotated[str, Meta(pattern=ACTION_PATTERN)]
PositiveInt = Annotated[int, Meta(gt=0, le=INT64_MAX)]


def _refuse_credentials(credentials: Credentials) -> NoReturn:
    for key in credentials.__struct_fields__:
        value = getattr(credentials, key)
        if value is not UNSET and not is_secret_ref(value):
            # Name the key, never the value: it may be the very secret.
            raise broken(
                Rule.CREDENTIALS_REFERENCES,
                f"credentials.{key} must be a reference secret://deployment/<name>",
            )
    raise AssertionError("called without a bad reference")


# --- request parts ----------------------------------------------------------------


class Runtime(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """How the runtime should run: ``runtime`` of an install request."""

    listen: str | UnsetType = UNSET
    context_length: PositiveInt | UnsetType = UNSET
    service_user: str | UnsetType = UNSET
    environment: Environment = "dev"

    def __post_init__(self) -> None:
        # The fast halves of the rules inline; the check_* functions decide the rest.
        listen = self.listen
        if listen is not UNSET and listen_fast(listen) is None:
            check_listen(listen)
        user = self.service_user
        if user is not UNSET and service_user_ok(user) is None:
            check_service_user(user)


class Credentials(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """References to secrets, never the secrets: each value is ``secret://deployment/<name>``."""

    api_token_secret: str | UnsetType = UNSET
    tls_ca_file: str | UnsetType = UNSET
    ssh_private_key_secret: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        for value in (self.api_token_secret, self.tls_ca_file, self.ssh_private_key_secret):
            if value is not UNSET and secret_ref_ok(value) is None:
                _refuse_credentials(self)


class Policy(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What a model.ensure may do on the node."""

    allow_model_download: bool = False
    max_model_size_bytes: PositiveInt | UnsetType = UNSET
    require_confirmation_for_prod: bool = True


def _unconfirmed() -> ValueError:
    return broken(Rule.DRY_RUN_AND_CONFIRM, "confirm must be true unless dry_run is true")


# --- requests ---------------------------------------------------------------------


class InstallRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.install.request``: install and configure the runtime on a node."""

    provider: ProviderId
    node_id: NodeId
    # Frozen, so one default instance is shared instead of built per decode.
    runtime: Runtime = Runtime()
    credentials: Credentials = Credentials()
    dry_run: bool = True
    confirm: bool = False

    def __post_init__(self) -> None:
        if self.node_id.strip(NODE_ID_CHARS):
            check_node_id(self.node_id)
        if not (self.dry_run or self.confirm):
            raise _unconfirmed()


class ModelEnsureRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.model.ensure.request``: make one model present on a node."""

    provider: ProviderId
    node_id: NodeId
    model: Model
    dry_run: bool = True
    confirm: bool = False
    policy: Policy = Policy()

    def __post_init__(self) -> None:
        if self.node_id.strip(NODE_ID_CHARS):
            check_node_id(self.node_id)
        model = self.model
        # Printable (no whitespace, control or surrogate character), no space and at most
        # 50 characters (so at most 200 bytes) is a valid model; check_model decides the rest.
        if not (len(model) <= MODEL_SAFE_CHARS and model.isprintable() and " " not in model):
            check_model(model)
        if not (self.dry_run or self.confirm):
            raise _unconfirmed()


class StatusRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.status.request``: report the runtime's state and models."""

    provider: ProviderId
    node_id: NodeId

    def __post_init__(self) -> None:
        if self.node_id.strip(NODE_ID_CHARS):
            check_node_id(self.node_id)


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.verify.request``: run readiness checks.

    ``checks`` absent means the provider's default checks (:data:`DEFAULT_CHECKS`).
    **Decided**: an empty list is refused (``checks_known``), since a verify of nothing
    would answer ok and mislead an operator.
    """

    provider: ProviderId
    node_id: NodeId
    checks: list[CheckName] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.node_id.strip(NODE_ID_CHARS):
            check_node_id(self.node_id)
        checks = self.checks
        if checks is not UNSET and (not checks or len(set(checks)) != len(checks)):
            _refuse_checks(checks)

    def effective_checks(self) -> tuple[CheckName, ...]:
        """The checks to run, in request order: the given ones or the defaults."""
        return tuple(self.checks) if isinstance(self.checks, list) else DEFAULT_CHECKS


def _refuse_checks(checks: list[CheckName]) -> NoReturn:
    if not checks:
        raise broken(Rule.CHECKS_KNOWN, "checks must name at least one check")
    seen: set[str] = set()
    for name in checks:
        if name in seen:
            raise broken(Rule.CHECKS_UNIQUE, f"check {name!r} is listed twice")
        seen.add(name)
    raise AssertionError("called without an empty or repeated check")


def _check_models(models: Iterable[str]) -> None:
    for model in models:  # the fast half of check_model, as in ModelEnsureRequest
        if not (len(model) <= MODEL_SAFE_CHARS and model.isprintable() and " " not in model):
            check_model(model)


# --- responses --------------------------------------------------------------------


def _check_response(node_id: str, ok: bool, error_class: object, diagnostics: list[str]) -> None:
    """What every response shares: node_id by the request's rule (provider and model are
    typed as in requests, so a bridge cannot answer ``provider: ""``), then ok against
    error_class and diagnostics."""
    if node_id.strip(NODE_ID_CHARS):
        check_node_id(node_id)
    if ok and error_class is not UNSET:
        raise broken(Rule.RESPONSE_OK_ERROR_CLASS, "error_class is only for ok false")
    if not ok and (error_class is UNSET or not diagnostics):
        raise broken(
            Rule.RESPONSE_OK_ERROR_CLASS,
            "ok false needs an error_class and at least one diagnostic",
        )


class InstallResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.install.response``: the actions planned (dry run) or taken."""

    ok: bool
    provider: ProviderId
    node_id: NodeId
    actions: list[Action]
    diagnostics: list[str]
    runtime_status: RuntimeStatus | UnsetType = UNSET
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_response(self.node_id, self.ok, self.error_class, self.diagnostics)


class ModelEnsureResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.model.ensure.response``."""

    ok: bool
    provider: ProviderId
    node_id: NodeId
    model: Model
    actions: list[Action]
    diagnostics: list[str]
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_models((self.model,))
        _check_response(self.node_id, self.ok, self.error_class, self.diagnostics)


class StatusResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.status.response``."""

    ok: bool
    provider: ProviderId
    node_id: NodeId
    runtime_status: RuntimeStatus
    diagnostics: list[str]
    models: list[Model] | UnsetType = UNSET
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.models is not UNSET:
            _check_models(self.models)
        _check_response(self.node_id, self.ok, self.error_class, self.diagnostics)


class CheckResult(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One check of a verify response (BUS.md §1, decided)."""

    name: CheckName
    ok: bool
    diagnostic: str


class VerifyResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.verify.response``: checks in request order; ok is their conjunction.

    A response that ran no check (unknown node, bad request) is ok false with its own
    error class; once a check fails, ok is false, the class is ``verify_failed`` and a
    diagnostic names the first failing check (:func:`check_verify_outcome`).
    """

    ok: bool
    provider: ProviderId
    node_id: NodeId
    checks: list[CheckResult]
    diagnostics: list[str]
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_response(self.node_id, self.ok, self.error_class, self.diagnostics)
        checks = [(check.name, check.ok) for check in self.checks]
        check_verify_outcome(self.ok, self.error_class, checks, self.diagnostics)


RequestPayload = InstallRequest | ModelEnsureRequest | StatusRequest | VerifyRequest
ResponsePayload = InstallResponse | ModelEnsureResponse | StatusResponse | VerifyResponse

REQUEST_TYPES: Final[dict[str, type[RequestPayload]]] = {
    INSTALL_REQUEST: InstallRequest,
    MODEL_ENSURE_REQUEST: ModelEnsureRequest,
    STATUS_REQUEST: StatusRequest,
    VERIFY_REQUEST: VerifyRequest,
}
RESPONSE_TYPES: Final[dict[str, type[ResponsePayload]]] = {
    INSTALL_RESPONSE: InstallResponse,
    MODEL_ENSURE_RESPONSE: ModelEnsureResponse,
    STATUS_RESPONSE: StatusResponse,
    VERIFY_RESPONSE: VerifyResponse,
}
PAYLOAD_TYPES: Final[dict[str, type[RequestPayload | ResponsePayload]]] = {
    name: {**REQUEST_TYPES, **RESPONSE_TYPES}[name] for name in EVENT_NAMES
}
