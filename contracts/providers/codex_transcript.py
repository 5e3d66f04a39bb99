"""A conversation as a codex session transcript, and a model catalog without tools.

``codex exec`` takes one prompt. ``codex exec resume <id> -`` continues a session from
its transcript (a "rollout", JSON lines under ``$CODEX_HOME/sessions/``), and reads
that transcript only after it has read its prompt from stdin: so a parked codex can be
given any conversation by writing a transcript into its private ``CODEX_HOME`` before
the prompt (measured on 0.169.0). The transcript carries:

- ``session_meta`` with ``base_instructions``: the system prompt codex sends in place of
  its own (an empty text sends none), left out for the agent persona;
- a ``turn_context`` line (multi-agent tools off: without it a resumed session offers
  them);
- one ``response_item`` per earlier turn, user and assistant, in order.

The last user turn is the prompt on stdin. :func:`tool_free_catalog` rewrites the
model catalog codex prints (``codex debug models``) so that no model brings its own
``apply_patch``, web search or tool-search tool: codex then offers the model none::

    >>> from contracts.conversation import Conversation, Turn
    >>> chat = Conversation(system="Be brief.", turns=(Turn("user", "Hi"),
    ...                     Turn("assistant", "Hello"), Turn("user", "Bye")))
    >>> lines = transcript(chat, "9b2e…", cwd="/w", model="gpt-5", persona="completion")
    >>> [line["type"] for line in lines]
    ['session_meta', 'turn_context', 'response_item', 'response_item']
"""

from __future__ import annotations

import json
from typing import Any, Final

from contracts.conversation import Conversation
from contracts.providers._delivery import Persona

__all__ = ["TRANSCRIPT_DIR", "tool_free_catalog", "transcript", "transcript_bytes"]

TRANSCRIPT_DIR: Final = "sessions/2000/01/01"
"""Where in CODEX_HOME the transcript goes; codex finds it by its id in any date folder."""

_STAMP: Final = "2000-01-01T00:00:00.000Z"
"""Every line's timestamp: codex needs one and reads nothing from it (no clock here)."""

_TOOL_KEYS: Final = ("apply_patch_tool_type", "web_search_tool_type", "tool_mode")


def transcript(
    conversation: Conversation, session_id: str, *, cwd: str, model: str, persona: Persona
) -> list[dict[str, Any]]:
    """The transcript lines that resume into ``conversation`` minus its last turn."""
    meta: dict[str, Any] = {
        "id": session_id,
        "timestamp": _STAMP,
        "cwd": cwd,
        "originator": "asm",
        "cli_version": "0.0.0",
        "source": "exec",
    }
    items: list[dict[str, Any]] = []
    if persona == "completion":
        meta["base_instructions"] = {"text": conversation.system}
    elif conversation.system:
        items.append(_message("developer", "input_text", conversation.system))
    for turn in conversation.history:
        if turn.role == "user":
            items.append(_message("user", "input_text", turn.text))
        else:
            items.append(_message("assistant", "output_text", turn.text))
    context = {
        "cwd": cwd,
        "approval_policy": "never",
        "sandbox_policy": {"type": "read-only"},
        "model": model,  # without it codex drops the line, and multi-agent tools come back
        "summary": "none",
        "multi_agent_version": "disabled",
    }
    return [
        _line("session_meta", meta),
        _line("turn_context", context),
        *(_line("response_item", item) for item in items),
    ]


def transcript_bytes(lines: list[dict[str, Any]]) -> bytes:
    """The transcript as JSON lines."""
    return b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        for line in lines
    )


def tool_free_catalog(raw: bytes) -> bytes | None:
    """``codex debug models`` output with every model's own tools taken out.

    None when ``raw`` is not a catalog (``{"models": [...]}``): codex then keeps its own.
    """
    try:
        catalog = json.loads(raw)
    except ValueError:
        return None
    models = catalog.get("models") if isinstance(catalog, dict) else None
    if not isinstance(models, list):
        return None
    for model in models:
        if not isinstance(model, dict):
            return None
        for key in _TOOL_KEYS:
            model.pop(key, None)
        model["supports_search_tool"] = False
        model["experimental_supported_tools"] = []
    return json.dumps(catalog, separators=(",", ":")).encode("utf-8")


def _message(role: str, kind: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def _line(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": _STAMP, "type": kind, "payload": payload}
