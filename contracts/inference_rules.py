"""The rule names of the bus.inference contract and the checks of its string fields.

:class:`Rule` names every validation rule of BUS.md §1; a diagnostic starts with one.
The field checks raise ``ValueError("[rule] message")`` from a Struct's
``__post_init__``, which msgspec reports as a ValidationError and
:mod:`contracts.inference_validation` turns into a labelled diagnostic.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import string
from typing import Final


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


# --- string fields -----------------------------------------------------------------
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


def broken(rule: Rule, message: str) -> ValueError:
    """The exception a ``__post_init__`` raises; msgspec turns it into a ValidationError."""
    return ValueError(f"[{rule}] {message}")


def check_node_id(node_id: str) -> None:
    if node_id.strip(_NODE_ID_CHARS):
        raise broken(Rule.NODE_ID_FORMAT, "node_id is 1-64 letters, digits, '_' or '-'")


def check_model(model: str) -> None:
    # Printable without a space means no whitespace and no control character; the rare
    # rest (format or private-use characters) gets the exact pattern.
    if not (model.isprintable() and " " not in model) and not _MODEL_SLOW_CHECK.match(model):
        raise broken(Rule.MODEL_FORMAT, "model has whitespace or control characters")
    try:
        size = len(model.encode("utf-8"))
    except UnicodeEncodeError:
        raise broken(Rule.MODEL_FORMAT, "model is not valid UTF-8") from None
    if size > MODEL_MAX_BYTES:
        raise broken(Rule.MODEL_FORMAT, f"model is {size} bytes; at most {MODEL_MAX_BYTES}")


def is_secret_ref(value: str) -> bool:
    if not value.startswith(SECRET_REF_PREFIX):
        return False
    name = value[len(SECRET_REF_PREFIX) :]
    return bool(name) and not name.strip(_SECRET_NAME_CHARS) and name not in (".", "..")


def check_service_user(user: str) -> None:
    if not (0 < len(user) <= 32 and user[0] in _USER_FIRST and not user.strip(_USER_CHARS)):
        raise broken(Rule.RUNTIME_SERVICE_USER, "runtime.service_user is not a user name")


def check_listen(listen: str) -> None:
    """``host:port``: a host name, an IPv4 address or a bracketed IPv6 one; port 1-65535."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host:
        raise broken(Rule.RUNTIME_LISTEN, "runtime.listen must be host:port")
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        raise broken(Rule.RUNTIME_LISTEN, "runtime.listen port must be 1-65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise broken(Rule.RUNTIME_LISTEN, "runtime.listen has a bad IPv6 address") from None
        return
    if (
        len(host) > 253
        or host.strip(_HOST_CHARS)
        or host[0] == "."
        or host[-1] == "."
        or ".." in host
        or (len(host) > 63 and max(map(len, host.split("."))) > 63)
    ):
        raise broken(Rule.RUNTIME_LISTEN, "runtime.listen host must be a name or an address")
