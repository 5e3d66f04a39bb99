"""How the fake CLIs take their conversation, as the real ones do (tests/fakes/fake_cli.py).

- claude with ``--input-format=stream-json``: JSON lines on stdin. Control requests
  (``initialize`` with ``systemPrompt`` / ``appendSystemPrompt`` / ``jsonSchema``,
  ``set_max_thinking_tokens``, ``apply_flag_settings``) are answered with a
  ``control_response``; an ``assistant`` line joins the history; a ``user`` line with
  ``"shouldQuery": false`` joins it and is acknowledged with the start line and a no-op
  ``result`` (``num_turns`` 0); the first ``user`` line without it is the prompt. Stdin
  stays open: the fake answers, then waits for EOF before it exits, as claude does.
  With text input, claude gives up when nothing arrives on stdin for
  ``FAKE_CLI_STDIN_WAIT_MS`` (default 3000, as claude 2.1.197): a warning on stderr,
  exit 1.
- codex ``exec … resume <id> -``: the prompt is all of stdin, read first; then the
  transcript ``$CODEX_HOME/sessions/**/rollout-*<id>*.jsonl`` (system text from
  ``session_meta.base_instructions``, history from the ``response_item`` messages).
- gemini: the system text is the file ``GEMINI_SYSTEM_MD`` names, the history the
  ``--session-file``; the prompt is all of stdin.
- amp: the prompt is all of stdin (the whole conversation, flattened).

With ``FAKE_CLI_RECORD_DIR`` set, the fake writes what it received to
``<dir>/<pid>.json``: ``{"provider", "system", "turns": [[role, text], …], "prompt",
"controls": [claude's control requests], "schema", "argv"}``. Standard library only;
``json`` is imported only when a protocol needs it.
"""

from __future__ import annotations

import os
import select
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Received", "StdinGaveUp", "read_conversation", "record"]

CLAUDE_STDIN_WAIT_MS = 3000
STDIN_GAVE_UP_EXIT = 1


class StdinGaveUp(Exception):
    """Nothing came on stdin in time (claude with text input)."""


@dataclass
class Received:
    """What the fake CLI was given."""

    prompt: str
    system: str | None = None
    turns: list[list[str]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    schema: Any = None


def _option(args: list[str], name: str) -> str | None:
    found = None
    for index, arg in enumerate(args):
        if arg.startswith(name + "="):
            found = arg[len(name) + 1 :]
        elif arg == name and index + 1 < len(args):
            found = args[index + 1]
    return found


def _read_all() -> str:
    return sys.stdin.buffer.read().decode("utf-8", "replace")


def read_conversation(provider: str, args: list[str], emit: Any, ack: Any) -> Received:
    """Read the conversation the way ``provider`` does. ``emit(line_dict)`` prints a stdout
    line; ``ack()`` prints claude's start line and no-op result for one history message."""
    if provider == "claude":
        if _option(args, "--input-format") == "stream-json":
            return _claude_stream_json(emit, ack)
        _wait_for_stdin(_env_ms("FAKE_CLI_STDIN_WAIT_MS", CLAUDE_STDIN_WAIT_MS))
        return Received(prompt=_read_all())
    if provider == "codex":
        prompt = _read_all()
        if "resume" in args:
            return _codex_transcript(args[args.index("resume") + 1], prompt, args)
        return Received(prompt=prompt)
    if provider == "gemini":
        return _gemini(args, _read_all())
    return Received(prompt=_read_all())


def record(provider: str, received: Received, args: list[str]) -> None:
    """Write what was received to ``$FAKE_CLI_RECORD_DIR/<pid>.json`` (when set)."""
    directory = os.environ.get("FAKE_CLI_RECORD_DIR")
    if not directory:
        return
    import json

    data = {
        "provider": provider,
        "system": received.system,
        "turns": received.turns,
        "prompt": received.prompt,
        "controls": received.controls,
        "schema": received.schema,
        "argv": args,
    }
    path = os.path.join(directory, f"{os.getpid()}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)


def _env_ms(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _wait_for_stdin(wait_ms: int) -> None:
    if wait_ms <= 0:
        return
    ready, _, _ = select.select([sys.stdin.fileno()], [], [], wait_ms / 1000)
    if not ready:
        seconds = wait_ms / 1000
        raise StdinGaveUp(f"Warning: no stdin data received in {seconds:g}s, proceeding without it")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _claude_stream_json(emit: Any, ack: Any) -> Received:
    import json

    received = Received(prompt="")
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if not line:
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "control_request":
            request = message.get("request") or {}
            received.controls.append(request)
            if request.get("subtype") == "initialize":
                if "systemPrompt" in request:
                    received.system = request["systemPrompt"]
                elif request.get("appendSystemPrompt"):
                    received.system = "<claude persona>\n" + request["appendSystemPrompt"]
                received.schema = request.get("jsonSchema")
            response = {"subtype": "success", "request_id": message.get("request_id")}
            emit({"type": "control_response", "response": response})
        elif kind == "assistant":
            text = _text_of((message.get("message") or {}).get("content"))
            received.turns.append(["assistant", text])
        elif kind == "user":
            text = _text_of((message.get("message") or {}).get("content"))
            received.turns.append(["user", text])
            if message.get("shouldQuery") is False:
                ack()
                continue
            received.prompt = text
            return received
    return received  # stdin ended before a prompt: an empty one


def _codex_transcript(session_id: str, prompt: str, args: list[str]) -> Received:
    import glob
    import json

    home = os.environ.get("CODEX_HOME") or os.path.join(os.environ.get("HOME", "~"), ".codex")
    pattern = os.path.join(home, "sessions", "**", f"rollout-*{session_id}*.jsonl")
    found = sorted(glob.glob(pattern, recursive=True))
    if not found:
        raise FileNotFoundError(f"Error: no rollout found for thread id {session_id}")
    received = Received(prompt=prompt)
    with open(found[0], encoding="utf-8") as handle:
        for raw in handle:
            line = json.loads(raw)
            payload = line.get("payload") or {}
            if line.get("type") == "session_meta":
                base = payload.get("base_instructions")
                received.system = base.get("text") if isinstance(base, dict) else None
            elif line.get("type") == "response_item" and payload.get("type") == "message":
                role = str(payload.get("role"))
                text = "".join(part.get("text", "") for part in payload.get("content") or [])
                if role == "developer":
                    received.system = (received.system or "<codex persona>") + "\n" + text
                else:
                    received.turns.append([role, text])
    received.turns.append(["user", prompt])
    schema_path = _option(args, "--output-schema")
    if schema_path:
        with open(schema_path, encoding="utf-8") as handle:
            received.schema = json.load(handle)
    return received


def _gemini(args: list[str], prompt: str) -> Received:
    received = Received(prompt=prompt)
    system_md = os.environ.get("GEMINI_SYSTEM_MD")
    if system_md:
        with open(system_md, encoding="utf-8") as handle:
            received.system = handle.read()
    session_file = _option(args, "--session-file")
    if session_file:
        import json

        with open(session_file, encoding="utf-8") as handle:
            record_ = json.load(handle)
        for message in record_.get("messages") or []:
            role = "assistant" if message.get("type") == "gemini" else "user"
            parts = [{"type": "text", **part} for part in message.get("content") or []]
            received.turns.append([role, _text_of(parts)])
    received.turns.append(["user", prompt])
    return received
