"""The Ollama provider against the fake Ollama, in process: model.ensure, status, verify."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import trio

from actors.bus import progress_to
from actors.ollama import OllamaProvider
from actors.serving import serve_bus
from contracts.config import Config
from tests.actors.ollama.ollama_nodes import (
    SMALL_MODEL,
    allowed,
    ensure,
    node,
    provider,
    status,
    verify,
)
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_ollama_models import FakeOllamaConfig
from transport.ollama_client import OllamaClient


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOllama]:
    config = FakeOllamaConfig(models_dir=tmp_path / "models", pull_delay_ms=5)
    with FakeOllama(config) as server:
        yield server


def pulls(fake: FakeOllama) -> list[str]:
    return fake.pull_outcomes(0)


async def tags(fake: FakeOllama) -> list[str]:
    async with OllamaClient(fake.url) as client:
        return [tag.name for tag in await client.tags()]


async def test_a_present_model_is_ensured_without_downloading(
    fake: FakeOllama, tmp_path: Path
) -> None:
    ollama = provider({"node-1": node(fake.url)}, tmp_path)
    first = await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed()))
    assert first.ok and first.actions == ["ensure-model", "pull-model"]
    again = await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed()))
    assert again.ok and again.actions == ["ensure-model"]
    assert await trio.to_thread.run_sync(pulls, fake) == ["success"]  # one pull, not two


async def test_a_missing_model_is_policy_denied_unless_downloads_are_allowed(
    fake: FakeOllama, tmp_path: Path
) -> None:
    ollama = provider({"node-1": node(fake.url)}, tmp_path)
    denied = await ollama.ensure_model(ensure(dry_run=False, confirm=True))
    assert not denied.ok and denied.error_class == "policy_denied"
    planned = await ollama.ensure_model(ensure(policy=allowed()))  # a dry run
    assert planned.ok and planned.actions == ["ensure-model", "pull-model"]
    assert await tags(fake) == [] and await trio.to_thread.run_sync(pulls, fake) == []


async def test_a_model_over_the_size_limit_is_refused_and_nothing_is_left(
    fake: FakeOllama, tmp_path: Path
) -> None:
    ollama = provider({"node-1": node(fake.url)}, tmp_path)
    policy = allowed(max_model_size_bytes=1_000_000)
    refused = await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=policy))
    assert not refused.ok and refused.error_class == "policy_denied"
    assert "max_model_size_bytes 1000000" in refused.diagnostics[0]
    assert await trio.to_thread.run_sync(fake.pull_outcomes, 1) == ["abandoned"]
    assert await tags(fake) == []


async def test_a_pull_reports_its_progress_and_the_model_is_then_listed(
    fake: FakeOllama, tmp_path: Path
) -> None:
    reports: list[Mapping[str, object]] = []

    async def sink(progress: Mapping[str, object]) -> None:
        reports.append(progress)

    ollama = provider({"node-1": node(fake.url)}, tmp_path)
    with progress_to(sink):
        done = await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed()))
    assert done.ok
    assert await tags(fake) == [SMALL_MODEL]
    assert reports[-1] == {
        "model": SMALL_MODEL,
        "status": "success",
        "completed": 270_911_521,
        "total": 270_911_521,
    }


async def test_a_prod_node_wants_confirmation_before_a_download_dry_run_included(
    fake: FakeOllama, tmp_path: Path
) -> None:
    ollama = provider({"node-1": node(fake.url, environment="prod")}, tmp_path)
    refused = await ollama.ensure_model(ensure(policy=allowed()))
    assert not refused.ok and refused.error_class == "confirmation_required"
    waived = await ollama.ensure_model(ensure(policy=allowed(require_confirmation_for_prod=False)))
    assert waived.ok


async def test_an_error_line_mid_pull_is_a_provider_error(tmp_path: Path) -> None:
    config = FakeOllamaConfig(models_dir=tmp_path / "models", fail_pull_after=1000)
    with FakeOllama(config) as fake:
        ollama = provider({"node-1": node(fake.url)}, tmp_path)
        failed = await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed()))
        assert not failed.ok and failed.error_class == "provider_error"
        assert await tags(fake) == []


async def test_status_reports_ready_and_the_models(fake: FakeOllama, tmp_path: Path) -> None:
    ollama = provider({"node-1": node(fake.url)}, tmp_path)
    await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed()))
    answer = await ollama.status(status())
    assert answer.ok and answer.runtime_status == "ready"
    assert answer.models == [SMALL_MODEL]


async def test_status_of_a_node_never_installed_is_unknown(tmp_path: Path) -> None:
    ollama = provider(
        {"node-1": node("http://127.0.0.1:9", ollama_executable=str(tmp_path / "none"))},
        tmp_path,
    )
    answer = await ollama.status(status())
    assert answer.runtime_status == "unknown"


async def test_verify_reports_each_check_in_request_order(fake: FakeOllama, tmp_path: Path) -> None:
    ollama = provider({"node-1": node(fake.url)}, tmp_path)
    await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed()))
    answer = await ollama.verify(verify("model-ready", "loopback-only", "runtime-ready"))
    assert answer.ok, answer
    assert [check.name for check in answer.checks] == [
        "model-ready",
        "loopback-only",
        "runtime-ready",
    ]


async def test_verify_fails_naming_the_first_failing_check(tmp_path: Path) -> None:
    ollama = provider({"node-1": node("http://127.0.0.1:9")}, tmp_path)
    answer = await ollama.verify(verify())
    assert not answer.ok and answer.error_class == "verify_failed"
    assert [check.ok for check in answer.checks] == [False, False]
    assert answer.diagnostics[0].startswith("runtime-ready: ")


async def test_loopback_only_fails_when_the_runtime_answers_beyond_loopback(
    tmp_path: Path,
) -> None:
    config = FakeOllamaConfig(models_dir=tmp_path / "models")
    with FakeOllama(config, host="0.0.0.0") as fake:  # every address of this machine
        port = fake.address[1]
        ollama = provider({"node-1": node(f"http://127.0.0.1:{port}")}, tmp_path)
        answer = await ollama.verify(verify("loopback-only"))
    assert not answer.ok and answer.error_class == "verify_failed"
    assert "the API answers on" in answer.checks[0].diagnostic


async def test_loopback_only_fails_for_a_listen_address_that_is_not_loopback(
    tmp_path: Path,
) -> None:
    ollama = provider({"node-1": node("http://192.0.2.1:11434")}, tmp_path)
    answer = await ollama.verify(verify("loopback-only"))
    assert not answer.ok
    assert answer.checks[0].diagnostic == "configured to listen on 192.0.2.1:11434"


def test_a_node_not_in_the_config_is_unknown_node(tmp_path: Path) -> None:
    from actors.bus import ProviderRefusal, ProviderRegistry

    ollama = provider({"node-1": node("http://127.0.0.1:9")}, tmp_path)
    refusal = ProviderRegistry([ollama]).resolve("ollama", "node-2")
    assert isinstance(refusal, ProviderRefusal) and refusal.error_class == "unknown_node"
    assert ProviderRegistry([ollama]).resolve("ollama", "node-1") is ollama


def test_serve_bus_tells_the_provider_which_config_file_its_nodes_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "asm.toml").write_text("")
    bus = serve_bus(tmp_path, "memory", None, {}, Config(), config_file="asm.toml")
    provider = bus.registry.lookup("ollama")
    assert isinstance(provider, OllamaProvider)
    where = provider.where_nodes_are("gpu")
    assert f"{tmp_path / 'asm.toml'}, the config file this server read" in where
    assert "add [nodes.gpu]" in where
