"""The OpenAI chat-completions wire contract, as far as a coding-agent CLI can honour it.

Three pure pieces, shared by the HTTP edge and the conformance harness:
- the request rules (SPEC §3.2): :func:`validate_chat_request` turns a raw body into a
  :class:`ValidChatRequest` (the client's :class:`~contracts.conversation.Conversation`
  and the parameters it carries) or raises :class:`OpenAIRequestError` carrying the
  status and the OpenAI error envelope. Parameters the lease's CLI cannot honour are
  accepted and named (:mod:`contracts.openai.params`) because clients send them by
  default; tools are refused because a completion endpoint must never run an agent loop;
- the response shapes and the streaming framing live beside it, in
  :mod:`contracts.openai.responses`;
- the failure mapping: which HTTP status a failed session answers, and which answers
  the official client may retry: only a condition that can go away by itself (it
  otherwise re-runs an agent twice, or retries a missing CLI three times).

Typical use at the edge::

    valid = validate_chat_request(body, pinned_model="claude-sonnet-4-5", profile=CLAUDE)
    status = failure_status("timeout")  # 504, with should_retry(504) False
    should_retry(503, "not_installed")   # False: the operator's to fix
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

from contracts.conversation import Conversation
from contracts.openai.params import ParameterError, RequestParameters, request_options
from contracts.openai.prompt import PromptError, conversation_from_messages
from contracts.providers import ProviderProfile
from contracts.session import FailedKind

__all__ = [
    "MAX_BODY_BYTES",
    "ChatCompletionRequest",
    "ErrorBody",
    "ErrorEnvelope",
    "OpenAIRequestError",
    "StreamOptions",
    "ValidChatRequest",
    "failure_envelope",
    "failure_status",
    "should_retry",
    "validate_chat_request",
]

MAX_BODY_BYTES = 1_048_576

_Count = Annotated[int, msgspec.Meta(ge=0)]

# ---------------------------------------------------------------------------- requests


class StreamOptions(msgspec.Struct, frozen=True):
    """``stream_options``; its other fields (e.g. include_obfuscation) are ignored."""

    include_usage: bool = False


class ChatCompletionRequest(RequestParameters, frozen=True):
    """The fields of a chat-completions body that the rules look at.

    The request parameters (temperature, stop, response_format, …) come from
    :class:`~contracts.openai.params.RequestParameters`; every other field, standard
    (penalties, user, metadata, …) or not, is ignored on decode. ``tools``, ``functions``
    and ``tool_choice`` are typed ``object`` so that any value of them is refused as tools
    rather than as a type error.
    """

    messages: list[dict[str, object]] = msgspec.field(default_factory=list)
    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    tools: object = None
    functions: object = None
    tool_choice: object = None


class ValidChatRequest(msgspec.Struct, frozen=True):
    """What the endpoint needs from a request that passed every rule.

    ``ignored`` names the request parameters the lease's CLI cannot pass on (the
    ``x-asm-ignored-params`` header); ``conversation.options`` holds the ones it can.
    """

    conversation: Conversation
    stream: bool
    include_usage: bool
    ignored: tuple[str, ...] = ()


class ErrorBody(msgspec.Struct, frozen=True):
    """The ``error`` object of an HTTP error; ``param`` and ``code`` are null when unknown."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    """Every HTTP error body: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorBody


