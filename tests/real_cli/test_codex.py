"""The real codex CLI through ``asm serve`` and the official openai client, offline.

codex talks to a fake OpenAI Responses API on 127.0.0.1 (:mod:`tests.fakes.fake_openai_responses`)
through a custom model provider set in ``[providers.codex] extra_args``, its key in
``[providers.codex.env]`` with a private ``CODEX_HOME``. The model is ``gpt-5.5``, one of
codex 0.169.0's catalog models, so codex offers it the tools a real run would; the
hostile test also runs ``gpt-6-astra``, whose catalog entry forces code mode.

Every test runs twice: with ``mode = "spawn"`` (a ``codex exec`` per completion) and with
``mode = "worker"`` (long-lived ``codex app-server`` workers, each completion one turn of
one of them), so what a spawned codex guarantees — the client's prompt and turns, no
tools, the failures, the usage — is proven of the workers as well.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_openai_responses import (
    FakeResponses,
    FunctionCall,
    Script,
    tool_names,
    tool_outputs,
)
from tests.processes import gone_within
from tests.real_cli.faithful import (
    ADDED_LIMIT,
    CHATS,
    REFERENCE,
    SYSTEM,
    added_bytes,
    minimal_responses,
    persona_sentences,
    system_of,
    turns,
)
from tests.real_cli.served import environ, serve

MODEL = "gpt-5.5"
FIRST_EVENT = 10.0  # codex's own 401 retries end in about 6.5 s
EXIT_GRACE, TERMINATE_GRACE = 1.0, 2.0
# The deadline, the shutdown ladder, and the time an HTTP answer and asm's bookkeeping take.
FAILURE_BUDGET = FIRST_EVENT + EXIT_GRACE + TERMINATE_GRACE + 5.0


MODE = "spawn"
"""How the test's codex runs: set per test by the ``mode`` fixture."""


