"""The real gemini CLI (0.61.0) as a worker (``gemini --acp``) through ``asm serve``.

Each completion is one ACP session of a long-lived gemini (docs/gemini-acp.md), against
the fake Gemini API; what reaches the model must be what the spawn mode sends: the
client's system prompt as ``systemInstruction``, the turns as ``contents``, no tools.
The setup (private HOME, settings, API key, base URL) is test_gemini.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_gemini import FakeGemini, GeminiScript, Recorded
from tests.real_cli.served import serve
from tests.real_cli.test_gemini import (
    ANSWER,
    KEY,
    MODEL,
    config,
    declared_tools,
    expect_failure,
    operator_home,
    running_in,
    serve_env,
)

WORKER = 'mode = "worker"\nworkers = 1\n'
CHAT: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a terse French translator."},
    {"role": "user", "content": "Good morning"},
    {"role": "assistant", "content": "Bonjour"},
    {"role": "user", "content": "Good night"},
]


@pytest.fixture
def gemini(real_cli: Callable[[str], Path]) -> Path:
    return real_cli("gemini")


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(GeminiScript(chunks=ANSWER, prompt_tokens=37, candidates_tokens=5)) as fake:
        yield fake


def worker_config(gemini: Path, env: dict[str, str]) -> str:
    return config(gemini, env).replace('mode = "spawn"\n', "") + WORKER


def system_text(call: Recorded) -> str:
    instruction = call.body.get("systemInstruction") or {}
    return "".join(part.get("text", "") for part in instruction.get("parts", []))


def turns_of(call: Recorded) -> list[tuple[str, str]]:
    """(role, text) of each content, gemini's own session context left out."""
    return [
        (
            "user" if content["role"] == "user" else "assistant",
            "".join(
                part["text"]
                for part in content.get("parts", [])
                if "text" in part and not part["text"].startswith("<session_context>")
            ),
        )
        for content in call.body["contents"]
    ]


def workspace_of(call: Recorded) -> str:
    """The working directory gemini's session context names."""
    context = str(call.body["contents"][0]["parts"][0]["text"])
    return context.partition("Workspace Directories:**")[2].splitlines()[1].strip()


async def test_a_worker_sends_the_clients_system_prompt_and_turns_and_streams(
    tmp_path: Path, gemini: Path, fake: FakeGemini
) -> None:
    env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}
    with serve(tmp_path, worker_config(gemini, env), serve_env(operator_home(tmp_path))) as server:
        client = server.lease("gemini", MODEL)
        stream = client.chat.completions.create(model=MODEL, messages=CHAT, stream=True)
        pieces = [
            c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
        ]
        whole = client.chat.completions.create(model=MODEL, messages=CHAT[1:2])
    assert running_in(tmp_path) == []
    assert len(pieces) > 1 and "".join(pieces) == "".join(ANSWER)
    assert whole.choices[0].message.content == "".join(ANSWER)
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (37, 5)
    first, second = fake.recorded("streamGenerateContent")
    assert system_text(first) == "You are a terse French translator."
    assert turns_of(first) == [
        ("user", "Good morning"),
        ("assistant", "Bonjour"),
        ("user", "Good night"),
    ]
    assert system_text(second) == ""
    assert turns_of(second) == [("user", "Good morning")]
    assert declared_tools(first) == declared_tools(second) == []


async def test_concurrent_completions_on_one_worker_each_get_their_own_system_prompt(
    tmp_path: Path, gemini: Path
) -> None:
    script = GeminiScript(chunks=tuple(f"w{i} " for i in range(40)))
    with FakeGemini(script) as fake:
        env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}
        home = operator_home(tmp_path)
        with serve(tmp_path, worker_config(gemini, env), serve_env(home)) as server:
            client = server.lease("gemini", MODEL)

            def ask(n: int) -> str | None:
                messages: list[ChatCompletionMessageParam] = [
                    {"role": "system", "content": f"System prompt number {n}."},
                    {"role": "user", "content": f"Question {n}"},
                ]
                if n % 2:
                    messages[1:1] = [
                        {"role": "user", "content": f"Earlier {n}"},
                        {"role": "assistant", "content": f"Answer {n}"},
                    ]
                answer = client.chat.completions.create(model=MODEL, messages=messages)
                return answer.choices[0].message.content

            with ThreadPoolExecutor(6) as pool:
                answers = list(pool.map(ask, range(6)))
        calls = fake.recorded("streamGenerateContent")
    assert running_in(tmp_path) == []
    assert answers == [script.text] * 6
    assert len(calls) == 6
    # One process served them all: every session ran in the worker's one directory.
    assert len({workspace_of(call) for call in calls}) == 1
    for call in calls:
        n = turns_of(call)[-1][1].removeprefix("Question ")
        assert system_text(call) == f"System prompt number {n}.", json.dumps(call.body)[:300]
        earlier = [("user", f"Earlier {n}"), ("assistant", f"Answer {n}")] if int(n) % 2 else []
        assert turns_of(call) == [*earlier, ("user", f"Question {n}")]


async def test_a_worker_without_a_key_answers_not_logged_in_saying_what_to_set(
    tmp_path: Path, gemini: Path, fake: FakeGemini
) -> None:
    env = {"GOOGLE_GEMINI_BASE_URL": fake.url}
    with serve(tmp_path, worker_config(gemini, env), serve_env(operator_home(tmp_path))) as server:
        failure, _ = expect_failure(server, "not_logged_in")
    assert running_in(tmp_path) == []
    message = failure.response.json()["error"]["message"]
    assert "not logged in" in message and "GEMINI_API_KEY" in message
    assert fake.recorded("streamGenerateContent") == []
