"""Request parameters, honestly: each is honoured, ignored (and named), or refused.

A CLI is not a model API: some parameters it can pass on (claude's request body takes a
temperature; codex constrains its answer to a JSON Schema), others it cannot. A client
that relies on a parameter must learn which it got, so every request parameter a
provider cannot pass on is named in the ``x-asm-ignored-params`` response header, and one
that would silently change the *shape* of the answer (``response_format``) is refused with
a 400 instead. Log-probabilities are never available::

    >>> from contracts.providers import CLAUDE, GEMINI
    >>> options, ignored = request_options({"temperature": 0.2, "seed": 7}, CLAUDE)
    >>> options.temperature, ignored
    (0.2, ('seed',))
    >>> request_options({"temperature": 0.2}, GEMINI)[1]
    ('temperature',)

The table per provider lives with each profile (``ProviderProfile.parameters`` and
``response_formats``); the README prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

import msgspec

from contracts.conversation import EFFORTS, RequestOptions, ResponseFormat
from contracts.providers import ProviderProfile

__all__ = [
    "IGNORED_PARAMS_HEADER",
    "PARAMETERS",
    "ParameterError",
    "RequestParameters",
    "request_options",
]

IGNORED_PARAMS_HEADER: Final = "x-asm-ignored-params"
"""The response header naming the given parameters the lease's CLI could not pass on."""

PARAMETERS: Final = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "reasoning_effort",
)
"""The sampling parameters a provider may pass through (else: ignored, and named)."""

_CANONICAL: Final = {"max_completion_tokens": "max_tokens"}
_MAX_STOP = 4

_Stop = Annotated[str, msgspec.Meta(min_length=1)]


class RequestParameters(msgspec.Struct, frozen=True):
    """The parameter fields of a chat-completions body, typed (null means absent).

    Decoded together with the rest of the body (``contracts.openai.requests``), so a wrong type is
    a 400 naming the field, as OpenAI answers it.
    """

    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    stop: _Stop | Annotated[list[_Stop], msgspec.Meta(max_length=_MAX_STOP)] | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None


class ParameterError(ValueError):
    """A parameter this endpoint refuses; ``param`` names it for the OpenAI envelope."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def request_options(
    fields: Mapping[str, Any] | RequestParameters, profile: ProviderProfile | None
) -> tuple[RequestOptions, tuple[str, ...]]:
    """The options to deliver and the names of the given parameters ``profile`` ignores.

    ``fields`` is the decoded body (or its :class:`RequestParameters`); ``profile`` is the
    lease's provider (None: one that honours nothing). Raises :class:`ParameterError` for
    ``logprobs``, ``top_logprobs``, an unknown ``reasoning_effort`` or a
    ``response_format`` the provider cannot honour.
    """
    given = (
        fields
        if isinstance(fields, RequestParameters)
        else msgspec.convert(dict(fields), RequestParameters)
    )
    if given.logprobs:
        raise ParameterError(
            "logprobs are not available: a CLI does not report token log-probabilities",
            "logprobs",
        )
    if given.top_logprobs is not None:
        raise ParameterError(
            "top_logprobs is not available: a CLI does not report token log-probabilities",
            "top_logprobs",
        )
    effort = given.reasoning_effort
    if effort is not None and effort not in EFFORTS:
        raise ParameterError(
            f"reasoning_effort {effort!r} is not one of {', '.join(sorted(EFFORTS))}",
            "reasoning_effort",
        )
    response_format = _response_format(given.response_format, profile)
    honoured = profile.parameters if profile is not None else frozenset()
    present = [name for name in PARAMETERS if getattr(given, name) is not None]
    ignored = tuple(name for name in present if _CANONICAL.get(name, name) not in honoured)
    stop = given.stop
    options = RequestOptions(
        temperature=given.temperature,
        top_p=given.top_p,
        max_tokens=given.max_completion_tokens or given.max_tokens,
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        seed=given.seed,
        reasoning_effort=effort,
        response_format=response_format,
    )
    return _honoured_only(options, honoured), ignored


def _honoured_only(options: RequestOptions, honoured: frozenset[str]) -> RequestOptions:
    """``options`` without what the provider ignores, so nothing ignored is delivered."""
    dropped: dict[str, Any] = {
        name: () if name == "stop" else None
        for name in ("temperature", "top_p", "max_tokens", "stop", "seed", "reasoning_effort")
        if name not in honoured
    }
    return msgspec.structs.replace(options, **dropped) if dropped else options


def _response_format(
    value: dict[str, Any] | None, profile: ProviderProfile | None
) -> ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type")
    if kind == "text":
        return None
    if kind not in ("json_object", "json_schema"):
        raise ParameterError(
            f"response_format.type {kind!r} is not one of text, json_object, json_schema",
            "response_format",
        )
    supported = profile.response_formats if profile is not None else frozenset()
    if kind not in supported:
        who = profile.display_name if profile is not None else "this provider"
        ways = ", ".join(sorted(supported)) or "none"
        raise ParameterError(
            f"response_format {kind} is not supported by {who}: it cannot hold its answer"
            f" to that format (supported here: {ways}); leave response_format out or"
            " use type 'text'",
            "response_format",
        )
    if kind == "json_object":
        return ResponseFormat(kind="json_object")
    spec = value.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise ParameterError(
            "response_format.json_schema.schema must be a JSON Schema object",
            "response_format",
        )
    assert isinstance(spec, dict)
    name, strict = spec.get("name"), spec.get("strict")
    return ResponseFormat(
        kind="json_schema",
        schema=schema,
        name=name if isinstance(name, str) else None,
        strict=strict if isinstance(strict, bool) else None,
    )
