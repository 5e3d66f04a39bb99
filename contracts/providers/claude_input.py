"""A conversation as claude's stream-json input (``claude -p --input-format=stream-json``).

Claude Code's SDK protocol lets a process that is already running take everything a
completion needs, so a parked claude can serve any request (measured on 2.1.197):

- an ``initialize`` control request sets the system prompt (``systemPrompt`` replaces
  the coding-agent persona; ``appendSystemPrompt`` adds to it), the JSON Schema of a
  structured answer (``jsonSchema``: claude offers the model one ``StructuredOutput``
  tool and reports its input as the result) and a session ``title`` (without one, the
  first prompt also asks the model for a title: a second model call);
- ``set_max_thinking_tokens`` and ``apply_flag_settings`` (``effortLevel``, and the
  ``env`` claude reads per request: ``CLAUDE_CODE_MAX_OUTPUT_TOKENS``,
  ``CLAUDE_CODE_EXTRA_BODY`` for temperature, top_p and stop sequences) carry the
  request parameters;
- history goes in as messages: an ``assistant`` line joins the history at once, a
  ``user`` line with ``"shouldQuery": false`` joins it once claude has processed it
  (it then writes a no-op ``result`` line: the acknowledgement the session waits for
  before the next line, or the order would be lost); the last user line, without
  ``shouldQuery``, makes the one model call.

Text that starts with ``/`` would run one of claude's slash commands instead of
reaching the model ("/cost", "/compact"; unknown ones answer "Unknown command"), whatever
``--disable-slash-commands`` says. Claude only looks at the last text block, so such a
text is sent as two blocks, its leading slashes and the rest: the model still reads the
same characters::

    >>> content_blocks("/cost please")
    [{'type': 'text', 'text': '/'}, {'type': 'text', 'text': 'cost please'}]
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from contracts.conversation import Conversation, RequestOptions
from contracts.providers._delivery import Delivery, Persona

__all__ = ["TITLE", "claude_delivery", "content_blocks"]

TITLE: Final = "asm completion"
"""The session title given up front, so claude never asks the model for one."""

_EFFORT_LEVELS: Final = frozenset({"low", "medium", "high", "xhigh"})
_NO_THINKING: Final = frozenset({"none", "minimal"})
_LEADING_SLASHES: Final = re.compile(r"[\s/]*")


def claude_delivery(conversation: Conversation, persona: Persona) -> Delivery:
    """The stdin steps that give a parked ``claude -p --input-format=stream-json`` the chat."""
    steps: list[list[dict[str, Any]]] = [_setup(conversation, persona)]
    for turn in conversation.history:
        if turn.role == "user":
            steps[-1].append(_user(turn.text, query=False))
            steps.append([])  # wait for claude to take it into the history
        else:
            steps[-1].append(_assistant(turn.text))
    steps[-1].append(_user(conversation.prompt, query=True))
    return Delivery(steps=tuple(_lines(step) for step in steps), hold_stdin=True)


def content_blocks(text: str) -> list[dict[str, str]]:
    """The text blocks of one message: two when ``text`` would read as a slash command."""
    if not text.lstrip().startswith("/"):
        return [{"type": "text", "text": text}]
    cut = _LEADING_SLASHES.match(text)
    end = cut.end() if cut is not None else 0
    if end == len(text):  # nothing but slashes and spaces: no command to run
        return [{"type": "text", "text": text}]
    return [{"type": "text", "text": text[:end]}, {"type": "text", "text": text[end:]}]


def _setup(conversation: Conversation, persona: Persona) -> list[dict[str, Any]]:
    options = conversation.options
    init: dict[str, Any] = {"subtype": "initialize", "title": TITLE}
    if persona == "completion":
        init["systemPrompt"] = conversation.system
    elif conversation.system:
        init["appendSystemPrompt"] = conversation.system
    if options.response_format is not None:
        init["jsonSchema"] = options.response_format.json_schema()
    requests = [init]
    effort = options.reasoning_effort
    if effort in _NO_THINKING or (effort is None and persona == "completion"):
        # Claude thinks by default; a completion does only when asked to.
        requests.append({"subtype": "set_max_thinking_tokens", "max_thinking_tokens": 0})
    settings = _flag_settings(options)
    if settings:
        requests.append({"subtype": "apply_flag_settings", "settings": settings})
    return [
        {"type": "control_request", "request_id": f"asm-{number}", "request": request}
        for number, request in enumerate(requests, start=1)
    ]


def _flag_settings(options: RequestOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if options.reasoning_effort in _EFFORT_LEVELS:
        settings["effortLevel"] = options.reasoning_effort
    env: dict[str, str] = {}
    if options.max_tokens is not None:
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(options.max_tokens)
    body: dict[str, Any] = {}
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.stop:
        body["stop_sequences"] = list(options.stop)
    if body:
        env["CLAUDE_CODE_EXTRA_BODY"] = json.dumps(body, separators=(",", ":"))
    if env:
        settings["env"] = env
    return settings


def _user(text: str, *, query: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "user",
        "message": {"role": "user", "content": content_blocks(text)},
        "parent_tool_use_id": None,
        "session_id": "",
    }
    if not query:
        line["shouldQuery"] = False
    return line


def _assistant(text: str) -> dict[str, Any]:
    return {
        "type": "assistant",
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
        "parent_tool_use_id": None,
        "session_id": "",
    }


def _lines(step: list[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        for line in step
    )
