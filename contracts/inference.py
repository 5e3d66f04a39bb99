"""The eight ``bus.inference.*`` payloads of BusDK's inference-runtime contract.

Every payload is a frozen msgspec Struct that forbids unknown keys at every level, so
decoding *is* validating: a payload that decodes into its Struct satisfies every rule
of BUS.md §1. Rules that a type cannot say on its own (``confirm`` versus ``dry_run``,
byte length of ``model``, duplicate checks, ``ok`` versus ``error_class``) live in
``__post_init__`` and raise with the rule's name in brackets, ``[rule] message``, which
:mod:`contracts.inference_validation` turns into a labelled diagnostic.

    >>> import msgspec
    >>> from contracts.inference import StatusRequest
    >>> msgspec.json.decode(b'{"provider":"ollama","node_id":"gpu-1"}', type=StatusRequest)
    StatusRequest(provider='ollama', node_id='gpu-1')

Absent optional fields are ``msgspec.UNSET`` and stay absent when encoded; fields with
a default (``dry_run``, ``confirm``, the policy flags, ``runtime.environment``) are
filled in, which is what ``bus-integration-inference --validate`` prints.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import string
from typing import Annotated, Final, Literal, NoReturn, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType


class Rule(enum.StrEnum):
    """The validation rules of BUS.md §1, by name.

    A diagnostic starts with the name of the rule it breaks, and the conformance
    strategies label every invalid example with one of these.
    """

    PAYLOAD_IS_OBJECT = "payload_is_object"
    REQUIRED_FIELDS = "required_fields"
    FIELD_TYPES = "field_types"
    UNKNOWN_KEYS = "unknown_keys"
    RUNTIME_ALLOWED_KEYS = "runtime_allowed_keys"
    CREDENTIALS_ALLOWED_KEYS = "credentials_allowed_keys"
    POLICY_ALLOWED_KEYS = "policy_allowed_keys"
    PROVIDER_REGISTERED = "provider_registered"
    NODE_ID_FORMAT = "node_id_format"
    MODEL_FORMAT = "model_format"
    INSTALL_WITHOUT_MODEL = "install_without_model"
    DRY_RUN_AND_CONFIRM = "dry_run_and_confirm"
    RUNTIME_LISTEN = "runtime_listen"
    RUNTIME_CONTEXT_LENGTH = "runtime_context_length"
    RUNTIME_SERVICE_USER = "runtime_service_user"
    RUNTIME_ENVIRONMENT = "runtime_environment"
    CREDENTIALS_REFERENCES = "credentials_references"
    POLICY_MAX_MODEL_SIZE = "policy_max_model_size_bytes"
    CHECKS_KNOWN = "checks_known"
    CHECKS_UNIQUE = "checks_unique"
    STRICT_BOOLEANS = "strict_booleans"
    STRICT_INTEGERS = "strict_integers"
    RESPONSE_OK_ERROR_CLASS = "response_ok_error_class"
    ERROR_CLASS_KNOWN = "error_class_known"
    RUNTIME_STATUS_KNOWN = "runtime_status_known"
    ACTION_NAMES = "action_names"
    VERIFY_OK_IS_CONJUNCTION = "verify_ok_is_conjunction"


# --- names ------------------------------------------------------------------------

INSTALL_REQUEST: Final = "bus.inference.install.request"
INSTALL_RESPONSE: Final = "bus.inference.install.response"
MODEL_ENSURE_REQUEST: Final = "bus.inference.model.ensure.request"
MODEL_ENSURE_RESPONSE: Final = "bus.inference.model.ensure.response"
STATUS_REQUEST: Final = "bus.inference.status.request"
STATUS_RESPONSE: Final = "bus.inference.status.response"
VERIFY_REQUEST: Final = "bus.inference.verify.request"
VERIFY_RESPONSE: Final = "bus.inference.verify.response"

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

# --- field types ------------------------------------------------------------------
#
# The string rules are checked in ``__post_init__`` with C-level ``str`` methods rather
# than ``Meta(pattern=...)``: a Python ``re`` search costs more than the whole decode of
# a small payload. ``s.strip(allowed)`` is empty exactly when every character of ``s``
# is allowed. The patterns below say the same rules for readers and for the strategies.

NODE_ID_PATTERN: Final = r"\A[A-Za-z0-9_-]{1,64}\Z"
#: Non-empty, no whitespace, no C0/C1 control characters, at most 200 bytes of UTF-8.
MODEL_PATTERN: Final = r"\A[^\s\x00-\x1f\x7f-\x9f]+\Z"
MODEL_MAX_BYTES: Final = 200
SERVICE_USER_PATTERN: Final = r"\A[a-z_][a-z0-9_-]{0,31}\Z"
SECRET_REF_PREFIX: Final = "secret://deployment/"
SECRET_REF_PATTERN: Final = r"\Asecret://deployment/(?!\.{1,2}\Z)[A-Za-z0-9._-]+\Z"
ACTION_PATTERN: Final = r"\A[a-z]+(?:-[a-z]+)*\Z"
INT64_MAX: Final = 2**63 - 1

_ALNUM: Final = string.ascii_letters + string.digits
_NODE_ID_CHARS: Final = _ALNUM + "_-"
_SECRET_NAME_CHARS: Final = _ALNUM + "._-"
_HOST_CHARS: Final = _ALNUM + ".-"
_USER_FIRST: Final = string.ascii_lowercase + "_"
_USER_CHARS: Final = string.ascii_lowercase + string.digits + "_-"
_MODEL_SLOW_CHECK: Final = re.compile(MODEL_PATTERN)

NodeId = Annotated[str, Meta(min_length=1, max_length=64)]
Model = Annotated[str, Meta(min_length=1)]
Action = Annotated[str, Meta(pattern=ACTION_PATTERN)]
PositiveInt = Annotated[int, Meta(gt=0, le=INT64_MAX)]


def _broken(rule: Rule, message: str) -> ValueError:
    """The exception a ``__post_init__`` raises; msgspec turns it into a ValidationError."""
    return ValueError(f"[{rule}] {message}")


def _check_node_id(node_id: str) -> None:
    if node_id.strip(_NODE_ID_CHARS):
        raise _broken(Rule.NODE_ID_FORMAT, "node_id is 1-64 letters, digits, '_' or '-'")


def _check_model(model: str) -> None:
    # Printable without a space means no whitespace and no control character; the rare
    # rest (format or private-use characters) gets the exact pattern.
    if not (model.isprintable() and " " not in model) and not _MODEL_SLOW_CHECK.match(model):
        raise _broken(Rule.MODEL_FORMAT, "model has whitespace or control characters")
    try:
        size = len(model.encode("utf-8"))
    except UnicodeEncodeError:
        raise _broken(Rule.MODEL_FORMAT, "model is not valid UTF-8") from None
    if size > MODEL_MAX_BYTES:
        raise _broken(Rule.MODEL_FORMAT, f"model is {size} bytes; at most {MODEL_MAX_BYTES}")


def _is_secret_ref(value: str) -> bool:
    if not value.startswith(SECRET_REF_PREFIX):
        return False
    name = value[len(SECRET_REF_PREFIX) :]
    return bool(name) and not name.strip(_SECRET_NAME_CHARS) and name not in (".", "..")


def _refuse_credentials(credentials: Credentials) -> NoReturn:
    for key in credentials.__struct_fields__:
        value = getattr(credentials, key)
        if value is not UNSET and not _is_secret_ref(value):
            # Name the key, never the value: it may be the very secret.
            raise _broken(
                Rule.CREDENTIALS_REFERENCES,
                f"credentials.{key} must be a reference secret://deployment/<name>",
            )
    raise AssertionError("called without a bad reference")


def _check_service_user(user: str) -> None:
    if not (0 < len(user) <= 32 and user[0] in _USER_FIRST and not user.strip(_USER_CHARS)):
        raise _broken(Rule.RUNTIME_SERVICE_USER, "runtime.service_user is not a user name")


def _check_listen(listen: str) -> None:
    """``host:port``: a host name, an IPv4 address or a bracketed IPv6 one; port 1-65535."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host:
        raise _broken(Rule.RUNTIME_LISTEN, "runtime.listen must be host:port")
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        raise _broken(Rule.RUNTIME_LISTEN, "runtime.listen port must be 1-65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _broken(Rule.RUNTIME_LISTEN, "runtime.listen has a bad IPv6 address") from None
        return
    if (
        len(host) > 253
        or host.strip(_HOST_CHARS)
        or host[0] == "."
        or host[-1] == "."
        or ".." in host
        or (len(host) > 63 and max(map(len, host.split("."))) > 63)
    ):
        raise _broken(Rule.RUNTIME_LISTEN, "runtime.listen host must be a name or an address")


# --- request parts ----------------------------------------------------------------


class Runtime(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """How the runtime should run: ``runtime`` of an install request."""

    listen: str | UnsetType = UNSET
    context_length: PositiveInt | UnsetType = UNSET
    service_user: str | UnsetType = UNSET
    environment: Environment = "dev"

    def __post_init__(self) -> None:
        if self.listen is not UNSET:
            _check_listen(self.listen)
        if self.service_user is not UNSET:
            _check_service_user(self.service_user)


class Credentials(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """References to secrets, never the secrets: each value is ``secret://deployment/<name>``."""

    api_token_secret: str | UnsetType = UNSET
    tls_ca_file: str | UnsetType = UNSET
    ssh_private_key_secret: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        for value in (self.api_token_secret, self.tls_ca_file, self.ssh_private_key_secret):
            if value is not UNSET and not _is_secret_ref(value):
                _refuse_credentials(self)


class Policy(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What a model.ensure may do on the node."""

    allow_model_download: bool = False
    max_model_size_bytes: PositiveInt | UnsetType = UNSET
    require_confirmation_for_prod: bool = True


def _check_confirm(dry_run: bool, confirm: bool) -> None:
    if not dry_run and not confirm:
        raise _broken(Rule.DRY_RUN_AND_CONFIRM, "confirm must be true unless dry_run is true")


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
        _check_node_id(self.node_id)
        _check_confirm(self.dry_run, self.confirm)


class ModelEnsureRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.model.ensure.request``: make one model present on a node."""

    provider: ProviderId
    node_id: NodeId
    model: Model
    dry_run: bool = True
    confirm: bool = False
    policy: Policy = Policy()

    def __post_init__(self) -> None:
        _check_node_id(self.node_id)
        _check_model(self.model)
        _check_confirm(self.dry_run, self.confirm)


class StatusRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.status.request``: report the runtime's state and models."""

    provider: ProviderId
    node_id: NodeId

    def __post_init__(self) -> None:
        _check_node_id(self.node_id)


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
        _check_node_id(self.node_id)
        if isinstance(self.checks, list):
            if not self.checks:
                raise _broken(Rule.CHECKS_KNOWN, "checks must name at least one check")
            seen: set[str] = set()
            for name in self.checks:
                if name in seen:
                    raise _broken(Rule.CHECKS_UNIQUE, f"check {name!r} is listed twice")
                seen.add(name)

    def effective_checks(self) -> tuple[CheckName, ...]:
        """The checks to run, in request order: the given ones or the defaults."""
        return tuple(self.checks) if isinstance(self.checks, list) else DEFAULT_CHECKS


# --- responses --------------------------------------------------------------------


def _check_outcome(ok: bool, error_class: object, diagnostics: list[str]) -> None:
    if ok and error_class is not UNSET:
        raise _broken(Rule.RESPONSE_OK_ERROR_CLASS, "error_class is only for ok false")
    if not ok and (error_class is UNSET or not diagnostics):
        raise _broken(
            Rule.RESPONSE_OK_ERROR_CLASS,
            "ok false needs an error_class and at least one diagnostic",
        )


class InstallResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.install.response``: the actions planned (dry run) or taken."""

    ok: bool
    provider: str
    node_id: str
    actions: list[Action]
    diagnostics: list[str]
    runtime_status: RuntimeStatus | UnsetType = UNSET
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_outcome(self.ok, self.error_class, self.diagnostics)


class ModelEnsureResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.model.ensure.response``."""

    ok: bool
    provider: str
    node_id: str
    model: str
    actions: list[Action]
    diagnostics: list[str]
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_outcome(self.ok, self.error_class, self.diagnostics)


class StatusResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.status.response``."""

    ok: bool
    provider: str
    node_id: str
    runtime_status: RuntimeStatus
    diagnostics: list[str]
    models: list[str] | UnsetType = UNSET
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_outcome(self.ok, self.error_class, self.diagnostics)


class CheckResult(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One check of a verify response (BUS.md §1, decided)."""

    name: CheckName
    ok: bool
    diagnostic: str


class VerifyResponse(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``bus.inference.verify.response``: checks in request order; ok is their conjunction.

    A response that ran no check (unknown node, bad request) is ok false with its own
    error class; once a check fails, ok is false and the class is ``verify_failed``.
    """

    ok: bool
    provider: str
    node_id: str
    checks: list[CheckResult]
    diagnostics: list[str]
    error_class: ErrorClass | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_outcome(self.ok, self.error_class, self.diagnostics)
        if any(not check.ok for check in self.checks) and self.error_class != "verify_failed":
            raise _broken(
                Rule.VERIFY_OK_IS_CONJUNCTION,
                "a failing check makes ok false with error_class verify_failed",
            )


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
