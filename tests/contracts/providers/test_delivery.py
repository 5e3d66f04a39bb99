"""Each driver delivers the client's conversation whole: system text, turns in order, the
last turn as the prompt, and the request options it honours."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.conversation import Conversation, RequestOptions, ResponseFormat, Turn
from contracts.providers import DRIVERS, LaunchRequest, Persona, Workspace
from contracts.providers.claude_input import TITLE, content_blocks
from contracts.providers.codex_transcript import tool_free_catalog
from contracts.testing import conversations

WORKSPACE = Workspace("/w", "9b2e0c1d-0000-4000-8000-000000000000")
personas = st.sampled_from(["completion", "agent"])


def _request(
    provider: str, conversation: Conversation | None, persona: Persona = "completion"
) -> LaunchRequest:
    return LaunchRequest(
        executable=provider,
        model="m",
        workspace=WORKSPACE,
        conversation=conversation,
        persona=persona,
    )


def _claude_lines(conversation: Conversation, persona: Persona) -> list[list[dict[str, Any]]]:
    delivery = DRIVERS["claude"].deliver(conversation, _request("claude", None, persona))
    assert delivery.hold_stdin  # closing stdin early would end claude's input loop
    return [[json.loads(line) for line in step.splitlines()] for step in delivery.steps]


def _text(content: list[dict[str, str]]) -> str:
    return "".join(block["text"] for block in content)


@given(conversations(), personas)
def test_rule_claude_gets_the_system_prompt_and_each_turn_in_order(
    conversation: Conversation, persona: Persona
) -> None:
    """Rule: claude's stdin carries the system text (replacing its persona, or appended to
    it), then every turn in order, the last one alone making the model call."""
    steps = _claude_lines(conversation, persona)
    lines = [line for step in steps for line in step]
    init = lines[0]["request"]
    assert init["subtype"] == "initialize" and init["title"] == TITLE
    if persona == "completion":
        assert init["systemPrompt"] == conversation.system
    else:
        assert "systemPrompt" not in init
        assert init.get("appendSystemPrompt", "") == conversation.system
    messages = [line for line in lines if line["type"] in ("user", "assistant")]
    turns = [Turn(m["message"]["role"], _text(m["message"]["content"])) for m in messages]
    assert turns == list(conversation.turns)
    queries = [m for m in messages if m["type"] == "user" and m.get("shouldQuery") is not False]
    assert queries == [messages[-1]]


@given(conversations())
def test_rule_claude_waits_for_an_acknowledgement_after_each_history_user_turn(
    conversation: Conversation,
) -> None:
    """Rule: every step but the last ends with a history user line; the session waits for
    claude to take it in before the next step (else an assistant line jumps the queue)."""
    steps = _claude_lines(conversation, "completion")
    users_in_history = sum(1 for turn in conversation.history if turn.role == "user")
    assert len(steps) - 1 == users_in_history
    for step in steps[:-1]:
        assert step[-1]["type"] == "user" and step[-1]["shouldQuery"] is False


@given(conversations())
def test_rule_claude_thinks_only_when_asked(conversation: Conversation) -> None:
    """Rule: with the completion persona claude's thinking is off unless the request gives a
    reasoning effort other than none or minimal; that effort becomes claude's."""
    lines = [line for step in _claude_lines(conversation, "completion") for line in step]
    requests = [line["request"] for line in lines if line["type"] == "control_request"]
    effort = conversation.options.reasoning_effort
    off = {"subtype": "set_max_thinking_tokens", "max_thinking_tokens": 0}
    assert (off in requests) == (effort in (None, "none", "minimal"))
    settings = [r["settings"] for r in requests if r["subtype"] == "apply_flag_settings"]
    levels = [s["effortLevel"] for s in settings if "effortLevel" in s]
    assert levels == ([effort] if effort in ("low", "medium", "high", "xhigh") else [])


