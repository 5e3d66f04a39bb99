"""The OpenAI chat-completions contract, as far as a coding-agent CLI can honour it.

Requests are validated (:func:`validate_chat_request`) into a :class:`ValidChatRequest`
whose messages become a :class:`~contracts.conversation.Conversation`
(:func:`conversation_from_messages`); responses and the SSE framing are built here::

    valid = validate_chat_request(body)   # raises OpenAIRequestError in the envelope
    conversation = conversation_from_messages(valid.messages)

Each request parameter is honoured, ignored (and named), or refused (``PARAMETERS``).
"""

from __future__ import annotations

from contracts.openai.params import IGNORED_PARAMS_HEADER, PARAMETERS, request_options
from contracts.openai.prompt import (
    MAX_MESSAGES,
    MAX_PROMPT_BYTES,
    ROLES,
    SYSTEM_JOINER,
    SYSTEM_ROLES,
    PromptError,
    conversation_from_messages,
    conversation_from_prompt,
)
from contracts.openai.requests import (
    MAX_BODY_BYTES,
    ChatCompletionRequest,
    ErrorBody,
    ErrorEnvelope,
    OpenAIRequestError,
    StreamOptions,
    ValidChatRequest,
    failure_envelope,
    failure_status,
    should_retry,
    validate_chat_request,
)
from contracts.openai.responses import (
    SSE_DONE,
    SSE_KEEPALIVE,
    ChatCompletion,
    ChatCompletionChunk,
    Model,
    ModelList,
    StreamErrorBody,
    StreamErrorEnvelope,
    Usage,
    chat_completion,
    content_chunk,
    encode_json,
    finish_chunk,
    model_list,
    role_chunk,
    sse_data,
    stream_error_data,
    usage_chunk,
    usage_from_session,
)

__all__ = [
    "IGNORED_PARAMS_HEADER",
    "MAX_BODY_BYTES",
    "MAX_MESSAGES",
    "MAX_PROMPT_BYTES",
    "PARAMETERS",
    "ROLES",
    "SSE_DONE",
    "SSE_KEEPALIVE",
    "SYSTEM_JOINER",
    "SYSTEM_ROLES",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ErrorBody",
    "ErrorEnvelope",
    "Model",
    "ModelList",
    "OpenAIRequestError",
    "PromptError",
    "StreamErrorBody",
    "StreamErrorEnvelope",
    "StreamOptions",
    "Usage",
    "ValidChatRequest",
    "chat_completion",
    "content_chunk",
    "conversation_from_messages",
    "conversation_from_prompt",
    "encode_json",
    "failure_envelope",
    "failure_status",
    "finish_chunk",
    "model_list",
    "request_options",
    "role_chunk",
    "should_retry",
    "sse_data",
    "stream_error_data",
    "usage_chunk",
    "usage_from_session",
    "validate_chat_request",
]
