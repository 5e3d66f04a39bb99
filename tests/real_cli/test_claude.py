"""The real claude (2.1.197) through ``asm serve`` and the official openai client.

claude talks the Anthropic Messages API to ``ANTHROPIC_BASE_URL``: here a fake on
127.0.0.1 (tests/fakes/fake_anthropic.py) that records what claude sent and answers as
scripted. Nothing leaves 127.0.0.1: the failure paths point the base URL at a port that
is bound but not listening.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_anthropic import (
    FakeAnthropic,
    Script,
    ToolCall,
    Turn,
    bash_call,
    write_call,
)
from tests.real_cli import served
from tests.real_cli.faithful import (
    ADDED_LIMIT,
    CHATS,
    REFERENCE,
    SYSTEM,
    added_bytes,
    minimal_anthropic,
    persona_sentences,
    system_of,
    turns,
)
from tests.real_cli.served import (
    LADDER,
    Served,
    closed_port,
    provider_toml,
    serve,
    settled,
)

MODEL = "claude-sonnet-4-5"
FIRST_EVENT = 8.0
START = 5.0  # asm spawning claude, claude starting (~0.6 s measured), the HTTP round trip
AUTH_ENV = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN")
PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say the pangram"}]


def asm_toml(
    claude: Path,
    env: dict[str, str],
    *,
    pool: int = 1,
    isolate: bool = False,
    persona: str = "completion",
) -> str:
    return provider_toml(
        "claude",
        claude,
        env,
        first_event=FIRST_EVENT,
        pool=pool,
        isolate=isolate,
        persona=persona,
    )


def operator_environ(tmp_path: Path) -> dict[str, str]:
    """asm serve's environment: an empty HOME of its own and no claude credentials."""
    return served.operator_environ(tmp_path, *AUTH_ENV, "ANTHROPIC_BASE_URL")


def refused(server: Served) -> tuple[openai.APIStatusError, dict[str, Any], float]:
    """Ask a non-streaming completion that must fail: (the error, its envelope, seconds)."""
    client = server.lease("claude", MODEL)
    began = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=MODEL, messages=PROMPT)
    envelope: dict[str, Any] = caught.value.response.json()["error"]
    return caught.value, envelope, time.monotonic() - began


