"""The Ollama client against the fake Ollama server (in-process, on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.fake_ollama import FakeOllama, FakeOllamaConfig
from tests.fakes.fake_ollama_models import BROKEN_PULL_ERROR, default_catalog
from transport.ollama_client import (
    OllamaClient,
    OllamaError,
    OllamaModelNotFound,
    OllamaPullFailed,
    OllamaUnavailable,
    PullProgress,
    PullTracker,
    layer_totals,
)

MODEL = "smollm2:135m"
MODEL_SIZE = default_catalog()[MODEL].size


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOllama]:
    with FakeOllama(FakeOllamaConfig(models_dir=tmp_path / "models")) as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _pull_all(client: OllamaClient, name: str) -> list[PullProgress]:
    async with client.pull(name) as progress:
        return [step async for step in progress]


def _mocked(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_version_is_the_servers_version(tmp_path: Path) -> None:
    config = FakeOllamaConfig(models_dir=tmp_path, version="0.11.4")
    with FakeOllama(config) as fake:
        async with OllamaClient(fake.url) as client:
            assert await client.version() == "0.11.4"


async def test_a_fresh_node_has_no_models(fake: FakeOllama) -> None:
    async with OllamaClient(fake.url) as client:
        assert await client.tags() == []
        assert await client.ps() == []


async def test_a_pull_reports_each_layer_and_lists_the_model(fake: FakeOllama) -> None:
    async with OllamaClient(fake.url) as client:
        steps = await _pull_all(client, MODEL)
        tags = await client.tags()
    assert steps[0] == PullProgress("pulling manifest")
    assert [step.status for step in steps[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    layers = default_catalog()[MODEL].layers
    assert {step.digest for step in steps if step.digest} == {digest for digest, _ in layers}
    tracker = PullTracker()
    for step in steps:
        tracker.add(step)
    assert tracker.total == tracker.completed == layer_totals(steps) == MODEL_SIZE
    assert [(tag.name, tag.model, tag.size) for tag in tags] == [(MODEL, MODEL, MODEL_SIZE)]
    assert len(tags[0].digest) == 64
    assert tags[0].details.family == "llama"


async def test_a_name_without_a_tag_is_pulled_as_latest(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"name": "tiny", "layers": [{"size": 1000}, {"size": 24}]}]))
    config = FakeOllamaConfig.from_env(
        {"FAKE_OLLAMA_CATALOG": str(catalog), "FAKE_OLLAMA_MODELS": str(tmp_path / "m")}
    )
    with FakeOllama(config) as fake:
        async with OllamaClient(fake.url) as client:
            assert layer_totals(await _pull_all(client, "tiny")) == 1024
            assert [tag.name for tag in await client.tags()] == ["tiny:latest"]
            assert await client.show("tiny") is not None


async def test_pulling_an_unknown_model_raises_model_not_found(fake: FakeOllama) -> None:
    async with OllamaClient(fake.url) as client:
        with pytest.raises(OllamaModelNotFound, match="file does not exist") as raised:
            await _pull_all(client, "no-such-model:7b")
        assert isinstance(raised.value, OllamaPullFailed)
        assert await client.tags() == []


async def test_an_error_line_mid_pull_raises_pull_failed(tmp_path: Path) -> None:
    config = FakeOllamaConfig(models_dir=tmp_path, fail_pull_after=100_000)
    with FakeOllama(config) as fake:
        async with OllamaClient(fake.url) as client:
            seen: list[PullProgress] = []
            with pytest.raises(OllamaPullFailed, match=BROKEN_PULL_ERROR) as raised:
                async with client.pull(MODEL) as progress:
                    async for step in progress:
                        seen.append(step)
            assert not isinstance(raised.value, OllamaModelNotFound)
            assert layer_totals(seen) > 0  # the size was known before the failure
            assert await client.tags() == []
        assert await trio.to_thread.run_sync(fake.pull_outcomes, 1) == ["failed"]


async def test_leaving_a_pull_early_abandons_it_and_stores_nothing(tmp_path: Path) -> None:
    config = FakeOllamaConfig(models_dir=tmp_path, pull_delay_ms=20)
    with FakeOllama(config) as fake:
        async with OllamaClient(fake.url) as client:
            tracker = PullTracker()
            async with client.pull(MODEL) as progress:
                async for step in progress:
                    if tracker.add(step) > 1_000:
                        break
            assert tracker.total > 1_000
            assert await trio.to_thread.run_sync(fake.pull_outcomes, 1) == ["abandoned"]
            assert await client.tags() == []


async def test_show_describes_a_local_model_and_none_for_a_missing_one(fake: FakeOllama) -> None:
    async with OllamaClient(fake.url) as client:
        assert await client.show(MODEL) is None
        await _pull_all(client, MODEL)
        info = await client.show(MODEL)
    assert info is not None
    assert info.details.parameter_size == "134.52M"
    assert info.context_length == 8_192
    assert "completion" in info.capabilities


async def test_ps_lists_a_loaded_model_until_it_is_unloaded(fake: FakeOllama) -> None:
    async with OllamaClient(fake.url) as client, httpx.AsyncClient() as http:
        await _pull_all(client, MODEL)
        await http.post(f"{fake.url}/api/generate", json={"model": MODEL})
        running = await client.ps()
        assert [(model.name, model.size, model.context_length) for model in running] == [
            (MODEL, MODEL_SIZE, 8_192)
        ]
        assert running[0].expires_at
        await http.post(f"{fake.url}/api/generate", json={"model": MODEL, "keep_alive": 0})
        assert await client.ps() == []


async def test_delete_removes_a_model_and_reports_an_absent_one(fake: FakeOllama) -> None:
    async with OllamaClient(fake.url) as client:
        await _pull_all(client, MODEL)
        assert await client.delete(MODEL) is True
        assert await client.tags() == []
        assert await client.delete(MODEL) is False


async def test_an_unreachable_server_raises_unavailable() -> None:
    async with OllamaClient(f"http://127.0.0.1:{_closed_port()}", timeout=2) as client:
        with pytest.raises(OllamaUnavailable):
            await client.version()
        with pytest.raises(OllamaUnavailable):
            await _pull_all(client, MODEL)


async def test_a_server_error_or_timeout_raises_unavailable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/ps":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(500, json={"error": "llama runner process has terminated"})

    async with _mocked(answer) as http:
        client = OllamaClient("http://127.0.0.1:11434", http=http)
        with pytest.raises(OllamaUnavailable, match=r"500.*runner process has terminated"):
            await client.tags()
        with pytest.raises(OllamaUnavailable, match="timed out"):
            await client.ps()
        with pytest.raises(OllamaPullFailed, match="500"):
            await _pull_all(client, MODEL)


async def test_a_pull_stream_ending_before_success_raises_pull_failed() -> None:
    lines = b'{"status":"pulling manifest"}\n{"status":"verifying sha256 digest"}\n'

    async with _mocked(lambda request: httpx.Response(200, content=lines)) as http:
        client = OllamaClient("http://127.0.0.1:11434", http=http)
        with pytest.raises(OllamaPullFailed, match="ended before success"):
            await _pull_all(client, MODEL)


async def test_a_malformed_answer_raises_ollama_error() -> None:
    async with _mocked(lambda request: httpx.Response(200, content=b"<html>")) as http:
        client = OllamaClient("http://127.0.0.1:11434", http=http)
        with pytest.raises(OllamaError, match="malformed"):
            await client.version()


async def test_credentials_in_the_url_go_as_basic_auth_and_never_into_messages() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(502, text="bad gateway for ops:s3cret")

    async with _mocked(answer) as http:
        client = OllamaClient("http://ops:s3cret@127.0.0.1:11434", http=http)
        with pytest.raises(OllamaUnavailable) as raised:
            await client.version()
    assert seen == ["Basic b3BzOnMzY3JldA=="]
    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in repr(client)
    assert client.url == "http://127.0.0.1:11434"

    unreachable = OllamaClient(f"http://ops:s3cret@127.0.0.1:{_closed_port()}")
    async with unreachable:
        with pytest.raises(OllamaUnavailable) as raised:
            await unreachable.version()
    assert "s3cret" not in str(raised.value)


def test_a_base_url_that_is_not_http_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="not an http") as raised:
        OllamaClient("ftp://ops:s3cret@node")
    assert "s3cret" not in str(raised.value)


@given(
    layers=st.dictionaries(
        st.text("0123456789abcdef", min_size=12, max_size=12), st.integers(1, 10**12)
    ),
    data=st.data(),
)
def test_layer_totals_count_each_digest_once(layers: dict[str, int], data: st.DataObject) -> None:
    """Rule: the announced size of a pull is the sum of each layer's total, however many
    progress lines name that layer and in whatever order they arrive."""
    lines = [
        PullProgress(f"pulling {digest}", f"sha256:{digest}", total, completed)
        for digest, total in layers.items()
        for completed in (0, total // 2, total)
    ]
    lines = data.draw(st.permutations(lines))
    assert layer_totals([PullProgress("pulling manifest"), *lines]) == sum(layers.values())
