"""The official ``openai`` client against a real socket, each provider through its fake CLI."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec
import openai
import pytest

from actors.system import System, open_system
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.endpoint import EndpointDescriptor, InferenceRequest
from contracts.endpoint_refusal import EndpointRefused
from tests.actors.sessions.sessions import FAKE_BIN, fake_environ
from tests.fakes.fake_cli import answer_text, expected_tokens
from tests.processes import gone_within, group_members

PROVIDERS = ("claude", "codex", "gemini", "amp")
PROMPT = "Say hello over HTTP."
LADDER = SessionSettings(exit_grace=0.3, terminate_grace=0.3)


@asynccontextmanager
async def _serving(tmp_path: Path, mode: str = "ok") -> AsyncIterator[System]:
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    env = {"FAKE_CLI_MODE": mode, "FAKE_CLI_PID_DIR": str(pids)}
    # Spawned sessions of each fake CLI (codex workers: tests/integration/test_workers_endpoint.py).
    settings = {p: ProviderSettings(env=env, mode="spawn") for p in PROVIDERS}
    config = Config(providers=settings, sessions=LADDER)
    async with open_system(config, environ=fake_environ(tmp_path)) as system:
        yield system


async def _endpoint(system: System, provider: str, model: str = "fake-model") -> EndpointDescriptor:
    request = msgspec.convert(
        {"model_preference": {"provider": provider, "id": model}, "stream": True}, InferenceRequest
    )
    descriptor, _ = await system.ensure_endpoint(request)
    return descriptor


def _client(descriptor: EndpointDescriptor, token: str | None = None) -> openai.AsyncOpenAI:
    bearer = descriptor.headers["authorization"].removeprefix("Bearer ")
    return openai.AsyncOpenAI(base_url=descriptor.base_url, api_key=token or bearer, max_retries=0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_non_streaming_completion_with_the_cli_reported_usage(
    provider: str, tmp_path: Path
) -> None:
    async with _serving(tmp_path) as system:
        descriptor = await _endpoint(system, provider)
        completion = await _client(descriptor).chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": PROMPT}]
        )
    assert completion.model == "fake-model"
    assert completion.choices[0].finish_reason == "stop"
    content = completion.choices[0].message.content
    assert content == answer_text(provider, PROMPT)
    assert completion.usage is not None
    prompt_tokens, completion_tokens = expected_tokens(provider, PROMPT)
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        prompt_tokens,
        completion_tokens,
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streaming_with_include_usage(provider: str, tmp_path: Path) -> None:
    async with _serving(tmp_path) as system:
        descriptor = await _endpoint(system, provider)
        stream = await _client(descriptor).chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_text(provider, PROMPT)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert len({c.id for c in chunks}) == 1


async def test_models_list_names_the_pinned_model(tmp_path: Path) -> None:
    async with _serving(tmp_path) as system:
        descriptor = await _endpoint(system, "codex", "gpt-5-codex")
        models = await _client(descriptor).models.list()
    assert [m.id for m in models.data] == ["gpt-5-codex"]
    assert models.data[0].owned_by == "codex"


async def test_tools_wrong_token_released_lease_and_missing_cli_are_refused(
    tmp_path: Path,
) -> None:
    environ = {**fake_environ(tmp_path), "ASM_GEMINI_BIN": "/nonexistent/gemini"}
    config = Config(sessions=LADDER)
    async with open_system(config, environ=environ) as system:
        descriptor = await _endpoint(system, "claude")
        client = _client(descriptor)
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "hi"}
        ]
        with pytest.raises(openai.BadRequestError) as tools:
            await client.chat.completions.create(
                model="fake-model",
                messages=messages,
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            )
        assert tools.value.param == "tools"
        assert "does not support tools" in str(tools.value)
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="other-model", messages=messages)
        with pytest.raises(openai.AuthenticationError):
            await _client(descriptor, token="wrong").models.list()
        with pytest.raises(EndpointRefused) as missing:
            await _endpoint(system, "gemini")
        assert missing.value.refusal.code == "not_installed"
        assert "ASM_GEMINI_BIN" in missing.value.refusal.message
        await system.release_endpoint(descriptor)
        with pytest.raises(openai.NotFoundError):
            await client.models.list()


async def test_a_cli_gone_after_ensure_is_a_503_the_official_client_does_not_retry(
    tmp_path: Path,
) -> None:
    """A spawn that fails for a missing binary cannot succeed on a retry: one attempt,
    whatever the client's max_retries."""
    cli = tmp_path / "claude"
    shutil.copy(FAKE_BIN / "claude", cli)
    environ = {**fake_environ(tmp_path), "ASM_CLAUDE_BIN": str(cli)}
    attempts: list[object] = []

    async def count(request: object) -> None:
        attempts.append(request)

    async with open_system(Config(sessions=LADDER), environ=environ) as system:
        descriptor = await _endpoint(system, "claude")
        cli.unlink()
        bearer = descriptor.headers["authorization"].removeprefix("Bearer ")
        async with openai.DefaultAsyncHttpxClient(event_hooks={"request": [count]}) as http:
            client = openai.AsyncOpenAI(
                base_url=descriptor.base_url, api_key=bearer, max_retries=3, http_client=http
            )
            with pytest.raises(openai.InternalServerError) as unavailable:
                await client.chat.completions.create(
                    model="fake-model", messages=[{"role": "user", "content": "hi"}]
                )
    assert unavailable.value.status_code == 503
    assert unavailable.value.response.headers["x-should-retry"] == "false"
    assert unavailable.value.code == "not_installed"
    assert len(attempts) == 1


async def test_a_client_that_disconnects_mid_stream_gets_its_cli_reaped(tmp_path: Path) -> None:
    async with _serving(tmp_path, mode="slow") as system:
        descriptor = await _endpoint(system, "claude")
        body = {
            "model": "fake-model",
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        }
        async with (
            httpx.AsyncClient(headers=descriptor.headers) as http,
            http.stream("POST", f"{descriptor.base_url}/chat/completions", json=body) as response,
        ):
            assert response.status_code == 200
            async for _ in response.aiter_lines():
                break  # the role chunk arrived: the CLI is answering, slowly
            leader = int((tmp_path / "pids" / "leader").read_text())
        # The connection is closed: the session must be cancelled and its group reaped.
        assert await gone_within([leader], 0.6 + 2.0)
        assert group_members(leader) == []