async def test_streaming_answer_arrives_as_token_deltas(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    script = Script(text="The quick brown fox jumps over the lazy dog", deltas=6)
    script = replace(script, input_tokens=11, output_tokens=9)
    script = replace(script, cache_read_input_tokens=7, cache_creation_input_tokens=3)
    claude = real_cli("claude")
    with FakeAnthropic(script) as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-fake"}
        with serve(tmp_path, asm_toml(claude, env), operator_environ(tmp_path)) as server:
            client = server.lease("claude", MODEL)
            stream = client.chat.completions.create(
                model=MODEL,
                messages=PROMPT,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 1
    assert "".join(pieces) == script.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    # Anthropic's input_tokens leaves out the cache: prompt = 11 + 7 read + 3 written.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (21, 9, 30)
    [request] = fake.messages()
    assert request["stream"] is True and request["tools"] == []
    assert "Say the pangram" in json.dumps(request["messages"])


async def test_whole_answer_carries_the_upstream_usage_and_a_cut_one_says_length(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    script = Script(text="Hello from the fake upstream", input_tokens=40, output_tokens=12)
    script = replace(script, cache_read_input_tokens=1000, cache_creation_input_tokens=60)
    # prompt_tokens = 40 fresh + 1000 read from the cache + 60 written to it
    claude = real_cli("claude")
    with FakeAnthropic(script) as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-fake"}
        with serve(tmp_path, asm_toml(claude, env), operator_environ(tmp_path)) as server:
            client = server.lease("claude", MODEL)
            answer = client.chat.completions.create(model=MODEL, messages=PROMPT)
            fake.script = replace(script, stop_reason="max_tokens")
            cut = client.chat.completions.create(model=MODEL, messages=PROMPT)
    assert answer.model == MODEL
    assert answer.choices[0].message.content == "Hello from the fake upstream"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.model_dump(include={"prompt_tokens", "completion_tokens"}) == {
        "prompt_tokens": 1100,
        "completion_tokens": 12,
    }
    assert answer.usage.total_tokens == 1112
    # claude asks the model to resume after a max_tokens stop (three times), then reports
    # an error result; the endpoint answers what was said, cut at the limit.
    assert cut.choices[0].finish_reason == "length"
    assert (cut.choices[0].message.content or "").startswith("Hello from the fake upstream")
    resumed = fake.messages()[2:]
    assert resumed and all("Output token limit hit" in json.dumps(r["messages"]) for r in resumed)


async def test_hostile_tool_calls_run_nothing_and_the_endpoint_still_answers(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    touched, written = tmp_path / "pwned", tmp_path / "written"
    turns = (
        Turn(tool=bash_call(f"touch {touched}")),
        Turn(tool=write_call(str(written), "pwned")),
        Turn(text="I have no tools."),
    )
    claude = real_cli("claude")
    with FakeAnthropic(Script(turns=turns)) as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-fake"}
        with serve(tmp_path, asm_toml(claude, env), operator_environ(tmp_path)) as server:
            client = server.lease("claude", MODEL)
            answer = client.chat.completions.create(model=MODEL, messages=PROMPT)
    assert answer.choices[0].message.content == "I have no tools."
    assert not touched.exists() and not written.exists()
    requests = fake.messages()
    assert len(requests) == 3
    # claude offered the model no tool at all, on every turn ...
    assert [request["tools"] for request in requests] == [[], [], []]
    # ... and answered each tool call with an error instead of running it.
    for request, tool in zip(requests[1:], ("Bash", "Write"), strict=True):
        [result] = [
            block
            for block in request["messages"][-1]["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]
        assert result["is_error"] is True
        assert f"No such tool available: {tool}" in json.dumps(result["content"])


async def test_no_login_answers_503_saying_to_log_in(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    claude = real_cli("claude")
    with closed_port() as nowhere:
        # No key and a private, empty HOME: nothing to log in with.
        config = asm_toml(claude, {"ANTHROPIC_BASE_URL": nowhere}, pool=0, isolate=True)
        with serve(tmp_path, config, operator_environ(tmp_path)) as server:
            error, envelope, seconds = refused(server)
            left = await settled(server)
    assert error.status_code == 503
    assert envelope["code"] == "not_logged_in"
    assert "login" in envelope["message"]
    assert seconds < FIRST_EVENT + LADDER + START
    assert left == []


async def test_unreachable_api_answers_503_unreachable_at_the_first_event_deadline(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    claude = real_cli("claude")
    with closed_port() as nowhere:
        env = {"ANTHROPIC_BASE_URL": nowhere, "ANTHROPIC_API_KEY": "sk-ant-fake"}
        with serve(tmp_path, asm_toml(claude, env, pool=0), operator_environ(tmp_path)) as server:
            error, envelope, seconds = refused(server)
            left = await settled(server)
    assert error.status_code == 503
    assert envelope["code"] == "unreachable"
    message = envelope["message"]
    assert "could not reach its service" in message and "base URL" in message
    assert "API request failed" in message  # claude's own retry notice says what failed
    assert FIRST_EVENT <= seconds < FIRST_EVENT + LADDER + START
    assert left == []


async def test_rejected_api_key_answers_503_not_logged_in_before_the_deadline(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    claude = real_cli("claude")
    with FakeAnthropic(Script(status=401)) as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-revoked"}
        with serve(tmp_path, asm_toml(claude, env, pool=0), operator_environ(tmp_path)) as server:
            error, envelope, seconds = refused(server)
            left = await settled(server)
    assert error.status_code == 503
    # Not the deadline's "unreachable": the decoder read claude's third 401 retry.
    assert envelope["code"] == "not_logged_in"
    assert "ANTHROPIC_API_KEY" in envelope["message"] and "HTTP 401" in envelope["message"]
    assert seconds < FIRST_EVENT + LADDER + START
    assert len(fake.messages()) >= 3
    assert left == []


def _system_texts(request: dict[str, Any]) -> list[str]:
    system = request.get("system") or []
    return [block["text"] for block in system if isinstance(block, dict)]


def _turns(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each message, claude's own reminders left out."""
    found = []
    for message in request["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        text = "".join(
            block.get("text", "")
            for block in blocks
            if block.get("type") == "text"
            and not block.get("text", "").startswith("<system-reminder>")
        )
        found.append((message["role"], text))
    return found


def _completion(
    tmp_path: Path,
    claude: Path,
    chat: list[ChatCompletionMessageParam],
    script: Script,
    *,
    persona: str = "completion",
    **params: Any,
) -> tuple[openai.types.chat.ChatCompletion, list[dict[str, Any]], dict[str, str]]:
    """One completion through a parked claude: the answer, the model calls, its headers."""
    with FakeAnthropic(script) as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-fake"}
        config = asm_toml(claude, env, persona=persona)
        with serve(tmp_path, config, operator_environ(tmp_path)) as server:
            client = server.lease("claude", MODEL)
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=chat, **params
            )
            answer = raw.parse()
    return answer, fake.messages(), dict(raw.headers)


@pytest.mark.parametrize("chat", CHATS)
async def test_the_model_receives_the_clients_system_prompt_and_turns_in_one_call(
    tmp_path: Path, real_cli: Callable[[str], Path], chat: list[ChatCompletionMessageParam]
) -> None:
    answer, requests, _ = _completion(tmp_path, real_cli("claude"), chat, Script(text="Bonne nuit"))
    assert answer.choices[0].message.content == "Bonne nuit"
    [request] = requests  # one model call: no title request, no side call
    assert request.get("tools", []) == []
    system = _system_texts(request)
    # claude keeps its billing header and its one-line identity; nothing else is its own.
    assert system[0].startswith("x-anthropic-billing-header")
    assert system[1] == "You are a Claude agent, built on Anthropic's Claude Agent SDK."
    assert system[2:] == ([system_of(chat)] if system_of(chat) else [])
    assert persona_sentences(json.dumps(request)) == []
    assert "thinking" not in request or request["thinking"] == {"type": "disabled"}
    assert _turns(request) == turns(chat)
    assert added_bytes(request, minimal_anthropic(MODEL, chat)) <= ADDED_LIMIT


async def test_the_agent_persona_restores_claudes_own_prompt(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    _, [request], _ = _completion(
        tmp_path, real_cli("claude"), REFERENCE, Script(text="Bonne nuit"), persona="agent"
    )
    system = "\n".join(_system_texts(request))
    assert "software engineering" in system  # claude's coding-agent persona is back
    assert system.rstrip().endswith(SYSTEM)  # and the client's text follows it
    assert _turns(request) == turns(REFERENCE)


async def test_a_json_schema_answer_is_the_json_the_schema_asks_for(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    schema = {
        "type": "object",
        "properties": {"translation": {"type": "string"}},
        "required": ["translation"],
        "additionalProperties": False,
    }
    script = Script(turns=(Turn(tool=ToolCall("StructuredOutput", {"translation": "Bonne nuit"})),))
    response_format = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    answer, requests, _ = _completion(
        tmp_path, real_cli("claude"), REFERENCE, script, response_format=response_format
    )
    assert json.loads(answer.choices[0].message.content or "") == {"translation": "Bonne nuit"}
    [request] = requests
    # claude holds the model to the schema with one tool of its own, and nothing else.
    assert [(t["name"], t["input_schema"]) for t in request["tools"]] == [
        ("StructuredOutput", schema)
    ]


async def test_sampling_parameters_reach_the_request_and_the_rest_is_named(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    _, [request], headers = _completion(
        tmp_path,
        real_cli("claude"),
        REFERENCE,
        Script(text="Bonne nuit"),
        temperature=0.2,
        top_p=0.5,
        max_tokens=77,
        stop=["END"],
        seed=7,
    )
    assert (request["temperature"], request["top_p"], request["max_tokens"]) == (0.2, 0.5, 77)
    assert request["stop_sequences"] == ["END"]
    assert headers["x-asm-ignored-params"] == "seed"


async def test_a_refused_answer_ends_with_content_filter(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    script = Script(text="I can't help with that", stop_reason="refusal")
    answer, _, _ = _completion(tmp_path, real_cli("claude"), REFERENCE, script)
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.content == "I can't help with that"


async def test_text_that_looks_like_a_slash_command_reaches_the_model(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    chat: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "/compact this"},
        {"role": "assistant", "content": "?"},
        {"role": "user", "content": "/cost please"},
    ]
    answer, [request], _ = _completion(tmp_path, real_cli("claude"), chat, Script(text="ok"))
    assert answer.choices[0].message.content == "ok"
    assert _turns(request) == turns(chat)
