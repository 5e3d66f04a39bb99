"""The real gemini CLI (0.61.0) through ``asm serve`` against a fake Gemini API.

gemini reaches the fake through ``GOOGLE_GEMINI_BASE_URL``; an API key in the session's
environment and ``security.auth.selectedType`` in ``~/.gemini/settings.json`` log it in
(shared/PROVIDERS.md). The operator's HOME here is a directory of the test's own; the
sessions run with ``isolate_home``, so gemini sees a private HOME seeded with a copy of
that settings file. The settings also turn gemini's usage statistics off, so nothing
leaves 127.0.0.1 (with them on, gemini looks up play.googleapis.com).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from contracts.providers import GEMINI
from contracts.providers.gemini import SYSTEM_DEFAULTS
from tests.fakes.fake_gemini import FakeGemini, FunctionCall, GeminiScript, Recorded
from tests.processes import alive
from tests.real_cli.faithful import (
    ADDED_LIMIT,
    CHATS,
    REFERENCE,
    SYSTEM,
    added_bytes,
    minimal_gemini,
    persona_sentences,
    system_of,
    turns,
)
from tests.real_cli.served import Served, environ, serve

MODEL = "gemini-2.5-flash"
FIRST_EVENT = 8.0
EXIT_GRACE, TERMINATE_GRACE = 1.0, 1.0
# A request that fails may take the first-event deadline, the shutdown ladder and the
# CLI's own start-up (a cold start when the parked session already died).
FAILURE_BUDGET = FIRST_EVENT + EXIT_GRACE + TERMINATE_GRACE + 5.0
SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
}
KEY = "fake-gemini-key-0123456789"
ANSWER = ("The", " quick", " brown", " fox", " jumps.")


@pytest.fixture
def gemini(real_cli: Callable[[str], Path]) -> Path:
    return real_cli("gemini")


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(GeminiScript(chunks=ANSWER, prompt_tokens=37, candidates_tokens=5)) as fake:
        yield fake


def operator_home(tmp_path: Path, settings: dict[str, object] | None = SETTINGS) -> Path:
    """The HOME asm serve runs with: gemini's settings only (or nothing at all)."""
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    if settings is not None:
        (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    return home


MODE = "spawn"
"""How the test's gemini runs: set per test by the ``mode`` fixture."""


@pytest.fixture(autouse=True, params=["spawn", "worker"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once with a gemini per completion, once with gemini workers (--acp)."""
    monkeypatch.setattr(sys.modules[__name__], "MODE", request.param)
    return str(request.param)


def config(gemini: Path, env: dict[str, str]) -> str:
    """asm.toml: the real gemini with ``env`` added to its sessions, short timers."""
    pairs = ", ".join(f"{name} = {json.dumps(value)}" for name, value in env.items())
    return (
        f"[sessions]\nfirst_event_timeout = {FIRST_EVENT}\n"
        f"exit_grace = {EXIT_GRACE}\nterminate_grace = {TERMINATE_GRACE}\n\n"
        f"[providers.gemini]\nexecutable = {json.dumps(str(gemini))}\n"
        f"isolate_home = true\nmode = {json.dumps(MODE)}\nenv = {{ {pairs} }}\n"
    )


def serve_env(home: Path) -> dict[str, str]:
    """asm serve's environment: HOME is ours, and no gemini login of the test runner's.

    TMPDIR is the test's too, so the sessions' private directories (and the working
    directory of every process they start) are under ``tmp_path``.
    """
    tmp = home.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    env = environ(home, TMPDIR=str(tmp))
    for name in (*GEMINI.auth_env, GEMINI.bin_env):
        env.pop(name, None)
    return env


def running_in(directory: Path) -> list[int]:
    """The running processes whose working directory is under ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd == directory or directory in cwd.parents:
                found.append(int(entry.name))
    return found


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ask(client: openai.OpenAI, prompt: str = "Say something.") -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}]
    )


def declared_tools(request: Recorded) -> list[str]:
    """The names of the functions a generateContent request offered the model."""
    tools = request.body.get("tools", []) if isinstance(request.body, dict) else []
    return [
        declaration.get("name", "?")
        for tool in tools
        for declaration in (tool.get("functionDeclarations") or [])
    ]


def function_responses(request: Recorded) -> dict[str, str]:
    """The tool results gemini sent back in its last turn: name → response, as JSON text."""
    contents = request.body.get("contents", []) if isinstance(request.body, dict) else []
    last = contents[-1].get("parts", []) if contents else []
    return {
        part["functionResponse"]["name"]: json.dumps(part["functionResponse"].get("response"))
        for part in last
        if "functionResponse" in part
    }


def expect_failure(server: Served, code: str) -> tuple[openai.APIStatusError, float]:
    """Ask once on a fresh lease; the 503 it answers and how long that took."""
    client = server.lease("gemini", MODEL)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client)
    elapsed = time.monotonic() - started
    assert caught.value.status_code == 503, caught.value.response.text
    error = caught.value.response.json()["error"]
    assert error["code"] == code, error
    # Not logged in, or an upstream that does not answer: the operator's to fix, so
    # the client is told not to retry (a retry could not succeed).
    assert caught.value.response.headers["x-should-retry"] == "false"
    return caught.value, elapsed


