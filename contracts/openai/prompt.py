"""Chat messages become a :class:`~contracts.conversation.Conversation` a CLI can be given.

The rules that keep that honest live here, pure, so the HTTP endpoint, the Python API and
the conformance harness refuse exactly the same inputs with exactly the same words::

    >>> chat = conversation_from_messages([
    ...     {"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ... ])
    >>> chat.system, chat.prompt
    ('Be brief.', 'Hi')

The mapping rule (one rule, whatever the order of the messages):

- ``system`` and ``developer`` messages, wherever they stand, are the system prompt: their
  texts joined in order with a blank line between them;
- ``user`` and ``assistant`` messages are the turns, in order; a ``tool`` message (there
  are no tool calls to answer: tools are refused) is a user turn;
- a conversation of system messages only is one user turn holding their text (there is
  nothing else to answer);
- the last turn must be a user (or tool) turn: a completion answers the user.

Refused, with a :class:`PromptError` naming where: not 1–128 messages, a message that is
not an object, an unknown role, empty or non-text content (an image is refused rather
than silently dropped, so a caller never believes the model saw it), text that cannot be
UTF-8 (a lone surrogate), a conversation that ends with the assistant, and a prompt over
256 KiB of UTF-8 once flattened (``Conversation.flattened``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts.conversation import Conversation, Turn

__all__ = [
    "MAX_MESSAGES",
    "MAX_PROMPT_BYTES",
    "ROLES",
    "SYSTEM_ROLES",
    "PromptError",
    "conversation_from_messages",
    "conversation_from_prompt",
]

MAX_MESSAGES = 128
MAX_PROMPT_BYTES = 262_144
ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool"})
SYSTEM_ROLES: frozenset[str] = frozenset({"system", "developer"})
"""The roles whose text is the system prompt, wherever they stand in the list."""

_ROLE_LIST = "system, developer, user, assistant, tool"
SYSTEM_JOINER = "\n\n"
"""Between the texts of two system (or developer) messages in the system prompt."""


class PromptError(Exception):
    """A prompt or message list that cannot be sent to a CLI.

    ``param`` names the request field at fault ("messages" or "prompt"), so the HTTP
    edge can answer in the OpenAI envelope::

        try:
            chat = conversation_from_messages(body["messages"])
        except PromptError as error:
            answer_400(error.message, param=error.param)
    """

    def __init__(self, message: str, param: str = "messages") -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def conversation_from_messages(messages: Sequence[Mapping[str, object]]) -> Conversation:
    """The :class:`Conversation` of chat messages (the rule above), or :class:`PromptError`.

    ``conversation_from_messages([{"role": "user", "content": "Hi"}]).prompt == "Hi"``.
    The text parts of one message are joined with a newline (empty parts are dropped).
    """
    if isinstance(messages, str | bytes | bytearray) or not isinstance(messages, Sequence):
        raise PromptError(f"messages must be an array of 1 to {MAX_MESSAGES} messages")
    count = len(messages)
    if not 1 <= count <= MAX_MESSAGES:
        raise PromptError(
            f"messages must hold 1 to {MAX_MESSAGES} messages; this request has {count}"
        )
    system: list[str] = []
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        role, text = _message(index, message)
        if role in SYSTEM_ROLES:
            system.append(text)
        else:
            turns.append(Turn("assistant" if role == "assistant" else "user", text))
    if not turns:
        conversation = Conversation(turns=(Turn("user", SYSTEM_JOINER.join(system)),))
    elif turns[-1].role == "assistant":
        last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
        raise PromptError(
            f"messages[{last}] is the last turn and comes from the assistant; a completion"
            " answers the user, so the conversation must end with a user (or tool) message"
        )
    else:
        conversation = Conversation(turns=tuple(turns), system=SYSTEM_JOINER.join(system))
    _within_limit(conversation.flattened(), "messages")
    return conversation


def conversation_from_prompt(prompt: str) -> Conversation:
    """A bare prompt string (the Python API's ``prompt``) as one user turn.

    ``conversation_from_prompt("Say hi").prompt == "Say hi"``; an empty prompt, invalid
    UTF-8 or more than 262,144 bytes raises :class:`PromptError` with ``param="prompt"``.
    """
    if not isinstance(prompt, str):
        raise PromptError("prompt must be a string", "prompt")
    if not prompt:
        raise PromptError("prompt must not be empty", "prompt")
    _check_utf8(prompt, "prompt", "prompt")
    _within_limit(prompt, "prompt")
    return Conversation.from_prompt(prompt)


def _message(index: int, message: object) -> tuple[str, str]:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise PromptError(f"{where} must be an object with 'role' and 'content'")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        shown = repr(role) if isinstance(role, str) else "missing or not a string"
        raise PromptError(f"{where}.role {shown} is not one of {_ROLE_LIST}")
    return role, _content_text(where, message.get("content"))


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


def _within_limit(prompt: str, param: str) -> None:
    size = len(prompt.encode("utf-8"))
    if size > MAX_PROMPT_BYTES:
        raise PromptError(
            f"the prompt is {size} bytes of UTF-8 once flattened; the limit is"
            f" {MAX_PROMPT_BYTES} bytes",
            param,
        )