def test_claude_gets_the_sampling_parameters_in_its_request_environment() -> None:
    options = RequestOptions(temperature=0.2, top_p=0.5, max_tokens=77, stop=("END",))
    chat = Conversation(turns=(Turn("user", "hi"),), options=options)
    lines = [line for step in _claude_lines(chat, "completion") for line in step]
    [settings] = [
        line["request"]["settings"]
        for line in lines
        if line["type"] == "control_request" and line["request"]["subtype"] == "apply_flag_settings"
    ]
    assert settings["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "77"
    assert json.loads(settings["env"]["CLAUDE_CODE_EXTRA_BODY"]) == {
        "temperature": 0.2,
        "top_p": 0.5,
        "stop_sequences": ["END"],
    }


def test_claude_gets_a_json_schema_at_initialize() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    options = RequestOptions(response_format=ResponseFormat(kind="json_schema", schema=schema))
    chat = Conversation(turns=(Turn("user", "hi"),), options=options)
    init = _claude_lines(chat, "completion")[0][0]["request"]
    assert init["jsonSchema"] == schema


@given(st.text())
def test_rule_a_text_never_reads_as_a_claude_slash_command(text: str) -> None:
    """Rule: the blocks of a text join back to it, and the last block does not start with
    "/" (claude would run it as a command) unless the text holds nothing but slashes."""
    blocks = content_blocks(text)
    assert _text(blocks) == text
    if text.strip(" \t\n\r\x0b\x0c/"):
        assert not blocks[-1]["text"].lstrip().startswith("/")


@given(conversations(), personas)
def test_rule_codex_resumes_a_transcript_of_the_history_and_reads_the_prompt(
    conversation: Conversation, persona: Persona
) -> None:
    """Rule: codex's transcript holds the system text as its base instructions (or, with
    the agent persona, as a developer message) and the history in order; stdin holds the
    last turn."""
    request = _request("codex", None, persona)
    delivery = DRIVERS["codex"].deliver(conversation, request)
    [(name, content)] = delivery.files.items()
    assert name.startswith("codex-home/sessions/") and WORKSPACE.session_id in name
    lines = [json.loads(line) for line in content.splitlines()]
    meta = lines[0]["payload"]
    assert meta["id"] == WORKSPACE.session_id
    items = [line["payload"] for line in lines if line["type"] == "response_item"]
    if persona == "completion":
        assert meta["base_instructions"] == {"text": conversation.system}
    else:
        assert "base_instructions" not in meta
        if conversation.system:
            assert items.pop(0)["role"] == "developer"
    history = [Turn(item["role"], item["content"][0]["text"]) for item in items]
    assert history == list(conversation.history)
    assert delivery.steps == (conversation.prompt.encode(),)
    assert lines[1]["payload"]["multi_agent_version"] == "disabled"


@given(conversations(), personas)
def test_rule_gemini_starts_with_the_system_file_and_session_file(
    conversation: Conversation, persona: Persona
) -> None:
    """Rule: gemini starts with the system text in GEMINI_SYSTEM_MD's file (the completion
    persona) and the history as its session file; stdin holds the last turn."""
    request = _request("gemini", conversation, persona)
    launch = DRIVERS["gemini"].launch(request)
    stdin = DRIVERS["gemini"].deliver(conversation, request).steps
    turns = list(conversation.turns)
    if persona == "completion":
        assert launch.files["system.md"] == conversation.system.encode()
        assert launch.env["GEMINI_SYSTEM_MD"] == WORKSPACE.path("system.md")
    else:
        assert "GEMINI_SYSTEM_MD" not in launch.env
        if conversation.system:
            first = turns[0]
            turns[0] = Turn(first.role, f"{conversation.system}\n\n{first.text}")
    history = []
    if "session.json" in launch.files:
        assert f"--session-file={WORKSPACE.path('session.json')}" in launch.argv
        record = json.loads(launch.files["session.json"])
        history = [
            Turn("user" if m["type"] == "user" else "assistant", m["content"][0]["text"])
            for m in record["messages"]
        ]
    assert history == turns[:-1]
    assert stdin == (turns[-1].text.encode(),)


@given(conversations())
def test_rule_amp_gets_the_conversation_flattened(conversation: Conversation) -> None:
    """Rule: amp has no system prompt of its own to replace: it reads the whole
    conversation as one prompt."""
    delivery = DRIVERS["amp"].deliver(conversation, _request("amp", None))
    assert delivery.steps == (conversation.flattened().encode(),)


def test_which_drivers_park_and_which_conversations_need_a_fresh_launch() -> None:
    plain = Conversation.from_prompt("hi")
    schema = Conversation(
        turns=(Turn("user", "hi"),),
        options=RequestOptions(response_format=ResponseFormat(kind="json_schema", schema={})),
    )
    claude, codex, gemini, amp = (DRIVERS[p] for p in ("claude", "codex", "gemini", "amp"))
    assert claude.parks and codex.parks and amp.parks and not gemini.parks
    assert not any(d.needs_launch(plain) for d in (claude, codex, amp))
    assert codex.needs_launch(schema) and not claude.needs_launch(schema)
    assert gemini.needs_launch(plain)


def test_codex_gets_the_schema_on_its_command_line_and_its_own_codex_home() -> None:
    schema = {"type": "object"}
    options = RequestOptions(response_format=ResponseFormat(kind="json_schema", schema=schema))
    chat = Conversation(turns=(Turn("user", "hi"),), options=options)
    launch = DRIVERS["codex"].launch(_request("codex", chat))
    assert f"--output-schema={WORKSPACE.path('output-schema.json')}" in launch.argv
    assert json.loads(launch.files["output-schema.json"]) == schema
    assert launch.env == {"CODEX_HOME": WORKSPACE.path("codex-home")}
    assert launch.links == (("codex-home/auth.json", "~/.codex/auth.json"),)


def test_the_tool_free_catalog_takes_out_every_models_own_tools() -> None:
    raw = json.dumps(
        {
            "models": [
                {
                    "slug": "gpt-5.5",
                    "apply_patch_tool_type": "freeform",
                    "web_search_tool_type": "text_and_image",
                    "tool_mode": "code_mode_only",
                    "supports_search_tool": True,
                    "experimental_supported_tools": ["x"],
                    "context_window": 272000,
                }
            ]
        }
    ).encode()
    catalog = tool_free_catalog(raw)
    assert catalog is not None
    assert json.loads(catalog) == {
        "models": [
            {
                "slug": "gpt-5.5",
                "supports_search_tool": False,
                "experimental_supported_tools": [],
                "context_window": 272000,
            }
        ]
    }
    assert tool_free_catalog(b"not json") is None
    assert tool_free_catalog(b'{"models": 3}') is None