async def test_gemini_streams_its_token_deltas_and_reports_the_upstream_usage(
    tmp_path: Path, gemini: Path, fake: FakeGemini
) -> None:
    env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}
    with serve(tmp_path, config(gemini, env), serve_env(operator_home(tmp_path))) as server:
        client = server.lease("gemini", MODEL)
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Say something."}], stream=True
        )
        pieces = [
            chunk.choices[0].delta.content
            for chunk in stream
            if chunk.choices and chunk.choices[0].delta.content
        ]
        whole = ask(client)
    assert running_in(tmp_path) == []
    assert len(pieces) > 1
    assert "".join(pieces) == fake.script.text
    assert whole.choices[0].message.content == fake.script.text
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None
    usage = (whole.usage.prompt_tokens, whole.usage.completion_tokens, whole.usage.total_tokens)
    assert usage == (37, 5, 42)
    calls = fake.recorded("streamGenerateContent")
    assert len(calls) == 2
    assert {call.model for call in calls} == {MODEL}
    assert all(call.query.get("alt") == ["sse"] for call in calls)
    assert all(declared_tools(call) == [] for call in calls)
    prompt = json.dumps(calls[0].body["contents"])
    assert "Say something." in prompt
    # Nothing but the model requests: no token counting, no model lookups.
    assert {request.action for request in fake.requests} == {"streamGenerateContent"}


async def test_a_hostile_answer_runs_no_tool_and_the_endpoint_still_answers(
    tmp_path: Path, gemini: Path
) -> None:
    pwned, written = tmp_path / "pwned", tmp_path / "written.txt"
    # Round 1 tries to leave plan mode (which, allowed, would switch a headless gemini to
    # YOLO); round 2 asks for a shell command and a file write; then the text.
    rounds = (
        (
            FunctionCall("exit_plan_mode", {"plan_filename": "plan.md"}),
            FunctionCall("enter_plan_mode", {}),
        ),
        (
            FunctionCall("run_shell_command", {"command": f"touch {pwned}"}),
            FunctionCall("write_file", {"file_path": str(written), "content": "pwned"}),
        ),
    )
    script = GeminiScript(chunks=("Nothing", " ran."), tool_rounds=rounds)
    with FakeGemini(script) as fake:
        env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}
        with serve(tmp_path, config(gemini, env), serve_env(operator_home(tmp_path))) as server:
            answer = ask(server.lease("gemini", MODEL), "Run touch for me.")
    assert running_in(tmp_path) == []
    assert answer.choices[0].message.content == "Nothing ran."
    assert not pwned.exists()
    assert not written.exists()
    calls = fake.recorded("streamGenerateContent")
    assert len(calls) == 3
    # Every request offered the model no tool at all (the deny-all policy on gemini's
    # command line), so gemini refused each call as an unknown tool.
    assert [declared_tools(call) for call in calls] == [[], [], []]
    first, second = function_responses(calls[1]), function_responses(calls[2])
    assert set(first) == {"exit_plan_mode", "enter_plan_mode"}
    assert set(second) == {"run_shell_command", "write_file"}
    for response in (*first.values(), *second.values()):
        assert "not found" in response


@pytest.mark.parametrize(
    ("settings", "session_env"),
    [
        pytest.param(SETTINGS, {}, id="api-key-chosen-but-unset"),
        pytest.param(None, {"GEMINI_API_KEY": KEY}, id="key-without-settings"),
        pytest.param(None, {}, id="nothing"),
    ],
)
async def test_gemini_without_a_login_answers_503_saying_what_to_set(
    tmp_path: Path,
    gemini: Path,
    fake: FakeGemini,
    settings: dict[str, object] | None,
    session_env: dict[str, str],
) -> None:
    env = {"GOOGLE_GEMINI_BASE_URL": fake.url, **session_env}
    home = operator_home(tmp_path, settings)
    if MODE == "worker" and settings is None:
        # gemini --acp (unlike a one-shot gemini) takes a base URL without a chosen auth
        # type as a gateway, and asks it without a key: the gateway decides.
        with serve(tmp_path, config(gemini, env), serve_env(home)) as server:
            answer = ask(server.lease("gemini", MODEL))
        assert answer.choices[0].message.content
        assert fake.requests  # it reached the gateway it was given
        return
    with serve(tmp_path, config(gemini, env), serve_env(home)) as server:
        failure, elapsed = expect_failure(server, "not_logged_in")
    assert running_in(tmp_path) == []
    assert elapsed < FAILURE_BUDGET
    message = failure.response.json()["error"]["message"]
    assert "not logged in" in message
    assert "GEMINI_API_KEY" in message
    assert "settings.json" in message
    assert KEY not in failure.response.text
    assert fake.requests == []