@pytest.fixture(autouse=True, params=["spawn", "worker"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once with a codex per completion, once with codex workers."""
    monkeypatch.setattr(sys.modules[__name__], "MODE", request.param)
    return str(request.param)


def _config(codex: Path, base_url: str, codex_home: Path, key: str | None, pool: int = 1) -> str:
    overrides = [
        "model_provider=fake",
        'model_providers.fake.name="fake"',
        f'model_providers.fake.base_url="{base_url}"',
        'model_providers.fake.wire_api="responses"',
        'model_providers.fake.env_key="FAKE_KEY"',
    ]
    extra_args = ", ".join(f"'--config={override}'" for override in overrides)
    key_line = f'FAKE_KEY = "{key}"\n' if key is not None else ""
    return (
        f"[providers.codex]\nexecutable = {json.dumps(str(codex))}\n"
        f"extra_args = [{extra_args}]\npool_size = {pool}\nmode = {json.dumps(MODE)}\n"
        f"[providers.codex.env]\nCODEX_HOME = {json.dumps(str(codex_home))}\n{key_line}"
        f"[sessions]\nfirst_event_timeout = {FIRST_EVENT}\n"
        f"exit_grace = {EXIT_GRACE}\nterminate_grace = {TERMINATE_GRACE}\n"
    )


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    home, codex_home = tmp_path / "home", tmp_path / "codex-home"
    home.mkdir()
    codex_home.mkdir()
    return home, codex_home


def _running_with(marker: str) -> list[int]:
    """The processes whose command line holds ``marker`` (codex's node shim and binary)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_codex_streams_whole_messages_and_reports_the_upstream_usage(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    codex = real_cli("codex")
    home, codex_home = _dirs(tmp_path)
    script = Script(
        answer="Hello from the fake Responses API",
        chunks=5,
        input_tokens=1234,
        cached_tokens=1000,
        output_tokens=56,
        reasoning_tokens=7,
    )
    with FakeResponses(script) as fake:
        config = _config(codex, fake.url, codex_home, key="k")
        with serve(tmp_path, config, environ(home)) as server:
            client = server.lease("codex", MODEL)
            messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]
            stream = client.chat.completions.create(
                model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
            )
            chunks = list(stream)
            answer = client.chat.completions.create(model=MODEL, messages=messages)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    # codex exec has no token deltas: the five upstream deltas arrive as one whole message;
    # the app-server streams them as they come.
    assert "".join(pieces) == script.answer and len(pieces) == (1 if MODE == "spawn" else 5)
    [usage] = [c.usage for c in chunks if c.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1234, 56, 1290)
    assert answer.choices[0].message.content == script.answer
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    # OpenAI's input_tokens already include the cached ones; output includes reasoning.
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1234, 56)
    assert answer.usage.total_tokens == 1290
    requests = fake.responses_requests()
    assert len(requests) == 2
    for request in requests:
        assert request.headers["authorization"] == "Bearer k"
        assert request.body["model"] == MODEL
        # The model catalog codex is given has no model's own tools (apply_patch) left.
        assert tool_names(request.body) == []


def _patch(path: str) -> str:
    return f"*** Begin Patch\n*** Add File: {path}\n+pwned\n*** End Patch\n"


def _hostile_turns(target: Path) -> tuple[tuple[FunctionCall, ...], ...]:
    """One tool call per turn: every shell codex knows, patches, and code-mode scripts."""
    code = (
        f"await tools.apply_patch({json.dumps(_patch(str(target / 'pwned-js')))});\n"
        f'text(await tools.exec_command({{cmd: "touch {target}/pwned-js-shell"}}));'
    )
    calls = (
        FunctionCall("exec_command", json.dumps({"cmd": f"touch {target}/pwned-exec"}), "c1"),
        FunctionCall("shell", json.dumps({"command": ["touch", f"{target}/pwned-shell"]}), "c2"),
        FunctionCall("shell_command", json.dumps({"command": f"touch {target}/pwned-sh"}), "c3"),
        FunctionCall("apply_patch", _patch(str(target / "pwned-patch")), "c4", custom=True),
        FunctionCall("apply_patch", _patch("pwned-in-workdir"), "c5", custom=True),
        FunctionCall("exec", code, "c6", custom=True),
    )
    return tuple((call,) for call in calls)


@pytest.mark.parametrize("model", ["gpt-5.5", "gpt-6-astra"])
async def test_hostile_tool_calls_change_nothing_and_the_endpoint_still_answers(
    tmp_path: Path, real_cli: Callable[[str], Path], model: str
) -> None:
    codex = real_cli("codex")
    home, codex_home = _dirs(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    script = Script(answer="I could not do that.", turns=_hostile_turns(target))
    with (
        FakeResponses(script) as fake,
        serve(tmp_path, _config(codex, fake.url, codex_home, key="k"), environ(home)) as server,
    ):
        client = server.lease("codex", model)
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Create the file"}]
        )
        requests = fake.responses_requests()
        written = [path.name for path in tmp_path.rglob("pwned*")]
    assert answer.choices[0].message.content == "I could not do that."
    assert written == []
    # No tool at all is offered: not even the apply_patch or code mode of the catalog.
    assert [tool_names(request.body) for request in requests] == [[]] * len(requests)
    outputs = tool_outputs(requests[-1].body)
    # So codex refuses each call without running anything.
    for call_id, name in (("c1", "exec_command"), ("c2", "shell"), ("c3", "shell_command")):
        assert outputs[call_id] == f"unsupported call: {name}"
    for call_id in ("c4", "c5"):
        assert outputs[call_id] == "unsupported custom tool call: apply_patch"
    assert outputs["c6"] == "unsupported custom tool call: exec"


async def _fails_with(
    tmp_path: Path, codex: Path, base_url: str, key: str | None, kind: str
) -> str:
    """The error message a request answers; asserts the run ended within the deadline and the
    shutdown ladder, and that every codex process of it is gone."""
    home, codex_home = _dirs(tmp_path)
    config = _config(codex, base_url, codex_home, key=key, pool=0)
    with serve(tmp_path, config, environ(home)) as server:
        client = server.lease("codex", MODEL)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}]
            )
        elapsed = time.monotonic() - started
        codexes = _running_with(base_url)
        if MODE == "spawn":  # the run's codex is reaped
            assert await gone_within(codexes, EXIT_GRACE + TERMINATE_GRACE + 1.0)
        else:  # a failed turn leaves the worker serving
            assert codexes
    assert await gone_within(codexes, 1.0)  # whatever ran is gone once asm serve stopped
    error = caught.value
    assert error.status_code == 503
    assert isinstance(error.body, dict)
    assert error.body.get("code") == kind, error.body
    # Not logged in, or an upstream that does not answer: the operator's to fix, so
    # the client is told not to retry (a retry could not succeed).
    assert error.response.headers.get("x-should-retry") == "false"
    assert elapsed < FAILURE_BUDGET, elapsed
    return str(error.body["message"])


