"""What a faithful completion looks like upstream: the chats the real-CLI tier sends, and
how much a CLI added to the request beyond the client's conversation.

"Added" is measured against the smallest request body the upstream API accepts for the
same conversation, in that API's own message shape (Anthropic Messages, OpenAI Responses,
Gemini ``generateContent``): whatever else a CLI sends (its metadata, cache hints, a date
reminder, ids) counts as added::

    added = added_bytes(body, minimal_anthropic(model, system, turns))
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam

SYSTEM = "You are a terse French translator."
REFERENCE: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Translate: good morning"},
    {"role": "assistant", "content": "Bonjour"},
    {"role": "user", "content": "Translate: good night"},
]
"""The reference chat of issue 14 (119 bytes of content)."""

NO_SYSTEM: list[ChatCompletionMessageParam] = [m for m in REFERENCE if m["role"] != "system"]


def _twenty_turns() -> list[ChatCompletionMessageParam]:
    chat: list[ChatCompletionMessageParam] = [{"role": "system", "content": SYSTEM}]
    for n in range(20):
        if n % 2 == 0:
            chat.append({"role": "user", "content": f"Translate: word number {n}"})
        else:
            chat.append({"role": "assistant", "content": f"mot numéro {n}"})
    chat.append({"role": "user", "content": "Translate: the last word"})
    return chat


TWENTY_TURNS = _twenty_turns()
"""A system prompt and 21 turns, user and assistant alternating, the last the user's."""

CHATS = [
    pytest.param(REFERENCE, id="reference"),
    pytest.param(NO_SYSTEM, id="no-system"),
    pytest.param(TWENTY_TURNS, id="twenty-turns"),
]
"""The three chats every CLI's faithfulness test runs."""

ADDED_LIMIT = 2048
"""The most a CLI may add to the request beyond the client's conversation (bytes)."""

PERSONA_MARKERS = (
    "software engineering",
    "coding agent",
    "interactive agent",
    "Plan mode",
    "CLI agent",
    "You are Codex",
    "Claude Code",
)
"""Sentences of the CLIs' own agent prompts; none may reach the model by default."""


def turns(chat: list[ChatCompletionMessageParam]) -> list[tuple[str, str]]:
    """(role, text) of the chat's user and assistant messages, in order."""
    return [(str(m["role"]), str(m.get("content"))) for m in chat if m["role"] != "system"]


def system_of(chat: list[ChatCompletionMessageParam]) -> str:
    return "\n\n".join(str(m.get("content")) for m in chat if m["role"] == "system")


def compact(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (UTF-8 as is), the measure of every body."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def added_bytes(body: Any, minimal: Any) -> int:
    """How much larger the CLI's request body is than the minimal one."""
    return compact(body) - compact(minimal)


def minimal_anthropic(model: str, chat: list[ChatCompletionMessageParam]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": 1}
    if system := system_of(chat):
        body["system"] = system
    body["messages"] = [
        {"role": role, "content": [{"type": "text", "text": text}]} for role, text in turns(chat)
    ]
    return body


def minimal_responses(model: str, chat: list[ChatCompletionMessageParam]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    if system := system_of(chat):
        body["instructions"] = system
    body["input"] = [
        {
            "type": "message",
            "role": role,
            "content": [{"type": "input_text" if role == "user" else "output_text", "text": text}],
        }
        for role, text in turns(chat)
    ]
    return body


def minimal_gemini(chat: list[ChatCompletionMessageParam]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if system := system_of(chat):
        body["systemInstruction"] = {"parts": [{"text": system}]}
    body["contents"] = [
        {"role": "user" if role == "user" else "model", "parts": [{"text": text}]}
        for role, text in turns(chat)
    ]
    return body


def persona_sentences(text: str) -> list[str]:
    """The markers of a CLI's own agent prompt found in ``text``."""
    return [marker for marker in PERSONA_MARKERS if marker in text]
