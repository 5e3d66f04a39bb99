"""The ok:false responses the bridge writes itself, and the checks on a provider's answer.

    answer = failure(VERIFY_REQUEST, subject_of_raw(data), "bad_request", diagnostics)
    payload = failure_json(VERIFY_REQUEST, subject_of_raw(data), "bad_request", diagnostics)

Every response leaves here valid, whatever it answers, because a response obeys the field
rules of its request (provider, node_id, model) and the bridge must never publish one that
a validator refuses. A provider's answer that breaks the contract becomes a
``provider_error`` (:func:`checked_answer`). For a request that does not validate, a field
is echoed only when it is valid by its own rule; **decided**: otherwise the response names
a stand-in that is — provider ``ollama`` (the contract's one provider id), node_id and
model ``-`` — and its diagnostics say what was wrong with the request. A client matches an
answer by correlation id, not by these fields, and a bad payload may hold anything: a
response never carries more than valid ids of what it answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import msgspec

from contracts.inference.names import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    PROVIDERS,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    ErrorClass,
)
from contracts.inference.payloads import RESPONSE_TYPES, RequestPayload, ResponsePayload
from contracts.inference.rules import NODE_ID_PATTERN, check_model
from contracts.inference.validation import Invalid, validate

__all__ = [
    "Subject",
    "answerable",
    "checked_answer",
    "failure",
    "failure_json",
    "subject_of",
    "subject_of_raw",
]

_LOOSE: Final = msgspec.json.Decoder()
_NODE_ID: Final = re.compile(NODE_ID_PATTERN)


class Subject(msgspec.Struct, frozen=True):
    """What a response names: the request's provider, node and (model.ensure) model.

    The defaults are the stand-ins for a field the request did not give validly.
    """

    provider: str = PROVIDERS[0]
    node_id: str = "-"
    model: str = "-"


_STAND_IN: Final = Subject()


def subject_of(payload: RequestPayload) -> Subject:
    """The subject of a valid request."""
    return Subject(payload.provider, payload.node_id, getattr(payload, "model", ""))


def subject_of_raw(data: bytes) -> Subject:
    """The subject of a request that did not validate: its valid fields, else stand-ins."""
    try:
        value = _LOOSE.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return _STAND_IN
    if not isinstance(value, dict):
        return _STAND_IN
    given = {key: v for key in Subject.__struct_fields__ if isinstance(v := value.get(key), str)}
    return answerable(Subject(**given))


def answerable(subject: Subject) -> Subject:
    """``subject`` with each field that breaks its request rule replaced by its stand-in."""
    return Subject(
        subject.provider if subject.provider in PROVIDERS else _STAND_IN.provider,
        subject.node_id if _NODE_ID.match(subject.node_id) else _STAND_IN.node_id,
        subject.model if _model_ok(subject.model) else _STAND_IN.model,
    )


def _model_ok(model: str) -> bool:
    try:
        check_model(model)
    except ValueError:
        return False
    return model != ""


def failure(
    request_name: str, subject: Subject, error_class: ErrorClass, diagnostics: list[str]
) -> ResponsePayload:
    """The ok:false response to ``request_name`` about ``subject``; ``diagnostics`` non-empty.

    Valid whatever ``subject`` holds: a field that breaks its rule is named by its stand-in.
    """
    subject = answerable(subject)
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


def failure_json(
    request_name: str, subject: Subject, error_class: ErrorClass, diagnostics: Sequence[str]
) -> bytes:
    """The JSON of :func:`failure`: what the bridge publishes."""
    return msgspec.json.encode(failure(request_name, subject, error_class, list(diagnostics)))


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
    return failure_json(request_name, subject, "provider_error", [diagnostic])