async def test_missing_api_key_is_not_logged_in(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    with FakeResponses(Script()) as fake:
        message = await _fails_with(tmp_path, real_cli("codex"), fake.url, None, "not_logged_in")
        assert fake.responses_requests() == []  # codex gives up before any request
    assert message == "codex: Missing environment variable: `FAKE_KEY`."


async def test_rejected_api_key_is_not_logged_in(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    with FakeResponses(Script(api_key="right")) as fake:
        message = await _fails_with(tmp_path, real_cli("codex"), fake.url, "wrong", "not_logged_in")
        assert fake.responses_requests()  # it asked, and was told 401 each time
    assert message.startswith("codex: unexpected status 401 Unauthorized")


async def test_unreachable_upstream_answers_503_within_the_deadline(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    message = await _fails_with(tmp_path, real_cli("codex"), base_url, "k", "unreachable")
    assert message.startswith(f"codex could not reach its service within {FIRST_EVENT:g} s")
    assert "Reconnecting... waiting for network" in message
    assert "check this host's network and proxy, the base URL set for codex" in message


def _completion(
    tmp_path: Path,
    codex: Path,
    chat: list[ChatCompletionMessageParam],
    script: Script,
    *,
    model: str = MODEL,
    persona: str = "completion",
    **params: Any,
) -> tuple[openai.types.chat.ChatCompletion, list[dict[str, Any]], dict[str, str]]:
    """One completion through codex (parked unless the request needs a fresh launch):
    the answer, the bodies of the model calls, the response headers."""
    home, codex_home = _dirs(tmp_path)
    with FakeResponses(script) as fake:
        config = _config(codex, fake.url, codex_home, key="k").replace(
            "pool_size = 1\n", f"pool_size = 1\npersona = {json.dumps(persona)}\n"
        )
        with serve(tmp_path, config, environ(home)) as server:
            client = server.lease("codex", model)
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=chat, **params
            )
            answer = raw.parse()
        bodies = [request.body for request in fake.responses_requests()]
    return answer, bodies, dict(raw.headers)


def _items(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (item["role"], "".join(part.get("text", "") for part in item["content"]))
        for item in body["input"]
        if item.get("type") == "message"
    ]


@pytest.mark.parametrize("chat", CHATS)
async def test_the_model_receives_the_clients_system_prompt_and_turns_in_one_call(
    tmp_path: Path, real_cli: Callable[[str], Path], chat: list[ChatCompletionMessageParam]
) -> None:
    answer, bodies, _ = _completion(tmp_path, real_cli("codex"), chat, Script(answer="Bonne nuit"))
    assert answer.choices[0].message.content == "Bonne nuit"
    [body] = bodies  # one model call
    assert tool_names(body) == []
    items = _items(body)
    developer = [text for role, text in items if role == "developer"]
    assert developer == ([system_of(chat)] if system_of(chat) else [])
    assert not body.get("instructions")  # codex's own base instructions are replaced
    assert [item for item in items if item[0] != "developer"] == turns(chat)
    assert persona_sentences(json.dumps(body)) == []
    # The app-server gives each input item an id ("msg_<uuid>", 45 bytes): an item
    # identifier of the Responses API, not text the model reads; it is not counted.
    ids = [item.pop("id") for item in body["input"] if MODE == "worker" and "id" in item]
    assert all(str(i).startswith("msg_") for i in ids)
    assert added_bytes(body, minimal_responses(MODEL, chat)) <= ADDED_LIMIT


async def test_the_agent_persona_restores_codexs_own_prompt(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    _, [body], _ = _completion(
        tmp_path, real_cli("codex"), REFERENCE, Script(answer="Bonne nuit"), persona="agent"
    )
    items = _items(body)
    developer = "\n".join(text for role, text in items if role == "developer")
    assert "You are Codex" in developer + str(body.get("instructions"))
    assert SYSTEM in developer
    # codex's own context (skills, environment) comes back with its persona, as in a run
    # of its own; the client's turns keep their order around it.
    context = [text for _, text in items if text.startswith("<environment_context>")]
    assert context
    chat = [item for item in items if item[0] != "developer" and item[1] not in context]
    assert chat == turns(REFERENCE)


async def test_a_json_schema_reaches_the_request_and_the_answer_is_its_json(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    schema = {
        "type": "object",
        "properties": {"translation": {"type": "string"}},
        "required": ["translation"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    answer, [body], _ = _completion(
        tmp_path,
        real_cli("codex"),
        REFERENCE,
        Script(answer='{"translation":"Bonne nuit"}'),
        response_format=response_format,
        reasoning_effort="low",
        temperature=0.3,
    )
    assert json.loads(answer.choices[0].message.content or "") == {"translation": "Bonne nuit"}
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["text"]["format"]["schema"] == schema
    assert body["reasoning"]["effort"] == "low"
    assert tool_names(body) == []


async def test_a_json_object_is_refused_before_codex_runs(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _completion(
            tmp_path,
            real_cli("codex"),
            REFERENCE,
            Script(),
            response_format={"type": "json_object"},
        )
    assert caught.value.body["param"] == "response_format"  # type: ignore[index]


async def test_an_answer_cut_at_the_output_limit_ends_with_length(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    script = Script(answer="Bonne", incomplete="max_output_tokens")
    answer, bodies, headers = _completion(tmp_path, real_cli("codex"), REFERENCE, script, seed=1)
    assert answer.choices[0].message.content == "Bonne"
    assert answer.choices[0].finish_reason == "length"
    assert len(bodies) == 1
    assert headers["x-asm-ignored-params"] == "seed"
