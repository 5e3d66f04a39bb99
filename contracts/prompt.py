"""Chat messages become the one prompt string a CLI reads on stdin.

A coding-agent CLI takes a single prompt, not a conversation, so the endpoint flattens
``messages`` into ``role: content`` lines. The rules that keep that honest live here,
pure, so the HTTP endpoint, the Python API and the conformance harness refuse exactly
the same inputs with exactly the same words::

    >>> normalize_messages([
    ...     {"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ... ])
    'system: Be brief.\\nuser: Hi'

Refused, with a :class:`PromptError` naming where: not 1–128 messages, a message that is
not an object, an unknown role, empty or non-text content (an image is refused rather
than silently dropped, so a caller never believes the model saw it), text that cannot be
UTF-8 (a lone surrogate), and a flattened prompt over 256 KiB of UTF-8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "MAX_MESSAGES",
    "MAX_PROMPT_BYTES",
    "ROLES",
    "PromptError",
    "normalize_messages",
    "normalize_prompt",
]

MAX_MESSAGES = 128
MAX_PROMPT_BYTES = 262_144
ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool"})

_ROLE_LIST = "system, developer, user, assistant, tool"


class PromptError(Exception):
    """A prompt or message list that cannot be sent to a CLI.

    ``param`` names the request field at fault ("messages" or "prompt"), so the HTTP
    edge can answer in the OpenAI envelope::

        try:
            prompt = normalize_messages(body["messages"])
        except PromptError as error:
            answer_400(error.message, param=error.param)
    """

    def __init__(self, message: str, param: str = "messages") -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def normalize_messages(messages: Sequence[Mapping[str, object]]) -> str:
    """Flatten chat messages into one prompt, or raise :class:`PromptError`.

    ``normalize_messages([{"role": "user", "content": "Hi"}])`` returns ``"user: Hi"``.
    The text parts of one message are joined with a newline (empty parts are dropped),
    and so are the messages.
    """
    if isinstance(messages, str | bytes | bytearray) or not isinstance(messages, Sequence):
        raise PromptError(f"messages must be an array of 1 to {MAX_MESSAGES} messages")
    count = len(messages)
    if not 1 <= count <= MAX_MESSAGES:
        raise PromptError(
            f"messages must hold 1 to {MAX_MESSAGES} messages; this request has {count}"
        )
    lines = [_message_line(index, message) for index, message in enumerate(messages)]
    return _within_limit("\n".join(lines), "messages")


def normalize_prompt(prompt: str) -> str:
    """Check a bare prompt string (the Python API's ``prompt``) and return it unchanged.

    ``normalize_prompt("Say hi")`` returns ``"Say hi"``; an empty prompt, invalid UTF-8
    or more than 262,144 bytes raises :class:`PromptError` with ``param="prompt"``.
    """
    if not isinstance(prompt, str):
        raise PromptError("prompt must be a string", "prompt")
    if not prompt:
        raise PromptError("prompt must not be empty", "prompt")
    _check_utf8(prompt, "prompt", "prompt")
    return _within_limit(prompt, "prompt")


def _message_line(index: int, message: object) -> str:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise PromptError(f"{where} must be an object with 'role' and 'content'")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        shown = repr(role) if isinstance(role, str) else "missing or not a string"
        raise PromptError(f"{where}.role {shown} is not one of {_ROLE_LIST}")
    return f"{role}: {_content_text(where, message.get('content'))}"


def _content_text(where: str, content: object) -> str:
    if isinstance(content, str):
        _check_utf8(content, f"{where}.content", "messages")
        text = content
    elif isinstance(content, list | tuple) and content:
        texts = [_part_text(f"{where}.content[{i}]", part) for i, part in enumerate(content)]
        text = "\n".join(t for t in texts if t)
    elif isinstance(content, list | tuple):
        text = ""
    else:
        raise PromptError(
            f"{where}.content must be a non-empty string or a non-empty list of"
            ' {"type": "text", "text": ...} parts'
        )
    if not text:
        raise PromptError(f"{where}.content is empty; every message needs some text")
    return text


def _part_text(where: str, part: object) -> str:
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        raise PromptError(f'{where} must be an object like {{"type": "text", "text": ...}}')
    kind = part["type"]
    if kind != "text":
        raise PromptError(
            f"{where}: part type {kind!r} is not supported; this endpoint accepts text only"
        )
    text = part.get("text")
    if not isinstance(text, str):
        raise PromptError(f"{where}.text must be a string")
    _check_utf8(text, f"{where}.text", "messages")
    return text


def _check_utf8(text: str, where: str, param: str) -> None:
    # A Python str can hold a lone surrogate, which no UTF-8 byte sequence encodes.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PromptError(
            f"{where}: invalid UTF-8 (lone surrogate at character {error.start})", param
        ) from None


def _within_limit(prompt: str, param: str) -> str:
    size = len(prompt.encode("utf-8"))
    if size > MAX_PROMPT_BYTES:
        raise PromptError(
            f"the prompt is {size} bytes of UTF-8 once flattened; the limit is"
            f" {MAX_PROMPT_BYTES} bytes",
            param,
        )
    return prompt
