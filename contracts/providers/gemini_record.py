"""What both ways of running gemini share: its conversation record, and the help texts.

A spawned gemini reads earlier turns from ``--session-file``; a gemini worker
(``gemini --acp``) finds them with ``session/load``. Both take the same conversation
record (:func:`history_record`) of the turns gemini gets (:func:`persona_turns`), and
both explain a refusal with the same help (:data:`LOGIN_HELP`, :data:`UNREACHABLE_HELP`)::

    >>> from contracts.conversation import Conversation, Turn
    >>> chat = Conversation(system="Be brief.", turns=(Turn("user", "Hi"),))
    >>> persona_turns(chat, "agent")[0].text
    'Be brief.\\n\\nHi'
"""

from __future__ import annotations

import json
from typing import Final

from contracts.conversation import Conversation, Turn
from contracts.providers._delivery import Persona

__all__ = ["LOGIN_HELP", "STAMP", "UNREACHABLE_HELP", "history_record", "persona_turns"]

LOGIN_HELP: Final = (
    "set GEMINI_API_KEY for asm serve (in its environment or [providers.gemini.env]) with"
    ' "security": {"auth": {"selectedType": "gemini-api-key"}} in ~/.gemini/settings.json,'
    " or run `gemini` once as the user asm runs as to log in with Google"
)
"""What to do about a gemini that is not logged in."""

UNREACHABLE_HELP: Final = (
    "check this host's network and proxy, and the GOOGLE_GEMINI_BASE_URL set for gemini"
    " (unset: https://generativelanguage.googleapis.com)"
)
"""What to check about a gemini that cannot reach its service."""

STAMP: Final = "2000-01-01T00:00:00.000Z"
"""Every timestamp of a record: gemini needs one and reads nothing from it."""


def persona_turns(conversation: Conversation, persona: Persona) -> tuple[Turn, ...]:
    """The turns gemini gets: with the agent persona the system text opens the first."""
    turns = conversation.turns
    if persona == "completion" or not conversation.system:
        return turns
    first = turns[0]
    joined = Turn(first.role, f"{conversation.system}\n\n{first.text}")
    return (joined, *turns[1:])


def history_record(history: tuple[Turn, ...], session_id: str) -> bytes:
    """A gemini conversation record holding ``history``."""
    record = {
        "sessionId": session_id,
        "projectHash": "",
        "startTime": STAMP,
        "lastUpdated": STAMP,
        "messages": [
            {
                "id": f"asm-{index}",
                "timestamp": STAMP,
                "type": "user" if turn.role == "user" else "gemini",
                "content": [{"text": turn.text}],
            }
            for index, turn in enumerate(history)
        ],
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