class OpenAIRequestError(Exception):
    """A request the endpoint refuses, with the HTTP status and envelope to answer::

    try:
        valid = validate_chat_request(body, pinned_model)
    except OpenAIRequestError as error:
        return error.status, encode_json(error.envelope())
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def envelope(self) -> ErrorEnvelope:
        """The OpenAI error envelope for this error: ``encode_json(error.envelope())``."""
        return ErrorEnvelope(ErrorBody(self.message, self.type, self.param, self.code))


_ANY_JSON: msgspec.json.Decoder[object] = msgspec.json.Decoder()
_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING_FIELD = re.compile(r"missing required field `(?P<field>[^`]+)`")


def validate_chat_request(
    body: bytes, pinned_model: str, profile: ProviderProfile | None = None
) -> ValidChatRequest:
    """Apply the request rules of SPEC §3.2 to a raw chat-completions body.

    ``validate_chat_request(b'{"messages":[{"role":"user","content":"Hi"}]}', "m")``
    returns a :class:`ValidChatRequest` whose conversation is one user turn, "Hi".
    ``profile`` is the lease's provider: which parameters it honours (None: none).
    Any refusal raises :class:`OpenAIRequestError` (413 for a body over 1 MiB, else 400);
    nothing else is ever raised.
    """
    if len(body) > MAX_BODY_BYTES:
        message = f"the request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}"
        raise OpenAIRequestError(413, message, code="request_too_large")
    raw = _decode_json(body)
    if not isinstance(raw, dict):
        raise OpenAIRequestError(
            400, f"the request body must be a JSON object, not {_json_kind(raw)}"
        )
    try:
        request = msgspec.convert(raw, ChatCompletionRequest)
    except msgspec.ValidationError as error:
        raise OpenAIRequestError(400, str(error), param=_param_of(str(error))) from None
    except RecursionError:
        raise OpenAIRequestError(400, "the request body nests too deeply") from None
    _check_fields(request, pinned_model)
    if "messages" not in raw:
        raise OpenAIRequestError(400, "Object missing required field `messages`", param="messages")
    try:
        conversation = conversation_from_messages(request.messages)
        options, ignored = request_options(request, profile)
    except (PromptError, ParameterError) as error:
        raise OpenAIRequestError(400, error.message, param=error.param) from None
    stream_options = request.stream_options
    return ValidChatRequest(
        conversation=conversation.with_options(options),
        stream=request.stream,
        include_usage=stream_options is not None and stream_options.include_usage,
        ignored=ignored,
    )


def _decode_json(body: bytes) -> object:
    try:
        return _ANY_JSON.decode(body)
    except UnicodeDecodeError as error:
        reason = f"invalid UTF-8 at byte {error.start}"
    except msgspec.DecodeError as error:
        reason = str(error)
    except RecursionError:
        reason = "it nests too deeply"
    raise OpenAIRequestError(400, f"the request body is not valid JSON: {reason}")


def _check_fields(request: ChatCompletionRequest, pinned_model: str) -> None:
    if request.model is not None and request.model != pinned_model:
        shown = request.model if len(request.model) <= 80 else request.model[:80] + "…"
        raise OpenAIRequestError(
            400,
            f"this endpoint serves the model {pinned_model!r} only, not {shown!r}",
            param="model",
            code="model_not_found",
        )
    has_tools = request.tools not in (None, []) or request.functions not in (None, [])
    if has_tools or request.tool_choice not in (None, "none"):
        raise OpenAIRequestError(
            400,
            "this endpoint does not support tools: it serves completions only; remove"
            " 'tools', 'functions' and 'tool_choice'",
            param="tools",
        )
    if request.stream_options is not None and not request.stream:
        raise OpenAIRequestError(
            400, "stream_options is only allowed with stream: true", param="stream_options"
        )
    if request.n is not None and request.n != 1:
        raise OpenAIRequestError(400, "n must be 1: one choice per request", param="n")


def _param_of(message: str) -> str | None:
    # msgspec says where: "Expected `bool`, got `str` - at `$.stream`".
    at = _AT_PATH.search(message)
    path = at["path"] if at else ""
    missing = _MISSING_FIELD.search(message)
    if missing:
        path = f"{path}.{missing['field']}"
    return path.removeprefix(".") or None


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


# ---------------------------------------------------------------------------- failures


def failure_status(kind: FailedKind) -> int:
    """The HTTP status a failed session answers: ``failure_status("timeout") == 504``."""
    match kind:
        case "not_installed" | "not_logged_in" | "unreachable":
            return 503
        case "crashed" | "protocol_error" | "output_too_large":
            return 502
        case "timeout":
            return 504
        case "cancelled":
            return 499


def failure_envelope(kind: FailedKind, message: str) -> ErrorEnvelope:
    """The HTTP error body for a failed session, its ``code`` being the failure kind.

    ``failure_envelope("not_logged_in", "claude is not logged in")``; answer it with
    ``failure_status(kind)``.
    """
    return ErrorEnvelope(ErrorBody(message, "server_error", None, kind))


_OPERATOR_FIXES: Final = frozenset({"not_installed", "not_logged_in", "unreachable"})
"""The error codes of a 503 that never goes away by itself: the CLI is not installed
(``ensure`` refuses it too), not logged in, or cannot reach its service. The operator
fixes them; a retry only fails the same way again (**decided**: ``unreachable`` too,
since it is known only after the first-event deadline, so three retries would hold the
client for minutes)."""


def should_retry(status: int, code: str | None = None) -> bool:
    """The ``x-should-retry`` header: true only for a condition that can go away by
    itself: a 429 (the lease is busy, a rate limit) or a 503 whose ``code`` is not the
    operator's to fix (a store briefly down, not a CLI that is not installed, not logged
    in or unreachable)::

        >>> should_retry(429), should_retry(503, "not_installed"), should_retry(502)
        (True, False, False)

    Retrying anything else would run the agent a second time for one request, or ask
    again for what cannot have changed.
    """
    if status == 429:
        return True
    return status == 503 and code not in _OPERATOR_FIXES
