"""What a completion asks of a CLI: the client's conversation and its request options.

The endpoint is a *completion* endpoint: the model must receive the client's system
prompt as its system prompt and the client's turns as turns, not a coding agent's
persona with the chat flattened into one message. A :class:`Conversation` is that
request in a form every provider driver (``contracts.providers``) can deliver its own
way::

    >>> from contracts.conversation import Conversation, Turn
    >>> chat = Conversation(
    ...     system="You are a terse French translator.",
    ...     turns=(Turn("user", "good morning"), Turn("assistant", "Bonjour"),
    ...            Turn("user", "good night")),
    ... )
    >>> chat.prompt, len(chat.history)
    ('good night', 2)
    >>> print(chat.flattened())
    system: You are a terse French translator.
    user: good morning
    assistant: Bonjour
    user: good night

:mod:`contracts.openai.prompt` builds one from OpenAI chat messages (the mapping rule lives
there); :mod:`contracts.openai.requests` adds the request options a body carries.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec

__all__ = [
    "EFFORTS",
    "Conversation",
    "RequestOptions",
    "ResponseFormat",
    "Role",
    "Turn",
]

Role: TypeAlias = Literal["user", "assistant"]

EFFORTS: frozenset[str] = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
"""The ``reasoning_effort`` values a request may carry (OpenAI's, plus ``xhigh``)."""


class Turn(msgspec.Struct, frozen=True):
    """One message of the conversation: ``Turn("user", "Hi")``."""

    role: Role
    text: str


class ResponseFormat(msgspec.Struct, frozen=True, kw_only=True):
    """``response_format`` other than ``text``: JSON, to a schema or to none.

    ``kind`` is ``json_schema`` (``schema`` holds the JSON Schema, ``name`` its name) or
    ``json_object`` (any JSON object).
    """

    kind: Literal["json_schema", "json_object"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None

    def json_schema(self) -> dict[str, Any]:
        """The schema the answer must satisfy: ``{"type": "object"}`` for ``json_object``."""
        return self.schema if self.schema is not None else {"type": "object"}


class RequestOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The request parameters of a completion, as the client gave them (None: not given).

    ``max_tokens`` is either of OpenAI's ``max_tokens`` / ``max_completion_tokens``;
    ``stop`` is always a tuple (a single string becomes one entry).
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    reasoning_effort: str | None = None
    response_format: ResponseFormat | None = None

    def given(self) -> tuple[str, ...]:
        """The OpenAI names of the parameters this request sets, in a fixed order.

        >>> RequestOptions(temperature=0.2, stop=("x",)).given()
        ('temperature', 'stop')
        """
        present = {
            "temperature": self.temperature is not None,
            "top_p": self.top_p is not None,
            "max_tokens": self.max_tokens is not None,
            "stop": bool(self.stop),
            "seed": self.seed is not None,
            "reasoning_effort": self.reasoning_effort is not None,
            "response_format": self.response_format is not None,
        }
        return tuple(name for name, set_ in present.items() if set_)


_NO_OPTIONS = RequestOptions()


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """The client's system text, its turns in order (the last one a user turn), and options.

    ``system`` is ``""`` when the client sent none. Build one with
    :func:`contracts.openai.conversation_from_messages` (which enforces the shape), or
    :meth:`from_prompt` for a bare prompt.
    """

    turns: tuple[Turn, ...]
    system: str = ""
    options: RequestOptions = _NO_OPTIONS

    @classmethod
    def from_prompt(cls, prompt: str) -> Conversation:
        """One user turn: ``Conversation.from_prompt("Say hi").prompt == "Say hi"``."""
        return cls(turns=(Turn("user", prompt),))

    @classmethod
    def of(cls, prompt: str | Conversation) -> Conversation:
        """``prompt`` itself, or a bare prompt string as one user turn."""
        return prompt if isinstance(prompt, Conversation) else cls.from_prompt(prompt)

    @property
    def prompt(self) -> str:
        """The text of the last (user) turn: what the model answers."""
        return self.turns[-1].text

    @property
    def history(self) -> tuple[Turn, ...]:
        """Every turn before the last one, in order."""
        return self.turns[:-1]

    def flattened(self) -> str:
        """The whole conversation as ``role: text`` lines (for a CLI that takes one prompt).

        A lone user turn without system text is its text alone: there is nothing to tell
        apart (``Conversation.from_prompt("Hi").flattened() == "Hi"``).
        """
        if not self.system and len(self.turns) == 1:
            return self.prompt
        lines = [f"system: {self.system}"] if self.system else []
        lines += [f"{turn.role}: {turn.text}" for turn in self.turns]
        return "\n".join(lines)

    def with_options(self, options: RequestOptions) -> Conversation:
        """This conversation with ``options``."""
        return msgspec.structs.replace(self, options=options)
