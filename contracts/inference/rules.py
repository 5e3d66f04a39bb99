"""The rule names of the bus.inference contract and the checks of its string fields.

:class:`Rule` names every validation rule of BUS.md §1; a diagnostic starts with one.
The field checks raise ``ValueError("[rule] message")`` from a Struct's
``__post_init__``, which msgspec reports as a ValidationError and
:mod:`contracts.inference.validation` turns into a labelled diagnostic.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import string
from collections.abc import Sequence
from typing import Final

__all__ = [
    "ACTION_PATTERN",
    "INT64_MAX",
    "MODEL_MAX_BYTES",
    "MODEL_PATTERN",
    "MODEL_SAFE_CHARS",
    "NODE_ID_CHARS",
    "NODE_ID_PATTERN",
    "SECRET_REF_PATTERN",
    "SECRET_REF_PREFIX",
    "SERVICE_USER_PATTERN",
    "Rule",
    "broken",
    "check_listen",
    "check_model",
    "check_node_id",
    "check_service_user",
    "check_verify_outcome",
    "is_secret_ref",
    "listen_fast",
    "secret_ref_ok",
    "service_user_ok",
]


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
    VERIFY_FAILURE_NAMES_CHECK = "verify_failure_names_check"


# --- string fields -----------------------------------------------------------------
#
# Each string rule has a fast half: one C-level call (a ``str`` method or one compiled
# ``fullmatch``, bound once) that accepts only values the rule allows. ``__post_init__``
# runs it inline, since a Python function call costs nearly as much as the check, and
# only a value it does not accept goes to the ``check_*`` function, which decides exactly
# and writes the labelled message. ``Meta(pattern=...)`` is not used: msgspec runs it
# through Python ``re`` at about three times the cost of a bound ``fullmatch``.
# ``s.strip(allowed)`` is empty exactly when every character of ``s`` is allowed. The
# patterns below say the same rules for readers and for the strategies.

NODE_ID_PATTERN: Final = r"\A[A-Za-z0-9_-]{1,64}\Z"
#: Non-empty, no whitespace, no C0/C1 control characters, at most 200 bytes of UTF-8.
MODEL_PATTERN: Final = r"\A[^\s\x00-\x1f\x7f-\x9f]+\Z"
MODEL_MAX_BYTES: Final = 200
#: A model of at most this many characters is at most MODEL_MAX_BYTES of UTF-8.
MODEL_SAFE_CHARS: Final = MODEL_MAX_BYTES // 4
SERVICE_USER_PATTERN: Final = r"\A[a-z_][a-z0-9_-]{0,31}\Z"
SECRET_REF_PREFIX: Final = "secret://deployment/"
SECRET_REF_PATTERN: Final = r"\Asecret://deployment/(?!\.{1,2}\Z)[A-Za-z0-9._-]+\Z"
ACTION_PATTERN: Final = r"\A[a-z]+(?:-[a-z]+)*\Z"
INT64_MAX: Final = 2**63 - 1

_ALNUM: Final = string.ascii_letters + string.digits
NODE_ID_CHARS: Final = _ALNUM + "_-"
_HOST_CHARS: Final = _ALNUM + ".-"
_MODEL_SLOW_CHECK: Final = re.compile(MODEL_PATTERN)

# The fast halves: ``None`` means "not shown valid here", so ask the ``check_*`` function.
# The service-user and secret-reference matchers are the whole rule; ``listen_fast`` only
# knows the common forms, and ``check_listen`` decides the rest (zones, IPv4-in-IPv6...).
_HEXTET = "[0-9A-Fa-f]{1,4}+"
_IPV6 = "|".join(  # RFC 4291 text forms without an embedded IPv4 address or a zone
    form.replace("H", _HEXTET)
    for form in (
        ":(?:(?::H){1,7}|:)",  # first, so ::1 and :: need no backtracking
        "(?:H:){7}H",
        "(?:H:){1,7}:",
        "(?:H:){1,6}:H",
        "(?:H:){1,5}(?::H){1,2}",
        "(?:H:){1,4}(?::H){1,3}",
        "(?:H:){1,3}(?::H){1,4}",
        "(?:H:){1,2}(?::H){1,5}",
        "H:(?::H){1,6}",
    )
)
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# RFC 1123: labels of letters, digits and inner hyphens; the last label is not all digits
# (a dotted quad is an IPv4 address, and ``999.1.1.1`` is neither).
_NAME = rf"(?![^:]{{254}})(?:{_LABEL}\.)*+(?![0-9]++:){_LABEL}"
_HOST = rf"(?:{_IPV4}|{_NAME})"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
#: The common ``host:port`` forms (no leading zeros in the port, no zone or IPv4-in-IPv6).
listen_fast: Final = re.compile(rf"(?:\[(?:{_IPV6})\]|{_HOST}):{_PORT}").fullmatch
service_user_ok: Final = re.compile(SERVICE_USER_PATTERN[2:-2]).fullmatch
secret_ref_ok: Final = re.compile(SECRET_REF_PATTERN[2:-2]).fullmatch


def broken(rule: Rule, message: str) -> ValueError:
    """The exception a ``__post_init__`` raises; msgspec turns it into a ValidationError."""
    return ValueError(f"[{rule}] {message}")


def check_node_id(node_id: str) -> None:
    if node_id.strip(NODE_ID_CHARS):
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
    return secret_ref_ok(value) is not None


def check_service_user(user: str) -> None:
    if service_user_ok(user) is None:
        raise broken(Rule.RUNTIME_SERVICE_USER, "runtime.service_user is not a user name")


def check_listen(listen: str) -> None:
    """``host:port``: an RFC 1123 host name, a dotted-quad IPv4 address (each octet at most
    255) or a bracketed IPv6 one; port 1-65535. ``-:80``, ``a-:80`` and
    ``999.999.999.999:80`` are refused."""
    if listen_fast(listen) is None:
        _check_listen_exactly(listen)


def _check_listen_exactly(listen: str) -> None:
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
    labels = host.split(".")
    if host.isascii() and labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise broken(
                Rule.RUNTIME_LISTEN,
                "runtime.listen host ends in a numeric label but is no IPv4 address"
                " (four octets 0-255)",
            ) from None
        return
    if len(host) > 253 or host.strip(_HOST_CHARS) or not all(map(_label_ok, labels)):
        raise broken(
            Rule.RUNTIME_LISTEN,
            "runtime.listen host must be an RFC 1123 name (labels of letters, digits and"
            " inner hyphens), an IPv4 address or a bracketed IPv6 address",
        )


def _label_ok(label: str) -> bool:
    return 0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"


def check_verify_outcome(
    ok: bool, error_class: object, checks: Sequence[tuple[str, bool]], diagnostics: Sequence[str]
) -> None:
    """A verify response's ``ok`` against its ``(name, passed)`` checks (BUS.md §1).

    ok is true exactly when at least one check ran and every one passed: an empty list
    means no check ran (unknown node, bad request, timeout), which is never ok. A failing
    check makes the class ``verify_failed``, and ``verify_failed`` needs one; its
    diagnostics name the first failing check, so an operator sees what failed.
    ``_check_outcome`` has already required an error class for ok false.
    """
    failing = next((name for name, passed in checks if not passed), None)
    if ok:
        if failing is not None or not checks:
            raise broken(Rule.VERIFY_OK_IS_CONJUNCTION, "ok true needs checks that all passed")
        return
    if failing is None:
        if checks:
            raise broken(Rule.VERIFY_OK_IS_CONJUNCTION, "ok false, yet every check passed")
        if error_class == "verify_failed":
            raise broken(Rule.VERIFY_OK_IS_CONJUNCTION, "verify_failed without any check")
        return
    if error_class != "verify_failed":
        raise broken(
            Rule.VERIFY_OK_IS_CONJUNCTION, "a failing check makes error_class verify_failed"
        )
    if not any(failing in line for line in diagnostics):
        raise broken(
            Rule.VERIFY_FAILURE_NAMES_CHECK, f"no diagnostic names the failing check {failing}"
        )