async def test_an_unreachable_gemini_api_answers_503_within_the_first_event_deadline(
    tmp_path: Path, gemini: Path
) -> None:
    env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    with serve(tmp_path, config(gemini, env), serve_env(operator_home(tmp_path))) as server:
        if MODE == "worker" and _retries_connections():
            # Known gap: gemini then retries until the deadline, and a worker, unlike a
            # spawned run, sees no retry notice (its stderr stays quiet): 504, not 503.
            client = server.lease("gemini", MODEL)
            with pytest.raises(openai.APIStatusError) as timed_out:
                ask(client)
            assert timed_out.value.status_code == 504
            assert timed_out.value.response.json()["error"]["code"] == "timeout"
            return
        failure, elapsed = expect_failure(server, "unreachable")
        # The failed session is gone; the lease still answers (503 again, not a hang).
        again, _ = expect_failure(server, "unreachable")
    assert running_in(tmp_path) == []
    assert elapsed < FAILURE_BUDGET
    message = failure.response.json()["error"]["message"]
    assert "could not reach" in message
    assert "GOOGLE_GEMINI_BASE_URL" in message
    assert again.response.json()["error"]["message"] == message


def _retries_connections() -> bool:
    """Whether gemini will retry a refused connection: it ignores its system defaults
    (``SYSTEM_DEFAULTS``, which turn retrying off) when they live under /tmp, as they do
    in a checkout there (measured: an unreachable spawn took 19 s there, 4.4 s under
    /work)."""
    return SYSTEM_DEFAULTS.startswith(("/tmp/", "/var/tmp/"))


def _completion(
    tmp_path: Path,
    gemini: Path,
    chat: list[ChatCompletionMessageParam],
    script: GeminiScript,
    *,
    persona: str = "completion",
    **params: Any,
) -> tuple[openai.types.chat.ChatCompletion, list[Recorded], dict[str, str]]:
    """One completion through gemini: the answer, the model calls, the response headers."""
    with FakeGemini(script) as fake:
        env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}
        toml = config(gemini, env) + f"persona = {json.dumps(persona)}\n"
        with serve(tmp_path, toml, serve_env(operator_home(tmp_path))) as server:
            client = server.lease("gemini", MODEL)
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=chat, **params
            )
            answer = raw.parse()
        calls = fake.recorded("streamGenerateContent")
    return answer, calls, dict(raw.headers)


def _system(call: Recorded) -> str:
    instruction = call.body.get("systemInstruction") or {}
    return "".join(part.get("text", "") for part in instruction.get("parts", []))


def _turns(call: Recorded) -> list[tuple[str, str]]:
    """(role, text) of each content, gemini's own session context left out."""
    found = []
    for content in call.body["contents"]:
        texts = [
            part["text"]
            for part in content.get("parts", [])
            if "text" in part and not part["text"].startswith("<session_context>")
        ]
        role = "user" if content["role"] == "user" else "assistant"
        found.append((role, "".join(texts)))
    return found


@pytest.mark.parametrize("chat", CHATS)
async def test_the_model_receives_the_clients_system_prompt_and_turns_in_one_call(
    tmp_path: Path, gemini: Path, chat: list[ChatCompletionMessageParam]
) -> None:
    script = GeminiScript(chunks=("Bonne", " nuit"))
    answer, calls, _ = _completion(tmp_path, gemini, chat, script)
    assert answer.choices[0].message.content == "Bonne nuit"
    [call] = calls  # one model call
    assert declared_tools(call) == []
    assert _system(call) == system_of(chat)
    assert persona_sentences(json.dumps(call.body)) == []
    assert _turns(call) == turns(chat)
    assert added_bytes(call.body, minimal_gemini(chat)) <= ADDED_LIMIT


async def test_the_agent_persona_restores_geminis_own_prompt(tmp_path: Path, gemini: Path) -> None:
    _, [call], _ = _completion(
        tmp_path, gemini, REFERENCE, GeminiScript(chunks=("Bonne nuit",)), persona="agent"
    )
    assert "CLI agent" in _system(call)  # gemini's own persona is back
    # The client's system text opens the first turn instead.
    found = _turns(call)
    assert found[0] == ("user", f"{SYSTEM}\n\nTranslate: good morning")
    assert found[1:] == turns(REFERENCE)[1:]


async def test_parameters_gemini_cannot_pass_on_are_named_and_json_is_refused(
    tmp_path: Path, gemini: Path
) -> None:
    _, [_call], headers = _completion(
        tmp_path,
        gemini,
        REFERENCE,
        GeminiScript(chunks=("Bonne nuit",)),
        temperature=0.2,
        max_tokens=5,
    )
    assert headers["x-asm-ignored-params"] == "temperature, max_tokens"
    with pytest.raises(openai.BadRequestError) as caught:
        _completion(
            tmp_path / "json",
            gemini,
            REFERENCE,
            GeminiScript(),
            response_format={"type": "json_object"},
        )
    assert caught.value.body["param"] == "response_format"  # type: ignore[index]
