"""The ok:false responses the bridge writes itself, and the checks on a provider's answer.

Every response leaves here as a contract Struct, so it is valid by construction (ok false
carries an error class and a diagnostic). For a request that does not validate, the
identifying fields are echoed only when they are short strings: a bad payload may hold
anything, and a response must never carry more than the ids of what it answers.
"""

from __future__ import annotations

from typing import Final

import msgspec

from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    RESPONSE_FOR,
    RESPONSE_TYPES,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    ErrorClass,
    RequestPayload,
    ResponsePayload,
)
from contracts.inference_validation import Invalid, validate

__all__ = ["Subject", "checked_answer", "failure", "subject_of", "subject_of_raw"]

_ECHO_LIMIT: Final = 255
_LOOSE: Final = msgspec.json.Decoder()


class Subject(msgspec.Struct, frozen=True):
    """What a response names: the request's provider, node and (model.ensure) model."""

    provider: str = ""
    node_id: str = ""
    model: str = ""


def subject_of(payload: RequestPayload) -> Subject:
    """The subject of a valid request."""
    return Subject(payload.provider, payload.node_id, getattr(payload, "model", ""))


def subject_of_raw(data: bytes) -> Subject:
    """The subject of a request that did not validate: short string fields, else ``""``."""
    try:
        value = _LOOSE.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return Subject()
    if not isinstance(value, dict):
        return Subject()
    return Subject(*(_echo(value.get(key)) for key in ("provider", "node_id", "model")))


def _echo(value: object) -> str:
    if isinstance(value, str) and len(value) <= _ECHO_LIMIT and value.isprintable():
        return value
    return ""


def failure(
    request_name: str, subject: Subject, error_class: ErrorClass, diagnostics: list[str]
) -> ResponsePayload:
    """The ok:false response to ``request_name`` about ``subject``; ``diagnostics`` non-empty."""
    fields: dict[str, object] = {
        "ok": False,
        "provider": subject.provider,
        "node_id": subject.node_id,
        "diagnostics": diagnostics,
        "error_class": error_class,
    }
    if request_name in (INSTALL_REQUEST, MODEL_ENSURE_REQUEST):
        fields["actions"] = []  # nothing was done
    if request_name == MODEL_ENSURE_REQUEST:
        fields["model"] = subject.model
    elif request_name == STATUS_REQUEST:
        fields["runtime_status"] = "unknown"
    elif request_name == VERIFY_REQUEST:
        fields["checks"] = []  # no check ran
    # convert, not the constructor: it checks the field constraints too.
    return msgspec.convert(fields, RESPONSE_TYPES[RESPONSE_FOR[request_name]])


def checked_answer(request_name: str, subject: Subject, answer: object) -> bytes:
    """The JSON of a provider's answer, or of a provider_error when it breaks the contract.

    Constraints such as the action pattern are only checked when decoding, so the answer
    is encoded and validated as any response on the bus would be.
    """
    response_name = RESPONSE_FOR[request_name]
    expected = RESPONSE_TYPES[response_name]
    if not isinstance(answer, expected):
        problem = f"answered with {type(answer).__name__}, not {expected.__name__}"
    else:
        data = msgspec.json.encode(answer)
        checked = validate(response_name, data)
        if not isinstance(checked, Invalid):
            return data
        problem = f"answered with an invalid response ({checked.rules[0]})"
    diagnostic = f"provider_error: provider {subject.provider!r} {problem}"
    return msgspec.json.encode(failure(request_name, subject, "provider_error", [diagnostic]))
